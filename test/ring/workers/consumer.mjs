// Consumer thread for test/ring/threads.test.ts: expects messages 0..count-1 in order, each with
// the right msg_size, sequence number and checksum (read in place, or copied out by tryPop);
// sleeps on its doorbell when the ring is empty if it has one.
import { parentPort, workerData as d } from 'node:worker_threads';
import { Doorbell } from '../../../dist/src/wait/doorbell.js';
import { SpinThenSleep } from '../../../dist/src/wait/idle-strategy.js';
import { checkMessage, openRingSide } from './ring-side.mjs';

const ring = openRingSide({ ...d, side: 'consumer' });
const u8 = new Uint8Array(d.memory.buffer);
const bell = d.ownBell ? new Doorbell(d.memory.buffer, d.ownBell) : null;
const idle = new SpinThenSleep(2000);
const into = new Uint8Array(d.stride);
// Busy-polling sides give the CPU away briefly now and then (see producer.mjs).
const YIELD_AFTER = 10_000;
const pause = new Int32Array(new SharedArrayBuffer(4));
let expected = 0;
let errors = 0;
let firstError = null;
let emptyPolls = 0;
let idleSince = Date.now();
let t0 = 0;
while (expected < d.count) {
  let bad;
  if (d.copy === 'frame') {
    const f = ring.pop(into);
    if (f === null) bad = undefined;
    else bad = checkMessage(f, 0, expected, d.stride);
  } else {
    const slot = ring.peek();
    if (slot < 0) bad = undefined;
    else {
      bad = checkMessage(u8, slot, expected, d.stride);
      ring.release();
    }
  }
  if (bad !== undefined) {
    if (expected === 0) t0 = performance.now();
    if (bad !== null && errors++ === 0) firstError = bad;
    expected++;
    idleSince = 0;
    continue;
  }
  emptyPolls++;
  if (idleSince === 0) idleSince = Date.now();
  else if ((emptyPolls & 0xfff) === 0 && Date.now() - idleSince > 15000) break; // producer gone: report, do not hang
  if (bell) idle.waitFor(bell, () => ring.peek() >= 0, 100);
  else if (emptyPolls % YIELD_AFTER === 0) Atomics.wait(pause, 0, 0, 0.05);
}
ring.flush();
parentPort.postMessage({ received: expected, errors, firstError, ms: performance.now() - t0, sleeps: bell ? bell.sleeps : 0, faults: ring.faults ? ring.faults() : 0 });
