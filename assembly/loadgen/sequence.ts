// The profile load tool's per-frame work (`vmsg bench --profile`, src/loadgen/sequence-run.ts): a
// driver on one device-side ring pair, in WASM over the window mapped in place. Each device
// sends its cycle of message templates (built once by TypeScript from the profile: the init
// sequence with what the probe learned, config reads and writes, a weighted mix), stamped at send
// time with the token of its ordering domain, the next virtqueue, the PING data, the config
// generation and fill byte. Every answer is matched and verified (type, msg_id, dev_num, token,
// per-device order, PING echo, GET_DEVICES window, EVENT_USED against EVENT_AVAIL, transport
// failures), recorded into per-message, per-device and per-interval histograms, and whatever
// the result lists as an event goes into a log TypeScript reads between calls. Closed and open
// loop pacing, timeouts and stalls run here too, on the clock read once per pass.
// No allocation: every address comes from the state block (./sequence-layout.ts).
import { consumePeek, consumeRelease, cursorFlush, produceReserve, produceCommit, peerIndexNow, CUR_PENDING, CUR_LOCAL, CUR_CACHED } from '../ring/cursor';
import { makeHeader, TYPE_BUS, TYPE_RESPONSE, B_PING, B_GET_DEVICES, B_EVENT_DEVICE, T_EVENT_USED, T_EVENT_CONFIG } from '../header';
import { VMSG_EVT_REQUEST_FAILED, RF_DEVICE, RF_MSG_ID, RF_REASON, RF_TOKEN, RF_SIZE } from '../router/layout';
import { LGF_RETURN_ON_SEND, LG_DONE, LG_IDLE, LG_BUDGET, LG_SENT_NOW, HIST_BUCKETS } from './layout';
import {
  LGS_TX, LGS_RX, LGS_DEVS, LGS_NDEV, LGS_BUS, LGS_DEVMAP, LGS_OUTSTANDING, LGS_OPEN, LGS_SPINS, LGS_FLAGS, LGS_LOG,
  LGS_LOG_CAP, LGS_LOG_N, LGS_RR, LGS_HIST_OP, LGS_HIST_INTERVAL, LGS_HIST_SEQ, LGS_QUEUE_BLOCKED, LGS_WINDOW_BLOCKED,
  LGS_STOP, LGS_STALL_OPEN, LGS_MAX_SIZE, LGS_MEASURE_AT, LGS_STOP_AT, LGS_PERIOD, LGS_NEXT_DUE, LGS_TIMEOUT_MS,
  LGS_STALL_MS, LGS_LAST_COMPLETION, LGS_STALL_SINCE, LGS_LAST_EXPIRE, LGS_LAST_MEASURED, LGS_LAST, LGS_COUNT,
  LGS_MEASURED_ISSUED, LGS_SENT, LGS_RECEIVED, LGS_COMPLETED, LGS_IN_FLIGHT, LGS_INTERVAL_OPS, LGS_COUNTERS, LGS_MAX_NS, LGS_DEVMAP_N,
  LGC_GENERATION_CHANGES, LGC_SET_CONFIG_REJECTED, LGC_FEATURES_REFUSED, LGC_SEQUENCES_COMPLETED, LGC_EVENTS_USED,
  LGC_EXTRA_EVENTS, LGC_CONFIG_EVENTS, LGC_DEVICE_EVENTS, LGC_PINGS_ANSWERED, LGC_WINDOW_FULL, LGC_OTHER_FRAMES,
  LGT_SLOTS, LGT_MASK, LGT_LO, LGT_NEXT, LGP_STATE, LGP_OWNER, LGP_EXPECT, LGP_LINK, LGP_TOKEN, LGP_TPL, LGP_INTENDED,
  LGP_SENT_AT, LGP_SEQ_START, LGP_SIZE, LGD_DEV, LGD_IN_FLIGHT, LGD_TPLS, LGD_NTPL, LGD_POS, LGD_GENERATION,
  LGD_GEN_KNOWN, LGD_FILL, LGD_REREAD, LGD_PING, LGD_QUEUES, LGD_FREEQ, LGD_FREEQ_HEAD, LGD_FREEQ_N, LGD_NEXT_QUEUE,
  LGD_VQ, LGD_HIST, LGD_SEQ_HIST, LGD_REQ, LGD_AVAIL, LGD_SEQ_START, LGD_ALT, LGD_SIZE, LGM_OP, LGM_FLAGS, LGM_LEN,
  LGM_VALUE, LGM_FRAME, LGMF_SEQ_FIRST, LGMF_SEQ_LAST, LGMF_REREAD, LG_OP_GET_CONFIG, LG_OP_SET_CONFIG,
  LG_OP_SET_DEVICE_STATUS, LG_OP_EVENT_AVAIL, LG_OP_PING, LG_OP_GET_DEVICES, LGL_KIND, LGL_DEV, LGL_TOKEN, LGL_ID,
  LGL_A, LGL_B, LGL_C, LGL_BUS, LGL_T, LGL_T2, LGL_SIZE, LGL_MARGIN, LGK_MALFORMED, LGK_BUS_DEV_NUM, LGK_UNEXPECTED,
  LGK_ORDER, LGK_ID_MISMATCH, LGK_TRANSPORT_FAILURE, LGK_PING_ECHO, LGK_GET_DEVICES, LGK_TIMEOUT, LGK_TIMEOUT_AVAIL,
  LGK_QUEUE_FULL, LGK_STALL, LGW_SHORT, LGW_OFFSET, LGW_COUNT, LGW_SIZE, LGW_NEXT, LG_LOG_FULL,
} from './sequence-layout';
import { histBucket } from './histogram';
import { STATUS_FEATURES_OK, writePingAnswer } from './messages';

@external('env', 'now') declare function now(): f64;

/** Sends per pass at most, so answers are read while a burst goes out. */
const SEND_BURST: u32 = 1024;
/** Timeouts are looked for this often (ms). */
const EXPIRE_EVERY_MS: f64 = 20;
/** GET_DEVICES window the load asks for (src/loadgen/requests.ts LOAD_GET_DEVICES_COUNT). */
const GET_DEVICES_COUNT: u32 = 64;
/** Tokens are a track's sequence number's low 15 bits + 1: never 0 (events'), unique within its ≤ 32 768-slot window. */
const TOKEN_MASK: u32 = 0x7fff;

@inline function counter(st: usize, c: u32): void {
  const a = st + LGS_COUNTERS + (<usize>c << 3);
  store<u64>(a, load<u64>(a) + 1);
}

@inline function bump(a: usize): void {
  store<u64>(a, load<u64>(a) + 1);
}

@inline function addTo(a: usize, v: u64): void {
  store<u64>(a, load<u64>(a) + v);
}

/** The histogram bucket's byte offset for `ns`. */
@inline function bucketAt(ns: u64): usize {
  let b = histBucket(ns);
  if (b >= HIST_BUCKETS) b = HIST_BUCKETS - 1;
  return <usize>b << 3;
}

@inline function record(hist: usize, ns: u64): void {
  bump(hist + bucketAt(ns));
}

@inline function device(st: usize, i: u32): usize {
  return <usize>load<u32>(st, LGS_DEVS) + <usize>i * LGD_SIZE;
}

/** The record index + 1 of the device with dev_num `dev`, or 0 when it is not driven. */
@inline function devIndex(st: usize, dev: u32): u32 {
  if (dev >= load<u32>(st, LGS_DEVMAP_N)) return 0;
  return <u32>load<u16>(<usize>load<u32>(st, LGS_DEVMAP) + (<usize>dev << 1));
}

@inline function slot(track: usize, seq: u64): usize {
  return <usize>load<u32>(track, LGT_SLOTS) + <usize>(<u32>seq & load<u32>(track, LGT_MASK)) * LGP_SIZE;
}

/** A log record of `kind` at `t` (the caller keeps LGL_MARGIN free before each step). */
function log(st: usize, kind: u32, t: f64, bus: u32, dev: u32, token: u32, id: u32, a: u32, b: u32, c: u32): usize {
  const n = load<u32>(st, LGS_LOG_N);
  if (n >= load<u32>(st, LGS_LOG_CAP)) return 0; // not reached: callers stop LGL_MARGIN before
  const r = <usize>load<u32>(st, LGS_LOG) + <usize>n * LGL_SIZE;
  store<u32>(r, kind, LGL_KIND);
  store<u32>(r, dev, LGL_DEV);
  store<u32>(r, token, LGL_TOKEN);
  store<u32>(r, id, LGL_ID);
  store<u32>(r, a, LGL_A);
  store<u32>(r, b, LGL_B);
  store<u32>(r, c, LGL_C);
  store<u32>(r, bus, LGL_BUS);
  store<f64>(r, t, LGL_T);
  store<f64>(r, 0, LGL_T2);
  store<u32>(st, n + 1, LGS_LOG_N);
  return r;
}

@inline function logRoom(st: usize): bool {
  return load<u32>(st, LGS_LOG_N) + LGL_MARGIN <= load<u32>(st, LGS_LOG_CAP);
}

/** An operation ended at `t` (answered, failed or expired): the stall watch (src/loadgen/load-metrics.ts `ended`). */
@inline function ended(st: usize, t: f64): void {
  const last = load<f64>(st, LGS_LAST_COMPLETION);
  store<f64>(st, t, LGS_LAST_COMPLETION);
  if (load<u32>(st, LGS_STALL_OPEN) != 0) stallEnded(st, load<f64>(st, LGS_STALL_SINCE), t);
  else if (t - last > load<f64>(st, LGS_STALL_MS)) stallEnded(st, last, t);
}

/** A stall that began at `since` ended at `t`: listed (out of line: rare). */
function stallEnded(st: usize, since: f64, t: f64): void {
  const r = log(st, LGK_STALL, since, 0, 0, 0, 0, 0, 0, 0);
  if (r != 0) store<f64>(r, t - since, LGL_T2);
  store<u32>(st, 0, LGS_STALL_OPEN);
}

/** Move a track's oldest past the operations that ended. */
@inline function advance(track: usize): void {
  let lo = load<u64>(track, LGT_LO);
  const next = load<u64>(track, LGT_NEXT);
  while (lo < next && load<u32>(slot(track, lo), LGP_STATE) == 0) lo++;
  store<u64>(track, lo, LGT_LO);
}

/** End operation `p` at `t`; `ok`: answered well, its latency recorded when measured. */
function settle(st: usize, p: usize, t: f64, ok: bool): void {
  settleBy(st, p, device(st, load<u32>(p, LGP_OWNER)), t, ok, load<f64>(st, LGS_MEASURE_AT), <usize>load<u32>(st, LGS_HIST_OP), <usize>load<u32>(st, LGS_HIST_INTERVAL));
}

/**
 * settle, with `d` the record of `p`'s owner (the answer path knows it) and the state block's
 * LGS_MEASURE_AT, LGS_HIST_OP and LGS_HIST_INTERVAL as the answer loop holds them: inlined there.
 */
@inline function settleBy(st: usize, p: usize, d: usize, t: f64, ok: bool, measureAt: f64, histOp: usize, histInterval: usize): void {
  ended(st, t);
  store<u32>(p, 0, LGP_STATE);
  store<u32>(d, load<u32>(d, LGD_IN_FLIGHT) - 1, LGD_IN_FLIGHT);
  store<u64>(st, load<u64>(st, LGS_IN_FLIGHT) - 1, LGS_IN_FLIGHT);
  const intended = load<f64>(p, LGP_INTENDED);
  if (!ok || intended < measureAt) return;
  const dt = (t - intended) * 1e6;
  const ns: u64 = dt >= 1.5 ? <u64>Math.round(dt) : 1; // HdrHistogram's floor: 1 ns
  const tpl = <usize>load<u32>(p, LGP_TPL);
  const b = bucketAt(ns); // one bucket, three histograms: per message kind, per device, the interval
  bump(histOp + <usize>load<u32>(tpl, LGM_OP) * (<usize>HIST_BUCKETS << 3) + b);
  bump(<usize>load<u32>(d, LGD_HIST) + b);
  bump(histInterval + b);
  if (ns > load<u64>(st, LGS_MAX_NS)) store<u64>(st, ns, LGS_MAX_NS);
  bump(st + LGS_COMPLETED);
  bump(st + LGS_INTERVAL_OPS);
  store<f64>(st, t, LGS_LAST_MEASURED);
  if ((load<u32>(tpl, LGM_FLAGS) & LGMF_SEQ_LAST) != 0) {
    const sq = (t - load<f64>(p, LGP_SEQ_START)) * 1e6;
    const sns: u64 = sq >= 1.5 ? <u64>Math.round(sq) : 1;
    const h = <usize>load<u32>(st, LGS_HIST_SEQ);
    if (h != 0) record(h, sns);
    const dh = <usize>load<u32>(d, LGD_SEQ_HIST);
    if (dh != 0) record(dh, sns);
  }
}

/** A response's effect on its device's session (src/loadgen/device-session.ts onResponse): read, not judged. */
@inline function learn(st: usize, d: usize, tpl: usize, op: u32, f: usize, size: u32): void {
  if (op == LG_OP_SET_DEVICE_STATUS) {
    if (size >= 12 && (load<u32>(tpl, LGM_VALUE) & STATUS_FEATURES_OK) != 0 && (load<u32>(f, 8) & STATUS_FEATURES_OK) == 0) counter(st, LGC_FEATURES_REFUSED);
  } else if (op == LG_OP_GET_CONFIG || op == LG_OP_SET_CONFIG) {
    if (size >= 20) {
      const g = load<u32>(f, 8);
      if (load<u32>(d, LGD_GEN_KNOWN) != 0 && g != load<u32>(d, LGD_GENERATION)) counter(st, LGC_GENERATION_CHANGES);
      store<u32>(d, g, LGD_GENERATION);
      store<u32>(d, 1, LGD_GEN_KNOWN);
      if (op == LG_OP_SET_CONFIG && load<u32>(f, 16) == 0 && load<u32>(tpl, LGM_VALUE) > 0) {
        counter(st, LGC_SET_CONFIG_REJECTED);
        store<u32>(d, 1, LGD_REREAD); // re-read, then write with the new generation (§8 driver rule 5)
      }
    }
  }
  if ((load<u32>(tpl, LGM_FLAGS) & LGMF_SEQ_LAST) != 0) counter(st, LGC_SEQUENCES_COMPLETED);
}

/** The GET_DEVICES window rule an answer of `size` bytes breaks (LGW_*), or 0; the value goes to `out`. */
function windowProblem(f: usize, size: u32, out: usize): u32 {
  if (size < 14) { store<u32>(out, size); return LGW_SHORT; }
  const offset = <u32>load<u16>(f, 8), count = <u32>load<u16>(f, 10), next = <u32>load<u16>(f, 12);
  if (offset != 0) { store<u32>(out, offset); return LGW_OFFSET; }
  if (count % 8 != 0 || count > GET_DEVICES_COUNT) { store<u32>(out, count); return LGW_COUNT; }
  if (size != 14 + count / 8) { store<u32>(out, size); store<u32>(out, count, 4); return LGW_SIZE; }
  if (next != 0 && (next % 8 != 0 || next < count)) { store<u32>(out, next); return LGW_NEXT; }
  return 0;
}

/** lookup: whether the operation found was not its track's oldest (an order violation). */
let lookupLate = false;

/**
 * The operation in flight on `track` with `token`, or 0 (lookupLate set): the one sequence
 * number in [lo, lo + 32768) with this token, in flight if below next and not yet ended.
 */
@inline function lookup(track: usize, token: u32): usize {
  const lo = load<u64>(track, LGT_LO);
  const seq = lo + <u64>((token - 1 - <u32>lo) & TOKEN_MASK);
  if (seq >= load<u64>(track, LGT_NEXT)) return 0;
  const p = slot(track, seq);
  if (load<u32>(p, LGP_STATE) == 0) return 0;
  lookupLate = seq != lo;
  return p;
}

/** A response (type has the response bit): matched by token in its ordering domain, then verified. */
@inline function response(st: usize, f: usize, w: u64, size: u32, t: f64, scratch: usize, measureAt: f64, histOp: usize, histInterval: usize): void {
  const type = <u32>w & 3;
  const id = <u32>(w >> 8) & 0xff;
  const dev = <u32>(w >> 16) & 0xffff;
  const token = <u32>(w >> 32) & 0xffff;
  const bus = (type & TYPE_BUS) != 0;
  let track: usize = 0;
  let d: usize = 0;
  if (bus) {
    track = <usize>load<u32>(st, LGS_BUS);
    if (dev != 0) log(st, LGK_BUS_DEV_NUM, t, 1, dev, token, id, 0, 0, 0);
  } else {
    const at = devIndex(st, dev);
    if (at != 0) { d = device(st, at - 1); track = d + LGD_REQ; }
  }
  const p = track != 0 && token != 0 ? lookup(track, token) : 0;
  if (p == 0) { log(st, LGK_UNEXPECTED, t, bus ? 1 : 0, dev, token, id, 0, 0, 0); return; }
  if (lookupLate) log(st, LGK_ORDER, t, bus ? 1 : 0, dev, token, id, 0, 0, 0);
  const tpl = <usize>load<u32>(p, LGP_TPL);
  const op = load<u32>(tpl, LGM_OP);
  // A device's own track holds only its operations; the bus track anyone's.
  const owner = bus ? device(st, load<u32>(p, LGP_OWNER)) : d;
  if (load<u8>(tpl + LGM_FRAME, 1) != id) {
    log(st, LGK_ID_MISMATCH, t, bus ? 1 : 0, load<u32>(owner, LGD_DEV), token, id, op, 0, 0);
    settleBy(st, p, owner, t, false, measureAt, histOp, histInterval);
    advance(track);
    return;
  }
  let ok = true;
  if (op == LG_OP_PING) {
    const data = size >= 12 ? load<u32>(f, 8) : 0;
    if (size < 12 || data != load<u32>(p, LGP_EXPECT)) {
      log(st, LGK_PING_ECHO, t, 1, 0, token, id, size < 12 ? size : 0, data, load<u32>(p, LGP_EXPECT));
      ok = false;
    }
  } else if (op == LG_OP_GET_DEVICES) {
    const rule = windowProblem(f, size, scratch);
    if (rule != 0) {
      log(st, LGK_GET_DEVICES, t, 1, 0, token, id, rule, load<u32>(scratch), load<u32>(scratch, 4));
      ok = false;
    }
  }
  if (ok) learn(st, owner, tpl, op, f, size);
  settleBy(st, p, owner, t, ok, measureAt, histOp, histInterval);
  advance(track);
}

/** A REQUEST_FAILED event: the request it names ends as a transport failure. */
function failure(st: usize, f: usize, t: f64): void {
  const fdev = <u32>load<u16>(f, RF_DEVICE);
  const fid = <u32>load<u8>(f, RF_MSG_ID);
  const reason = <u32>load<u8>(f, RF_REASON);
  const ftok = <u32>load<u16>(f, RF_TOKEN);
  log(st, LGK_TRANSPORT_FAILURE, t, 0, fdev, ftok, fid, reason, 0, 0);
  let track: usize = 0;
  const at = devIndex(st, fdev);
  if (at != 0) track = device(st, at - 1) + LGD_REQ;
  else if (fdev == 0) track = <usize>load<u32>(st, LGS_BUS);
  if (track == 0 || ftok == 0) return;
  const p = lookup(track, ftok);
  if (p == 0) return;
  if (lookupLate) log(st, LGK_ORDER, t, fdev == 0 && at == 0 ? 1 : 0, fdev, ftok, fid, 1, 0, 0); // counted, not listed
  settle(st, p, t, false);
  advance(track);
}

/** EVENT_USED on queue `vq` of device `dev`: every notification in flight there is done. */
function used(st: usize, dev: u32, vq: u32, t: f64): void {
  const at = devIndex(st, dev);
  if (at == 0) { counter(st, LGC_EXTRA_EVENTS); return; }
  const d = device(st, at - 1);
  if (vq >= load<u32>(d, LGD_QUEUES)) { counter(st, LGC_EXTRA_EVENTS); return; }
  const q = <usize>load<u32>(d, LGD_VQ) + (<usize>vq << 3);
  let link = load<u32>(q);
  if (link == 0) { counter(st, LGC_EXTRA_EVENTS); return; }
  const track = d + LGD_AVAIL;
  const slots = <usize>load<u32>(track, LGT_SLOTS);
  // One EVENT_USED answers every notification in flight on its queue: the bus may have merged them.
  while (link != 0) {
    const p = slots + <usize>(link - 1) * LGP_SIZE;
    link = load<u32>(p, LGP_LINK);
    settle(st, p, t, true);
  }
  store<u64>(q, 0);
  freeQueue(d, vq);
  advance(track);
  counter(st, LGC_EVENTS_USED);
}

@inline function freeQueue(d: usize, vq: u32): void {
  const queues = load<u32>(d, LGD_QUEUES);
  const n = load<u32>(d, LGD_FREEQ_N);
  let at = load<u32>(d, LGD_FREEQ_HEAD) + n;
  if (at >= queues) at -= queues;
  store<u32>(<usize>load<u32>(d, LGD_FREEQ) + (<usize>at << 2), vq);
  store<u32>(d, n + 1, LGD_FREEQ_N);
}

/** A queue with nothing in flight when there is one; otherwise the next in turn. */
@inline function takeQueue(d: usize): u32 {
  const queues = load<u32>(d, LGD_QUEUES);
  const n = load<u32>(d, LGD_FREEQ_N);
  if (n > 0) {
    const head = load<u32>(d, LGD_FREEQ_HEAD);
    const vq = load<u32>(<usize>load<u32>(d, LGD_FREEQ) + (<usize>head << 2));
    store<u32>(d, head + 1 == queues ? 0 : head + 1, LGD_FREEQ_HEAD);
    store<u32>(d, n - 1, LGD_FREEQ_N);
    return vq;
  }
  let q = load<u32>(d, LGD_NEXT_QUEUE) + 1;
  if (q >= queues) q = 0;
  store<u32>(d, q, LGD_NEXT_QUEUE);
  return q;
}

/**
 * Whether a frame may be waiting after the one just released: consumePeek finding the ring empty
 * would publish our frees at once, a sequentially consistent store ahead of the requests this
 * pass sends; they go after those instead (lgSeqRun). A torn peer index reads as waiting:
 * consumePeek then counts the fault and finds nothing.
 */
@inline function moreWaiting(rx: usize): bool {
  const local = load<u32>(rx, CUR_LOCAL);
  return local != load<u32>(rx, CUR_CACHED) || peerIndexNow(rx) != local;
}

/** Read and handle every frame waiting. Returns frames read, or −1 when it stopped for the log. */
@inline function receive(st: usize, rx: usize, tx: usize, t: f64, scratch: usize): i32 {
  const maxSize = load<u32>(st, LGS_MAX_SIZE);
  // Read once a call: JavaScript changes them only between calls.
  const measureAt = load<f64>(st, LGS_MEASURE_AT);
  const histOp = <usize>load<u32>(st, LGS_HIST_OP);
  const histInterval = <usize>load<u32>(st, LGS_HIST_INTERVAL);
  let n: i32 = 0;
  for (let f = consumePeek(rx); f != 0; f = moreWaiting(rx) ? consumePeek(rx) : 0) {
    if (!logRoom(st)) { addTo(st + LGS_RECEIVED, <u64>n); return -1; }
    const w = load<u64>(f);
    const type = <u32>w & 3; // bits 2–7 are reserved: ignored on receive (§8 driver rule 1)
    const id = <u32>(w >> 8) & 0xff;
    const size = <u32>(w >> 48);
    if (type == TYPE_BUS && id == B_PING) {
      // The bus's keep-alive: echoed at once (token and data); with our ring full it waits.
      const o = produceReserve(tx);
      if (o == 0) break;
      writePingAnswer(o, f, w, size);
      produceCommit(tx);
      counter(st, LGC_PINGS_ANSWERED);
      bump(st + LGS_SENT);
    } else if (size < 8 || size > maxSize) {
      log(st, LGK_MALFORMED, t, 0, 0, 0, 0, size, maxSize, 0);
    } else if ((type & TYPE_RESPONSE) != 0) {
      response(st, f, w, size, t, scratch, measureAt, histOp, histInterval);
    } else if (type == TYPE_BUS) {
      if (id == VMSG_EVT_REQUEST_FAILED && size >= RF_SIZE) failure(st, f, t);
      else if (id == B_EVENT_DEVICE) counter(st, LGC_DEVICE_EVENTS);
      else counter(st, LGC_OTHER_FRAMES);
    } else if (id == T_EVENT_USED && size >= 12) {
      used(st, <u32>(w >> 16) & 0xffff, load<u32>(f, 8), t);
    } else if (id == T_EVENT_CONFIG) {
      counter(st, LGC_CONFIG_EVENTS);
    } else {
      counter(st, LGC_OTHER_FRAMES);
    }
    consumeRelease(rx);
    n++;
  }
  addTo(st + LGS_RECEIVED, <u64>n); // one store a call: JavaScript reads it between calls
  return n;
}

/** Whether an operation intended at `at` is still to be sent (src/loadgen/send-schedule.ts `issuing`). */
@inline function issuing(st: usize, at: f64): bool {
  if (load<u32>(st, LGS_STOP) != 0) return false;
  if (at < load<f64>(st, LGS_MEASURE_AT)) return true;
  return load<u64>(st, LGS_MEASURED_ISSUED) < load<u64>(st, LGS_COUNT) && at < load<f64>(st, LGS_STOP_AT);
}

/** Send device `d`'s next message, due at `intended`. False: no room (the ring, or the track's window). */
@inline function issue(st: usize, di: u32, d: usize, tx: usize, intended: f64, t: f64): bool {
  const tpls = <usize>load<u32>(d, LGD_TPLS);
  const pos = load<u32>(d, LGD_POS);
  let tpl = <usize>load<u32>(tpls + (<usize>pos << 2));
  let flags = load<u32>(tpl, LGM_FLAGS);
  let advancePos = true;
  if ((flags & LGMF_REREAD) != 0 && load<u32>(d, LGD_REREAD) != 0) {
    tpl = <usize>load<u32>(d, LGD_ALT); // read first; this write goes next time
    flags = load<u32>(tpl, LGM_FLAGS);
    advancePos = false;
  }
  const op = load<u32>(tpl, LGM_OP);
  const frame = tpl + LGM_FRAME;
  const hdrType = <u32>load<u8>(frame);
  const event = op == LG_OP_EVENT_AVAIL;
  const track = event ? d + LGD_AVAIL : (hdrType & TYPE_BUS) != 0 ? <usize>load<u32>(st, LGS_BUS) : d + LGD_REQ;
  const seq = load<u64>(track, LGT_NEXT);
  if (seq - load<u64>(track, LGT_LO) > <u64>load<u32>(track, LGT_MASK)) return false; // its oldest is still out
  const o = produceReserve(tx);
  if (o == 0) {
    if (load<u32>(st, LGS_QUEUE_BLOCKED) == 0) {
      store<u32>(st, 1, LGS_QUEUE_BLOCKED);
      log(st, LGK_QUEUE_FULL, t, 0, 0, 0, 0, 0, 0, 0);
    }
    return false;
  }
  // Word by word: frames are a few dozen bytes, and memory.copy is a call out of the compiled code.
  const len = <usize>load<u32>(tpl, LGM_LEN);
  let k: usize = 0;
  for (; k + 8 <= len; k += 8) store<u64>(o + k, load<u64>(frame + k));
  for (; k < len; k++) store<u8>(o + k, load<u8>(frame + k));
  const token: u32 = event ? 0 : (<u32>seq & TOKEN_MASK) + 1;
  store<u16>(o, <u16>token, 4);
  let expect: u32 = 0;
  if (event) {
    expect = takeQueue(d);
    store<u32>(o, expect, 8);
  } else if (op == LG_OP_PING) {
    expect = load<u32>(d, LGD_PING) + 0x01000193;
    store<u32>(d, expect, LGD_PING);
    store<u32>(o, expect, 8);
  } else if (op == LG_OP_SET_CONFIG) {
    store<u32>(o, load<u32>(d, LGD_GENERATION), 8);
    const fill = (load<u32>(d, LGD_FILL) + 1) & 0xff;
    store<u32>(d, fill, LGD_FILL);
    memory.fill(o + 20, <u8>fill, load<u32>(tpl, LGM_VALUE));
  }
  if (op == LG_OP_GET_CONFIG) store<u32>(d, 0, LGD_REREAD);
  produceCommit(tx);
  // accepted (src/loadgen/load-metrics.ts): a send into an idle bus starts the stall clock now
  store<u32>(st, 0, LGS_QUEUE_BLOCKED);
  const inFlight = load<u64>(st, LGS_IN_FLIGHT);
  if (inFlight == 0) store<f64>(st, t, LGS_LAST_COMPLETION);
  const p = slot(track, seq);
  store<u32>(p, 1, LGP_STATE);
  store<u32>(p, di, LGP_OWNER);
  store<u32>(p, expect, LGP_EXPECT);
  store<u32>(p, 0, LGP_LINK);
  store<u32>(p, token, LGP_TOKEN);
  store<u32>(p, <u32>tpl, LGP_TPL);
  store<f64>(p, intended, LGP_INTENDED);
  store<f64>(p, t, LGP_SENT_AT);
  if ((flags & LGMF_SEQ_FIRST) != 0) store<f64>(d, intended, LGD_SEQ_START);
  store<f64>(p, load<f64>(d, LGD_SEQ_START), LGP_SEQ_START);
  store<u64>(track, seq + 1, LGT_NEXT);
  if (event) {
    // Last on its queue's list of notifications in flight.
    const q = <usize>load<u32>(d, LGD_VQ) + (<usize>expect << 3);
    const me = <u32>(seq & <u64>load<u32>(track, LGT_MASK)) + 1;
    const last = load<u32>(q, 4);
    if (last == 0) store<u32>(q, me);
    else store<u32>(<usize>load<u32>(track, LGT_SLOTS) + <usize>(last - 1) * LGP_SIZE, me, LGP_LINK);
    store<u32>(q, me, 4);
  }
  if (advancePos) store<u32>(d, pos + 1 == load<u32>(d, LGD_NTPL) ? 0 : pos + 1, LGD_POS);
  store<u32>(d, load<u32>(d, LGD_IN_FLIGHT) + 1, LGD_IN_FLIGHT);
  store<u64>(st, inFlight + 1, LGS_IN_FLIGHT);
  return true;
}

/** Closed loop: each device tops up to the outstanding limit. Returns frames sent. */
@inline function sendClosed(st: usize, tx: usize, t: f64): u32 {
  if (!issuing(st, t)) return 0;
  const n = load<u32>(st, LGS_NDEV);
  const outstanding = load<u32>(st, LGS_OUTSTANDING);
  // issuing() at a fixed `t` changes only with the measured count: kept here, stored once.
  const measured = t >= load<f64>(st, LGS_MEASURE_AT);
  let issued = load<u64>(st, LGS_MEASURED_ISSUED);
  const count = load<u64>(st, LGS_COUNT);
  let burst: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const d = device(st, i);
    while (load<u32>(d, LGD_IN_FLIGHT) < outstanding && burst < SEND_BURST && (!measured || issued < count)) {
      if (!logRoom(st) || !issue(st, i, d, tx, t, t)) break;
      if (measured) issued++;
      burst++;
    }
  }
  store<u64>(st, issued, LGS_MEASURED_ISSUED);
  addTo(st + LGS_SENT, <u64>burst);
  return burst;
}

/** Open loop: what is due by `t`, round-robin over devices with room, each keeping its intended time. */
function sendOpen(st: usize, tx: usize, t: f64): u32 {
  const n = load<u32>(st, LGS_NDEV);
  const outstanding = load<u32>(st, LGS_OUTSTANDING);
  const period = load<f64>(st, LGS_PERIOD);
  let due = load<f64>(st, LGS_NEXT_DUE);
  let rr = load<u32>(st, LGS_RR);
  let burst: u32 = 0;
  while (due <= t && burst < SEND_BURST && issuing(st, due) && logRoom(st)) {
    let pick: i32 = -1;
    for (let k: u32 = 0; k < n; k++) {
      let i = rr + k;
      if (i >= n) i -= n;
      if (load<u32>(device(st, i), LGD_IN_FLIGHT) < outstanding) { pick = <i32>i; break; }
    }
    if (pick < 0) {
      if (load<u32>(st, LGS_WINDOW_BLOCKED) == 0) counter(st, LGC_WINDOW_FULL);
      store<u32>(st, 1, LGS_WINDOW_BLOCKED);
      break;
    }
    store<u32>(st, 0, LGS_WINDOW_BLOCKED);
    if (!issue(st, <u32>pick, device(st, <u32>pick), tx, due, t)) break;
    rr = <u32>pick + 1 == n ? 0 : <u32>pick + 1;
    if (due >= load<f64>(st, LGS_MEASURE_AT)) bump(st + LGS_MEASURED_ISSUED);
    due += period;
    burst++;
  }
  store<f64>(st, due, LGS_NEXT_DUE);
  store<u32>(st, rr, LGS_RR);
  addTo(st + LGS_SENT, <u64>burst);
  return burst;
}

/** Operations unanswered for the timeout end as timeouts (oldest first); then the stall watch looks. */
function expireAll(st: usize, t: f64): bool {
  const old = t - load<f64>(st, LGS_TIMEOUT_MS);
  const n = load<u32>(st, LGS_NDEV);
  const bus = <usize>load<u32>(st, LGS_BUS);
  if (!expireTrack(st, bus, old, t, true)) return false;
  for (let i: u32 = 0; i < n; i++) {
    const d = device(st, i);
    if (!expireTrack(st, d + LGD_REQ, old, t, false)) return false;
    const track = d + LGD_AVAIL;
    for (let lo = load<u64>(track, LGT_LO); lo < load<u64>(track, LGT_NEXT); lo = load<u64>(track, LGT_LO)) {
      const p = slot(track, lo);
      if (load<f64>(p, LGP_SENT_AT) >= old) break;
      if (!logRoom(st)) return false;
      // The oldest notification in flight is the first on its queue's list.
      const vq = load<u32>(p, LGP_EXPECT);
      const q = <usize>load<u32>(d, LGD_VQ) + (<usize>vq << 3);
      const link = load<u32>(p, LGP_LINK);
      store<u32>(q, link);
      if (link == 0) { store<u32>(q, 0, 4); freeQueue(d, vq); }
      log(st, LGK_TIMEOUT_AVAIL, t, 0, load<u32>(d, LGD_DEV), 0, 0, vq, 0, 0);
      settle(st, p, t, false);
      advance(track);
    }
  }
  if (load<u32>(st, LGS_STALL_OPEN) == 0 && load<u64>(st, LGS_IN_FLIGHT) > 0 && t - load<f64>(st, LGS_LAST_COMPLETION) > load<f64>(st, LGS_STALL_MS)) {
    store<u32>(st, 1, LGS_STALL_OPEN);
    store<f64>(st, load<f64>(st, LGS_LAST_COMPLETION), LGS_STALL_SINCE);
  }
  store<f64>(st, t, LGS_LAST_EXPIRE);
  return true;
}

function expireTrack(st: usize, track: usize, old: f64, t: f64, bus: bool): bool {
  for (let lo = load<u64>(track, LGT_LO); lo < load<u64>(track, LGT_NEXT); lo = load<u64>(track, LGT_LO)) {
    const p = slot(track, lo);
    if (load<f64>(p, LGP_SENT_AT) >= old) break;
    if (!logRoom(st)) return false;
    const d = device(st, load<u32>(p, LGP_OWNER));
    log(st, LGK_TIMEOUT, t, bus ? 1 : 0, load<u32>(d, LGD_DEV), load<u32>(p, LGP_TOKEN), 0, load<u32>(<usize>load<u32>(p, LGP_TPL), LGM_OP), 0, 0);
    settle(st, p, t, false);
    advance(track);
  }
  return true;
}

/** Whether anything is still to be sent at `t` (open loop: the next operation's intended time). */
@inline function sending(st: usize, t: f64): bool {
  return issuing(st, load<u32>(st, LGS_OPEN) != 0 ? load<f64>(st, LGS_NEXT_DUE) : t);
}

/**
 * Drive the rings for at most `budget` passes (a pass: read every answer, look for timeouts
 * every EXPIRE_EVERY_MS, send what is due). `scratch`: 8 free bytes. Returns LG_DONE (nothing
 * more to send, nothing in flight), LG_IDLE, LG_BUDGET, LG_SENT_NOW or LG_LOG_FULL.
 */
export function lgSeqRun(st: usize, budget: u32, scratch: usize): u32 {
  const tx = <usize>load<u32>(st, LGS_TX);
  const rx = <usize>load<u32>(st, LGS_RX);
  const spins = load<u32>(st, LGS_SPINS);
  const returnOnSend = (load<u32>(st, LGS_FLAGS) & LGF_RETURN_ON_SEND) != 0;
  const open = load<u32>(st, LGS_OPEN) != 0;
  // Closed loop with every device's window full: nothing can go out until an answer comes.
  const capacity = <u64>load<u32>(st, LGS_NDEV) * <u64>load<u32>(st, LGS_OUTSTANDING);
  let idle: u32 = 0;
  let first = true;
  let result = LG_BUDGET;
  for (let pass: u32 = 0; pass < budget;) {
    // The clock is read when there is something to do, on a call's first pass and on every
    // 1024th empty pass (timeouts, which are looked for every 20 ms): a busy-polled pass that
    // finds nothing costs one look at the ring, not a call out to JS (nor one right after each
    // answer: a closed loop waiting for answers with its windows full has nothing to send), and
    // an answer rarely lands while a full empty pass (~0.1 µs, most of it the clock) runs.
    // (consumePeek finding the ring empty has published our pending frees already.)
    if (!open && !first && (idle & 1023) != 1023 && consumePeek(rx) == 0 && load<u64>(st, LGS_IN_FLIGHT) >= capacity) {
      if (++idle >= spins) { result = LG_IDLE; break; }
      continue;
    }
    first = false;
    const t = now();
    const got = receive(st, rx, tx, t, scratch);
    if (got < 0) { result = LG_LOG_FULL; break; }
    if (t - load<f64>(st, LGS_LAST_EXPIRE) >= EXPIRE_EVERY_MS && !expireAll(st, t)) { result = LG_LOG_FULL; break; }
    const more = sending(st, t);
    if (!more && load<u64>(st, LGS_IN_FLIGHT) == 0) { result = LG_DONE; break; }
    const sent = more ? (open ? sendOpen(st, tx, t) : sendClosed(st, tx, t)) : 0;
    const published = load<u32>(tx, CUR_PENDING) != 0; // requests or keep-alive answers
    if (published) cursorFlush(tx);
    if (load<u32>(rx, CUR_PENDING) != 0) cursorFlush(rx); // the frees receive left, after the requests
    if (sent != 0 || got != 0) {
      store<f64>(st, t, LGS_LAST);
      idle = 0;
      pass++;
      if (returnOnSend && published) { result = LG_SENT_NOW; break; }
      if (!logRoom(st)) { result = LG_LOG_FULL; break; }
      continue;
    }
    if (load<u32>(rx, CUR_PENDING) != 0) cursorFlush(rx);
    if (++idle >= spins) { result = LG_IDLE; break; }
  }
  if (load<u32>(rx, CUR_PENDING) != 0) cursorFlush(rx); // a pass that stopped early: its frees too
  return result;
}

/** Zero histogram `h` (HIST_BUCKETS u64). */
export function lgSeqClear(h: usize): void {
  memory.fill(h, 0, <usize>HIST_BUCKETS << 3);
}
