// Writing frames to a ring the router produces into (an endpoint's router→endpoint ring or a
// cross-shard ring), never losing one: when the ring is full, or older frames already wait,
// the frame is parked in the shard's pool and written later, in order (docs/ARCHITECTURE.md
// "Backpressure").
import { produceReserve, produceCommit, produceCommitTo, cursorFlush, peerIndexNow } from '../ring/cursor';
import { copyFrame } from '../copy';
import { poolTake } from './pool';
import { markDirty, markPending, now, config, captureCursor, endpointOfOut } from './context';
import { captureFrame } from './capture';
import {
  OUT_CURSOR, OUT_PARK, OUT_PARK_COUNT, OUT_TAGGED, PQ_LIST_NEXT,
  OUT_STATS, OUT_DIRTY, OUT_BLOCKED_SINCE, OUT_BLOCKED_PEER, RC_TIMEOUT_MS, PS_AUX, PS_KIND, PS_FRAME, XT_KIND, XT_EP, XT_SIZE, SH_OUT_LIST, EC_TX, EC_TX_BYTES, CAPD_FROM_ROUTER,
} from './layout';
import { parkAppend, parkedCount, parkedHead, parkedPop, parkListPrune, parkListRemove } from './parked';

/** Note whether the ring took the frame: a ring full, with a consumer that does not move, for longer than the timeout means a stalled peer. */
@inline export function outMarkBlocked(shard: usize, out: usize, blocked: bool): void {
  if (!blocked) store<u32>(out, 0, OUT_BLOCKED_SINCE);
  else if (load<u32>(out, OUT_BLOCKED_SINCE) == 0) outBlockedFrom(shard, out);
}

/** Start the stall clock now, at the consumer index the ring shows now. */
function outBlockedFrom(shard: usize, out: usize): void {
  store<u32>(out, now(shard) | 1, OUT_BLOCKED_SINCE);
  store<u32>(out, consumerIndex(out), OUT_BLOCKED_PEER);
}

/** The index the ring's consumer publishes. */
@inline function consumerIndex(out: usize): u32 {
  return peerIndexNow(<usize>load<u32>(out, OUT_CURSOR));
}

/**
 * The consumer behind `out` has taken nothing for longer than the request timeout while the
 * ring refused frames. A consumer that takes frames is never stalled, even while the ring has
 * too little room for the router's next frame (a packed ring frees units a few at a time).
 */
/**
 * outStalled as seen from another shard, which must not write the output's fields (only its
 * owner does): true only while the consumer has not moved since the clock started.
 */
export function outStalledSeenFrom(shard: usize, out: usize): bool {
  const since = load<u32>(out, OUT_BLOCKED_SINCE);
  return since != 0 && <i32>(now(shard) - since) > <i32>load<u32>(config(shard), RC_TIMEOUT_MS) &&
    consumerIndex(out) == load<u32>(out, OUT_BLOCKED_PEER);
}

export function outStalled(shard: usize, out: usize): bool {
  const since = load<u32>(out, OUT_BLOCKED_SINCE);
  // Signed: `since` carries the low bit set, so it can be one ms ahead of `now`.
  if (since == 0 || <i32>(now(shard) - since) <= <i32>load<u32>(config(shard), RC_TIMEOUT_MS)) return false;
  if (consumerIndex(out) == load<u32>(out, OUT_BLOCKED_PEER)) return true;
  outBlockedFrom(shard, out); // it moved: the clock starts again from here
  return false;
}

/** Count a frame of `size` bytes written to `out`'s ring (EC_TX, EC_TX_BYTES of its endpoint; cross-shard outputs have none). */
@inline export function countTx(out: usize, size: u32): void {
  const stats = <usize>load<u32>(out, OUT_STATS);
  if (stats != 0) {
    if (EC_TX_BYTES != EC_TX + 1) ERROR('countTx: EC_TX_BYTES must follow EC_TX');
    addTx(stats + (<usize>EC_TX << 3), size);
  }
}

/**
 * EC_TX += 1 and EC_TX_BYTES += `size` at `c` (EC_TX's address). With SIMD one 16-byte
 * read-modify-write; without (the scalar build, asconfig target "scalar") one u64 store each.
 * Either way each counter is written whole, an exact total for the stats reader.
 */
@inline function addTx(c: usize, size: u32): void {
  if (ASC_FEATURE_SIMD) {
    v128.store(c, i64x2.add(v128.load(c), i64x2.replace_lane(i64x2.splat(1), 1, <i64>size)));
  } else {
    store<u64>(c, load<u64>(c) + 1);
    store<u64>(c, load<u64>(c, 8) + <u64>size, 8);
  }
}

/** Write header word `hdr` then bytes 8..size of `src` into `dst`. */
@inline function writeFrame(dst: usize, hdr: u64, src: usize, size: u32): void {
  store<u64>(dst, hdr);
  copyFrame(dst + 8, src + 8, size - 8);
}

@inline export function outHasParked(out: usize): bool {
  return load<u32>(out, OUT_PARK_COUNT) != 0;
}

/**
 * Emit a frame (header word `hdr`, rest from `src`) to `out`. Tagged outputs get the cross-shard
 * tag (kind, ep). Returns false only when it had to park and the pool was empty; the caller
 * then keeps its source frame and retries later.
 */
export function outEmit(shard: usize, out: usize, hdr: u64, src: usize, size: u32, kind: u32, ep: u32): bool {
  const tagged = load<u32>(out, OUT_TAGGED) != 0;
  if (load<u32>(out, OUT_PARK_COUNT) == 0) {
    const cur = <usize>load<u32>(out, OUT_CURSOR);
    const slot = produceReserve(cur);
    outMarkBlocked(shard, out, slot == 0);
    if (slot != 0) {
      if (tagged) {
        store<u64>(slot, <u64>kind | (<u64>ep << 16), XT_KIND);
        writeFrame(slot + XT_SIZE, hdr, src, size);
      } else {
        writeFrame(slot, hdr, src, size);
        countTx(out, size);
        if (captureCursor() != 0) captureFrame(shard, endpointOfOut(out), CAPD_FROM_ROUTER, slot, size);
      }
      produceCommit(cur);
      markDirty(shard, cur, out, OUT_DIRTY);
      return true;
    }
  }
  return outPark(shard, out, hdr, src, size, kind, ep);
}

/** outEmit for an endpoint's own output (never tagged), inlined into the answer path. */
@inline export function outEmitOwn(shard: usize, out: usize, hdr: u64, src: usize, size: u32): bool {
  if (load<u32>(out, OUT_PARK_COUNT) == 0) {
    const cur = <usize>load<u32>(out, OUT_CURSOR);
    const slot = produceReserve(cur);
    outMarkBlocked(shard, out, slot == 0);
    if (slot != 0) {
      outWriteOwn(shard, out, cur, slot, hdr, src, size, captureCursor() != 0, false, 0);
      return true;
    }
  }
  return outPark(shard, out, hdr, src, size, 0, 0);
}

/** outEmitOwn's part once it has `slot` of `out`'s ring (cursor `cur`): shared with answerNow, which passes `capturing` false and `seen` true with `next` (see forwardWrite). */
@inline export function outWriteOwn(shard: usize, out: usize, cur: usize, slot: usize, hdr: u64, src: usize, size: u32, capturing: bool, seen: bool, next: u32): void {
  writeFrame(slot, hdr, src, size);
  countTx(out, size);
  if (capturing) captureFrame(shard, endpointOfOut(out), CAPD_FROM_ROUTER, slot, size);
  if (seen) {
    if (produceCommitTo(cur, next)) markPending(shard, cur, out, OUT_DIRTY);
  } else {
    produceCommit(cur);
    markDirty(shard, cur, out, OUT_DIRTY);
  }
}

/** The frame waits in the pool behind what `out` already holds. False: the pool is empty. */
function outPark(shard: usize, out: usize, hdr: u64, src: usize, size: u32, kind: u32, ep: u32): bool {
  const ps = poolTake(shard);
  if (ps == 0) return false;
  store<u16>(ps, <u16>ep, PS_AUX);
  store<u16>(ps, <u16>kind, PS_KIND);
  writeFrame(ps + PS_FRAME, hdr, src, size);
  outAppendParked(shard, out, ps);
  return true;
}

/** Append a pool slot that already holds a finished frame (and its tag fields). */
@inline export function outAppendParked(shard: usize, out: usize, ps: usize): void {
  parkAppend(shard + SH_OUT_LIST, out + OUT_PARK, ps);
}

/** Write parked frames while the ring has room. Returns how many were written. */
export function outDrain(shard: usize, out: usize): u32 {
  const cur = <usize>load<u32>(out, OUT_CURSOR);
  const tagged = load<u32>(out, OUT_TAGGED) != 0;
  const q = out + OUT_PARK;
  let n: u32 = 0;
  while (parkedCount(q) != 0) {
    const slot = produceReserve(cur);
    outMarkBlocked(shard, out, slot == 0);
    if (slot == 0) break;
    const ps = parkedHead(q);
    const frame = ps + PS_FRAME;
    const size = <u32>load<u16>(frame, 6);
    if (tagged) {
      store<u64>(slot, <u64>load<u16>(ps, PS_KIND) | (<u64>load<u16>(ps, PS_AUX) << 16), XT_KIND);
      copyFrame(slot + XT_SIZE, frame, size);
    } else {
      copyFrame(slot, frame, size);
      countTx(out, size);
      if (captureCursor() != 0) captureFrame(shard, endpointOfOut(out), CAPD_FROM_ROUTER, slot, size);
    }
    produceCommit(cur);
    parkedPop(shard, q);
    n++;
  }
  if (n != 0) cursorFlush(cur);
  return n;
}

/** Drain every output with parked frames; unlink the ones that became empty. */
export function outServiceAll(shard: usize): void {
  for (let q = <usize>load<u32>(shard, SH_OUT_LIST); q != 0; q = <usize>load<u32>(q, PQ_LIST_NEXT)) outDrain(shard, q - OUT_PARK);
  parkListPrune(shard + SH_OUT_LIST);
}

/** Release every parked frame of an output (endpoint detached). Returns how many were dropped. */
export function outDiscardParked(shard: usize, out: usize): u32 {
  const q = out + OUT_PARK;
  const n = parkedCount(q);
  while (parkedCount(q) != 0) parkedPop(shard, q);
  parkListRemove(shard + SH_OUT_LIST, q);
  return n;
}
