// Ways a peer can break the split-queue rules of virtio 1.2 §2.7, as values: the device answers with DEVICE_NEEDS_RESET, the driver resets the device.
import type { GuestAddressError } from './guest-memory.js';

export type VirtqueueFaultKind =
  /** SET_VQUEUE size not a power of two ≤ 32768, or a part misaligned. */
  | 'queue-config'
  /** A ring or the descriptor table does not lie inside guest memory. */
  | 'ring-outside-memory'
  /** The peer's idx moved by more than the queue size since we last looked. */
  | 'index-jump'
  /** A head in the available ring, or a descriptor's `next`, is ≥ the queue size. */
  | 'descriptor-index'
  /** A chain longer than the queue size: its `next` links form a loop. */
  | 'descriptor-loop'
  /** A device-readable descriptor after a device-writable one (§2.7.5). */
  | 'readable-after-writable'
  /** VIRTQ_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC negotiated. */
  | 'indirect-not-negotiated'
  /** A descriptor's [addr, addr + len) is not inside guest memory. */
  | 'buffer-outside-memory'
  /** The chain's total length does not fit the u32 `len` of a used element. */
  | 'chain-too-long'
  /** The available ring offers a head whose chain the device has not returned yet. */
  | 'head-in-use'
  /** The used ring returns an id that is not the head of an outstanding chain. */
  | 'used-id'
  /** The used ring reports more bytes written than the chain has writable. */
  | 'used-length';

export class VirtqueueFault {
  constructor(
    readonly kind: VirtqueueFaultKind,
    readonly message: string,
    /** The descriptor (or head, or used id) at fault, when there is one. */
    readonly descriptor?: number,
    readonly cause?: GuestAddressError,
  ) {}
}
