// Validation of one frame against the bus rules (docs/PROTOCOL.md §7) and the device/driver rules (§8),
// in a fixed order: header limits, ids, routing (bus dev_num, direction, validated devices),
// then payload structure and payload rules. Every result names the layer that detects it.
import {
  TYPE_RESPONSE, TYPE_BUS, TYPE_RESERVED_MASK, BUS_MAX_RECOMMENDED, GET_DEVICES_ALIGN, MSG_SIZE_LIMIT, HDR_SIZE,
  T_EVENT_AVAIL, T_EVENT_CONFIG, T_EVENT_USED, B_GET_DEVICES, B_EVENT_DEVICE,
} from './constants.js';
import { REASONS, Reason, type Layer, type ReasonCode, type ReasonName } from './reasons.js';
import {
  checkFrame, classify, decodeBody,
  type CodecOptions, type Header, type Kind, type Message, type Profile,
} from './codec.js';

export type Direction = 'driver_to_device' | 'device_to_driver';
export const DIRECTIONS: readonly Direction[] = ['driver_to_device', 'device_to_driver'];

export interface ValidateContext {
  /** Maximum msg_size the bus advertises (default 264; docs/PROTOCOL.md §7 rules 3–5). */
  busMaxSize?: number;
  /** Which way the frame travels; direction rules are skipped when absent. */
  direction?: Direction;
  /** Payload layouts (default "rev1"). */
  profile?: Profile;
  /** Device numbers validated on this bus; unchecked when absent (docs/PROTOCOL.md §7 rule 14). */
  knownDevices?: ReadonlySet<number>;
  /** config_size from GET_DEVICE_INFO; config ranges unchecked when absent. */
  configSize?: number;
  /** Whether VIRTIO_F_NOTIFICATION_DATA was negotiated; EVENT_AVAIL unchecked when absent. */
  notificationData?: boolean;
  /** Data of the PING this response answers; unchecked when absent. */
  pingSent?: number;
  /** GET_DEVICES response in the 2026 Linux field order. */
  getdevAlt?: boolean;
  /** Reject type bits 2–7 instead of ignoring them (the spec says ignore; for sender tests). */
  strictReservedBits?: boolean;
  /** Header of the request this response should answer (2026 Linux checks msg_id and dev_num). */
  request?: Pick<Header, 'type' | 'msg_id' | 'dev_num'>;
}

export type Valid = { ok: true; reason: typeof Reason.OK; header: Header; msg: Message };
export type Invalid = { ok: false; reason: ReasonCode; detail: string; detected_by: Layer; header?: Header };
export type ValidateResult = Valid | Invalid;
/** A router's verdict: header-level checks only for transport messages (payload opaque). */
export type RouterVerdict = { ok: true; reason: typeof Reason.OK; header: Header; kind: Kind } | Invalid;

/** Reasons a router detects (header, routing, bus messages) — the rest belong to endpoints. */
export const ROUTER_CHECKS: readonly ReasonName[] = REASONS.filter((r) => r.code !== 0 && r.layer === 'router').map((r) => r.name);
/** Reasons only the device/driver library can detect (transport payloads are opaque to a router). */
export const ENDPOINT_CHECKS: readonly ReasonName[] = REASONS.filter((r) => r.layer === 'endpoint').map((r) => r.name);

/** Every rule of §7 and §8 this module knows, for a frame in `bytes` (its first msg_size bytes). Never throws. */
export function validate(bytes: Uint8Array, ctx: ValidateContext = {}): ValidateResult {
  const r = routerChecks(bytes, ctx);
  if (!r.ok) return r;
  const { header: h, kind } = r;
  const layer: Layer = kind.bus ? 'router' : 'endpoint';
  if (ctx.request !== undefined && kind.response) {
    const q = ctx.request;
    const answers = (q.type & TYPE_RESPONSE) === 0 && (q.type & TYPE_BUS) === (h.type & TYPE_BUS);
    if (!answers || q.msg_id !== h.msg_id || q.dev_num !== h.dev_num) {
      return invalid(Reason.REQUEST_RESPONSE_MISMATCH, 'endpoint',
        `response type 0x${hex(h.type, 2)} msg_id 0x${hex(h.msg_id, 2)} dev_num ${h.dev_num} does not answer request type 0x${hex(q.type, 2)} msg_id 0x${hex(q.msg_id, 2)} dev_num ${q.dev_num}`, h);
    }
  }
  const opts: CodecOptions = { profile: ctx.profile ?? 'rev1', getdevAlt: ctx.getdevAlt === true };
  const d = decodeBody(bytes, h, kind, opts);
  if (!d.ok) return invalid(d.reason, layer, d.detail, h);
  const rule = payloadRules(d.msg, ctx);
  if (rule !== undefined) return invalid(rule[0], layer, rule[1], h);
  return { ok: true, reason: Reason.OK, header: h, msg: d.msg };
}

/**
 * The checks a router makes (docs/PROTOCOL.md §7): header limits, ids, bus dev_num, direction, validated
 * device numbers; for bus messages (which the router terminates) also their payload rules.
 * Transport payloads are forwarded opaquely (§7 rule 7), so they are not judged here.
 */
export function validateRouter(bytes: Uint8Array, ctx: ValidateContext = {}): RouterVerdict {
  const r = routerChecks(bytes, ctx);
  if (!r.ok || !r.kind.bus) return r;
  const d = decodeBody(bytes, r.header, r.kind, { profile: ctx.profile ?? 'rev1', getdevAlt: ctx.getdevAlt === true });
  if (!d.ok) return invalid(d.reason, 'router', d.detail, r.header);
  const rule = payloadRules(d.msg, ctx);
  if (rule !== undefined) return invalid(rule[0], 'router', rule[1], r.header);
  return r;
}

function routerChecks(bytes: Uint8Array, ctx: ValidateContext): RouterVerdict {
  // A bad context is a programming error (thrown); bad bytes are a result (never thrown).
  const busMax = ctx.busMaxSize ?? BUS_MAX_RECOMMENDED;
  if (!Number.isInteger(busMax) || busMax < HDR_SIZE || busMax > MSG_SIZE_LIMIT) {
    throw new RangeError(`validate: busMaxSize must be an integer from ${HDR_SIZE} to ${MSG_SIZE_LIMIT}, got ${busMax}`);
  }
  const f = checkFrame(bytes);
  if (!f.ok) return invalid(f.reason, 'router', f.detail, f.header);
  const h = f.header;
  if (h.msg_size > busMax) return invalid(Reason.MSG_SIZE_GT_BUS_MAX, 'router', `msg_size ${h.msg_size} > bus max ${busMax}`, h);
  if (ctx.strictReservedBits === true && (h.type & TYPE_RESERVED_MASK) !== 0) {
    return invalid(Reason.RESERVED_TYPE_BITS, 'router', `type 0x${hex(h.type, 2)} has reserved bits 2-7 set`, h);
  }
  const c = classify(h);
  if (!c.ok) return invalid(c.reason, 'router', c.detail, h);
  const kind = c.kind;
  if (kind.bus && h.dev_num !== 0) {
    return invalid(Reason.BUS_DEV_NUM_NONZERO, 'router', `bus message ${kind.name} with dev_num ${h.dev_num} (must be 0)`, h);
  }
  const way = allowedDirection(kind, h.msg_id);
  if (ctx.direction !== undefined && way !== undefined && ctx.direction !== way) {
    return invalid(Reason.WRONG_DIRECTION, 'router', `${describe(kind)} travels ${way} only, seen ${ctx.direction}`, h);
  }
  if (ctx.knownDevices !== undefined && !kind.bus && !ctx.knownDevices.has(h.dev_num)) {
    return invalid(Reason.UNVALIDATED_DEV_NUM, 'router', `dev_num ${h.dev_num} was never validated on this bus`, h);
  }
  return { ok: true, reason: Reason.OK, header: h, kind };
}

/**
 * The one direction a message may travel, or undefined for either (docs/PROTOCOL.md §5, §6; §9 item 20).
 * Transport responses travelling driver→device count as WRONG_DIRECTION, like the router's hot
 * path does (assembly/router/classify.ts), not REQUEST_RESPONSE_MISMATCH: that reason is kept for
 * a response that does not answer the request it is matched with (ctx.request).
 */
export function allowedDirection(kind: Kind, msgId: number): Direction | undefined {
  if (kind.bus) {
    if (kind.impl) return undefined; // meaning is binding-specific (docs/PROTOCOL.md §4)
    if (msgId === B_GET_DEVICES) return kind.response ? 'device_to_driver' : 'driver_to_device';
    if (msgId === B_EVENT_DEVICE) return 'device_to_driver';
    return undefined; // PING: either side may start one
  }
  if (kind.response) return 'device_to_driver';
  if (kind.event) {
    if (msgId === T_EVENT_AVAIL) return 'driver_to_device';
    if (msgId === T_EVENT_CONFIG || msgId === T_EVENT_USED) return 'device_to_driver';
    return undefined; // implementation-defined events (0xC0–0xFF)
  }
  return 'driver_to_device'; // devices send no requests
}

/** Rules on decoded payload values (docs/PROTOCOL.md §5, §6, §8). */
function payloadRules(m: Message, ctx: ValidateContext): [ReasonCode, string] | undefined {
  switch (m.message) {
    case 'GET_DEVICES': {
      if (m.offset % GET_DEVICES_ALIGN !== 0 || m.count % GET_DEVICES_ALIGN !== 0) {
        return [Reason.GET_DEVICES_ALIGNMENT, `offset ${m.offset} and count ${m.count} must be multiples of 8`];
      }
      if (m.response) {
        const end = m.offset + m.count;
        if (m.next_offset !== 0 && (m.next_offset % GET_DEVICES_ALIGN !== 0 || m.next_offset < end)) {
          return [Reason.GET_DEVICES_NEXT_OFFSET, `next_offset ${m.next_offset} must be 0 or a multiple of 8 >= offset+count (${end})`];
        }
      }
      return undefined;
    }
    case 'PING':
      if (m.response && ctx.pingSent !== undefined && m.data !== ctx.pingSent >>> 0) {
        return [Reason.PING_ECHO_MISMATCH, `PING response data 0x${hex(m.data, 8)} != sent 0x${hex(ctx.pingSent >>> 0, 8)}`];
      }
      return undefined;
    case 'GET_DEVICE_INFO':
      if (m.response && m.profile === 'rev1' && m.num_feature_bits % 32 !== 0) {
        return [Reason.FEATURE_BITS_NOT_MULT_32, `num_feature_bits ${m.num_feature_bits} is not a multiple of 32`];
      }
      return undefined;
    case 'GET_CONFIG':
    case 'SET_CONFIG':
    case 'EVENT_CONFIG':
      // length 0 carries no range (SET_CONFIG rejected, EVENT_CONFIG "re-read").
      if (ctx.configSize !== undefined && m.length !== 0 && m.offset + m.length > ctx.configSize) {
        return [Reason.CONFIG_RANGE, `offset ${m.offset} + length ${m.length} > config_size ${ctx.configSize}`];
      }
      return undefined;
    case 'EVENT_AVAIL':
      if (ctx.notificationData === false && m.next_offset !== 0) {
        return [Reason.NOTIF_DATA_NOT_NEGOTIATED, `next_offset 0x${hex(m.next_offset, 8)} must be 0 without VIRTIO_F_NOTIFICATION_DATA`];
      }
      return undefined;
    case 'GET_VQUEUE':
      if (m.response && m.cur_size > m.max_size) {
        return [Reason.VQ_CUR_GT_MAX, `cur_size ${m.cur_size} > max_size ${m.max_size}`];
      }
      return undefined;
    default:
      return undefined;
  }
}

function describe(kind: Kind): string {
  return `${kind.bus ? 'bus ' : ''}${kind.name} ${kind.event ? 'event' : kind.response ? 'response' : 'request'}`;
}

function invalid(reason: ReasonCode, detected_by: Layer, detail: string, header?: Header): Invalid {
  return header === undefined ? { ok: false, reason, detail, detected_by } : { ok: false, reason, detail, detected_by, header };
}

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, '0');
}
