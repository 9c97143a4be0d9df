// Cross-shard credit: the progress guarantee between shards (docs/ARCHITECTURE.md "Cross-shard
// credit"). A shard-to-shard ring carries both drivers' frames for the receiver's devices and
// answers for the receiver's drivers. A frame for a device may have to wait (pool, window or
// park bound), and if it waited at the head of the ring, the answers behind it — which the other
// shard's pool is waiting to get rid of — would wait too: two shards could hold each other for
// good. So the receiver never leaves such a frame at the head: what it cannot accept at once
// moves to a waiting queue (one per sending shard, in order) in pool slots of a reserve no other
// use may take. The sender keeps the reserve big enough: it sends frames for devices only while
// fewer than SH_XS_CREDIT of its own are unaccepted there (in the ring or waiting).
// A sender out of credit may sleep: the receiver rings it when it returns credit the sender had
// run out of (xsCreditWake). The ring itself wakes it only for room (CURF_FREES), like any ring.
import { SH_XS_WAIT, SH_XS_CREDIT, XQ_SIZE, XQ_WAIT, XQ_SENT, XQ_DONE, XQ_PEER_DONE, XQ_PEER_SENT, PQ_HEAD, PQ_TAIL, PQ_COUNT, PS_NEXT, PS_AUX, PS_KIND, PS_FRAME, XT_KIND, XT_EP, XT_SIZE } from './layout';
import { CUR_WAKE, DOORBELL_ASLEEP, DOORBELL_ASLEEP_POLL, ringAsleep } from '../ring/cursor';
import { poolTakeReserved, poolGiveReserved } from './pool';
import { copyFrame } from '../copy';
import { hdrMsgSize } from '../header';

/** The credit entry for shard `other` (its waiting queue, what we sent it, what we accepted from it). */
@inline export function xsCreditOf(shard: usize, other: u32): usize {
  return <usize>load<u32>(shard, SH_XS_WAIT) + <usize>other * XQ_SIZE;
}

/** May this shard send one more frame towards a device of the shard of credit entry `xq`? */
@inline export function xsCreditRoom(shard: usize, xq: usize): bool {
  return load<u32>(xq, XQ_SENT) - atomic.load<u32>(<usize>load<u32>(xq, XQ_PEER_DONE)) < load<u32>(shard, SH_XS_CREDIT);
}

/** A frame towards a device of that shard was sent (written or parked towards it). */
@inline export function xsCreditSent(xq: usize): void {
  store<u32>(xq, load<u32>(xq, XQ_SENT) + 1, XQ_SENT);
}

/** A frame from that shard was accepted (taken by a device queue, refused or dropped): its credit goes back. */
@inline export function xsCreditDone(xq: usize): void {
  atomic.store<u32>(xq + XQ_DONE, load<u32>(xq, XQ_DONE) + 1);
}

/** Frames from the shard of credit entry `xq` accepted so far (this shard's own count). */
@inline export function xsCreditDoneCount(xq: usize): u32 {
  return load<u32>(xq, XQ_DONE);
}

/**
 * After taking frames from the shard of credit entry `xq` (ring consumer cursor `cur`): if
 * credit went back since the count was `doneBefore` and that shard sleeps, ring it when it had
 * run out before (its XQ_SENT − doneBefore reached the credit), since it may sleep waiting for
 * just that; a sender with credit left sleeps for something else and is left asleep. Why no
 * wake-up is lost (docs/ARCHITECTURE.md "Cross-shard credit"): a sender that sleeps out of
 * credit stored XQ_SENT, found no credit, stored its bell asleep and looked once more at our
 * XQ_DONE. Our first XQ_DONE store that look missed precedes, in the single order of atomics,
 * this load of its bell, which therefore sees it asleep (or already woken); its XQ_SENT is
 * then the one it slept with, and doneBefore is at most what its look saw, so we ring.
 */
export function xsCreditWake(shard: usize, xq: usize, cur: usize, doneBefore: u32): void {
  if (load<u32>(xq, XQ_DONE) == doneBefore) return;
  const bell = <usize>load<u32>(cur, CUR_WAKE);
  if (bell == 0) return;
  const state = atomic.load<i32>(bell);
  if (state != DOORBELL_ASLEEP && state != DOORBELL_ASLEEP_POLL) return;
  if (atomic.load<u32>(<usize>load<u32>(xq, XQ_PEER_SENT)) - doneBefore < load<u32>(shard, SH_XS_CREDIT)) return;
  ringAsleep(bell, state);
}

@inline export function xsWaiting(xq: usize): u32 {
  return load<u32>(xq, XQ_WAIT + PQ_COUNT);
}

/** Pool slot of the oldest waiting frame (only when xsWaiting(xq) != 0): its tag in PS_KIND / PS_AUX, the frame at PS_FRAME. */
@inline export function xsWaitingHead(xq: usize): usize {
  return <usize>load<u32>(xq, XQ_WAIT + PQ_HEAD);
}

/**
 * Move the ring slot `slot` (tag and frame) to the end of the waiting queue. False only if the
 * reserve is empty, which the credit rules out (the caller then leaves the frame in the ring).
 */
export function xsWait(shard: usize, xq: usize, slot: usize): bool {
  const ps = poolTakeReserved(shard);
  if (ps == 0) return false;
  store<u16>(ps, load<u16>(slot, XT_KIND), PS_KIND);
  store<u16>(ps, load<u16>(slot, XT_EP), PS_AUX);
  copyFrame(ps + PS_FRAME, slot + XT_SIZE, hdrMsgSize(load<u64>(slot + XT_SIZE)));
  store<u32>(ps, 0, PS_NEXT);
  const q = xq + XQ_WAIT;
  const count = load<u32>(q, PQ_COUNT);
  if (count == 0) store<u32>(q, <u32>ps, PQ_HEAD);
  else store<u32>(<usize>load<u32>(q, PQ_TAIL), <u32>ps, PS_NEXT);
  store<u32>(q, <u32>ps, PQ_TAIL);
  store<u32>(q, count + 1, PQ_COUNT);
  return true;
}

/** The oldest waiting frame was accepted: its slot goes back to the reserve and its credit to the sender. */
export function xsWaitingDone(shard: usize, xq: usize): void {
  const q = xq + XQ_WAIT;
  const ps = <usize>load<u32>(q, PQ_HEAD);
  store<u32>(q, load<u32>(ps, PS_NEXT), PQ_HEAD);
  store<u32>(q, load<u32>(q, PQ_COUNT) - 1, PQ_COUNT);
  poolGiveReserved(shard, ps);
  xsCreditDone(xq);
}
