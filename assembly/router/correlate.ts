// Token correlation and per-device ordering (spec §7 rules 8–10, 16–18). Each device has a
// window of K correlation entries indexed by request sequence: the router stamps token =
// seq & 0xffff (never 0) on the forwarded request, remembers the driver's endpoint and
// token, and hands responses to drivers strictly in forwarding order — an early response is
// held in the pool, a request with no response by its deadline becomes one transport failure
// in its place, late and duplicate responses are dropped and counted.
import {
  DS_WINDOW, DS_ENTRIES, DS_NEXT_SEQ, DS_HEAD_SEQ, DS_C_RESPONSES, DS_C_FAILED, DS_C_HELD, DS_C_TIMEOUTS,
  DS_DEV_NUM, CE_STATE, CE_MSG_ID, CE_DRIVER, CE_DRV_TOKEN, CE_TOKEN, CE_DEADLINE, CE_HELD, CE_SIZE,
  CES_WAITING, CES_ANSWERED, CES_FAILED, CES_DONE_ANSWERED, CES_DONE_FAILED, PS_FRAME,
  R_TIMEOUT,
} from './layout';
import { bump, now } from './context';
import { poolTake, poolGive } from './pool';
import { copyFrame } from '../copy';
import { withToken } from '../header';
import { emitToEndpoint, emitFailure } from './emit';

/** Sequence after `s`, skipping values whose low 16 bits are 0 (token 0 is never used for a request). */
@inline export function seqAfter(s: u32): u32 {
  const n = s + 1;
  return (n & 0xffff) == 0 ? n + 1 : n;
}

@inline export function entryOf(ds: usize, seq: u32): usize {
  return <usize>load<u32>(ds, DS_ENTRIES) + (<usize>(seq & (load<u32>(ds, DS_WINDOW) - 1)) << 4);
}

/** True when another request may be forwarded without reusing an unresolved entry. */
@inline export function windowHasRoom(ds: usize): bool {
  return load<u32>(ds, DS_NEXT_SEQ) - load<u32>(ds, DS_HEAD_SEQ) < load<u32>(ds, DS_WINDOW);
}

/** Outstanding requests (forwarded, not yet answered towards the driver). */
@inline export function outstanding(ds: usize): u32 {
  return load<u32>(ds, DS_NEXT_SEQ) - load<u32>(ds, DS_HEAD_SEQ);
}

/** Open an entry for a request being forwarded; returns the router token to stamp. */
@inline export function openRequest(shard: usize, ds: usize, msgId: u32, driver: u32, driverToken: u32, timeoutMs: u32): u32 {
  const seq = load<u32>(ds, DS_NEXT_SEQ);
  const e = entryOf(ds, seq);
  const token = seq & 0xffff;
  store<u8>(e, <u8>CES_WAITING, CE_STATE);
  store<u8>(e, <u8>msgId, CE_MSG_ID);
  store<u16>(e, <u16>driver, CE_DRIVER);
  store<u16>(e, <u16>driverToken, CE_DRV_TOKEN);
  store<u16>(e, <u16>token, CE_TOKEN);
  store<u32>(e, now(shard) + timeoutMs, CE_DEADLINE);
  store<u32>(e, 0, CE_HELD);
  store<u32>(ds, seqAfter(seq), DS_NEXT_SEQ);
  return token;
}

/**
 * Deliver resolved entries from the head in order. Stops at the first entry still waiting, or
 * when a delivery could not even be parked (pool empty; retried on the next service pass).
 */
export function releaseInOrder(shard: usize, ds: usize): void {
  let head = load<u32>(ds, DS_HEAD_SEQ);
  const next = load<u32>(ds, DS_NEXT_SEQ);
  while (head != next) {
    const e = entryOf(ds, head);
    const st = <u32>load<u8>(e, CE_STATE);
    if (st == CES_ANSWERED || st == CES_FAILED) {
      if (!deliverEntry(shard, ds, e, st)) break;
    } else if (st != CES_DONE_ANSWERED && st != CES_DONE_FAILED) {
      break; // waiting
    }
    head = seqAfter(head);
  }
  store<u32>(ds, head, DS_HEAD_SEQ);
}

/** Hand a resolved entry's outcome (held response or failure) to its driver. False: retry later (pool empty). */
function deliverEntry(shard: usize, ds: usize, e: usize, st: u32): bool {
  if (st == CES_ANSWERED) {
    const ps = <usize>load<u32>(e, CE_HELD);
    const frame = ps + PS_FRAME;
    const size = <u32>load<u16>(frame, 6);
    if (!emitToEndpoint(shard, <u32>load<u16>(e, CE_DRIVER), load<u64>(frame), frame, size)) return false;
    poolGive(shard, ps);
    store<u32>(e, 0, CE_HELD);
    store<u8>(e, <u8>CES_DONE_ANSWERED, CE_STATE);
    bump(ds + DS_C_RESPONSES);
    return true;
  }
  // Failed: the reason travels in the held field while the entry waits for its turn.
  const reason = load<u32>(e, CE_HELD);
  if (!emitFailure(shard, <u32>load<u16>(e, CE_DRIVER), <u32>load<u16>(ds, DS_DEV_NUM),
    <u32>load<u8>(e, CE_MSG_ID), reason, <u32>load<u16>(e, CE_DRV_TOKEN))) return false;
  store<u32>(e, 0, CE_HELD);
  store<u8>(e, <u8>CES_DONE_FAILED, CE_STATE);
  bump(ds + DS_C_FAILED);
  if (reason == R_TIMEOUT) bump(ds + DS_C_TIMEOUTS);
  return true;
}

/**
 * Driver `drv` is detaching (its endpoint is closing, so whatever is sent to it is dropped,
 * ENDPOINT_GONE): close its entries of this device now, out of order — nobody is left to keep
 * order for — a waiting request as failed (its response, if it comes, is late), a held response
 * or failure as delivered. No entry then names the id when it gets a new owner, and the window
 * room is free at once. Returns the entries closed.
 */
export function forgetEntries(shard: usize, ds: usize, drv: u32, reason: u32): u32 {
  const next = load<u32>(ds, DS_NEXT_SEQ);
  let n: u32 = 0;
  for (let seq = load<u32>(ds, DS_HEAD_SEQ); seq != next; seq = seqAfter(seq)) {
    const e = entryOf(ds, seq);
    if (<u32>load<u16>(e, CE_DRIVER) != drv) continue;
    let st = <u32>load<u8>(e, CE_STATE);
    if (st == CES_WAITING) {
      store<u8>(e, <u8>CES_FAILED, CE_STATE);
      store<u32>(e, reason, CE_HELD);
      st = CES_FAILED;
    }
    if ((st == CES_ANSWERED || st == CES_FAILED) && deliverEntry(shard, ds, e, st)) n++;
  }
  if (n != 0) releaseInOrder(shard, ds);
  return n;
}

/** Result codes of matchResponse. */
export const MATCH_DELIVER: i32 = 0; //  it is the head: caller delivers it now (restored token in *out)
export const MATCH_HELD: i32 = 1; //     stored for later (consumed)
export const MATCH_NO_POOL: i32 = 2; //  early and the pool is empty: keep the frame in the ring
// negative values: -reason, drop it

/** Classify a response from the device by its token. For MATCH_DELIVER the entry is returned in `entryOut`. */
export function matchResponse(shard: usize, ds: usize, frame: usize, w: u64, entryOut: usize): i32 {
  const token = <u32>(w >> 32) & 0xffff;
  const msgId = <u32>(w >> 8) & 0xff;
  const e = entryOf(ds, token);
  const st = <u32>load<u8>(e, CE_STATE);
  if (st == 0 || <u32>load<u16>(e, CE_TOKEN) != token) return -32; // R_UNMATCHED_RESPONSE
  if (st == CES_DONE_FAILED || st == CES_FAILED) return -33; //        R_LATE_RESPONSE
  if (st == CES_ANSWERED || st == CES_DONE_ANSWERED) return -43; //    R_DUPLICATE_RESPONSE
  if (<u32>load<u8>(e, CE_MSG_ID) != msgId) return -34; //             R_RESPONSE_ID_MISMATCH
  // Waiting. Is it the oldest?
  if (entryOf(ds, load<u32>(ds, DS_HEAD_SEQ)) == e) {
    store<u32>(entryOut, <u32>e);
    return MATCH_DELIVER;
  }
  const ps = poolTake(shard);
  if (ps == 0) return MATCH_NO_POOL;
  const size = <u32>(w >> 48);
  store<u64>(ps + PS_FRAME, withToken(w, <u32>load<u16>(e, CE_DRV_TOKEN)));
  copyFrame(ps + PS_FRAME + 8, frame + 8, size - 8);
  store<u32>(e, <u32>ps, CE_HELD);
  store<u8>(e, <u8>CES_ANSWERED, CE_STATE);
  bump(ds + DS_C_HELD);
  return MATCH_HELD;
}

/**
 * The device side gave up on the request with router token `token` (a bridge to a bus that
 * cannot carry it, or whose device took it and never answered): it ends as one transport
 * failure with `reason`, in its place in the device's order. Returns 0, or -reason when the
 * token names no waiting request of that msg_id (the report is dropped, as a response would be).
 */
export function failRequest(shard: usize, ds: usize, token: u32, msgId: u32, reason: u32): i32 {
  const e = entryOf(ds, token);
  const st = <u32>load<u8>(e, CE_STATE);
  if (st == 0 || <u32>load<u16>(e, CE_TOKEN) != token) return -32; // R_UNMATCHED_RESPONSE
  if (st == CES_DONE_FAILED || st == CES_FAILED) return -33; //        R_LATE_RESPONSE
  if (st == CES_ANSWERED || st == CES_DONE_ANSWERED) return -43; //    R_DUPLICATE_RESPONSE
  if (<u32>load<u8>(e, CE_MSG_ID) != msgId) return -34; //             R_RESPONSE_ID_MISMATCH
  store<u8>(e, <u8>CES_FAILED, CE_STATE);
  store<u32>(e, reason, CE_HELD);
  releaseInOrder(shard, ds);
  return 0;
}

/** The head entry was delivered by the caller: close it and release what follows. */
export function headDelivered(shard: usize, ds: usize, e: usize): void {
  store<u8>(e, <u8>CES_DONE_ANSWERED, CE_STATE);
  bump(ds + DS_C_RESPONSES);
  store<u32>(ds, seqAfter(load<u32>(ds, DS_HEAD_SEQ)), DS_HEAD_SEQ);
  releaseInOrder(shard, ds);
}

/** Fail every waiting request whose deadline passed (or all of them, `all`), with `reason`. */
export function failWaiting(shard: usize, ds: usize, reason: u32, all: bool): u32 {
  const t = now(shard);
  let seq = load<u32>(ds, DS_HEAD_SEQ);
  const next = load<u32>(ds, DS_NEXT_SEQ);
  let n: u32 = 0;
  while (seq != next) {
    const e = entryOf(ds, seq);
    if (<u32>load<u8>(e, CE_STATE) == CES_WAITING) {
      // Deadlines grow with seq, so the first one not yet due ends the scan.
      if (!all && <i32>(t - load<u32>(e, CE_DEADLINE)) < 0) break;
      store<u8>(e, <u8>CES_FAILED, CE_STATE);
      store<u32>(e, reason, CE_HELD);
      n++;
    }
    seq = seqAfter(seq);
  }
  if (n != 0) releaseInOrder(shard, ds);
  return n;
}

/** Release every held response frame (device going away after failWaiting(all)). */
export function releaseHeld(shard: usize, ds: usize): void {
  releaseInOrder(shard, ds);
}

