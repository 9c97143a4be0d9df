// virtio-msg common header (docs/PROTOCOL.md §3): 8 bytes, little-endian, read as one u64.
//   type u8 @0 | msg_id u8 @1 | dev_num u16 @2 | token u16 @4 | msg_size u16 @6
// The TS twin is src/protocol/constants.ts; test/layout/header.test.ts checks they agree.

export const HDR_SIZE: u32 = 8;
export const HDR_TYPE: u32 = 0;
export const HDR_MSG_ID: u32 = 1;
export const HDR_DEV_NUM: u32 = 2;
export const HDR_TOKEN: u32 = 4;
export const HDR_MSG_SIZE: u32 = 6;

export const TYPE_RESPONSE: u32 = 0x01;
export const TYPE_BUS: u32 = 0x02;
export const TYPE_RESERVED_MASK: u32 = 0xfc;
export const MSG_ID_EVENT_BIT: u32 = 0x40;
export const MSG_ID_IMPL_BIT: u32 = 0x80;

// Transport ids (docs/PROTOCOL.md §5).
export const T_GET_DEVICE_INFO: u32 = 0x02;
export const T_GET_SHM: u32 = 0x0c;
export const T_EVENT_CONFIG: u32 = 0x40;
export const T_EVENT_AVAIL: u32 = 0x41;
export const T_EVENT_USED: u32 = 0x42;
// Bus ids (docs/PROTOCOL.md §6).
export const B_GET_DEVICES: u32 = 0x02;
export const B_PING: u32 = 0x03;
export const B_EVENT_DEVICE: u32 = 0x40;

/** Field extractors over the header word loaded with load<u64>(frame). */
@inline export function hdrType(w: u64): u32 { return <u32>w & 0xff; }
@inline export function hdrMsgId(w: u64): u32 { return <u32>(w >> 8) & 0xff; }
@inline export function hdrDevNum(w: u64): u32 { return <u32>(w >> 16) & 0xffff; }
@inline export function hdrToken(w: u64): u32 { return <u32>(w >> 32) & 0xffff; }
@inline export function hdrMsgSize(w: u64): u32 { return <u32>(w >> 48); }

/** The header word with its token replaced (token is bus-owned, docs/PROTOCOL.md §7 rule 8). */
@inline export function withToken(w: u64, token: u32): u64 {
  return (w & 0xffff0000ffffffff) | (<u64>(token & 0xffff) << 32);
}

/** The header word with its device number replaced (external links may number devices their own way). */
@inline export function withDevNum(w: u64, dev: u32): u64 {
  return (w & 0xffffffff0000ffff) | (<u64>(dev & 0xffff) << 16);
}

/** withDevNum(withToken(w, token), dev) with one mask: the two fields are next to each other. */
@inline export function withTokenDevNum(w: u64, token: u32, dev: u32): u64 {
  return (w & 0xffff00000000ffff) | (<u64>(token & 0xffff) << 32) | (<u64>(dev & 0xffff) << 16);
}

/** Build a header word. */
@inline export function makeHeader(type: u32, msgId: u32, devNum: u32, token: u32, size: u32): u64 {
  return <u64>(type & 0xff) | (<u64>(msgId & 0xff) << 8) | (<u64>(devNum & 0xffff) << 16) |
    (<u64>(token & 0xffff) << 32) | (<u64>(size & 0xffff) << 48);
}
