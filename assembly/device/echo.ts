// The echo device's frame loop (the minimal benchmark device of src/device/echo.ts), in WASM
// so that a benchmark measures the router, not the device: every transport request is
// answered at once with a 12-byte response of the same id carrying the request's token
// (status word 0x0f), every EVENT_AVAIL becomes an EVENT_USED for the same queue, anything
// else is consumed and ignored. Works on any number of device numbers behind one link.
import {
  consumeAvailable, consumeAdvance, cursorFlush, runFrameUnits,
  runStart, ringSlots, slotStride, ringCapacity, maxUnits, slotAt, slotNext,
  produceFreeSeen, produceFreeNow, publishDue, produceAdvance,
} from '../ring/cursor';
import { makeHeader, TYPE_RESPONSE, MSG_ID_EVENT_BIT, T_EVENT_AVAIL, T_EVENT_USED } from '../header';

/** Every answer (a response, an EVENT_USED) is 12 bytes: one unit of a packed ring, or one slot (slots are >= 16 bytes). */
const ANSWER_SIZE: u32 = 12;

/** Answer up to `budget` frames from the `inCur` consumer cursor into the `outCur` producer cursor. Returns frames taken. */
export function echoSome(inCur: usize, outCur: usize, budget: u32): u32 {
  const avail = consumeAvailable(inCur); // slots (units, in a packed ring)
  const slots = ringSlots(inCur);
  const stride = slotStride(inCur);
  const cap = ringCapacity(inCur);
  const most = maxUnits(inCur);
  let local = runStart(inCur);
  let n: u32 = 0;
  let used: u32 = 0;
  // Both rings are walked as runs with their indices in locals (a reserve and a commit per
  // answer cost about 60 instructions more). The answers are written in stretches with no call
  // inside (a call makes the optimized loop keep its state in stack slots): each stretch ends
  // where the room last seen or the publish batch does, and is committed then, so the router
  // sees the answers as soon as with a commit per frame.
  const oSlots = ringSlots(outCur);
  const oStride = slotStride(outCur);
  const oCap = ringCapacity(outCur);
  const oMost = maxUnits(outCur);
  let oLocal = runStart(outCur);
  let free = produceFreeSeen(outCur);
  while (used < avail && n < budget) {
    // Answers this stretch may write: produceReserve's rule (maxUnits free) for each of them.
    if (free < oMost) {
      free = produceFreeNow(outCur, oMost);
      if (free < oMost) break; // our ring to the router is full: leave the rest for later
    }
    const room = free - oMost + 1;
    const due = publishDue(outCur);
    const lim = room < due ? room : due;
    let k: u32 = 0;
    while (used < avail && n < budget && k < lim) {
      const f = slotAt(slots, stride, local);
      const w = load<u64>(f);
      const units = runFrameUnits(w, most, avail - used);
      const type = <u32>w & 3;
      const id = <u32>(w >> 8) & 0xff;
      const dev = <u32>(w >> 16) & 0xffff;
      if (type == 0 && ((id & MSG_ID_EVENT_BIT) == 0 || id == T_EVENT_AVAIL)) {
        const out = slotAt(oSlots, oStride, oLocal);
        if ((id & MSG_ID_EVENT_BIT) == 0) {
          store<u64>(out, makeHeader(TYPE_RESPONSE, id, dev, <u32>(w >> 32) & 0xffff, ANSWER_SIZE));
          store<u32>(out, 0x0f, 8);
        } else {
          store<u64>(out, makeHeader(0, T_EVENT_USED, dev, 0, ANSWER_SIZE));
          store<u32>(out, load<u32>(f, 8), 8);
        }
        oLocal = slotNext(oLocal, oCap);
        k++;
      }
      local += units; // stepped in place: through slotAfter the optimizer makes this loop's wrap a select
      if (local >= cap) local -= cap;
      used += units;
      n++;
    }
    produceAdvance(outCur, k, k);
    free -= k;
  }
  consumeAdvance(inCur, used);
  cursorFlush(inCur);
  cursorFlush(outCur);
  return n;
}
