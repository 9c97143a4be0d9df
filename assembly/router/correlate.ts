// Token correlation and per-device ordering (docs/ARCHITECTURE.md "Sequences and tokens"; docs/PROTOCOL.md §7 rules 8–10, 16–18). Each
// device has a window of K correlation entries indexed by sequence (seq & (K - 1)): a
// forwarded request takes the next entry and the next token (1..65535, wrapping to 1: token 0
// is the events'), the entry remembers the driver's endpoint and token, and outcomes reach
// drivers strictly in sequence order — an early response is held in the pool, a request with no
// response by its deadline becomes one transport failure in its place, a request the router
// refuses takes an entry of its own so its failure waits for the older outcomes too. Answers
// that come after their entry closed are labelled from the outcome history (DS_HIST).
import {
  DS_WINDOW, DS_ENTRIES, DS_NEXT_SEQ, DS_C_REQUESTS, DS_HEAD_SEQ, DS_NEXT_TOKEN, DS_BASE_SEQ, DS_HIST, DS_HIST_BITS,
  DS_C_RESPONSES, DS_C_FAILED, DS_C_HELD, DS_C_TIMEOUTS, DS_LAT_SUM, DS_LAT_BUCKETS, DS_LAT_N, PS_SENT_US,
  DS_DEV_NUM, CE_STATE, CE_MSG_ID, CE_DRIVER, CE_DRV_TOKEN, CE_TOKEN, CE_DEADLINE, CE_HELD, CE_SIZE,
  CES_WAITING, CES_ANSWERED, CES_FAILED, CES_DONE_ANSWERED, CES_DONE_FAILED, CES_REFUSED, PS_FRAME,
  R_TIMEOUT, R_UNMATCHED_RESPONSE, R_LATE_RESPONSE, R_DUPLICATE_RESPONSE, R_RESPONSE_ID_MISMATCH,
} from './layout';
import { bump, now, nowUs } from './context';
import { poolTake, poolGive } from './pool';
import { copyFrame } from '../copy';
import { withToken, hdrMsgId, hdrToken, hdrMsgSize } from '../header';
import { emitToEndpoint, emitFailure } from './emit';

@inline export function entryOf(ds: usize, seq: u32): usize {
  return <usize>load<u32>(ds, DS_ENTRIES) + (<usize>(seq & (load<u32>(ds, DS_WINDOW) - 1)) << 4);
}

/** True when another entry may be opened without reusing an unresolved one. */
@inline export function windowHasRoom(ds: usize): bool {
  return load<u32>(ds, DS_NEXT_SEQ) - load<u32>(ds, DS_HEAD_SEQ) < load<u32>(ds, DS_WINDOW);
}

/** Open entries (forwarded or refused, outcome not yet handed to the driver). */
@inline export function outstanding(ds: usize): u32 {
  return load<u32>(ds, DS_NEXT_SEQ) - load<u32>(ds, DS_HEAD_SEQ);
}

/**
 * Take the next entry (the caller checked windowHasRoom) from `v`, the 16 bytes at
 * DS_NEXT_TOKEN as loaded, and write back the next token and sequence with `requests` (1 or 0)
 * added to DS_C_REQUESTS: one 16-byte load and store for three fields (layout). SIMD build
 * only; openEntryScalar is the same update without v128.
 */
@inline function openEntry(ds: usize, v: v128, state: u32, msgId: u32, driver: u32, driverToken: u32, requests: u64): usize {
  if (DS_NEXT_SEQ != DS_NEXT_TOKEN + 4 || DS_C_REQUESTS != DS_NEXT_TOKEN + 8 || (DS_NEXT_TOKEN & 15) != 0) ERROR('openEntry: DS_NEXT_TOKEN, DS_NEXT_SEQ, DS_C_REQUESTS must share 16 aligned bytes');
  const pair = i64x2.extract_lane(v, 0); // token | seq << 32
  // The entry's address from a load of its own, not from the vector: a lane extract would sit
  // on the chain to the entry's stores.
  const token = <u32>pair;
  const e = fillEntry(ds, token, state, msgId, driver, driverToken);
  const step = nextStep(token);
  v128.store(ds + DS_NEXT_TOKEN, i64x2.add(i64x2.replace_lane(v, 0, pair + step), i64x2(0, <i64>requests)));
  return e;
}

/**
 * openEntry for the scalar build (no Wasm SIMD): the same values written, token and sequence
 * in one u64 store, then DS_C_REQUESTS whole in another (an exact total for the stats reader).
 */
@inline function openEntryScalar(ds: usize, state: u32, msgId: u32, driver: u32, driverToken: u32, requests: u64): usize {
  const pair = load<u64>(ds, DS_NEXT_TOKEN); // token | seq << 32
  const token = <u32>pair;
  const e = fillEntry(ds, token, state, msgId, driver, driverToken);
  store<u64>(ds, pair + nextStep(token), DS_NEXT_TOKEN);
  if (requests != 0) store<u64>(ds, load<u64>(ds, DS_C_REQUESTS) + requests, DS_C_REQUESTS);
  return e;
}

/** Write the entry at DS_NEXT_SEQ for router token `token`; returns its address. */
@inline function fillEntry(ds: usize, token: u32, state: u32, msgId: u32, driver: u32, driverToken: u32): usize {
  const e = entryOf(ds, load<u32>(ds, DS_NEXT_SEQ));
  store<u8>(e, <u8>state, CE_STATE);
  store<u8>(e, <u8>msgId, CE_MSG_ID);
  store<u16>(e, <u16>driver, CE_DRIVER);
  store<u16>(e, <u16>driverToken, CE_DRV_TOKEN);
  store<u16>(e, <u16>token, CE_TOKEN);
  return e;
}

/**
 * What to add to the u64 token | seq << 32 after `token`: one add moves both. The sequence's
 * carry out of bit 63 is its u32 wrap, dropped; the token (at most 65535) never carries into
 * it, and goes from 65535 to 1.
 */
@inline function nextStep(token: u32): i64 {
  return token == 0xffff ? (<i64>1 << 32) - 0xfffe : (<i64>1 << 32) + 1;
}

/** Open an entry for a request being forwarded (counted in DS_C_REQUESTS); returns the router token to stamp. */
@inline export function openRequest(shard: usize, ds: usize, msgId: u32, driver: u32, driverToken: u32, timeoutMs: u32): u32 {
  let e: usize;
  let token: u32;
  if (ASC_FEATURE_SIMD) {
    const v = v128.load(ds + DS_NEXT_TOKEN);
    e = openEntry(ds, v, CES_WAITING, msgId, driver, driverToken, 1);
    token = <u32>i32x4.extract_lane(v, 0);
  } else {
    token = load<u32>(ds, DS_NEXT_TOKEN);
    e = openEntryScalar(ds, CES_WAITING, msgId, driver, driverToken, 1);
  }
  store<u32>(e, now(shard) + timeoutMs, CE_DEADLINE);
  store<u32>(e, nowUs(), CE_HELD); // held while waiting: when it was forwarded (latency)
  return token;
}

/**
 * A request the router refuses (never forwarded) while older outcomes for the device are still
 * owed: it takes the next entry, so its failure (`reason`) reaches its driver in its place.
 * Its token is skipped: the device never sees it. The caller checked windowHasRoom.
 */
export function openRefusal(shard: usize, ds: usize, msgId: u32, driver: u32, driverToken: u32, reason: u32): void {
  const e = ASC_FEATURE_SIMD
    ? openEntry(ds, v128.load(ds + DS_NEXT_TOKEN), CES_REFUSED, msgId, driver, driverToken, 0)
    : openEntryScalar(ds, CES_REFUSED, msgId, driver, driverToken, 0);
  store<u32>(e, reason, CE_HELD);
  releaseInOrder(shard, ds);
}

/** An answer to a request forwarded at `sentUs` (µs clock) reaches its driver: count it in the device's latency histogram. */
@inline function recordLatency(ds: usize, sentUs: u32): void {
  let dt = nowUs() - sentUs;
  if (<i32>dt < 0) dt = 0; // clocks of two threads (a restarted shard) may disagree by a hair
  let b = <u32>32 - clz(dt); // dt < 2^b µs
  if (b > DS_LAT_N - 1) b = DS_LAT_N - 1;
  const at = ds + DS_LAT_BUCKETS + (<usize>b << 2);
  store<u32>(at, load<u32>(at) + 1); // wraps: the control plane widens it (layout DS_LAT_BUCKETS)
  store<u64>(ds, load<u64>(ds, DS_LAT_SUM) + <u64>dt, DS_LAT_SUM);
}

/** Remember that sequence `seq` closed without an answer (for answers that come after). */
function recordFailure(ds: usize, seq: u32): void {
  const bit = seq & (load<u32>(ds, DS_HIST_BITS) - 1);
  const a = <usize>load<u32>(ds, DS_HIST) + (<usize>(bit >> 5) << 2);
  store<u32>(a, load<u32>(a) | (<u32>1 << (bit & 31)));
}

/** The head moved to `head`: at each multiple of 32, clear the history word half a bitmap ahead. */
@inline function headMoved(ds: usize, head: u32): void {
  if ((head & 31) == 0) clearAhead(ds, head);
}

function clearAhead(ds: usize, head: u32): void {
  const bits = load<u32>(ds, DS_HIST_BITS);
  store<u32>(<usize>load<u32>(ds, DS_HIST) + (<usize>(((head + (bits >> 1)) & (bits - 1)) >> 5) << 2), 0);
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
    if (st == CES_WAITING) break;
    if (st != CES_DONE_ANSWERED && st != CES_DONE_FAILED && !deliverEntry(shard, ds, e, head, st)) break;
    head++;
    headMoved(ds, head);
  }
  store<u32>(ds, head, DS_HEAD_SEQ);
}

/** Hand a resolved entry's outcome (held response, failure, refusal) to its driver. False: retry later (pool empty). */
function deliverEntry(shard: usize, ds: usize, e: usize, seq: u32, st: u32): bool {
  if (st == CES_ANSWERED) {
    const ps = <usize>load<u32>(e, CE_HELD);
    const frame = ps + PS_FRAME;
    const size = <u32>load<u16>(frame, 6);
    if (!emitToEndpoint(shard, <u32>load<u16>(e, CE_DRIVER), load<u64>(frame), frame, size)) return false;
    recordLatency(ds, load<u32>(ps, PS_SENT_US));
    poolGive(shard, ps);
    store<u32>(e, 0, CE_HELD);
    store<u8>(e, <u8>CES_DONE_ANSWERED, CE_STATE);
    bump(ds + DS_C_RESPONSES);
    return true;
  }
  // Failed or refused: the reason travels in the held field while the entry waits for its turn.
  const reason = load<u32>(e, CE_HELD);
  if (!emitFailure(shard, <u32>load<u16>(e, CE_DRIVER), <u32>load<u16>(ds, DS_DEV_NUM),
    <u32>load<u8>(e, CE_MSG_ID), reason, <u32>load<u16>(e, CE_DRV_TOKEN))) return false;
  store<u32>(e, 0, CE_HELD);
  store<u8>(e, <u8>CES_DONE_FAILED, CE_STATE);
  recordFailure(ds, seq);
  // A refusal was counted as a drop at its source when it was refused; only forwarded requests count here.
  if (st == CES_FAILED) {
    bump(ds + DS_C_FAILED);
    if (reason == R_TIMEOUT) bump(ds + DS_C_TIMEOUTS);
  }
  return true;
}

/**
 * Driver `drv` is detaching (its endpoint is closing, so whatever is sent to it is dropped,
 * ENDPOINT_GONE): close its entries of this device now, out of order — nobody is left to keep
 * order for — a waiting request as failed (its response, if it comes, is late), a held response,
 * failure or refusal as delivered. No entry then names the id when it gets a new owner, and the
 * window room is free at once. Returns the entries closed.
 */
export function forgetEntries(shard: usize, ds: usize, drv: u32, reason: u32): u32 {
  const next = load<u32>(ds, DS_NEXT_SEQ);
  let n: u32 = 0;
  for (let seq = load<u32>(ds, DS_HEAD_SEQ); seq != next; seq++) {
    const e = entryOf(ds, seq);
    if (<u32>load<u16>(e, CE_DRIVER) != drv) continue;
    let st = <u32>load<u8>(e, CE_STATE);
    if (st == CES_WAITING) {
      store<u8>(e, <u8>CES_FAILED, CE_STATE);
      store<u32>(e, reason, CE_HELD);
      st = CES_FAILED;
    }
    if ((st == CES_ANSWERED || st == CES_FAILED || st == CES_REFUSED) && deliverEntry(shard, ds, e, seq, st)) n++;
  }
  if (n != 0) releaseInOrder(shard, ds);
  return n;
}

/** Result codes of matchResponse. */
export const MATCH_DELIVER: i32 = 0; //  it is the head: caller delivers it now (the entry: matchedEntry())
export const MATCH_HELD: i32 = 1; //     stored for later (consumed)
export const MATCH_NO_POOL: i32 = 2; //  early and the pool is empty: keep the frame in the ring
// negative values: -reason, drop it

/** waitingEntry's results below this are drop reasons, not entry addresses. */
const NOT_AN_ENTRY: usize = 64;
/** Sequence of the entry waitingEntry last found (a wasm global: per instance, so per shard thread). */
let gMatchedSeq: u32 = 0;
/** The entry of the last MATCH_DELIVER (a global rather than an out-parameter in the shard's tables). */
let gMatchedEntry: usize = 0;

/** The head entry matchResponse last returned MATCH_DELIVER for. */
@inline export function matchedEntry(): usize { return gMatchedEntry; }

/**
 * Classify a response from the device by its token. For MATCH_DELIVER the entry is
 * matchedEntry(). One rule labels what cannot be delivered: a token this device state never issued
 * (or one it skipped for a refusal) is UNMATCHED_RESPONSE; an answer to a request already
 * closed is DUPLICATE_RESPONSE if that request was answered and LATE_RESPONSE if it was closed
 * without an answer (timeout, detach, removal) — also after its entry was reused, from the
 * outcome history (closedAnswer).
 */
@inline export function matchResponse(shard: usize, ds: usize, frame: usize, w: u64): i32 {
  const e = waitingEntry(ds, hdrToken(w), hdrMsgId(w));
  if (e < NOT_AN_ENTRY) return -<i32>e;
  if (gMatchedSeq == load<u32>(ds, DS_HEAD_SEQ)) {
    gMatchedEntry = e;
    return MATCH_DELIVER;
  }
  return holdAnswer(shard, ds, frame, w, e);
}

/** An answer that came before older ones (entry `e`): kept in the pool until its turn. Out of line: rare in order. */
function holdAnswer(shard: usize, ds: usize, frame: usize, w: u64, e: usize): i32 {
  const ps = poolTake(shard);
  if (ps == 0) return MATCH_NO_POOL;
  const size = hdrMsgSize(w);
  store<u64>(ps + PS_FRAME, withToken(w, <u32>load<u16>(e, CE_DRV_TOKEN)));
  copyFrame(ps + PS_FRAME + 8, frame + 8, size - 8);
  store<u32>(ps, load<u32>(e, CE_HELD), PS_SENT_US); // the forward time moves with the answer
  store<u32>(e, <u32>ps, CE_HELD);
  store<u8>(e, <u8>CES_ANSWERED, CE_STATE);
  bump(ds + DS_C_HELD);
  return MATCH_HELD;
}

/**
 * The waiting entry a device's `token` (with `msgId`) names, or — when it names none — the
 * reason an answer to it is dropped with (matchResponse's rule): a number below
 * NOT_AN_ENTRY, which no entry address is.
 */
@inline function waitingEntry(ds: usize, token: u32, msgId: u32): usize {
  // How many tokens back from the next one: the sequence it was issued for is next - back.
  let back = load<u32>(ds, DS_NEXT_TOKEN) - token;
  if (<i32>back <= 0) back += 0xffff;
  const next = load<u32>(ds, DS_NEXT_SEQ);
  const seq = next - back;
  if (token == 0) return R_UNMATCHED_RESPONSE;
  if (back > next - load<u32>(ds, DS_HEAD_SEQ)) return closedAnswer(ds, seq, back, next);
  const e = entryOf(ds, seq);
  const st = <u32>load<u8>(e, CE_STATE);
  if (st != CES_WAITING) return openEntryLabel(st);
  if (<u32>load<u8>(e, CE_MSG_ID) != msgId) return R_RESPONSE_ID_MISMATCH;
  gMatchedSeq = seq;
  return e;
}

/** Label of an answer to an entry still in the window that is not waiting. */
function openEntryLabel(st: u32): u32 {
  if (st == CES_ANSWERED || st == CES_DONE_ANSWERED) return R_DUPLICATE_RESPONSE;
  if (st == CES_REFUSED) return R_UNMATCHED_RESPONSE; // never forwarded: the device was not given this token
  return R_LATE_RESPONSE; // failed, reported or not
}

/**
 * Label of an answer whose sequence `seq` is older than the window (`back` tokens before the
 * next): LATE_RESPONSE if it closed without an answer, DUPLICATE_RESPONSE if it was answered,
 * from the history while it still holds `seq` (bits/2 - 32 sequences behind the head); older,
 * LATE_RESPONSE.
 */
function closedAnswer(ds: usize, seq: u32, back: u32, next: u32): u32 {
  if (back > next - load<u32>(ds, DS_BASE_SEQ)) return R_UNMATCHED_RESPONSE; // before this state existed
  const bits = load<u32>(ds, DS_HIST_BITS);
  if (load<u32>(ds, DS_HEAD_SEQ) - seq > (bits >> 1) - 32) return R_LATE_RESPONSE;
  const bit = seq & (bits - 1);
  const word = load<u32>(<usize>load<u32>(ds, DS_HIST) + (<usize>(bit >> 5) << 2));
  return (word >> (bit & 31)) & 1 ? R_LATE_RESPONSE : R_DUPLICATE_RESPONSE;
}

/**
 * The device side gave up on the request with router token `token` (a bridge to a bus that
 * cannot carry it, or whose device took it and never answered): it ends as one transport
 * failure with `reason`, in its place in the device's order. Returns 0, or -reason when the
 * token names no waiting request of that msg_id (the report is dropped with the label an
 * answer would get).
 */
export function failRequest(shard: usize, ds: usize, token: u32, msgId: u32, reason: u32): i32 {
  const e = waitingEntry(ds, token, msgId);
  if (e < NOT_AN_ENTRY) return -<i32>e;
  store<u8>(e, <u8>CES_FAILED, CE_STATE);
  store<u32>(e, reason, CE_HELD);
  releaseInOrder(shard, ds);
  return 0;
}

/**
 * DS_HEAD_SEQ += 1 and DS_C_RESPONSES += 1; returns the new head. With SIMD one 16-byte
 * read-modify-write (layout; DS_HIST_BITS rides along unchanged); without, a u32 store then
 * the counter whole in a u64 store.
 */
@inline function advanceHead(ds: usize): u32 {
  if (DS_HIST_BITS != DS_HEAD_SEQ + 4 || DS_C_RESPONSES != DS_HEAD_SEQ + 8 || (DS_HEAD_SEQ & 15) != 0) ERROR('headDelivered: DS_HEAD_SEQ, DS_HIST_BITS, DS_C_RESPONSES must share 16 aligned bytes');
  if (ASC_FEATURE_SIMD) {
    const v = v128.load(ds + DS_HEAD_SEQ);
    const head = <u32>i32x4.extract_lane(v, 0) + 1;
    v128.store(ds + DS_HEAD_SEQ, i64x2.add(i32x4.replace_lane(v, 0, <i32>head), i64x2(0, 1)));
    return head;
  } else {
    const head = load<u32>(ds, DS_HEAD_SEQ) + 1;
    store<u32>(ds, head, DS_HEAD_SEQ);
    store<u64>(ds, load<u64>(ds, DS_C_RESPONSES) + 1, DS_C_RESPONSES);
    return head;
  }
}

/** The head entry was delivered by the caller: close it and release what follows. */
@inline export function headDelivered(shard: usize, ds: usize, e: usize): void {
  recordLatency(ds, load<u32>(e, CE_HELD));
  store<u8>(e, <u8>CES_DONE_ANSWERED, CE_STATE);
  const head = advanceHead(ds);
  headMoved(ds, head);
  // In order, the new head still waits (or nothing is open): releaseInOrder would stop at once.
  if (head != load<u32>(ds, DS_NEXT_SEQ) && <u32>load<u8>(entryOf(ds, head), CE_STATE) != CES_WAITING) releaseInOrder(shard, ds);
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
    seq++;
  }
  if (n != 0) releaseInOrder(shard, ds);
  return n;
}
