// Consumer thread for test/ring/room-wake.test.ts: checks messages 0..count-1 in order, holding
// each slot for a varying few microseconds before releasing it (so the producer, short of room,
// falls asleep around the release), and sleeping on its own doorbell when the ring is empty.
import { parentPort, workerData as d } from 'node:worker_threads';
import { Doorbell } from '../../../dist/src/wait/doorbell.js';
import { SpinThenSleep } from '../../../dist/src/wait/idle-strategy.js';
import { checkMessage, openRingSide } from './ring-side.mjs';

const ring = openRingSide({ ...d, side: 'consumer' });
const u8 = new Uint8Array(d.memory.buffer);
const bell = new Doorbell(d.memory.buffer, d.ownBell);
const idle = new SpinThenSleep(d.spins);
const hasFrame = () => ring.peek() >= 0;
let expected = 0;
let errors = 0;
let firstError = null;
let lost = 0;
while (expected < d.count && lost < 3) {
  const slot = ring.peek();
  if (slot < 0) {
    if (!idle.waitFor(bell, hasFrame, d.waitMs)) lost++;
    continue;
  }
  const bad = checkMessage(u8, slot, expected, d.stride);
  if (bad !== null && errors++ === 0) firstError = bad;
  // Hold the slot 0-15 us (varying with the sequence number) before giving it back.
  const until = performance.now() + ((expected * 7) % 16) / 1000;
  while (performance.now() < until);
  ring.release();
  expected++;
}
ring.flush();
parentPort.postMessage({ received: expected, errors, firstError, lost, sleeps: bell.sleeps });
