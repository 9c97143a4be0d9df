// vmamp shared-memory window (docs/BUSES.md §2.1 layout, §2.2 device-side build): the 64-byte layout
// descriptor, the two 8-byte queue heads, and a cursor fill so the WASM hot path drives a window
// directly. Validation and the bring-up handshake live in src/ring/vmamp.ts, which takes the
// offsets below from the generated descriptor (src/wasm/layout.ts).
import { cursorInit, CURF_IDX16, CURSOR_PRODUCER } from './cursor';

// ---------------------------------------------------------------- layout descriptor @ window+0
export const VMAMP_LAYOUT_MAGIC_VALUE: u32 = 0x4c4f; // "LO", layout OK; 0 = not built yet
export const VMAMP_LAYOUT_VERSION_VALUE: u32 = 1;
export const VMAMP_FEATURE_MASKED_NOTIF: u32 = 0x1; // the only defined feature bit
export const VMAMP_NUM_NOTIF_MAX: u32 = 64;

export const VMAMP_LAYOUT_MAGIC: u32 = 0x00; //                     u16, stored last (release)
export const VMAMP_LAYOUT_LENGTH: u32 = 0x02; //                    u16 = VMAMP_LAYOUT_SIZE
export const VMAMP_LAYOUT_VERSION: u32 = 0x04; //                   u16 = 1
export const VMAMP_LAYOUT_FEATURES: u32 = 0x06; //                  u16, bit0 MASKED_NOTIF
export const VMAMP_LAYOUT_NUM_NOTIF: u32 = 0x08; //                 u8, u64 words per notif array, <= 64
export const VMAMP_LAYOUT_NUM_VQ_NOTIF_PER_DEVICE: u32 = 0x09; //   u8, 1/2/4/8/16 when num_notif != 0
export const VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS: u32 = 0x0a; //        u16 N >= 2, same both directions
export const VMAMP_LAYOUT_SIZE_QUEUE_ELEMENTS: u32 = 0x0c; //       u16 element bytes (= max message)
export const VMAMP_LAYOUT_RESERVED: u32 = 0x0e; //                  u16, 0
export const VMAMP_LAYOUT_DEV_NOTIF_OFFSET: u32 = 0x10; //          u64, 0 = none
export const VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET: u32 = 0x18; //     u64
export const VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET: u32 = 0x20; // u64
export const VMAMP_LAYOUT_DRV_NOTIF_OFFSET: u32 = 0x28; //          u64, 0 = none
export const VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET: u32 = 0x30; //     u64
export const VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET: u32 = 0x38; // u64
export const VMAMP_LAYOUT_SIZE: u32 = 64;

// ---------------------------------------------------------------- queue head (8 bytes, one per side)
export const VMAMP_QH_MAGIC_VALUE: u32 = 0x514f; // "QO", queue OK
export const VMAMP_QH_MAGIC: u32 = 0; //  u16
export const VMAMP_QH_STATUS: u32 = 2; // u16: state in bits 0..4, flags in bits 12..15
export const VMAMP_QH_TAIL: u32 = 4; //   u16 PRODUCER index into this side's own elements
export const VMAMP_QH_HEAD: u32 = 6; //   u16 CONSUMER index into the peer's elements
export const VMAMP_QH_SIZE: u32 = 8;
export const VMAMP_QH_ALIGN: u32 = 2; //  u16 fields; the validator demands only this
export const VMAMP_NOTIF_ALIGN: u32 = 8; // u64 words

export const VMAMP_STATE_MASK: u32 = 0x001f;
export const VMAMP_STATE_INIT: u32 = 0;
export const VMAMP_STATE_READY: u32 = 1;
export const VMAMP_STATE_RUN: u32 = 2;
export const VMAMP_STATE_SHUTDOWN: u32 = 3;
export const VMAMP_STATE_PEER_DEAD: u32 = 4;
export const VMAMP_FLAG_MASK: u32 = 0xf000;
export const VMAMP_FLAG_DEBUGGABLE: u32 = 0x8000;

// ---------------------------------------------------------------- the device-side build (QEMU)
export const VMAMP_DEV_QH_AT: u32 = 64; //     right after the descriptor
export const VMAMP_DRV_QH_AT: u32 = 72;
export const VMAMP_ELEMENTS_AT: u32 = 80; //   align8(64 + 2 * 8)
export const VMAMP_ELEMENT_SIZE: u32 = 64; //  every implementation today
export const VMAMP_MAX_ELEMENTS: u32 = 0xffff; // N is a u16

export const VMAMP_ROLE_DEVICE: u32 = 0;
export const VMAMP_ROLE_DRIVER: u32 = 1;

/** N for a window of `windowSize` bytes built the QEMU way, or 0 when it cannot hold N >= 2. */
export function vmampElementCount(windowSize: u32): u32 {
  if (windowSize < VMAMP_ELEMENTS_AT) return 0;
  const n = (windowSize - VMAMP_ELEMENTS_AT) / (2 * VMAMP_ELEMENT_SIZE);
  return n < 2 || n > VMAMP_MAX_ELEMENTS ? 0 : n;
}

/**
 * Build the layout at `window` as the device side does (QEMU vmamp_shmem_dev_init): descriptor at
 * 0, queue heads at 64/72, device elements at 80, driver elements after them, no notification
 * areas, the device's own elements zeroed. Returns N, or 0 (nothing written) when the window is
 * too small. The queue heads are left to each side's bring-up.
 */
export function vmampDeviceInit(window: usize, windowSize: u32): u32 {
  const n = vmampElementCount(windowSize);
  if (n == 0) return 0;
  // Withdraw an old layout first so a driver never mixes old and new fields (QEMU assumes a
  // fresh window; a rebuild in place needs this).
  atomic.store<u16>(window, 0, VMAMP_LAYOUT_MAGIC);
  const driverElements = VMAMP_ELEMENTS_AT + n * VMAMP_ELEMENT_SIZE;
  memory.fill(window + VMAMP_ELEMENTS_AT, 0, n * VMAMP_ELEMENT_SIZE);
  store<u16>(window, <u16>VMAMP_LAYOUT_SIZE, VMAMP_LAYOUT_LENGTH);
  store<u16>(window, <u16>VMAMP_LAYOUT_VERSION_VALUE, VMAMP_LAYOUT_VERSION);
  store<u16>(window, 0, VMAMP_LAYOUT_FEATURES);
  store<u8>(window, 0, VMAMP_LAYOUT_NUM_NOTIF);
  store<u8>(window, 0, VMAMP_LAYOUT_NUM_VQ_NOTIF_PER_DEVICE);
  store<u16>(window, <u16>n, VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS);
  store<u16>(window, <u16>VMAMP_ELEMENT_SIZE, VMAMP_LAYOUT_SIZE_QUEUE_ELEMENTS);
  store<u16>(window, 0, VMAMP_LAYOUT_RESERVED);
  store<u64>(window, 0, VMAMP_LAYOUT_DEV_NOTIF_OFFSET);
  store<u64>(window, VMAMP_DEV_QH_AT, VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET);
  store<u64>(window, VMAMP_ELEMENTS_AT, VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET);
  store<u64>(window, 0, VMAMP_LAYOUT_DRV_NOTIF_OFFSET);
  store<u64>(window, VMAMP_DRV_QH_AT, VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET);
  store<u64>(window, driverElements, VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET);
  // Release: the driver acquire-loads the magic, then reads the fields above.
  atomic.store<u16>(window, <u16>VMAMP_LAYOUT_MAGIC_VALUE, VMAMP_LAYOUT_MAGIC);
  return n;
}

/** The u64 offset at `field` if [offset, offset+bytes) lies inside the window, else 0. */
@inline function regionInWindow(window: usize, field: u32, bytes: u64, windowSize: u32): u64 {
  const off = load<u64>(window + field); // `field` varies with the role, so not an immediate offset
  return off != 0 && off <= <u64>windowSize && bytes <= <u64>windowSize - off ? off : 0;
}

/**
 * Fill the cursor at `cur` so the WASM cursor code drives one direction of the window
 * at `window`: `role` VMAMP_ROLE_DEVICE/DRIVER, `direction` CURSOR_PRODUCER (send into my own
 * elements: publish my tail @myqh+4, read the peer's head @peerqh+6) or CURSOR_CONSUMER (read
 * the peer's elements: publish my head @myqh+6, read the peer's tail @peerqh+4). Indices are u16.
 * Call it after the TS side validated the layout (checkVmampDescriptor). The descriptor is
 * read again here, so the bounds that keep the cursor inside the window are re-checked: a peer
 * that rewrites its descriptor later cannot aim us elsewhere. Returns false (cursor untouched)
 * when they do not hold.
 */
export function vmampCursorInit(
  cur: usize, window: usize, windowSize: u32, role: u32, direction: u32, batch: u32, bell: u32,
): bool {
  if (atomic.load<u16>(window, VMAMP_LAYOUT_MAGIC) != <u16>VMAMP_LAYOUT_MAGIC_VALUE) return false;
  const n = <u32>load<u16>(window, VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS);
  const size = <u32>load<u16>(window, VMAMP_LAYOUT_SIZE_QUEUE_ELEMENTS);
  if (n < 2 || size == 0) return false;
  const device = role == VMAMP_ROLE_DEVICE;
  const myQh = regionInWindow(window, device ? VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET : VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET, VMAMP_QH_SIZE, windowSize);
  const peerQh = regionInWindow(window, device ? VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET : VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET, VMAMP_QH_SIZE, windowSize);
  const bytes = <u64>n * <u64>size;
  const myElements = regionInWindow(window, device ? VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET : VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET, bytes, windowSize);
  const peerElements = regionInWindow(window, device ? VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET : VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET, bytes, windowSize);
  if (myQh == 0 || peerQh == 0 || myElements == 0 || peerElements == 0) return false;
  if (((<u64>window | myQh | peerQh) & <u64>(VMAMP_QH_ALIGN - 1)) != 0) return false; // u16 atomics trap when misaligned
  if (direction == CURSOR_PRODUCER) {
    cursorInit(cur, window + <usize>myElements, window + <usize>myQh + VMAMP_QH_TAIL,
      window + <usize>peerQh + VMAMP_QH_HEAD, n, size, batch, CURF_IDX16, bell);
  } else {
    cursorInit(cur, window + <usize>peerElements, window + <usize>myQh + VMAMP_QH_HEAD,
      window + <usize>peerQh + VMAMP_QH_TAIL, n, size, batch, CURF_IDX16, bell);
  }
  return true;
}
