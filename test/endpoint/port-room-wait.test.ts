// EndpointPort.wait after a send found the ring full: the router's consumer rings a sleeping
// producer only for room that producer lacked (CURF_FREES), so a sender whose room came back
// just before it slept must see that room in wait()'s own look, not sleep its whole timeout.
import { describe, expect, it } from 'vitest';
import { runWorker } from '../ring/run-worker.js';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { checkNativeRing, NR_CONS_CURSOR } from '../../src/ring/native.js';
import { wasmModule } from '../../src/wasm/module.js';
import { writeMessage } from '../ring/workers/ring-side.mjs';

describe('EndpointPort.wait after a full ring', () => {
  it('a sender looping send/wait behind a slow consumer is always woken (a lost wake-up would outlast the test)', async () => {
    const router = await Router.create({ shards: 1, ringCapacity: 3, packedRings: false, spinBeforeSleep: 0 });
    const link = await router.attachDevice({ devices: [7] });
    await router.close(); // the ring to the router is ours to drain, from another thread
    const COUNT = 2000;
    const port = new EndpointPort(link, { spinBeforeSleep: 0 });
    const { worker: consumer, done } = runWorker('slow-consumer.mjs', {
      memory: link.memory, module: wasmModule(), layout: 'native', view: 'wasm', cursor: link.toRouter + NR_CONS_CURSOR,
      ownBell: checkNativeRing(link.memory.buffer as SharedArrayBuffer, link.toRouter).consumerBell, stride: 64, count: COUNT, spins: 0, waitMs: 60_000,
    });
    try {
      const f = new Uint8Array(64);
      let waits = 0;
      for (let i = 0; i < COUNT; i++) {
        writeMessage(f, 0, i, 64);
        const frame = f.slice(0, f[6]! | (f[7]! << 8));
        while (!port.send(frame)) {
          port.flush();
          waits++;
          // 60 s: only a wake-up (or the look finding room) ends it in time.
          expect(await port.waitAsync(60_000)).toBe(true);
        }
        port.flush();
      }
      const c = await done;
      expect(c).toMatchObject({ received: COUNT, errors: 0, firstError: null, lost: 0 });
      expect(waits).toBeGreaterThan(0); // the ring of 3 did fill
    } finally {
      await consumer.terminate();
      port.close();
    }
  }, 120_000);
});
