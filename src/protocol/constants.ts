// Every virtio-msg wire constant (docs/PROTOCOL.md §3 header, §4 ID ranges, §5 transport, §6 bus ids and
// states, §1/§7 size limits). assembly/header.ts is the AssemblyScript twin: names it shares
// with this file must have the same values (test/layout/header.test.ts checks it).

// ---------------------------------------------------------------- common header (§3)
// type u8 @0 | msg_id u8 @1 | dev_num le16 @2 | token le16 @4 | msg_size le16 @6
export const HDR_SIZE = 8;
export const HDR_TYPE = 0;
export const HDR_MSG_ID = 1;
export const HDR_DEV_NUM = 2;
export const HDR_TOKEN = 4;
export const HDR_MSG_SIZE = 6;

/** type bit 0: response (requests and events have it clear). */
export const TYPE_RESPONSE = 0x01;
/** type bit 1: bus message (dev_num always 0). */
export const TYPE_BUS = 0x02;
/** type bits 2–7: send 0, ignore on receive (§3; vector t_reserved_type_bits_set). */
export const TYPE_RESERVED_MASK = 0xfc;

// ---------------------------------------------------------------- msg_id ranges (§4)
/** msg_id bit 6: event, never answered. */
export const MSG_ID_EVENT_BIT = 0x40;
/** msg_id bit 7: implementation-defined (0x80–0xBF requests, 0xC0–0xFF events). */
export const MSG_ID_IMPL_BIT = 0x80;

// ---------------------------------------------------------------- transport ids (§5)
export const T_GET_DEVICE_INFO = 0x02;
export const T_GET_DEVICE_FEATURES = 0x03;
export const T_SET_DRIVER_FEATURES = 0x04;
export const T_GET_CONFIG = 0x05;
export const T_SET_CONFIG = 0x06;
export const T_GET_DEVICE_STATUS = 0x07;
export const T_SET_DEVICE_STATUS = 0x08;
export const T_GET_VQUEUE = 0x09;
export const T_SET_VQUEUE = 0x0a;
export const T_RESET_VQUEUE = 0x0b;
export const T_GET_SHM = 0x0c;
export const T_EVENT_CONFIG = 0x40;
export const T_EVENT_AVAIL = 0x41;
export const T_EVENT_USED = 0x42;

// ---------------------------------------------------------------- bus ids (§6)
export const B_GET_DEVICES = 0x02;
export const B_PING = 0x03;
export const B_EVENT_DEVICE = 0x40;

/** Spec names of the standard transport ids (JSON "message", summaries). */
export const TRANSPORT_NAMES = {
  [T_GET_DEVICE_INFO]: 'GET_DEVICE_INFO',
  [T_GET_DEVICE_FEATURES]: 'GET_DEVICE_FEATURES',
  [T_SET_DRIVER_FEATURES]: 'SET_DRIVER_FEATURES',
  [T_GET_CONFIG]: 'GET_CONFIG',
  [T_SET_CONFIG]: 'SET_CONFIG',
  [T_GET_DEVICE_STATUS]: 'GET_DEVICE_STATUS',
  [T_SET_DEVICE_STATUS]: 'SET_DEVICE_STATUS',
  [T_GET_VQUEUE]: 'GET_VQUEUE',
  [T_SET_VQUEUE]: 'SET_VQUEUE',
  [T_RESET_VQUEUE]: 'RESET_VQUEUE',
  [T_GET_SHM]: 'GET_SHM',
  [T_EVENT_CONFIG]: 'EVENT_CONFIG',
  [T_EVENT_AVAIL]: 'EVENT_AVAIL',
  [T_EVENT_USED]: 'EVENT_USED',
} as const;

/** Spec names of the standard bus ids. */
export const BUS_NAMES = {
  [B_GET_DEVICES]: 'GET_DEVICES',
  [B_PING]: 'PING',
  [B_EVENT_DEVICE]: 'EVENT_DEVICE',
} as const;

/** Name used for every id in 0x80–0xFF (payload opaque to the generic layer). */
export const IMPL_DEFINED_NAME = 'IMPL_DEFINED';

export type TransportName = (typeof TRANSPORT_NAMES)[keyof typeof TRANSPORT_NAMES];
export type BusName = (typeof BUS_NAMES)[keyof typeof BUS_NAMES];

// ---------------------------------------------------------------- EVENT_DEVICE states (§6)
export const DEVICE_BUS_STATE_READY = 0x0001;
/** 2026 name of READY (same value). */
export const DEVICE_BUS_STATE_ADDED = 0x0001;
export const DEVICE_BUS_STATE_REMOVED = 0x0002;
/** 0x0003–0x7FFF reserved; 0x8000–0xFFFF bus-specific. */
export const DEVICE_BUS_STATE_IMPL_MIN = 0x8000;

// ---------------------------------------------------------------- device status bits (virtio 1.x)
export const STATUS_ACKNOWLEDGE = 0x01;
export const STATUS_DRIVER = 0x02;
export const STATUS_DRIVER_OK = 0x04;
export const STATUS_FEATURES_OK = 0x08;
export const STATUS_DEVICE_NEEDS_RESET = 0x40;
export const STATUS_FAILED = 0x80;

export const STATUS_NAMES: readonly (readonly [number, string])[] = [
  [STATUS_ACKNOWLEDGE, 'ACKNOWLEDGE'],
  [STATUS_DRIVER, 'DRIVER'],
  [STATUS_DRIVER_OK, 'DRIVER_OK'],
  [STATUS_FEATURES_OK, 'FEATURES_OK'],
  [STATUS_DEVICE_NEEDS_RESET, 'DEVICE_NEEDS_RESET'],
  [STATUS_FAILED, 'FAILED'],
];

// ---------------------------------------------------------------- EVENT_AVAIL next_offset (§5)
/** Bit 31 of next_offset: wrap counter; bits 30..0: next offset / next available index. */
export const NEXT_OFFSET_WRAP_BIT = 0x80000000;
export const NEXT_OFFSET_MASK = 0x7fffffff;

// ---------------------------------------------------------------- size limits (§1, §7 rules 3–5)
/** Smallest legal msg_size: the header alone. */
export const MSG_SIZE_MIN = HDR_SIZE;
/** Largest msg_size a bus SHOULD advertise ("256-byte payload plus header"). */
export const BUS_MAX_RECOMMENDED = 264;
/** msg_size is 16 bits: PR28's "65536" cannot be encoded, 2026 says 65535. */
export const MSG_SIZE_LIMIT = 65535;
/** Smallest maximum a bus may advertise: 52 carries every fixed 2026 payload (PR28 said 44). */
export const BUS_MAX_MIN_ADVERTISED = 52;

// ---------------------------------------------------------------- bus GET_DEVICES (§6)
/** offset and count are multiples of 8: one bitmap byte per 8 device numbers. */
export const GET_DEVICES_ALIGN = 8;
