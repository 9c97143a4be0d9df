// Fault injection inside a routing step, for the test build only (asconfig target "faults",
// compiled with `--use VMSG_FAULTS=1`). In the release build `isDefined(VMSG_FAULTS)` is false
// at compile time, so every call below compiles to nothing: the release module has no load,
// no branch and no export more.
//
// A point is a place inside routeSome where a real trap (or a worker killed) would leave the
// shard's tables half way through a step. The control plane arms one point per shard in the
// shard word SH_FAULT (point | countdown << 8): the point lets `countdown` hits pass, then the
// next hit records itself in SH_FAULT_FIRED, disarms and traps (`unreachable`), and the shard
// worker dies exactly as it would on a bug there.
import { SH_FAULT, SH_FAULT_FIRED } from './layout';

/** A frame of an endpoint ring was routed; the walk has not yet committed the ring's consumer index. */
export const FP_TAKEN: u32 = 1;
/** A frame was parked for its device (the walk goes on); the source's consumer index is not yet committed or published. */
export const FP_PARKED: u32 = 2;
/** First half of a cross-shard send: the frame is in the shard-to-shard ring, unpublished; the other shard has not seen it. */
export const FP_XS_SENT: u32 = 3;
/** Second half: the receiving shard handled a cross-shard frame and released its slot, not yet published. */
export const FP_XS_TAKEN: u32 = 4;
/** Points 1..FAULT_POINTS exist. */
export const FAULT_POINTS: u32 = 4;

/** What the frame being routed did, for the points that fire once the frame is done (test build). */
let gMarks: u32 = 0;

/** The frame being routed reached `point` (parked, sent across): the walk fires it once the frame is counted as routed. */
@inline export function faultMark(point: u32): void {
  if (isDefined(VMSG_FAULTS)) gMarks |= 1 << point;
}

/** A frame of the walk is routed and recorded (SH_WALK_*): fire the points it reached. */
@inline export function faultFrameDone(shard: usize): void {
  if (isDefined(VMSG_FAULTS)) {
    const marks = gMarks;
    gMarks = 0;
    faultHit(shard, FP_TAKEN);
    if (marks & (1 << FP_PARKED)) faultHit(shard, FP_PARKED);
    if (marks & (1 << FP_XS_SENT)) faultHit(shard, FP_XS_SENT);
  }
}

/** A cross-shard frame is handled and its slot released (not yet published): fire FP_XS_TAKEN. */
@inline export function faultXsDone(shard: usize): void {
  if (isDefined(VMSG_FAULTS)) {
    gMarks = 0; // what the frame did on this side (parked) is this point's to test
    faultHit(shard, FP_XS_TAKEN);
  }
}

function faultHit(shard: usize, point: u32): void {
  const w = atomic.load<u32>(shard + SH_FAULT);
  if ((w & 0xff) != point) return;
  if ((w >>> 8) != 0) {
    atomic.store<u32>(shard + SH_FAULT, w - 0x100);
    return;
  }
  atomic.store<u32>(shard + SH_FAULT, 0);
  atomic.store<u32>(shard + SH_FAULT_FIRED, point);
  unreachable();
}
