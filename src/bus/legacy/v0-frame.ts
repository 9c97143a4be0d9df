// The legacy v0 virtio-msg frame (docs/LEGACY.md "The v0 frame"): always 40 bytes, a 4-byte
// header {type u8, id u8, dev_id u16} and a packed little-endian payload from byte 4; no token,
// no msg_size. Every offset below is a frame offset. The two dialects (QEMU linux-user, OpenAMP
// amp_static_queue) differ in SET_VQUEUE's layout and in the width of a feature word.

export const V0_FRAME_SIZE = 40;
export const V0_PAYLOAD_MAX = V0_FRAME_SIZE - 4;

export const V0_TYPE = 0;
export const V0_ID = 1;
export const V0_DEV_ID = 2;
/** type bit 0: a reply (QEMU sets it; OpenAMP answers in place without it). */
export const V0_TYPE_RESPONSE = 0x01;

export const V0 = {
  DEVICE_INFO: 0x03,
  GET_FEATURES: 0x04,
  SET_FEATURES: 0x05,
  GET_CONFIG: 0x06,
  SET_CONFIG: 0x07,
  GET_CONFIG_GEN: 0x08,
  GET_DEVICE_STATUS: 0x09,
  SET_DEVICE_STATUS: 0x0a,
  GET_VQUEUE: 0x0b,
  SET_VQUEUE: 0x0c,
  RESET_VQUEUE: 0x0d,
  EVENT_CONFIG: 0x10,
  EVENT_AVAIL: 0x11,
  EVENT_USED: 0x12,
} as const;

/** Highest id QEMU's handler table covers: anything above reads past it. */
export const V0_QEMU_MAX_ID = 0x20;

// DEVICE_INFO reply
export const INFO_VERSION = 4;
export const INFO_DEVICE_ID = 8;
export const INFO_VENDOR_ID = 12;
// GET/SET_FEATURES: index (QEMU counts 64-bit words but ignores it; OpenAMP 32-bit words), features @8
export const FEAT_INDEX = 4;
export const FEAT_BITS = 8;
// GET/SET_CONFIG: offset u16 @4 + offset_msb u8 @6 (24 bits), size u8 @7 (1, 2 or 4), data u64 @8
export const CFG_OFFSET = 4;
export const CFG_OFFSET_MSB = 6;
export const CFG_SIZE = 7;
export const CFG_DATA = 8;
// GET_CONFIG_GEN reply, GET/SET_DEVICE_STATUS
export const GEN_VALUE = 4;
export const STATUS_VALUE = 4;
// GET_VQUEUE: index @4; reply max_size @8
export const VQ_INDEX = 4;
export const VQ_MAX_SIZE = 8;
// SET_VQUEUE, QEMU: index @4, size @8, desc @12, driver @20, device @28
export const QEMU_SETVQ = { size: 8, desc: 12, driver: 20, device: 28 } as const;
// SET_VQUEUE, OpenAMP: index @4, unused @8, size @12, desc @16, driver @24, device @32
export const OPENAMP_SETVQ = { size: 12, desc: 16, driver: 24, device: 32 } as const;
// EVENT_CONFIG: status u32 @4, config_offset u16 @8, offset_msb @10, size @11, value[16] @12
export const ECFG_STATUS = 4;
// EVENT_AVAIL / EVENT_USED: index u32 @4 (EVENT_AVAIL's next_offset/next_wrap @8/@16 are ignored by both peers)
export const EVT_INDEX = 4;

/** A zeroed v0 request frame. */
export function v0Frame(id: number, devId: number): Uint8Array {
  const f = new Uint8Array(V0_FRAME_SIZE);
  f[V0_ID] = id;
  f[V0_DEV_ID] = devId & 0xff;
  f[V0_DEV_ID + 1] = devId >>> 8;
  return f;
}

export function v0View(f: Uint8Array): DataView {
  return new DataView(f.buffer, f.byteOffset, f.byteLength);
}
