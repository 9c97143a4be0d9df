// Fair scheduling across ingress rings (docs/RELIABILITY.md, isolation): a shard visits its sources
// round-robin and takes at most `sourceBudget` frames per visit, so one endpoint flooding the
// router cannot starve the others. Measured on the order in which a device receives the frames
// of a flooding driver and a light one (the device's ring is the router's output order).
import { describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { NR_PROD_INDEX, NR_SLOTS, NR_SLOT_SIZE, NR_CONS_BELL } from '../../src/ring/native.js';
import { sleep, until } from './helpers.js';
import { DOORBELL_ASLEEP } from '../../src/wait/doorbell.js';

/** Write `n` EVENT_AVAIL frames (vq `vq`, next_offset = sequence) into the link's ring without publishing them. */
function stage(link: LinkDescriptor, vq: number, n: number): number {
  const u32 = new Uint32Array(link.memory.buffer);
  const stride = u32[(link.toRouter + NR_SLOT_SIZE) >>> 2]!;
  const dv = new DataView(link.memory.buffer);
  for (let i = 0; i < n; i++) {
    const f = link.toRouter + NR_SLOTS + i * stride;
    dv.setUint32(f, 0x00014100, true); // type 0, EVENT_AVAIL, dev_num 1
    dv.setUint32(f + 4, 0x00100000, true); // token 0, msg_size 16
    dv.setUint32(f + 8, vq, true);
    dv.setUint32(f + 12, i, true);
  }
  return n; // the producer index that publishes them all
}

describe('fair scheduling across ingress rings', () => {
  /**
   * One experiment: stage both backlogs unpublished, publish them back to back while the shard
   * sleeps (spinBeforeSleep 0: it looks again within 5 ms or when rung), and return the order
   * in which the device received the frames (1 = flooder, 2 = light).
   */
  async function race(flood: number, light: number, sourceBudget: number): Promise<number[]> {
    const router = await Router.create({ shards: 1, sourceBudget, ringCapacity: 16384, spinBeforeSleep: 0 });
    try {
      const flooder = await router.attachDriver();
      const lightLink = await router.attachDriver();
      const device = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await until(() => Atomics.load(router.mem.i32, router.tables.bell(0) >>> 2) === DOORBELL_ASLEEP, 'the shard asleep');
      const mem = new Uint32Array(flooder.memory.buffer);
      const floodEnd = stage(flooder, 1, flood);
      const lightEnd = stage(lightLink, 2, light);
      Atomics.store(mem, (flooder.toRouter + NR_PROD_INDEX) >>> 2, floodEnd);
      Atomics.store(mem, (lightLink.toRouter + NR_PROD_INDEX) >>> 2, lightEnd);
      const bell = mem[(flooder.toRouter + NR_CONS_BELL) >>> 2]!;
      Atomics.store(new Int32Array(flooder.memory.buffer), bell >>> 2, 0);
      Atomics.notify(new Int32Array(flooder.memory.buffer), bell >>> 2);
      const order: number[] = [];
      const deadline = Date.now() + 20_000;
      while (order.length < flood + light && Date.now() < deadline) {
        const f = device.peek();
        if (f === 0) { await sleep(1); continue; }
        order.push(device.dv.getUint32(f + 8, true));
        device.release();
      }
      return order;
    } finally {
      await router.close();
    }
  }

  it('a flooding driver cannot starve a light one: while both have frames queued they alternate, at most sourceBudget frames per turn', async () => {
    const sourceBudget = 64;
    const flood = 8000;
    const light = 800;
    // The two publications race the shard only if this thread is preempted between them; then
    // the light driver's frames show up late and the experiment is run again.
    let order: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      order = await race(flood, light, sourceBudget);
      if (order.indexOf(2) < flood / 2) break;
    }
    expect(order.length).toBe(flood + light);
    const first = order.indexOf(2);
    const last = order.lastIndexOf(2);
    // The light driver's frames appeared while the flooder still had most of its backlog.
    expect(first).toBeLessThan(flood / 2);
    let longestFloodRun = 0;
    let longestLightRun = 0;
    for (let i = first, run = 0, who = 0; i <= last; i++) {
      run = order[i] === who ? run + 1 : 1;
      who = order[i]!;
      if (who === 1) longestFloodRun = Math.max(longestFloodRun, run);
      else longestLightRun = Math.max(longestLightRun, run);
    }
    const window = order.slice(first, last + 1);
    const lightShare = window.filter((x) => x === 2).length / window.length;
    console.log(`fairness: flooder ${flood} frames, light ${light}; while both were queued the light driver got ${(lightShare * 100).toFixed(1)} % ` +
      `of the frames routed (longest flooder run ${longestFloodRun}, light run ${longestLightRun}, budget ${sourceBudget}); ` +
      `its last frame left after ${last + 1} frames (${((last + 1) / (flood + light) * 100).toFixed(1)} % of the total)`);
    expect(longestFloodRun).toBeLessThanOrEqual(sourceBudget);
    expect(longestLightRun).toBeLessThanOrEqual(sourceBudget);
    expect(lightShare).toBeGreaterThan(0.45);
    expect(lightShare).toBeLessThan(0.55);
  });
});
