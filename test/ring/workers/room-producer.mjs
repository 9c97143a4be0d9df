// Producer thread for test/ring/room-wake.test.ts: sends messages 0..count-1 into a tiny ring
// and, whenever it is full, sleeps on its doorbell until a look finds room. Each sleep may last
// up to `waitMs`: a wait that ends without room is a wake-up the consumer owed and lost.
import { parentPort, workerData as d } from 'node:worker_threads';
import { Doorbell } from '../../../dist/src/wait/doorbell.js';
import { SpinThenSleep } from '../../../dist/src/wait/idle-strategy.js';
import { openRingSide, writeMessage } from './ring-side.mjs';

const ring = openRingSide({ ...d, side: 'producer' });
const u8 = new Uint8Array(d.memory.buffer);
const bell = new Doorbell(d.memory.buffer, d.ownBell);
const idle = new SpinThenSleep(d.spins);
const hasRoom = () => ring.reserve() >= 0;
let fullWaits = 0;
let lost = 0;
let seq = 0;
while (seq < d.count && lost < 3) {
  const slot = ring.reserve();
  if (slot >= 0) {
    writeMessage(u8, slot, seq++, d.stride);
    ring.commit();
    continue;
  }
  fullWaits++;
  // reserve() published everything before reporting the ring full: the consumer can see it all.
  if (!idle.waitFor(bell, hasRoom, d.waitMs)) lost++;
}
ring.flush();
parentPort.postMessage({ sent: seq, fullWaits, lost, sleeps: bell.sleeps });
