// Many requests in flight, every answer checked: the driver of the pipeline benchmark
// (bench/pipeline.ts) in WASM. It keeps up to `outstanding` GET_DEVICE_STATUS requests in
// flight to each device number of first .. first + n - 1 on one driver link, writes at most
// `burst` new ones per pass (round-robin over the devices), and checks every answer: a response
// with msg_id GET_DEVICE_STATUS, for one of its devices, carrying the next token it expects
// from that device (tokens go out 0, 1, 2 … per device, so this checks per-device order too).
// EVENT_DEVICE news is skipped. Given a device link too, it answers there as the echo device
// (../device/echo.ts) once per pass: the driver and the device then share one thread.
import {
  consumeAvailable, consumeAdvance, cursorFlush, frameUnits, runFrameUnits, runStart, ringSlots, slotStride, ringCapacity, maxUnits,
  slotAt, slotAfter, produceFreeSeen, produceFreeNow, publishDue, produceAdvance,
} from '../ring/cursor';
import { makeHeader } from '../header';
import { T_GET_DEVICE_STATUS, GET_DEVICE_STATUS_ANSWER, EVENT_DEVICE_TYPE_ID } from './messages';
import { echoSome } from '../device/echo';

// State block (CL_STATE_SIZE bytes, zeroed by the caller before the first call).
export const CL_SENT: u32 = 0; //      u64 requests written
export const CL_RESPONSES: u32 = 8; // u64 good answers
export const CL_ERRORS: u32 = 16; //   u64 answers that were wrong (type, msg_id, unknown device, token out of order)
export const CL_RR: u32 = 24; //       u32 device the next pass starts sending to
export const CL_STATE_SIZE: u32 = 32;
// Per device (n entries of CLD_SIZE bytes, zeroed by the caller): its token counters and load.
export const CLD_NEXT: u32 = 0; //     u16 token of its next request
export const CLD_EXPECT: u32 = 2; //   u16 token its next answer must carry
export const CLD_IN_FLIGHT: u32 = 4; // u32 requests without an answer
export const CLD_SIZE: u32 = 8;
/** A GET_DEVICE_STATUS request is the 8-byte header alone. */
const REQUEST_SIZE: u32 = 8;

/**
 * Up to `passes` passes (answer as the device if `devIn` is not 0, read every answer, send),
 * returning early after a pass that moved nothing. Cursors as in ./round-trip.ts; `devs` the
 * per-device table. Returns the frames moved (0: the last pass found nothing to do).
 */
export function clRun(
  st: usize, devs: usize, tx: usize, rx: usize, devIn: usize, devOut: usize,
  first: u32, n: u32, outstanding: u32, burst: u32, passes: u32,
): u32 {
  let sent = load<u64>(st, CL_SENT);
  let good = load<u64>(st, CL_RESPONSES);
  let errors = load<u64>(st, CL_ERRORS);
  let rr = load<u32>(st, CL_RR);
  let moved: u32 = 0;
  // Both rings are walked as runs with their indices in locals (../ring/cursor.ts "producer
  // runs"): a peek and a release per answer, a reserve and a commit per request cost about 70
  // instructions more per round trip. Requests are committed every publishDue frames, so the
  // router sees them as soon as with a commit per frame.
  const rSlots = ringSlots(rx);
  const rStride = slotStride(rx);
  const rCap = ringCapacity(rx);
  const rMost = maxUnits(rx);
  const tSlots = ringSlots(tx);
  const tStride = slotStride(tx);
  const tCap = ringCapacity(tx);
  const tMost = maxUnits(tx);
  const qUnits = frameUnits(REQUEST_SIZE, tMost);
  for (let p: u32 = 0; p < passes; p++) {
    let progress: u32 = devIn != 0 ? echoSome(devIn, devOut, 4096) : 0;
    for (let avail = consumeAvailable(rx); avail != 0; avail = consumeAvailable(rx)) {
      // At most a publish batch per run: the freed room reaches the router as soon as with a
      // release per answer (a whole ring's run freed at its end would leave the router's
      // output looking full, and parking, meanwhile).
      const due = publishDue(rx);
      const lim = avail < due ? avail : due;
      let local = runStart(rx);
      let used: u32 = 0;
      while (used < lim) {
        const f = slotAt(rSlots, rStride, local);
        const w = load<u64>(f);
        const units = runFrameUnits(w, rMost, avail - used);
        const typeId = <u32>w & 0xffff;
        if (typeId != EVENT_DEVICE_TYPE_ID) {
          const i = (<u32>(w >> 16) & 0xffff) - first; // wraps above n for devices not ours
          const token = <u32>(w >> 32) & 0xffff;
          if (i < n) {
            const e = devs + <usize>i * CLD_SIZE;
            if (typeId != GET_DEVICE_STATUS_ANSWER || token != <u32>load<u16>(e, CLD_EXPECT)) errors++;
            else good++;
            store<u16>(e, <u16>(token + 1), CLD_EXPECT);
            store<u32>(e, load<u32>(e, CLD_IN_FLIGHT) - 1, CLD_IN_FLIGHT);
          } else errors++;
        }
        local = slotAfter(local, units, rCap);
        used += units;
        progress++;
      }
      consumeAdvance(rx, used);
    }
    let budget = burst;
    let oLocal = runStart(tx);
    let free = produceFreeSeen(tx);
    let due = publishDue(tx);
    let oUnits: u32 = 0; // written since the last produceAdvance
    let oFrames: u32 = 0;
    for (let k: u32 = 0; k < n && budget != 0; k++) {
      const i = rr;
      rr = rr + 1 == n ? 0 : rr + 1;
      const e = devs + <usize>i * CLD_SIZE;
      let inFlight = load<u32>(e, CLD_IN_FLIGHT);
      while (inFlight < outstanding && budget != 0) {
        if (free < tMost) {
          // Short of room as last seen: commit what is written, then look at the router's index.
          produceAdvance(tx, oUnits, oFrames);
          oUnits = 0;
          oFrames = 0;
          due = publishDue(tx);
          free = produceFreeNow(tx, tMost);
          if (free < tMost) { budget = 0; break; }
        }
        const token = <u32>load<u16>(e, CLD_NEXT);
        store<u16>(e, <u16>(token + 1), CLD_NEXT);
        store<u64>(slotAt(tSlots, tStride, oLocal), makeHeader(0, T_GET_DEVICE_STATUS, first + i, token, REQUEST_SIZE));
        oLocal = slotAfter(oLocal, qUnits, tCap);
        free -= qUnits;
        oUnits += qUnits;
        if (++oFrames == due) {
          produceAdvance(tx, oUnits, oFrames);
          oUnits = 0;
          oFrames = 0;
          due = publishDue(tx);
        }
        inFlight++;
        budget--;
        progress++;
        sent++;
      }
      store<u32>(e, inFlight, CLD_IN_FLIGHT);
    }
    produceAdvance(tx, oUnits, oFrames);
    cursorFlush(tx);
    moved += progress;
    if (progress == 0) break;
  }
  store<u64>(st, sent, CL_SENT);
  store<u64>(st, good, CL_RESPONSES);
  store<u64>(st, errors, CL_ERRORS);
  store<u32>(st, rr, CL_RR);
  return moved;
}
