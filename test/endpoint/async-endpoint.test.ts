// The event-loop endpoint of the SDKs (src/endpoint/async-endpoint.ts): frames never block the
// sender — what does not fit waits in an outbox, in order — and a virtqueue event still waiting
// there absorbs another for the same queue; and the oob doorbells (src/endpoint/oob-doorbell.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { AsyncEndpoint, queueEventKey } from '../../src/endpoint/async-endpoint.js';
import { initOobDoorbells, OobDoorbell, OOB_AREA_BYTES, OOB_ALIGN } from '../../src/endpoint/oob-doorbell.js';
import { encode } from '../../src/protocol/codec.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { runWorker } from '../ring/run-worker.js';
import { checkNativeRing, NR_CONS_CURSOR } from '../../src/ring/native.js';
import { wasmModule } from '../../src/wasm/module.js';
import { writeMessage } from '../ring/workers/ring-side.mjs';

const used = (vq: number) => encode({ message: 'EVENT_USED', response: false, dev_num: 5, token: 0, vq_index: vq });

describe('AsyncEndpoint outbox', () => {
  let router: Router;
  let link: LinkDescriptor;
  beforeAll(async () => {
    router = await Router.create({ shards: 1, ringCapacity: 3, packedRings: false, spinBeforeSleep: 0 });
    link = await router.attachDevice({ devices: [5] });
    await router.close(); // nobody drains the ring any more: it stays full
  });
  afterAll(async () => {
    await router.close();
  });

  it('a full ring never blocks the sender: frames wait in the outbox in order; a queued event absorbs the same event', () => {
    const ep = new AsyncEndpoint(link);
    ep.send(used(0), queueEventKey(5, 0x42, 0));
    ep.send(used(1), queueEventKey(5, 0x42, 1)); // the ring (3 slots) holds 2 frames
    expect(ep.counters).toMatchObject({ framesOut: 2, queueFull: 0 });
    ep.send(used(0), queueEventKey(5, 0x42, 0)); // waits: its twin is in the ring, not the outbox
    ep.send(used(2), queueEventKey(5, 0x42, 2));
    ep.send(used(0), queueEventKey(5, 0x42, 0)); // merged into the one waiting
    ep.send(used(2), queueEventKey(5, 0x42, 2)); // merged
    ep.send(used(3)); // no key: never merged
    ep.send(used(3));
    expect(ep.pending).toBe(4);
    expect(ep.counters).toMatchObject({ framesOut: 2, queueFull: 1, merged: 2 });
    expect(ep.flush()).toBe(0); // still full
    expect(ep.pending).toBe(4);
  });
});

describe('AsyncEndpoint waiting for room', () => {
  it('an outbox behind a full ring drains as a slow consumer frees room: the loop sleeps for room and is always woken', async () => {
    const router = await Router.create({ shards: 1, ringCapacity: 3, packedRings: false, spinBeforeSleep: 0 });
    const link = await router.attachDevice({ devices: [6] });
    await router.close(); // the ring to the router is ours to drain, from another thread
    const COUNT = 2000;
    // Sleeps long enough that a lost wake-up would outlast the test.
    const ep = new AsyncEndpoint(link, { spinBeforeSleep: 0, maxSleepMs: 60_000 });
    const { worker: consumer, done } = runWorker('slow-consumer.mjs', {
      memory: link.memory, module: wasmModule(), layout: 'native', view: 'wasm', cursor: link.toRouter + NR_CONS_CURSOR,
      ownBell: checkNativeRing(link.memory.buffer as SharedArrayBuffer, link.toRouter).consumerBell, stride: 64, count: COUNT, spins: 0, waitMs: 60_000,
    });
    try {
      const f = new Uint8Array(64);
      for (let i = 0; i < COUNT; i++) {
        writeMessage(f, 0, i, 64);
        ep.send(f.slice(0, f[6]! | (f[7]! << 8)));
      }
      expect(ep.pending).toBeGreaterThan(COUNT - 3);
      await ep.run(() => ep.flush(), () => false, () => ep.pending === 0);
      const c = await done;
      expect(c).toMatchObject({ received: COUNT, errors: 0, firstError: null, lost: 0 });
      expect(ep.counters.framesOut).toBe(COUNT);
      expect(ep.counters.sleeps).toBeGreaterThan(0); // it did sleep for room
    } finally {
      await consumer.terminate();
      ep.port.close();
    }
  }, 30_000);
});

describe('oob doorbells', () => {
  it('each signal is seen by the peer; signals before it looks merge into one event per queue', () => {
    const buffer = new SharedArrayBuffer(4096);
    initOobDoorbells(buffer, 64, 4, 1024, 1088);
    const driver = new OobDoorbell(buffer, 64, 'driver');
    const device = new OobDoorbell(buffer, 64, 'device');
    expect(device.pending()).toBe(false);
    driver.signal(1);
    driver.signal(1);
    driver.signal(3);
    expect(device.pending()).toBe(true);
    const seen: number[] = [];
    expect(device.take((q) => seen.push(q))).toBe(2);
    expect(seen).toEqual([1, 3]);
    expect(device.pending()).toBe(false);
    expect(driver.pending()).toBe(false); // the driver's own signals are not events for it
    device.signal(0);
    expect(driver.take((q) => seen.push(q))).toBe(1);
    expect(seen).toEqual([1, 3, 0]);
    // The doorbell rang: the peer's bell word was set AWAKE (0) after being ASLEEP (1).
    const i32 = new Int32Array(buffer);
    Atomics.store(i32, 1024 >> 2, 1);
    driver.signal(2);
    expect(Atomics.load(i32, 1024 >> 2)).toBe(0);
  });

  it('a wrong area is refused with the rule and the fix', () => {
    const buffer = new SharedArrayBuffer(4096);
    expect(() => initOobDoorbells(buffer, 65, 1, 0, 0)).toThrow(/64-aligned/);
    expect(() => initOobDoorbells(buffer, 64, 17, 0, 0)).toThrow(/1 to 16 virtqueues, got 17/);
    expect(() => new OobDoorbell(buffer, 128, 'device')).toThrow(/create it with initOobDoorbells/);
    expect(OOB_AREA_BYTES % OOB_ALIGN).toBe(0);
  });
});
