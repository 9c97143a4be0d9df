// A driver that sleeps waiting for an answer is woken by the answer, not by the router taking its
// request out of the ring: a consumer's publish rings a sleeping producer only when the ring was
// short of room (assembly/ring/cursor.ts CURF_FREES). Real router (one shard, sleeping at once
// when idle, so the driver is asleep by the time the shard consumes), the built-in echo device in
// a worker thread, the driver's EndpointPort in this thread; the proof is the driver's count of
// sleeps (Doorbell.sleeps): one per round trip at most. Ringing on every consumer publish made it
// two: woken when the request was consumed, nothing to read, asleep again until the answer.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { frame } from '../../src/client/exchange.js';
import { TYPE_RESPONSE, T_GET_DEVICE_STATUS } from '../../src/protocol/constants.js';
import { wasmModule } from '../../src/wasm/module.js';
import { compiledModule } from '../../src/util/paths.js';

const ROUND_TRIPS = 300;
let router: Router;
let deviceLink: LinkDescriptor;
let echo: Worker;
const stop = new SharedArrayBuffer(4);

beforeAll(async () => {
  router = await Router.create({ shards: 1, spinBeforeSleep: 0, timeoutMs: 10_000 });
  deviceLink = await router.attachDevice({ devices: [1] });
  echo = new Worker(compiledModule('device/echo-worker.js'), {
    workerData: { link: deviceLink, module: wasmModule(), stop, counters: new SharedArrayBuffer(8), spinBeforeSleep: 0 },
  });
});

afterAll(async () => {
  Atomics.store(new Int32Array(stop), 0, 1);
  Atomics.notify(new Int32Array(deviceLink.memory.buffer), deviceLink.bell >>> 2);
  await echo?.terminate();
  await router?.close();
});

test(`a driver waiting for answers sleeps at most once per round trip (${ROUND_TRIPS} one at a time)`, async () => {
  const port = new EndpointPort(await router.attachDriver(), { spinBeforeSleep: 0 });
  try {
    // The answer to request `token`, skipping anything else (device announcements).
    const answer = (token: number): void => {
      for (;;) {
        const f = port.recv();
        if (f === null) {
          if (!port.wait(5000)) throw new Error(`no answer to request ${token} in 5 s`);
          continue;
        }
        if (f[0] === TYPE_RESPONSE && f[1] === T_GET_DEVICE_STATUS && (f[4]! | (f[5]! << 8)) === token) return;
      }
    };
    // Warm-up: the device is up and answering.
    expect(port.send(frame(0, T_GET_DEVICE_STATUS, 1, 0))).toBe(true);
    port.flush();
    answer(0);
    const before = port.bell.sleeps;
    for (let token = 1; token <= ROUND_TRIPS; token++) {
      expect(port.send(frame(0, T_GET_DEVICE_STATUS, 1, token))).toBe(true);
      port.flush();
      answer(token);
    }
    const sleeps = port.bell.sleeps - before;
    console.log(`driver sleeps: ${sleeps} in ${ROUND_TRIPS} round trips`);
    // Each round trip's wait ends with its answer; a wake-up for the consumed request would be a second sleep.
    expect(sleeps).toBeGreaterThan(ROUND_TRIPS / 2); // the driver did sleep for its answers
    expect(sleeps).toBeLessThanOrEqual(ROUND_TRIPS);
  } finally {
    port.close();
  }
}, 60_000);
