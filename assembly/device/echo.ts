// The echo device's frame loop (the minimal benchmark device of src/device/echo.ts), in WASM
// so that a benchmark measures the router, not the device: every transport request is
// answered at once with a 12-byte response of the same id carrying the request's token
// (status word 0x0f), every EVENT_AVAIL becomes an EVENT_USED for the same queue, anything
// else is consumed and ignored. Works on any number of device numbers behind one link.
import {
  consumeAvailable, consumeAdvance, cursorFlush, produceReserve, produceCommit, frameUnits,
  runStart, ringSlots, slotStride, ringCapacity, maxUnits, slotAt,
} from '../ring/cursor';
import { makeHeader, TYPE_RESPONSE, MSG_ID_EVENT_BIT, T_EVENT_AVAIL, T_EVENT_USED } from '../header';

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
  while (used < avail && n < budget) {
    const f = slotAt(slots, stride, local);
    const w = load<u64>(f);
    let units: u32 = 1;
    if (most > 1) {
      units = frameUnits(<u32>(w >> 48), most);
      if (units > avail - used) units = avail - used;
    }
    const type = <u32>w & 3;
    const id = <u32>(w >> 8) & 0xff;
    const dev = <u32>(w >> 16) & 0xffff;
    if (type == 0 && ((id & MSG_ID_EVENT_BIT) == 0 || id == T_EVENT_AVAIL)) {
      const out = produceReserve(outCur);
      if (out == 0) break; // our ring to the router is full: leave the rest for later
      if ((id & MSG_ID_EVENT_BIT) == 0) {
        store<u64>(out, makeHeader(TYPE_RESPONSE, id, dev, <u32>(w >> 32) & 0xffff, 12));
        store<u32>(out, 0x0f, 8);
      } else {
        store<u64>(out, makeHeader(0, T_EVENT_USED, dev, 0, 12));
        store<u32>(out, load<u32>(f, 8), 8);
      }
      produceCommit(outCur);
    }
    local += units; // stepped in place: through slotAfter the optimizer makes this loop's wrap a select
    if (local >= cap) local -= cap;
    used += units;
    n++;
  }
  consumeAdvance(inCur, used);
  cursorFlush(inCur);
  cursorFlush(outCur);
  return n;
}
