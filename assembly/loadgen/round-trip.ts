// One request at a time, timed: the driver of the rtt benchmark (bench/rtt.ts) in WASM, so the
// driver thread's own share of each round trip is a few loads and stores rather than a chain of
// JS → WASM calls. It sends GET_DEVICE_STATUS to one device on a driver link, checks every
// answer (a response, same msg_id, same device, the token it sent; EVENT_DEVICE news is
// skipped) and records each round trip in ns. Given a device link too, it answers there as the
// echo device (../device/echo.ts) between its looks for the answer: the driver and the device
// then share one thread, so a 2-core machine needs only two spinning threads (this one and
// the shard). The clock is read once per round trip: its end is the next one's start.
import { consumePeek, consumeRelease, cursorFlush, produceReserve, produceCommit } from '../ring/cursor';
import { makeHeader } from '../header';
import { T_GET_DEVICE_STATUS, GET_DEVICE_STATUS_ANSWER, EVENT_DEVICE_TYPE_ID } from './messages';
import { echoSome } from '../device/echo';

@external('env', 'now') declare function now(): f64;

// State kept between calls (RTT_STATE_SIZE bytes, zeroed by the caller before the first).
export const RTT_ERRORS: u32 = 0; // u32 answers that were wrong (type, msg_id, dev_num or token)
export const RTT_TOKEN: u32 = 4; //  u32 token of the next request (16 bits used)
export const RTT_STATE_SIZE: u32 = 8;

/**
 * Up to `count` round trips to device `dev` through the producer cursor `tx` and the consumer
 * cursor `rx` of a driver link, the ns of the i-th stored as u32 at `times` + 4 i. With `devIn`
 * (consumer cursor) and `devOut` (producer cursor) of a device link not 0, this thread is also
 * the echo device. Returns the round trips completed: fewer than `count` only when an answer
 * did not come within `maxPolls` looks (that request stays in flight).
 */
export function rttRun(st: usize, tx: usize, rx: usize, devIn: usize, devOut: usize, dev: u32, count: u32, times: usize, maxPolls: u32): u32 {
  let errors = load<u32>(st, RTT_ERRORS);
  let token = load<u32>(st, RTT_TOKEN) & 0xffff;
  let t = now();
  let done: u32 = 0;
  while (done < count) {
    const o = produceReserve(tx);
    if (o == 0) break; // one request in flight at a time: the ring is never full
    store<u64>(o, makeHeader(0, T_GET_DEVICE_STATUS, dev, token, 8));
    produceCommit(tx);
    cursorFlush(tx);
    let w: u64 = 0;
    let got = false;
    for (let polls: u32 = 0; polls < maxPolls; polls++) {
      if (devIn != 0) echoSome(devIn, devOut, 64);
      const f = consumePeek(rx);
      if (f == 0) continue;
      w = load<u64>(f);
      consumeRelease(rx);
      if ((<u32>w & 0xffff) != EVENT_DEVICE_TYPE_ID) { got = true; break; }
    }
    if (!got) break;
    if ((<u32>w & 0xffff) != GET_DEVICE_STATUS_ANSWER || (<u32>(w >> 16) & 0xffff) != dev || (<u32>(w >> 32) & 0xffff) != token) errors++;
    const t1 = now();
    const ns = (t1 - t) * 1e6;
    store<u32>(times + (<usize>done << 2), ns > 0 ? <u32>ns : 0);
    t = t1;
    token = (token + 1) & 0xffff;
    done++;
  }
  store<u32>(st, errors, RTT_ERRORS);
  store<u32>(st, token, RTT_TOKEN);
  return done;
}
