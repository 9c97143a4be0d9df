// Producer thread for test/ring/threads.test.ts: sends messages 0..count-1 into the ring (written
// in place in the slot, or built privately and copied by tryPush), optionally pausing now and
// then so the consumer falls asleep on its doorbell, and sleeping on its own doorbell when full.
import { parentPort, workerData as d } from 'node:worker_threads';
import { Doorbell } from '../../../dist/src/wait/doorbell.js';
import { SpinThenSleep } from '../../../dist/src/wait/idle-strategy.js';
import { openRingSide, writeMessage } from './ring-side.mjs';

const ring = openRingSide({ ...d, side: 'producer' });
const u8 = new Uint8Array(d.memory.buffer);
const bell = d.ownBell ? new Doorbell(d.memory.buffer, d.ownBell) : null;
const idle = new SpinThenSleep(2000);
const frame = new Uint8Array(d.stride);
const pause = new Int32Array(new SharedArrayBuffer(4));
// Busy-polling sides give the CPU away briefly now and then: on a machine with more runnable
// threads than cores a spinning side would otherwise burn the time slice its peer needs.
const YIELD_AFTER = 10_000;
let fullWaits = 0;
let stalledSince = 0;
let seq = 0;
let built = -1; // frame mode: the private frame holds message `built`
const t0 = performance.now();
while (seq < d.count) {
  let ok;
  if (d.copy === 'frame') {
    if (built !== seq) writeMessage(frame, 0, (built = seq), d.stride);
    ok = ring.push(frame);
  } else {
    const slot = ring.reserve();
    ok = slot >= 0;
    if (ok) {
      writeMessage(u8, slot, seq, d.stride);
      ring.commit();
    }
  }
  if (ok) {
    seq++;
    stalledSince = 0;
    if (d.pauseEvery && seq % d.pauseEvery === 0) {
      ring.flush(); // everything visible before going quiet
      Atomics.wait(pause, 0, 0, d.pauseMs);
    }
    continue;
  }
  fullWaits++;
  if (stalledSince === 0) stalledSince = Date.now();
  else if ((fullWaits & 0xfff) === 0 && Date.now() - stalledSince > 15000) break; // consumer gone: report, do not hang
  if (bell) idle.waitFor(bell, () => ring.reserve() >= 0, 100);
  else if (fullWaits % YIELD_AFTER === 0) Atomics.wait(pause, 0, 0, 0.05);
}
ring.flush();
parentPort.postMessage({ sent: seq, ms: performance.now() - t0, fullWaits, sleeps: bell ? bell.sleeps : 0 });
