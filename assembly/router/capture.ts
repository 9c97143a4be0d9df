// Capture tap: when the control plane has set SH_CAPTURE, every frame taken from or written to
// an endpoint's ring is also copied, with a timestamp, link and direction, into the shard's
// capture ring (layout CAP_* in ./layout), which src/capture/ drains to a file. Capture never
// holds routing back: a full capture ring loses the record and counts it.
import { SH_NOW_WALL, SH_CAPTURE_DIRTY, SH_C_CAPTURED, SH_C_CAPTURE_LOST, CAP_TIME, CAP_EP, CAP_DIR, CAP_FLAGS, CAP_LEN, CAP_FRAME } from './layout';
import { produceReserve, produceCommit, slotStride } from '../ring/cursor';
import { copyFrame } from '../copy';
import { captureCursor, markDirty, bump } from './context';

/** Record `len` bytes at `frame` (len >= 8; clipped to the capture slot) as crossing endpoint `ep` in direction `dir`. */
export function captureFrame(shard: usize, ep: u32, dir: u32, frame: usize, len: u32): void {
  const cur = captureCursor();
  const slot = produceReserve(cur);
  if (slot == 0) {
    bump(shard + SH_C_CAPTURE_LOST);
    return;
  }
  const room = slotStride(cur) - CAP_FRAME;
  if (len > room) len = room;
  store<f64>(slot, load<f64>(shard, SH_NOW_WALL), CAP_TIME);
  store<u16>(slot, <u16>ep, CAP_EP);
  store<u8>(slot, <u8>dir, CAP_DIR);
  store<u8>(slot, 0, CAP_FLAGS);
  store<u16>(slot, <u16>len, CAP_LEN);
  copyFrame(slot + CAP_FRAME, frame, len);
  produceCommit(cur);
  markDirty(shard, cur, shard, SH_CAPTURE_DIRTY);
  bump(shard + SH_C_CAPTURED);
}
