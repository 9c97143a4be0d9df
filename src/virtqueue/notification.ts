// Notification arithmetic of split queues: virtio 1.2 §2.7.7/§2.7.10 (event index suppression) and §2.9 (notification data).
import { VIRTQ_IDX_MASK } from './split-layout.js';

/**
 * vring_need_event: with VIRTIO_F_EVENT_IDX, a side that moved its idx from `oldIdx` to `newIdx`
 * notifies iff the peer's event index lies in [oldIdx, newIdx) — i.e. the peer asked to hear
 * about an entry this step published. All three are free-running u16 values.
 */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & VIRTQ_IDX_MASK) < ((newIdx - oldIdx) & VIRTQ_IDX_MASK);
}

// EVENT_AVAIL next_offset with VIRTIO_F_NOTIFICATION_DATA. virtio-msg gives bits 30..0 to the
// offset and bit 31 to the wrap counter. For split queues the core spec (§2.9) defines
// next_off = the 15 low bits of the available index and next_wrap = its bit 15, so we send
// bit 15 of the index in bit 31. The digest's wording ("next available index" in bits 30..0)
// also admits the whole 16-bit index in bits 15..0 with bit 31 clear; the two agree below 32768
// and the decoder accepts both.
const NEXT_OFFSET_WRAP = 0x8000_0000;
const SPLIT_OFF_MASK = 0x7fff;
const SPLIT_WRAP_BIT = 0x8000;

/** next_offset announcing that the driver's next available index is `availIdx`. */
export function encodeSplitNextOffset(availIdx: number): number {
  return ((availIdx & SPLIT_OFF_MASK) | ((availIdx & SPLIT_WRAP_BIT) !== 0 ? NEXT_OFFSET_WRAP : 0)) >>> 0;
}

/** The available index a next_offset announces (either encoding above). A hint: the ring's idx stays authoritative. */
export function decodeSplitNextOffset(nextOffset: number): number {
  const wrap = (nextOffset & NEXT_OFFSET_WRAP) !== 0 ? SPLIT_WRAP_BIT : 0;
  return (nextOffset & VIRTQ_IDX_MASK) | wrap;
}
