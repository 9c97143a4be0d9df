// Presentation of decoded frames (docs/PROTOCOL.md §3, §5, §6 field names): the JSON object
// `vmsg decode --json` prints (the conventions of test/fixtures/wire-vectors.json: u64 as "0x"+16
// hex digits, byte arrays as hex, feature words as "0x"+8 hex digits) and a one-line summary like
// a packet dissector.
import {
  MSG_ID_EVENT_BIT, NEXT_OFFSET_MASK, NEXT_OFFSET_WRAP_BIT, STATUS_NAMES, DEVICE_BUS_STATE_READY, DEVICE_BUS_STATE_REMOVED,
  DEVICE_BUS_STATE_IMPL_MIN,
} from './constants.js';
import { reasonName } from './reasons.js';
import type { Header, Message, Profile } from './codec.js';

/** What format functions need of a decode() or validate() result. */
export type Decoded =
  | { ok: true; header: Header; msg: Message }
  | { ok: false; reason: number; detail: string };

export interface FormatOptions {
  /** Names EVENT_DEVICE state 1 READY (rev1) or ADDED (rev1-2026). */
  profile?: Profile;
}

export type JsonValue = number | string | boolean | number[] | string[];

/** Message keys the header already shows (or that only steer the codec). */
const NOT_PAYLOAD = new Set(['message', 'response', 'dev_num', 'token', 'reserved_type_bits', 'profile', 'bus', 'msg_id']);

/**
 * The payload fields of `msg` as JSON values, in wire order, plus the derived fields of
 * wire-vectors.json: `present` (GET_DEVICES response), `next_off`/`next_wrap` (EVENT_AVAIL),
 * `state_name` (EVENT_DEVICE). IMPL_DEFINED payloads are `payload`.
 */
export function payloadJson(msg: Message, opts: FormatOptions = {}): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(msg)) {
    if (NOT_PAYLOAD.has(k) || v === undefined) continue;
    if (k === 'features') out[k] = (v as number[]).map((w) => '0x' + hex(w, 8));
    else if (typeof v === 'bigint') out[k] = '0x' + v.toString(16).padStart(16, '0');
    else if (v instanceof Uint8Array) out[k] = bytesHex(v);
    else out[k] = v as JsonValue;
  }
  if (msg.message === 'GET_DEVICES' && msg.response) out.present = presentDevices(msg.offset, msg.bitmap);
  if (msg.message === 'EVENT_AVAIL') {
    out.next_off = msg.next_offset & NEXT_OFFSET_MASK;
    out.next_wrap = msg.next_offset >= NEXT_OFFSET_WRAP_BIT ? 1 : 0;
  }
  if (msg.message === 'EVENT_DEVICE') out.state_name = deviceStateName(msg.device_bus_state, opts.profile);
  return out;
}

/**
 * The object `vmsg decode --json` prints: `{valid:true, type, msg_id, dev_num, token, msg_size,
 * message, response, ...payload}` or `{valid:false, reason, detail}`. `message` is the spec
 * name without the VIRTIO_MSG_/BUS_MSG_ prefix; `response` is true for responses, false for
 * requests and events (bus or transport: type bit 1).
 */
export function toJson(r: Decoded, opts: FormatOptions = {}): Record<string, JsonValue> {
  if (!r.ok) return { valid: false, reason: reasonName(r.reason), detail: r.detail };
  const h = r.header;
  return {
    valid: true,
    type: h.type, msg_id: h.msg_id, dev_num: h.dev_num, token: h.token, msg_size: h.msg_size,
    message: r.msg.message, response: r.msg.response,
    ...payloadJson(r.msg, opts),
  };
}

/**
 * One line: `REQ  GET_VQUEUE dev=1 tok=9 size=12 index=0`,
 * `EVT  EVENT_AVAIL dev=1 vq=1 next_off=0x1234 wrap=1`, `INVALID <REASON>: <detail>`.
 * Events leave out the size (fixed, or given by length=) and a zero token (events carry 0).
 */
export function summary(r: Decoded, opts: FormatOptions = {}): string {
  if (!r.ok) return `INVALID ${reasonName(r.reason)}: ${r.detail}`;
  const { header: h, msg } = r;
  const event = (h.msg_id & MSG_ID_EVENT_BIT) !== 0;
  const tag = msg.response ? 'RESP' : event ? 'EVT' : 'REQ';
  let name: string = msg.message;
  if (msg.message === 'IMPL_DEFINED') name = `IMPL_DEFINED(${msg.bus ? 'bus ' : ''}0x${hex(h.msg_id, 2)})`;
  const parts = [`${tag.padEnd(4)} ${name}`, `dev=${h.dev_num}`];
  if (!event || h.token !== 0) parts.push(`tok=${h.token}`);
  if (!event) parts.push(`size=${h.msg_size}`);
  if (msg.reserved_type_bits !== undefined) parts.push(`type=0x${hex(h.type, 2)}`);
  for (const [k, v] of Object.entries(msg)) {
    if (NOT_PAYLOAD.has(k) || v === undefined) continue;
    const item = summaryItem(msg, k, v as number | bigint | Uint8Array | number[], opts);
    if (item !== undefined) parts.push(item);
  }
  return parts.join(' ');
}

// `size` is the header's msg_size in the summary, so SET_VQUEUE's queue size is renamed.
const SHORT_NAMES: Record<string, string> = { vq_index: 'vq', device_number: 'device', size: 'queue_size' };
/** u32 fields that read better in hex (ids, addresses, echo data). */
const HEX_FIELDS = new Set(['vendor_id', 'address']);
const MAX_BYTES_SHOWN = 32;
const MAX_DEVICES_SHOWN = 16;

function summaryItem(msg: Message, key: string, v: number | bigint | Uint8Array | number[], opts: FormatOptions): string | undefined {
  const label = SHORT_NAMES[key] ?? key;
  switch (msg.message) {
    case 'EVENT_AVAIL':
      if (key === 'next_offset') {
        const n = v as number;
        return `next_off=0x${hex(n & NEXT_OFFSET_MASK, 0)} wrap=${n >= NEXT_OFFSET_WRAP_BIT ? 1 : 0}`;
      }
      break;
    case 'EVENT_DEVICE':
      if (key === 'device_bus_state') {
        const name = deviceStateName(v as number, opts.profile);
        return name === 'READY' || name === 'ADDED' || name === 'REMOVED' ? `state=${name}` : `state=${name}(0x${hex(v as number, 4)})`;
      }
      break;
    case 'GET_DEVICES':
      if (key === 'next_offset') return `next=${v as number}`;
      if (key === 'bitmap') return `present=${listText(presentDevices(msg.offset, v as Uint8Array))}`;
      break;
    case 'PING':
      return `data=0x${hex(v as number, 8)}`;
  }
  if (key === 'status' || key === 'device_status') return `${label}=${statusText(v as number)}`;
  if (HEX_FIELDS.has(key) && typeof v === 'number') return `${label}=0x${hex(v, 8)}`;
  if (key === 'features') return `${label}=[${(v as number[]).map((w) => '0x' + hex(w, 8)).join(',')}]`;
  if (typeof v === 'bigint') return `${label}=0x${v.toString(16)}`;
  if (v instanceof Uint8Array) {
    if (v.length === 0) return undefined;
    const shown = bytesHex(v.subarray(0, MAX_BYTES_SHOWN));
    return v.length > MAX_BYTES_SHOWN ? `${label}=${shown}…(${v.length} bytes)` : `${label}=${shown}`;
  }
  return `${label}=${String(v)}`;
}

/** `0x0f(ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK)`. */
export function statusText(status: number): string {
  const names = STATUS_NAMES.filter(([bit]) => (status & bit) !== 0).map(([, n]) => n);
  const known = STATUS_NAMES.reduce((m, [bit]) => m | bit, 0);
  if ((status & ~known) !== 0) names.push(`0x${hex(status & ~known, 2)}`);
  return `0x${hex(status, 2)}${names.length > 0 ? `(${names.join('|')})` : ''}`;
}

/** Device numbers whose bit is set: bit i (byte i/8, LSB first) = device offset+i (docs/PROTOCOL.md §6). */
export function presentDevices(offset: number, bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length; i++) {
    const b = bitmap[i]!;
    if (b === 0) continue;
    for (let bit = 0; bit < 8; bit++) if ((b >> bit) & 1) out.push(offset + 8 * i + bit);
  }
  return out;
}

/** READY (ADDED in 2026), REMOVED, IMPL_DEFINED (0x8000–0xFFFF) or RESERVED. */
export function deviceStateName(state: number, profile: Profile = 'rev1'): string {
  if (state === DEVICE_BUS_STATE_READY) return profile === 'rev1-2026' ? 'ADDED' : 'READY';
  if (state === DEVICE_BUS_STATE_REMOVED) return 'REMOVED';
  return state >= DEVICE_BUS_STATE_IMPL_MIN ? 'IMPL_DEFINED' : 'RESERVED';
}

function listText(list: number[]): string {
  if (list.length <= MAX_DEVICES_SHOWN) return `[${list.join(',')}]`;
  return `[${list.slice(0, MAX_DEVICES_SHOWN).join(',')},…+${list.length - MAX_DEVICES_SHOWN}]`;
}

function bytesHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, '0');
}
