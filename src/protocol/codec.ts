// Encode/decode of every virtio-msg message (docs/PROTOCOL.md §3 header, §5 transport, §6 bus; PR28 /
// PATCH v1 layouts as profile "rev1", the §2 deltas as profile "rev1-2026"). Control-plane
// and tools codec: the hot path parses headers in WASM (assembly/header.ts).
import {
  HDR_SIZE, HDR_TYPE, HDR_MSG_ID, HDR_DEV_NUM, HDR_TOKEN, HDR_MSG_SIZE,
  TYPE_RESPONSE, TYPE_BUS, TYPE_RESERVED_MASK, MSG_ID_EVENT_BIT, MSG_ID_IMPL_BIT, MSG_SIZE_LIMIT,
  T_GET_DEVICE_INFO, T_GET_DEVICE_FEATURES, T_SET_DRIVER_FEATURES, T_GET_CONFIG, T_SET_CONFIG,
  T_GET_DEVICE_STATUS, T_SET_DEVICE_STATUS, T_GET_VQUEUE, T_SET_VQUEUE, T_RESET_VQUEUE, T_GET_SHM,
  T_EVENT_CONFIG, T_EVENT_AVAIL, T_EVENT_USED, B_GET_DEVICES, B_PING, B_EVENT_DEVICE,
  TRANSPORT_NAMES, BUS_NAMES, IMPL_DEFINED_NAME, GET_DEVICES_ALIGN,
  type TransportName, type BusName,
} from './constants.js';
import { Reason, type ReasonCode } from './reasons.js';

// ================================================================ public types

/** Payload layouts: PR28 / PATCH v1 ("rev1") or the post-review 2026 deltas (docs/PROTOCOL.md §2). */
export type Profile = 'rev1' | 'rev1-2026';
export const PROFILES: readonly Profile[] = ['rev1', 'rev1-2026'];

export interface CodecOptions {
  /** Layouts of GET_DEVICE_INFO, GET_SHM and GET/SET_VQUEUE (default "rev1"). */
  profile?: Profile;
  /** GET_DEVICES response fields in the 2026 Linux order offset,next_offset,count (docs/PROTOCOL.md §2, unconfirmed). */
  getdevAlt?: boolean;
}

/** The common header (docs/PROTOCOL.md §3), fields as on the wire. */
export interface Header {
  type: number;
  msg_id: number;
  dev_num: number;
  token: number;
  msg_size: number;
}

interface Base {
  dev_num: number;
  token: number;
  /** Type bits 2–7 as received: senders must send 0, receivers ignore them (docs/PROTOCOL.md §3). */
  reserved_type_bits?: number;
}
type Req<N extends string> = Base & { message: N; response: false };
type Resp<N extends string> = Base & {
  message: N;
  response: true;
  /** Bytes inside msg_size after a complete transport response payload (accepted, docs/PROTOCOL.md §9 item 11). */
  trailing?: Uint8Array;
};
type Rev1 = { profile: 'rev1' };
type Rev2026 = { profile: 'rev1-2026' };
type VqAddrs = { desc_addr: bigint; driver_addr: bigint; device_addr: bigint };

// Transport messages (docs/PROTOCOL.md §5). Field names are the spec's.
export type GetDeviceInfoRequest = Req<'GET_DEVICE_INFO'>;
export type GetDeviceInfoResponse = Resp<'GET_DEVICE_INFO'> & Rev1 & {
  device_id: number; vendor_id: number; num_feature_bits: number; config_size: number;
  max_virtqueues: number; admin_vq_start: number; admin_vq_count: number;
};
export type GetDeviceInfoResponse2026 = Resp<'GET_DEVICE_INFO'> & Rev2026 & {
  device_id: number; vendor_id: number; device_uuid: Uint8Array; num_feature_blocks: number;
  config_size: number; max_virtqueues: number; admin_vq_start: number; admin_vq_count: number;
};
export type GetDeviceFeaturesRequest = Req<'GET_DEVICE_FEATURES'> & { block_index: number; num_blocks: number };
export type GetDeviceFeaturesResponse = Resp<'GET_DEVICE_FEATURES'> & { block_index: number; num_blocks: number; features: number[] };
export type SetDriverFeaturesRequest = Req<'SET_DRIVER_FEATURES'> & { block_index: number; num_blocks: number; features: number[] };
export type SetDriverFeaturesResponse = Resp<'SET_DRIVER_FEATURES'>;
export type GetConfigRequest = Req<'GET_CONFIG'> & { offset: number; length: number };
export type GetConfigResponse = Resp<'GET_CONFIG'> & { generation: number; offset: number; length: number; data: Uint8Array };
export type SetConfigRequest = Req<'SET_CONFIG'> & { generation: number; offset: number; length: number; data: Uint8Array };
/** `length` 0 = rejected; `data` is the optional echo (empty when not echoed). */
export type SetConfigResponse = Resp<'SET_CONFIG'> & { generation: number; offset: number; length: number; data: Uint8Array };
export type GetDeviceStatusRequest = Req<'GET_DEVICE_STATUS'>;
export type GetDeviceStatusResponse = Resp<'GET_DEVICE_STATUS'> & { status: number };
export type SetDeviceStatusRequest = Req<'SET_DEVICE_STATUS'> & { status: number };
export type SetDeviceStatusResponse = Resp<'SET_DEVICE_STATUS'> & { status: number };
export type GetVqueueRequest = Req<'GET_VQUEUE'> & { index: number };
export type GetVqueueResponse = Resp<'GET_VQUEUE'> & Rev1 & VqAddrs & { index: number; max_size: number; cur_size: number; reserved: number };
export type GetVqueueResponse2026 = Resp<'GET_VQUEUE'> & Rev2026 & VqAddrs & { index: number; max_size: number; cur_size: number; flags: number };
export type SetVqueueRequest = Req<'SET_VQUEUE'> & Rev1 & VqAddrs & { index: number; reserved0: number; size: number; reserved1: number };
export type SetVqueueRequest2026 = Req<'SET_VQUEUE'> & Rev2026 & VqAddrs & { index: number; flags: number; size: number; reserved: number };
export type SetVqueueResponse = Resp<'SET_VQUEUE'>;
export type ResetVqueueRequest = Req<'RESET_VQUEUE'> & { index: number };
export type ResetVqueueResponse = Resp<'RESET_VQUEUE'>;
export type GetShmRequest = Req<'GET_SHM'> & Rev1 & { index: number };
export type GetShmRequest2026 = Req<'GET_SHM'> & Rev2026 & { shmid: number };
export type GetShmResponse = Resp<'GET_SHM'> & Rev1 & { index: number; length: number; address: number };
export type GetShmResponse2026 = Resp<'GET_SHM'> & Rev2026 & { shmid: number; reserved: number; length: bigint; address: bigint };
export type EventConfig = Req<'EVENT_CONFIG'> & { device_status: number; generation: number; offset: number; length: number; data: Uint8Array };
/** next_offset: bits 30..0 next offset / index, bit 31 wrap counter. */
export type EventAvail = Req<'EVENT_AVAIL'> & { vq_index: number; next_offset: number };
export type EventUsed = Req<'EVENT_USED'> & { vq_index: number };

// Bus messages (docs/PROTOCOL.md §6).
export type GetDevicesRequest = Req<'GET_DEVICES'> & { offset: number; count: number };
/** bitmap: count/8 bytes, bit i (byte i/8, LSB first) = device offset+i present. */
export type GetDevicesResponse = Resp<'GET_DEVICES'> & { offset: number; count: number; next_offset: number; bitmap: Uint8Array };
export type PingRequest = Req<'PING'> & { data: number };
export type PingResponse = Resp<'PING'> & { data: number };
export type EventDevice = Req<'EVENT_DEVICE'> & { device_number: number; device_bus_state: number };

/** Any id 0x80–0xFF, transport or bus: the payload is opaque to the generic layer (docs/PROTOCOL.md §4). */
export type ImplDefined = Base & { message: 'IMPL_DEFINED'; bus: boolean; msg_id: number; response: boolean; payload: Uint8Array };

export type Message =
  | GetDeviceInfoRequest | GetDeviceInfoResponse | GetDeviceInfoResponse2026
  | GetDeviceFeaturesRequest | GetDeviceFeaturesResponse
  | SetDriverFeaturesRequest | SetDriverFeaturesResponse
  | GetConfigRequest | GetConfigResponse | SetConfigRequest | SetConfigResponse
  | GetDeviceStatusRequest | GetDeviceStatusResponse | SetDeviceStatusRequest | SetDeviceStatusResponse
  | GetVqueueRequest | GetVqueueResponse | GetVqueueResponse2026
  | SetVqueueRequest | SetVqueueRequest2026 | SetVqueueResponse
  | ResetVqueueRequest | ResetVqueueResponse
  | GetShmRequest | GetShmRequest2026 | GetShmResponse | GetShmResponse2026
  | EventConfig | EventAvail | EventUsed
  | GetDevicesRequest | GetDevicesResponse | PingRequest | PingResponse | EventDevice
  | ImplDefined;

export type MessageName = TransportName | BusName | typeof IMPL_DEFINED_NAME;

export type Failure = { ok: false; reason: ReasonCode; detail: string; header?: Header };
export type DecodeResult = { ok: true; header: Header; msg: Message } | Failure;

// ================================================================ payload layouts
// One descriptor per (bus, response, msg_id[, profile]): the fixed fields with their payload
// offsets (add HDR_SIZE for frame offsets) and the variable tail, if any. encode and decode
// both read the wire only through these tables.

type FieldType = 'u16' | 'u32' | 'u64' | 'uuid';
type Field = readonly [name: string, type: FieldType, offset: number];
/**
 * features: u32[num_blocks]; data: u8[length]; data_echo: SET_CONFIG response, u8[length] or
 * nothing (the echo is optional); bitmap: u8[count/8].
 */
type Tail = 'none' | 'features' | 'data' | 'data_echo' | 'bitmap';
interface Layout {
  readonly fields: readonly Field[];
  /** Bytes of the fixed part of the payload. */
  readonly fixed: number;
  readonly tail: Tail;
}

const FIELD_BYTES: Record<FieldType, number> = { u16: 2, u32: 4, u64: 8, uuid: 16 };
const TAIL_COUNT: Record<Exclude<Tail, 'none'>, string> = { features: 'num_blocks', data: 'length', data_echo: 'length', bitmap: 'count' };
const TAIL_FIELD: Record<Exclude<Tail, 'none'>, string> = { features: 'features', data: 'data', data_echo: 'data', bitmap: 'bitmap' };

function layout(fields: Field[], tail: Tail = 'none'): Layout {
  const fixed = fields.reduce((end, [, type, off]) => Math.max(end, off + FIELD_BYTES[type]), 0);
  return { fields, fixed, tail };
}

const EMPTY = layout([]);
const U32_INDEX = layout([['index', 'u32', 0]]);
const STATUS = layout([['status', 'u32', 0]]);
const VQ_ADDRS: Field[] = [['desc_addr', 'u64', 16], ['driver_addr', 'u64', 24], ['device_addr', 'u64', 32]];
const FEATURES = layout([['block_index', 'u32', 0], ['num_blocks', 'u32', 4]], 'features');
const CONFIG_DATA: Field[] = [['generation', 'u32', 0], ['offset', 'u32', 4], ['length', 'u32', 8]];

/** Transport requests and events (request-typed), PR28 layout. */
const T_REQ: Record<number, Layout> = {
  [T_GET_DEVICE_INFO]: EMPTY,
  [T_GET_DEVICE_FEATURES]: layout([['block_index', 'u32', 0], ['num_blocks', 'u32', 4]]),
  [T_SET_DRIVER_FEATURES]: FEATURES,
  [T_GET_CONFIG]: layout([['offset', 'u32', 0], ['length', 'u32', 4]]),
  [T_SET_CONFIG]: layout(CONFIG_DATA, 'data'),
  [T_GET_DEVICE_STATUS]: EMPTY,
  [T_SET_DEVICE_STATUS]: STATUS,
  [T_GET_VQUEUE]: U32_INDEX,
  [T_SET_VQUEUE]: layout([['index', 'u32', 0], ['reserved0', 'u32', 4], ['size', 'u32', 8], ['reserved1', 'u32', 12], ...VQ_ADDRS]),
  [T_RESET_VQUEUE]: U32_INDEX,
  [T_GET_SHM]: U32_INDEX,
  [T_EVENT_CONFIG]: layout([['device_status', 'u32', 0], ['generation', 'u32', 4], ['offset', 'u32', 8], ['length', 'u32', 12]], 'data'),
  [T_EVENT_AVAIL]: layout([['vq_index', 'u32', 0], ['next_offset', 'u32', 4]]),
  [T_EVENT_USED]: layout([['vq_index', 'u32', 0]]),
};

/** Transport responses, PR28 layout. */
const T_RESP: Record<number, Layout> = {
  [T_GET_DEVICE_INFO]: layout([
    ['device_id', 'u32', 0], ['vendor_id', 'u32', 4], ['num_feature_bits', 'u32', 8], ['config_size', 'u32', 12],
    ['max_virtqueues', 'u32', 16], ['admin_vq_start', 'u16', 20], ['admin_vq_count', 'u16', 22],
  ]),
  [T_GET_DEVICE_FEATURES]: FEATURES,
  [T_SET_DRIVER_FEATURES]: EMPTY,
  [T_GET_CONFIG]: layout(CONFIG_DATA, 'data'),
  [T_SET_CONFIG]: layout(CONFIG_DATA, 'data_echo'),
  [T_GET_DEVICE_STATUS]: STATUS,
  [T_SET_DEVICE_STATUS]: STATUS,
  [T_GET_VQUEUE]: layout([['index', 'u32', 0], ['max_size', 'u32', 4], ['cur_size', 'u32', 8], ['reserved', 'u32', 12], ...VQ_ADDRS]),
  [T_SET_VQUEUE]: EMPTY,
  [T_RESET_VQUEUE]: EMPTY,
  [T_GET_SHM]: layout([['index', 'u32', 0], ['length', 'u32', 4], ['address', 'u32', 8]]),
};

/** 2026 deltas (docs/PROTOCOL.md §2): the only messages whose layout depends on the profile. */
const T_REQ_2026: Record<number, Layout> = {
  [T_SET_VQUEUE]: layout([['index', 'u32', 0], ['flags', 'u32', 4], ['size', 'u32', 8], ['reserved', 'u32', 12], ...VQ_ADDRS]),
  [T_GET_SHM]: layout([['shmid', 'u32', 0]]),
};
const T_RESP_2026: Record<number, Layout> = {
  [T_GET_DEVICE_INFO]: layout([
    ['device_id', 'u32', 0], ['vendor_id', 'u32', 4], ['device_uuid', 'uuid', 8], ['num_feature_blocks', 'u32', 24],
    ['config_size', 'u32', 28], ['max_virtqueues', 'u32', 32], ['admin_vq_start', 'u32', 36], ['admin_vq_count', 'u32', 40],
  ]),
  [T_GET_VQUEUE]: layout([['index', 'u32', 0], ['max_size', 'u32', 4], ['cur_size', 'u32', 8], ['flags', 'u32', 12], ...VQ_ADDRS]),
  [T_GET_SHM]: layout([['shmid', 'u32', 0], ['reserved', 'u32', 4], ['length', 'u64', 8], ['address', 'u64', 16]]),
};

const B_REQ: Record<number, Layout> = {
  [B_GET_DEVICES]: layout([['offset', 'u16', 0], ['count', 'u16', 2]]),
  [B_PING]: layout([['data', 'u32', 0]]),
  [B_EVENT_DEVICE]: layout([['device_number', 'u16', 0], ['device_bus_state', 'u16', 2]]),
};
const B_RESP: Record<number, Layout> = {
  [B_GET_DEVICES]: layout([['offset', 'u16', 0], ['count', 'u16', 2], ['next_offset', 'u16', 4]], 'bitmap'),
  [B_PING]: layout([['data', 'u32', 0]]),
};
/** GET_DEVICES response as declared by 2026 Linux: offset, next_offset, count. */
const B_GET_DEVICES_RESP_ALT = layout([['offset', 'u16', 0], ['next_offset', 'u16', 2], ['count', 'u16', 4]], 'bitmap');

/** What the type byte and msg_id say a frame is (docs/PROTOCOL.md §3, §4). */
export interface Kind {
  name: MessageName;
  bus: boolean;
  response: boolean;
  event: boolean;
  impl: boolean;
}

/** The payload layout of a standard message, or undefined for an unknown id. */
function layoutOf(bus: boolean, response: boolean, msgId: number, opts: CodecOptions): Layout | undefined {
  if (bus) {
    if (response && msgId === B_GET_DEVICES && opts.getdevAlt === true) return B_GET_DEVICES_RESP_ALT;
    return (response ? B_RESP : B_REQ)[msgId];
  }
  if (opts.profile === 'rev1-2026') {
    const delta = (response ? T_RESP_2026 : T_REQ_2026)[msgId];
    if (delta !== undefined) return delta;
  }
  return (response ? T_RESP : T_REQ)[msgId];
}

/** True for the messages whose layout differs between the profiles (they carry `profile`). */
function isProfiled(bus: boolean, response: boolean, msgId: number): boolean {
  return !bus && (response ? T_RESP_2026 : T_REQ_2026)[msgId] !== undefined;
}

const NAME_IDS = new Map<string, { id: number; bus: boolean }>([
  ...Object.entries(TRANSPORT_NAMES).map(([id, name]) => [name, { id: Number(id), bus: false }] as const),
  ...Object.entries(BUS_NAMES).map(([id, name]) => [name, { id: Number(id), bus: true }] as const),
]);

// ================================================================ header

/** The header at `offset`, or undefined when fewer than 8 bytes are there. */
export function decodeHeader(bytes: Uint8Array, offset = 0): Header | undefined {
  if (!(offset >= 0) || bytes.length - offset < HDR_SIZE) return undefined;
  const b = (i: number): number => bytes[offset + i]!;
  return {
    type: b(HDR_TYPE),
    msg_id: b(HDR_MSG_ID),
    dev_num: b(HDR_DEV_NUM) | (b(HDR_DEV_NUM + 1) << 8),
    token: b(HDR_TOKEN) | (b(HDR_TOKEN + 1) << 8),
    msg_size: b(HDR_MSG_SIZE) | (b(HDR_MSG_SIZE + 1) << 8),
  };
}

/** Write `h` at `offset` of `out` (a new 8-byte array by default). */
export function encodeHeader(h: Header, out: Uint8Array = new Uint8Array(HDR_SIZE), offset = 0): Uint8Array {
  checkInt('header', 'type', h.type, 0xff);
  checkInt('header', 'msg_id', h.msg_id, 0xff);
  checkInt('header', 'dev_num', h.dev_num, 0xffff);
  checkInt('header', 'token', h.token, 0xffff);
  checkInt('header', 'msg_size', h.msg_size, 0xffff);
  if (out.length - offset < HDR_SIZE) throw new RangeError(`encodeHeader: need 8 bytes at offset ${offset}, buffer has ${out.length}`);
  out[offset + HDR_TYPE] = h.type;
  out[offset + HDR_MSG_ID] = h.msg_id;
  out[offset + HDR_DEV_NUM] = h.dev_num & 0xff;
  out[offset + HDR_DEV_NUM + 1] = h.dev_num >>> 8;
  out[offset + HDR_TOKEN] = h.token & 0xff;
  out[offset + HDR_TOKEN + 1] = h.token >>> 8;
  out[offset + HDR_MSG_SIZE] = h.msg_size & 0xff;
  out[offset + HDR_MSG_SIZE + 1] = h.msg_size >>> 8;
  return out;
}

/** Generic frame limits (docs/PROTOCOL.md §7 rule 5) minus the bus maximum, which needs a context. */
export function checkFrame(bytes: Uint8Array): { ok: true; header: Header } | Failure {
  const header = decodeHeader(bytes);
  if (header === undefined) {
    return fail(Reason.HDR_TRUNCATED, `only ${bytes.length} byte(s); the header needs ${HDR_SIZE}`);
  }
  if (header.msg_size < HDR_SIZE) {
    return fail(Reason.MSG_SIZE_LT_HEADER, `msg_size ${header.msg_size} < header size ${HDR_SIZE}`, header);
  }
  if (header.msg_size > bytes.length) {
    return fail(Reason.MSG_SIZE_GT_BUFFER, `msg_size ${header.msg_size} > ${bytes.length} bytes received`, header);
  }
  return { ok: true, header };
}

/**
 * What the header says the frame is. Order (docs/PROTOCOL.md §4, §7 rule 19): a response-typed event id is
 * malformed; 0x80–0xFF are implementation-defined and valid; other ids must be known.
 */
export function classify(h: Header): { ok: true; kind: Kind } | Failure {
  const bus = (h.type & TYPE_BUS) !== 0;
  const response = (h.type & TYPE_RESPONSE) !== 0;
  const event = (h.msg_id & MSG_ID_EVENT_BIT) !== 0;
  const where = bus ? 'bus' : 'transport';
  if (response && event) {
    return fail(Reason.RESPONSE_TO_EVENT, `response-typed ${where} message with event msg_id 0x${hex2(h.msg_id)} (events are never answered)`, h);
  }
  if ((h.msg_id & MSG_ID_IMPL_BIT) !== 0) {
    return { ok: true, kind: { name: IMPL_DEFINED_NAME, bus, response, event, impl: true } };
  }
  const names: Record<number, MessageName> = bus ? BUS_NAMES : TRANSPORT_NAMES;
  const name = names[h.msg_id];
  if (name === undefined) {
    const what = h.msg_id <= 0x01 ? 'reserved' : event ? 'unknown event' : 'unknown';
    return fail(Reason.UNSUPPORTED_MSG_ID, `${what} ${where} msg_id 0x${hex2(h.msg_id)}`, h);
  }
  return { ok: true, kind: { name, bus, response, event, impl: false } };
}

// ================================================================ decode

/**
 * Decode one frame (the first msg_size bytes of `bytes`; bus padding after it is ignored).
 * Checks only what is needed to build a Message: header limits, a known id and the payload
 * structure. Context rules (bus maximum, direction, device numbers, config range...) are
 * validate()'s. Never throws.
 */
export function decode(bytes: Uint8Array, opts: CodecOptions = {}): DecodeResult {
  const frame = checkFrame(bytes);
  if (!frame.ok) return frame;
  const c = classify(frame.header);
  if (!c.ok) return c;
  return decodeBody(bytes, frame.header, c.kind, opts);
}

/** Decode the payload of a frame whose header passed checkFrame() and classify(). */
export function decodeBody(bytes: Uint8Array, h: Header, kind: Kind, opts: CodecOptions = {}): DecodeResult {
  const base: Record<string, unknown> = { message: kind.name, response: kind.response, dev_num: h.dev_num, token: h.token };
  if ((h.type & TYPE_RESERVED_MASK) !== 0) base.reserved_type_bits = h.type & TYPE_RESERVED_MASK;
  const end = h.msg_size;
  if (kind.impl) {
    const msg = { ...base, bus: kind.bus, msg_id: h.msg_id, payload: bytes.slice(HDR_SIZE, end) } as ImplDefined;
    return { ok: true, header: h, msg };
  }
  const profile = opts.profile ?? 'rev1';
  const lay = layoutOf(kind.bus, kind.response, h.msg_id, { profile, getdevAlt: opts.getdevAlt })!;
  const what = `${kind.name} ${kind.event ? 'event' : kind.response ? 'response' : 'request'}`;
  const payload = end - HDR_SIZE;
  if (payload < lay.fixed) {
    return fail(Reason.PAYLOAD_TRUNCATED, `${what} needs at least ${HDR_SIZE + lay.fixed} bytes, msg_size is ${end}`, h);
  }
  const profiled = isProfiled(kind.bus, kind.response, h.msg_id);
  if (profiled) base.profile = profile;
  const dv = new DataView(bytes.buffer, bytes.byteOffset + HDR_SIZE, payload);
  for (const [name, type, off] of lay.fields) base[name] = readField(dv, bytes, type, off);

  // Variable tail: its count field must agree with msg_size.
  const rest = payload - lay.fixed;
  const at = HDR_SIZE + lay.fixed;
  let used = 0;
  if (lay.tail !== 'none') {
    const countName = TAIL_COUNT[lay.tail];
    const count = base[countName] as number;
    const field = TAIL_FIELD[lay.tail];
    if (lay.tail === 'bitmap' && count % GET_DEVICES_ALIGN !== 0) {
      return fail(Reason.GET_DEVICES_ALIGNMENT, `${what}: count ${count} is not a multiple of 8, so the bitmap size count/8 is undefined`, h);
    }
    const need = lay.tail === 'features' ? 4 * count : lay.tail === 'bitmap' ? count / GET_DEVICES_ALIGN : count;
    const echoOmitted = lay.tail === 'data_echo' && rest === 0;
    if (!echoOmitted && rest < need) {
      const rule = lay.tail === 'bitmap' ? Reason.GET_DEVICES_BITMAP_LENGTH : Reason.PAYLOAD_LENGTH_MISMATCH;
      return fail(rule, `${what}: ${countName} ${count} needs msg_size ${at + need}, msg_size is ${end}`, h);
    }
    used = echoOmitted ? 0 : need;
    if (lay.tail === 'features') {
      const words: number[] = new Array<number>(count);
      for (let i = 0; i < count; i++) words[i] = dv.getUint32(lay.fixed + 4 * i, true);
      base[field] = words;
    } else {
      base[field] = bytes.slice(at, at + used);
    }
  }
  const extra = rest - used;
  if (extra > 0) {
    // Transport responses may carry more than their payload (2026 Linux checks the minimum);
    // requests, events and bus messages must be exact (docs/PROTOCOL.md §9 item 11). So must responses
    // whose layout depends on the profile: their size is what tells the profiles apart (§9
    // item 22), e.g. a 52-byte GET_DEVICE_INFO response is the 2026 layout, not rev1 + 20 bytes.
    if (kind.response && !kind.bus && !profiled) {
      base.trailing = bytes.slice(at + used, end);
    } else {
      const rule = lay.tail === 'bitmap' ? Reason.GET_DEVICES_BITMAP_LENGTH : Reason.PAYLOAD_LENGTH_MISMATCH;
      const expected = lay.tail === 'none' ? `is ${at} bytes` : `with ${TAIL_COUNT[lay.tail]} ${base[TAIL_COUNT[lay.tail]] as number} is ${at + used} bytes`;
      const hint = profiled && profile === 'rev1' && end === HDR_SIZE + layoutOf(false, kind.response, h.msg_id, { profile: 'rev1-2026' })!.fixed
        ? ' (that is the rev1-2026 layout)' : '';
      return fail(rule, `${what} ${expected}, msg_size is ${end}${hint}`, h);
    }
  }
  return { ok: true, header: h, msg: base as unknown as Message };
}

function readField(dv: DataView, bytes: Uint8Array, type: FieldType, off: number): number | bigint | Uint8Array {
  switch (type) {
    case 'u16': return dv.getUint16(off, true);
    case 'u32': return dv.getUint32(off, true);
    case 'u64': return dv.getBigUint64(off, true);
    case 'uuid': return bytes.slice(HDR_SIZE + off, HDR_SIZE + off + 16);
  }
}

// ================================================================ encode

/**
 * The frame for `msg`, exactly msg_size bytes. Throws (RangeError/TypeError naming the field)
 * when the message cannot be encoded: a value out of its field's range, a count field that
 * disagrees with its array, a frame over 65535 bytes.
 */
export function encode(msg: Message, opts: CodecOptions = {}): Uint8Array {
  const m = msg as unknown as Record<string, unknown>;
  const response = msg.response;
  let bus: boolean;
  let msgId: number;
  if (msg.message === IMPL_DEFINED_NAME) {
    bus = msg.bus;
    msgId = msg.msg_id;
    checkInt(IMPL_DEFINED_NAME, 'msg_id', msgId, 0xff);
    if ((msgId & MSG_ID_IMPL_BIT) === 0) throw new RangeError(`encode IMPL_DEFINED: msg_id must be 0x80..0xff, got 0x${hex2(msgId)}`);
  } else {
    const id = NAME_IDS.get(msg.message);
    if (id === undefined) throw new TypeError(`encode: unknown message ${String(msg.message)}`);
    bus = id.bus;
    msgId = id.id;
  }
  const what = `encode ${msg.message}${response ? ' response' : ''}`;
  if (typeof response !== 'boolean') throw new TypeError(`${what}: response must be a boolean`);
  if (response && (msgId & MSG_ID_EVENT_BIT) !== 0) throw new RangeError(`${what}: msg_id 0x${hex2(msgId)} is an event; events have no response`);
  const reserved = m.reserved_type_bits ?? 0;
  checkInt(what, 'reserved_type_bits', reserved, 0xff);
  if ((reserved & ~TYPE_RESERVED_MASK) !== 0) throw new RangeError(`${what}: reserved_type_bits may only use bits 2-7 (mask 0xfc), got 0x${hex2(reserved)}`);
  const type = (bus ? TYPE_BUS : 0) | (response ? TYPE_RESPONSE : 0) | reserved;

  let lay: Layout | undefined;
  const profiled = msg.message !== IMPL_DEFINED_NAME && isProfiled(bus, response, msgId);
  if (msg.message !== IMPL_DEFINED_NAME) {
    let profile: Profile = 'rev1';
    if (profiled) {
      if (m.profile !== 'rev1' && m.profile !== 'rev1-2026') throw new TypeError(`${what}: profile must be "rev1" or "rev1-2026"`);
      profile = m.profile;
    }
    lay = layoutOf(bus, response, msgId, { profile, getdevAlt: opts.getdevAlt })!;
  }

  // Variable part: payload of IMPL_DEFINED, or the layout's tail.
  let tail: Uint8Array | number[] = new Uint8Array(0);
  let tailBytes = 0;
  if (lay === undefined) {
    tail = checkBytes(what, 'payload', m.payload);
    tailBytes = tail.length;
  } else if (lay.tail !== 'none') {
    const field = TAIL_FIELD[lay.tail];
    const countName = TAIL_COUNT[lay.tail];
    const count = m[countName];
    checkInt(what, countName, count, lay.tail === 'bitmap' ? 0xffff : 0xffffffff);
    if (lay.tail === 'features') {
      const words = m[field];
      if (!Array.isArray(words)) throw new TypeError(`${what}: features must be an array of u32`);
      words.forEach((w, i) => checkInt(what, `features[${i}]`, w, 0xffffffff));
      if (words.length !== count) throw new RangeError(`${what}: num_blocks ${count} but ${words.length} feature word(s)`);
      tail = words as number[];
      tailBytes = 4 * words.length;
    } else {
      const data = checkBytes(what, field, m[field]);
      if (lay.tail === 'bitmap' && count % GET_DEVICES_ALIGN !== 0) throw new RangeError(`${what}: count ${count} must be a multiple of 8`);
      const need = lay.tail === 'bitmap' ? count / GET_DEVICES_ALIGN : count;
      const ok = data.length === need || (lay.tail === 'data_echo' && data.length === 0);
      if (!ok) throw new RangeError(`${what}: ${countName} ${count} needs ${need} ${field} byte(s), got ${data.length}`);
      tail = data;
      tailBytes = data.length;
    }
  }
  let trailing: Uint8Array = new Uint8Array(0);
  if (m.trailing !== undefined) {
    if (!response || bus || profiled) throw new RangeError(`${what}: only transport responses of a profile-independent layout may carry trailing bytes`);
    trailing = checkBytes(what, 'trailing', m.trailing);
    if (lay?.tail === 'data_echo' && tailBytes === 0 && (m.length as number) > 0 && trailing.length > 0) {
      throw new RangeError(`${what}: a reply without echo cannot carry trailing bytes (they would read as the echo of length ${m.length as number})`);
    }
  }

  const fixed = lay?.fixed ?? 0;
  const size = HDR_SIZE + fixed + tailBytes + trailing.length;
  if (size > MSG_SIZE_LIMIT) throw new RangeError(`${what}: frame would be ${size} bytes; msg_size is 16 bits (max ${MSG_SIZE_LIMIT})`);
  const out = new Uint8Array(size);
  encodeHeader({ type, msg_id: msgId, dev_num: m.dev_num as number, token: m.token as number, msg_size: size }, out);
  const dv = new DataView(out.buffer, HDR_SIZE);
  for (const [name, ftype, off] of lay?.fields ?? []) writeField(dv, out, what, name, ftype, off, m[name]);
  const at = HDR_SIZE + fixed;
  if (Array.isArray(tail)) tail.forEach((w, i) => dv.setUint32(fixed + 4 * i, w, true));
  else out.set(tail, at);
  out.set(trailing, at + tailBytes);
  return out;
}

function writeField(dv: DataView, out: Uint8Array, what: string, name: string, type: FieldType, off: number, v: unknown): void {
  switch (type) {
    case 'u16':
      checkInt(what, name, v, 0xffff);
      dv.setUint16(off, v, true);
      return;
    case 'u32':
      checkInt(what, name, v, 0xffffffff);
      dv.setUint32(off, v, true);
      return;
    case 'u64':
      if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`${what}: ${name} must be a bigint 0..2^64-1, got ${String(v)}`);
      dv.setBigUint64(off, v, true);
      return;
    case 'uuid': {
      const b = checkBytes(what, name, v);
      if (b.length !== 16) throw new RangeError(`${what}: ${name} must be 16 bytes, got ${b.length}`);
      out.set(b, HDR_SIZE + off);
    }
  }
}

// ================================================================ helpers

function checkInt(what: string, name: string, v: unknown, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${what}: ${name} must be an integer 0..${max}, got ${String(v)}`);
  }
}

function checkBytes(what: string, name: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what}: ${name} must be a Uint8Array`);
  return v;
}

function fail(reason: ReasonCode, detail: string, header?: Header): Failure {
  return header === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, header };
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
