// Byte layout of a split virtqueue, virtio 1.2 §2.7 (Split Virtqueues): every offset, size and alignment in one place.
//
// Three separately placed parts, all little-endian:
//   descriptor table (driver writes, device reads)  size × { addr u64 @0, len u32 @8, flags u16 @12, next u16 @14 }
//   available ring   (driver writes, device reads)  flags u16 @0, idx u16 @2, ring[size] u16 @4, used_event u16 @4+2·size
//   used ring        (device writes, driver reads)  flags u16 @0, idx u16 @2, ring[size] {id u32, len u32} @4, avail_event u16 @4+8·size
// `idx` fields are free-running 16-bit counters; entry i lives at ring[i mod size].
import type { GuestAddress } from './guest-memory.js';

/** Largest split queue (§2.7: Queue Size ≤ 32768, a power of two). */
export const VIRTQ_MAX_SIZE = 32768;
/** The idx fields count modulo 2^16. */
export const VIRTQ_IDX_MASK = 0xffff;

export const VIRTQ_DESC_SIZE = 16;
export const VIRTQ_DESC_ADDR = 0;
export const VIRTQ_DESC_LEN = 8;
export const VIRTQ_DESC_FLAGS = 12;
export const VIRTQ_DESC_NEXT = 14;
/** The chain continues at `next`. */
export const VIRTQ_DESC_F_NEXT = 1;
/** Device-writable buffer (otherwise device-readable). */
export const VIRTQ_DESC_F_WRITE = 2;
/** The buffer is a table of descriptors (only with VIRTIO_F_INDIRECT_DESC, which we do not offer). */
export const VIRTQ_DESC_F_INDIRECT = 4;

export const VIRTQ_AVAIL_FLAGS = 0;
export const VIRTQ_AVAIL_IDX = 2;
export const VIRTQ_AVAIL_RING = 4;
export const VIRTQ_AVAIL_ENTRY_SIZE = 2;
/** Driver → device: do not interrupt me (ignored by the device with VIRTIO_F_EVENT_IDX). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;

export const VIRTQ_USED_FLAGS = 0;
export const VIRTQ_USED_IDX = 2;
export const VIRTQ_USED_RING = 4;
export const VIRTQ_USED_ELEM_SIZE = 8;
export const VIRTQ_USED_ELEM_ID = 0;
export const VIRTQ_USED_ELEM_LEN = 4;
/** Device → driver: do not notify me (ignored by the driver with VIRTIO_F_EVENT_IDX). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

export const VIRTQ_DESC_ALIGN = 16;
export const VIRTQ_AVAIL_ALIGN = 2;
export const VIRTQ_USED_ALIGN = 4;

/** The three addresses a driver programs with SET_VQUEUE (named after its fields). */
export interface SplitQueueAddresses {
  /** Descriptor table. */
  descAddr: GuestAddress;
  /** Available ring ("driver area"). */
  driverAddr: GuestAddress;
  /** Used ring ("device area"). */
  deviceAddr: GuestAddress;
}

/** Bytes of each part of a split queue of `size` entries. */
export function splitQueueBytes(size: number): { descTable: number; availRing: number; usedRing: number } {
  return {
    descTable: VIRTQ_DESC_SIZE * size,
    availRing: VIRTQ_AVAIL_RING + VIRTQ_AVAIL_ENTRY_SIZE * size + 2,
    usedRing: VIRTQ_USED_RING + VIRTQ_USED_ELEM_SIZE * size + 2,
  };
}

/** Offset of used_event in the available ring (valid with VIRTIO_F_EVENT_IDX). */
export const availUsedEventOffset = (size: number): number => VIRTQ_AVAIL_RING + VIRTQ_AVAIL_ENTRY_SIZE * size;
/** Offset of avail_event in the used ring (valid with VIRTIO_F_EVENT_IDX). */
export const usedAvailEventOffset = (size: number): number => VIRTQ_USED_RING + VIRTQ_USED_ELEM_SIZE * size;

/**
 * Why a queue of `size` at `addresses` breaks §2.7 (size a power of two ≤ 32768, parts aligned
 * 16/2/4), or null when it does not. Whether the parts lie in guest memory is the memory's check.
 */
export function checkSplitQueue(size: number, addresses: SplitQueueAddresses): string | null {
  if (!Number.isInteger(size) || size < 1 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) !== 0) {
    return `queue size must be a power of two from 1 to ${VIRTQ_MAX_SIZE}, got ${size}`;
  }
  const parts = [
    ['descriptor table (desc_addr)', addresses.descAddr, VIRTQ_DESC_ALIGN],
    ['available ring (driver_addr)', addresses.driverAddr, VIRTQ_AVAIL_ALIGN],
    ['used ring (device_addr)', addresses.deviceAddr, VIRTQ_USED_ALIGN],
  ] as const;
  for (const [part, address, align] of parts) {
    if (BigInt(address) % BigInt(align) !== 0n) {
      return `${part} must be ${align}-byte aligned, got 0x${address.toString(16)}`;
    }
  }
  return null;
}
