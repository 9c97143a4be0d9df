// One side of test/wait/fence.test.ts. The producer publishes one frame, waits until the
// consumer has taken it (an ack word), waits a random few microseconds and publishes the next,
// so the consumer is often right in the middle of going to sleep when a frame is published.
// The consumer sleeps on its doorbell after a few polls; a wake-up that is lost leaves it asleep
// for its whole timeout with a frame waiting (and the producer waiting for the ack): counted.
// With `toggleBusy` the consumer busy-polls (DOORBELL_BUSY_POLL, so a relaxed producer publishes
// with plain stores) for every other frame and leaves busy-poll right before the next sleep:
// the transition the exit fence is for. `fence: false` leaves busy-poll without the fence (an
// experiment, not part of the test).
import { parentPort, workerData as d } from 'node:worker_threads';
import { nativeConsumer, nativeProducer } from '../../../dist/src/ring/native.js';
import { instantiate } from '../../../dist/src/wasm/module.js';
import { Doorbell, DOORBELL_AWAKE } from '../../../dist/src/wait/doorbell.js';
import { SpinThenSleep } from '../../../dist/src/wait/idle-strategy.js';

const buf = d.memory.buffer;
const u32 = new Uint32Array(buf);
const i32 = new Int32Array(buf);
// What the ring views use of a SharedMemory: this thread's views and hot-path instance.
const mem = { buffer: buf, u8: new Uint8Array(buf), u16: new Uint16Array(buf), u32, wasm: instantiate(d.memory) };
if (d.side === 'producer') {
  const ring = nativeProducer(mem, d.base);
  let seed = 12345;
  for (let i = 0; i < d.count; i++) {
    while (Atomics.load(u32, d.ack >>> 2) !== i);
    let slot;
    while ((slot = ring.reserve()) < 0);
    u32[slot >>> 2] = 0x07 << 8; // GET_DEVICE_STATUS request header, dev 0
    u32[(slot >>> 2) + 1] = 12 << 16; // msg_size 12
    u32[(slot >>> 2) + 2] = i;
    ring.commit(); // batch 1: publishes (plain or seq-cst, as the ring and the bell say) and rings
    seed = (seed * 1103515245 + 12345) >>> 0;
    const until = performance.now() + ((seed >>> 16) % d.maxGapUs) / 1000;
    while (performance.now() < until);
  }
  parentPort.postMessage({ sent: d.count });
} else {
  const ring = nativeConsumer(mem, d.base);
  const bell = new Doorbell(buf, d.bell);
  const idle = new SpinThenSleep(d.spins);
  const at = d.bell >>> 2;
  let expected = 0;
  let lost = 0;
  let wrong = 0;
  let busyPhases = 0;
  let busy = false;
  const poll = () => ring.peek() >= 0;
  while (expected < d.count) {
    const slot = ring.peek();
    if (slot >= 0) {
      if (u32[(slot >>> 2) + 2] !== expected) wrong++;
      expected++;
      ring.release();
      if (d.toggleBusy && expected % 2 === 1) busy = bell.enterBusyPoll();
      if (busy) busyPhases++;
      Atomics.store(u32, d.ack >>> 2, expected);
      continue;
    }
    if (busy) {
      // Leave busy-poll now that we are idle: from here on we may sleep.
      if (d.fence) bell.leaveBusyPoll();
      else Atomics.store(i32, at, DOORBELL_AWAKE);
      busy = false;
    }
    const t0 = performance.now();
    idle.waitFor(bell, poll, d.sleepMs);
    if (performance.now() - t0 >= d.sleepMs * 0.9 && poll()) lost++;
  }
  parentPort.postMessage({ received: expected, wrong, lost, sleeps: bell.sleeps, busyPhases });
}
