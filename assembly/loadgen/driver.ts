// The load engine's per-frame work (`vmsg bench`, src/driver/frame-bench.ts and the load tool):
// a driver on one device-side ring pair, in WASM over the window mapped in place. It builds
// and stamps requests straight into the ring slots, matches every answer against the frames in
// flight (type, msg_id, dev_num, token or echoed data, per-device order), answers the other
// side's keep-alive PINGs, and records each round trip in a histogram: no copy, no allocation,
// no JavaScript per frame. JavaScript sets the state block up (./layout.ts), rings the
// doorbell socket and sleeps between calls, and reads the counters for its reports.
//   init   the virtio initialisation sequence over and over (templates built by lgSetup);
//   ping   bus PINGs whose 32-bit data must come back unchanged;
//   avail  EVENT_AVAIL for a distinct virtqueue per frame in flight, each answered by an
//          EVENT_USED for that queue.
// The clock is read once per pass (a pass takes well under a microsecond), not per frame.
import { consumePeek, consumeRelease, cursorFlush, produceReserve, produceCommit, CUR_PENDING } from '../ring/cursor';
import { makeHeader, TYPE_BUS, TYPE_RESPONSE, B_PING, T_GET_DEVICE_INFO, T_EVENT_AVAIL, T_EVENT_USED } from '../header';
import {
  LG_MODE, LG_DEV, LG_TX, LG_RX, LG_OUTSTANDING, LG_FIFO, LG_HIST, LG_FIFO_HEAD, LG_FIFO_N, LG_SPINS, LG_FLAGS,
  LG_COUNT, LG_SENT, LG_RECEIVED, LG_ERRORS, LG_ORDER, LG_PINGS, LG_STOP_AT, LG_LAST, LG_MAX_NS, LG_TEMPLATES,
  LG_TEMPLATE_SIZE, LG_INIT_STEPS, LGE_KEY, LGE_MSG_ID, LGE_T0, LG_ENTRY_SIZE,
  LG_MODE_INIT, LG_MODE_PING, LG_MODE_AVAIL, LGF_RETURN_ON_SEND, LG_DONE, LG_IDLE, LG_BUDGET, LG_SENT_NOW, HIST_BUCKETS,
} from './layout';
import { histBucket } from './histogram';
import {
  T_GET_DEVICE_FEATURES, T_SET_DRIVER_FEATURES, T_GET_DEVICE_STATUS, T_SET_DEVICE_STATUS, T_GET_VQUEUE, T_SET_VQUEUE,
  STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK, writePingAnswer,
} from './messages';

@external('env', 'now') declare function now(): f64;

/** Write init step `i`'s frame (token 0, stamped at send) with `words` u32 payload words. */
function template(st: usize, i: u32, id: u32, words: u32, a: u32, b: u32, c: u32, d: u32): usize {
  const f = st + LG_TEMPLATES + <usize>i * LG_TEMPLATE_SIZE;
  memory.fill(f, 0, LG_TEMPLATE_SIZE);
  store<u64>(f, makeHeader(0, id, load<u32>(st, LG_DEV), 0, 8 + words * 4));
  store<u32>(f, a, 8);
  store<u32>(f, b, 12);
  store<u32>(f, c, 16);
  store<u32>(f, d, 20);
  return f;
}

/**
 * Initialise the state block at `st` (LG_STATE_SIZE bytes; the FIFO and histogram addresses,
 * cursors, mode, device, outstanding, count, spins and flags already stored by the caller):
 * zero the counters, FIFO and histogram, build the init sequence's frames.
 */
export function lgSetup(st: usize): void {
  store<u32>(st, 0, LG_FIFO_HEAD);
  store<u32>(st, 0, LG_FIFO_N);
  store<u64>(st, 0, LG_SENT);
  store<u64>(st, 0, LG_RECEIVED);
  store<u64>(st, 0, LG_ERRORS);
  store<u64>(st, 0, LG_ORDER);
  store<u64>(st, 0, LG_PINGS);
  store<u64>(st, 0, LG_MAX_NS);
  store<f64>(st, Infinity, LG_STOP_AT);
  store<f64>(st, now(), LG_LAST);
  memory.fill(<usize>load<u32>(st, LG_FIFO), 0, <usize>load<u32>(st, LG_OUTSTANDING) * LG_ENTRY_SIZE);
  lgClearHistogram(st);
  template(st, 0, T_GET_DEVICE_INFO, 0, 0, 0, 0, 0);
  template(st, 1, T_SET_DEVICE_STATUS, 1, STATUS_ACKNOWLEDGE, 0, 0, 0);
  template(st, 2, T_SET_DEVICE_STATUS, 1, STATUS_ACKNOWLEDGE | STATUS_DRIVER, 0, 0, 0);
  template(st, 3, T_GET_DEVICE_FEATURES, 2, 0, 2, 0, 0);
  template(st, 4, T_SET_DRIVER_FEATURES, 4, 0, 2, 1, 1);
  template(st, 5, T_SET_DEVICE_STATUS, 1, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK, 0, 0, 0);
  template(st, 6, T_GET_DEVICE_STATUS, 0, 0, 0, 0, 0);
  template(st, 7, T_GET_VQUEUE, 1, 0, 0, 0, 0);
  // index, reserved, size, reserved, then the descriptor / driver / device ring addresses (u64 each)
  const sv = template(st, 8, T_SET_VQUEUE, 10, 0, 0, 256, 0);
  store<u32>(sv, 0x10000, 24);
  store<u32>(sv, 0x11000, 32);
  store<u32>(sv, 0x12000, 40);
  template(st, 9, T_SET_DEVICE_STATUS, 1, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK, 0, 0, 0);
}

/** Zero the histogram and its maximum (a warm-up's latencies are not the measurement's). */
export function lgClearHistogram(st: usize): void {
  memory.fill(<usize>load<u32>(st, LG_HIST), 0, <usize>HIST_BUCKETS * 8);
  store<u64>(st, 0, LG_MAX_NS);
}

/** Index (0 = oldest) of the entry in flight whose key is `key`, or -1. */
@inline function findKey(fifo: usize, head: u32, n: u32, cap: u32, key: u32): i32 {
  let at = head;
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(fifo + <usize>at * LG_ENTRY_SIZE, LGE_KEY) == key) return <i32>i;
    at++;
    if (at == cap) at = 0;
  }
  return -1;
}

/**
 * Drive the rings for at most `budget` passes (a pass: read every answer there, then send up to
 * the outstanding limit). Returns LG_DONE, LG_IDLE, LG_BUDGET or LG_SENT_NOW (./layout.ts).
 */
export function lgRun(st: usize, budget: u32): u32 {
  const tx = <usize>load<u32>(st, LG_TX);
  const rx = <usize>load<u32>(st, LG_RX);
  const mode = load<u32>(st, LG_MODE);
  const dev = load<u32>(st, LG_DEV);
  const cap = load<u32>(st, LG_OUTSTANDING);
  const fifo = <usize>load<u32>(st, LG_FIFO);
  const hist = <usize>load<u32>(st, LG_HIST);
  const spins = load<u32>(st, LG_SPINS);
  const returnOnSend = (load<u32>(st, LG_FLAGS) & LGF_RETURN_ON_SEND) != 0;
  const stopAt = load<f64>(st, LG_STOP_AT);
  let head = load<u32>(st, LG_FIFO_HEAD);
  let n = load<u32>(st, LG_FIFO_N);
  let count = load<u64>(st, LG_COUNT);
  let sent = load<u64>(st, LG_SENT);
  let received = load<u64>(st, LG_RECEIVED);
  let errors = load<u64>(st, LG_ERRORS);
  let order = load<u64>(st, LG_ORDER);
  let pings = load<u64>(st, LG_PINGS);
  let maxNs = load<u64>(st, LG_MAX_NS);
  let last = load<f64>(st, LG_LAST);
  let idle: u32 = 0;
  let result = LG_BUDGET;
  for (let pass: u32 = 0; pass < budget;) {
    if (sent >= count && n == 0) { result = LG_DONE; break; }
    let t: f64 = -1;
    let moved = false;
    let answered: u32 = 0; // keep-alive answers published this pass
    // ---- answers
    for (let f = consumePeek(rx); f != 0; f = consumePeek(rx)) {
      if (t < 0) t = now();
      const w = load<u64>(f);
      const type = <u32>w & 0xff;
      const id = <u32>(w >> 8) & 0xff;
      const size = <u32>(w >> 48);
      let key: u32 = 0;
      let answer = false;
      if (type == TYPE_BUS && id == B_PING) {
        // The other side's keep-alive: echoed (token and data); with our ring full it waits.
        const o = produceReserve(tx);
        if (o == 0) break;
        writePingAnswer(o, f, w, size);
        produceCommit(tx);
        pings++;
        answered++;
      } else if (mode == LG_MODE_PING) {
        if (type == (TYPE_BUS | TYPE_RESPONSE) && id == B_PING && size >= 12) { answer = true; key = load<u32>(f, 8); }
        else if ((type & TYPE_BUS) == 0) errors++;
      } else if (mode == LG_MODE_AVAIL) {
        if (type == 0 && id == T_EVENT_USED && (<u32>(w >> 16) & 0xffff) == dev && size >= 12) { answer = true; key = load<u32>(f, 8); }
        else if ((type & TYPE_BUS) == 0) errors++;
      } else if ((type & TYPE_BUS) == 0 && (type & TYPE_RESPONSE) != 0) {
        // A response: our token names the request; its msg_id and device must agree too.
        answer = true;
        key = <u32>(w >> 32) & 0xffff;
      } // else: bus events (EVENT_DEVICE) and transport events are not answers
      if (answer) {
        const i = findKey(fifo, head, n, cap, key);
        if (i < 0) {
          errors++;
        } else {
          let at = head + <u32>i;
          if (at >= cap) at -= cap;
          const e = fifo + <usize>at * LG_ENTRY_SIZE;
          if (mode == LG_MODE_INIT && (id != load<u32>(e, LGE_MSG_ID) || (<u32>(w >> 16) & 0xffff) != dev)) errors++;
          const dt = (t - load<f64>(e, LGE_T0)) * 1e6;
          const ns: u64 = dt > 0 ? <u64>dt : 0;
          const b = hist + (<usize>histBucket(ns) << 3);
          store<u64>(b, load<u64>(b) + 1);
          if (ns > maxNs) maxNs = ns;
          if (i != 0) {
            // It overtook older frames: counted, and taken out of the middle (the older ones shift up).
            order++;
            let to = at;
            for (let j = <u32>i; j > 0; j--) {
              const from = to == 0 ? cap - 1 : to - 1;
              const d = fifo + <usize>to * LG_ENTRY_SIZE;
              const s = fifo + <usize>from * LG_ENTRY_SIZE;
              store<u64>(d, load<u64>(s));
              store<f64>(d, load<f64>(s, LGE_T0), LGE_T0);
              to = from;
            }
          }
          head++;
          if (head == cap) head = 0;
          n--;
          received++;
        }
      }
      consumeRelease(rx);
      moved = true;
    }
    // ---- requests
    let sentNow: u32 = 0;
    if (sent < count && n < cap) {
      if (t < 0) t = now();
      if (t >= stopAt) count = sent;
      let at = head + n;
      if (at >= cap) at -= cap;
      while (sent < count && n < cap) {
        const o = produceReserve(tx);
        if (o == 0) break;
        const token = <u32>(sent % 0xffff) + 1; // never 0 (events'), unique among ≤ 65535 in flight
        let key: u32;
        let msgId: u32;
        if (mode == LG_MODE_INIT) {
          const step = <u32>(sent % LG_INIT_STEPS);
          const tpl = st + LG_TEMPLATES + <usize>step * LG_TEMPLATE_SIZE;
          const hw = load<u64>(tpl);
          const words = (<u32>(hw >> 48) + 7) >> 3;
          store<u64>(o, hw | (<u64>token << 32));
          for (let k: u32 = 1; k < words; k++) store<u64>(o + (<usize>k << 3), load<u64>(tpl + (<usize>k << 3)));
          key = token;
          msgId = <u32>(hw >> 8) & 0xff;
        } else if (mode == LG_MODE_PING) {
          key = <u32>sent;
          msgId = B_PING;
          store<u64>(o, makeHeader(TYPE_BUS, B_PING, 0, token, 12));
          store<u32>(o, key, 8);
        } else {
          key = <u32>(sent % 65536); // a distinct virtqueue per frame in flight: never merged
          msgId = T_EVENT_AVAIL;
          store<u64>(o, makeHeader(0, T_EVENT_AVAIL, dev, 0, 16));
          store<u32>(o, key, 8);
          store<u32>(o, <u32>sent & 0xffffff, 12);
        }
        produceCommit(tx);
        const e = fifo + <usize>at * LG_ENTRY_SIZE;
        store<u32>(e, key, LGE_KEY);
        store<u32>(e, msgId, LGE_MSG_ID);
        store<f64>(e, t, LGE_T0);
        at++;
        if (at == cap) at = 0;
        n++;
        sent++;
        sentNow++;
      }
    }
    if (load<u32>(tx, CUR_PENDING) != 0) cursorFlush(tx);
    if (sentNow != 0 || moved) {
      last = t;
      idle = 0;
      pass++;
      if ((sentNow | answered) != 0 && returnOnSend) { result = LG_SENT_NOW; break; }
      continue;
    }
    cursorFlush(rx);
    if (++idle >= spins) { result = LG_IDLE; break; }
  }
  store<u32>(st, head, LG_FIFO_HEAD);
  store<u32>(st, n, LG_FIFO_N);
  store<u64>(st, count, LG_COUNT);
  store<u64>(st, sent, LG_SENT);
  store<u64>(st, received, LG_RECEIVED);
  store<u64>(st, errors, LG_ERRORS);
  store<u64>(st, order, LG_ORDER);
  store<u64>(st, pings, LG_PINGS);
  store<u64>(st, maxNs, LG_MAX_NS);
  store<f64>(st, last, LG_LAST);
  return result;
}
