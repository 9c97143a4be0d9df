// Request latency per device (vmsg_device_request_duration_seconds), counted by the router's
// shards for any driver kind: here an in-process driver on shared-memory rings, which no
// bridge on the main thread sees. A device that answers after a known delay lands in the
// buckets at and above that delay; an answer held back for order counts the time until it was
// handed over; requests that end without an answer are not counted.
import { describe, it, expect } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { routerRegistry } from '../../src/ops/metrics.js';
import { REQUEST_LATENCY_METRIC, REQUEST_LATENCY_BUCKETS } from '../../src/ops/request-latency.js';
import { until, sleep } from '../helpers/wait.js';

const DELAY_MS = 30;

function request(dev: number, token: number): Uint8Array {
  return Uint8Array.from([0x00, 0x07, dev, 0x00, token & 0xff, token >> 8, 0x08, 0x00]); // GET_DEVICE_STATUS
}
function answer(req: Uint8Array): Uint8Array {
  const a = new Uint8Array(12);
  a.set(req.subarray(0, 6));
  a[0] = 0x01; a[6] = 12;
  return a;
}

/** The histogram of `device` from the exposition: cumulative bucket counts by bound, sum, count. */
function histogram(text: string, device: number): { buckets: [number, number][]; sum: number; count: number } {
  const buckets: [number, number][] = [];
  const re = new RegExp(`^${REQUEST_LATENCY_METRIC}_bucket\\{le="([^"]+)",device="${device}"\\} (\\d+)$`, 'gm');
  for (const m of text.matchAll(re)) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  const one = (suffix: string): number => Number(new RegExp(`^${REQUEST_LATENCY_METRIC}_${suffix}\\{device="${device}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
  return { buckets, sum: one('sum'), count: one('count') };
}

describe('request latency histogram', () => {
  it('counts every answered request of a shared-memory driver at its delay, in seconds', async () => {
    const router = await Router.create({ shards: 1, timeoutMs: 1500 });
    try {
      const drv = new EndpointPort(await router.attachDriver({ label: 'inproc:lat-driver' }));
      const dev = new EndpointPort(await router.attachDevice({ devices: [1, 2], label: 'inproc:lat-device' }));
      const got: Uint8Array[] = [];
      const take = (): void => { for (let f = drv.recv(); f !== null; f = drv.recv()) got.push(f.slice()); };
      await until(() => (take(), got.length >= 2), 'EVENT_DEVICE READY');
      got.length = 0;
      const pending = async (n: number): Promise<Uint8Array[]> => {
        const out: Uint8Array[] = [];
        await until(() => { for (let f = dev.recv(); f !== null; f = dev.recv()) out.push(f.slice()); return out.length >= n; }, `${n} requests at the device`);
        return out;
      };
      // Device 1: eight requests, each answered DELAY_MS after it reached the device (the delay
      // is the thing under test), then two answered in reverse order, so the later one's answer
      // waits in the router for the earlier one's.
      const rounds = 8;
      let token = 1;
      for (let i = 0; i < rounds; i++) {
        drv.send(request(1, token++)); drv.flush();
        const [req] = await pending(1);
        await sleep(DELAY_MS);
        dev.send(answer(req!)); dev.flush();
        await until(() => (take(), got.length >= i + 1), 'the answer');
      }
      drv.send(request(1, token++)); drv.send(request(1, token++)); drv.flush();
      const [first, second] = await pending(2);
      dev.send(answer(second!)); dev.flush(); // early: held for order
      await sleep(DELAY_MS);
      dev.send(answer(first!)); dev.flush();
      await until(() => (take(), got.length >= rounds + 2), 'both answers');
      // Device 2: one request nobody answers; it times out and is not a latency sample.
      drv.send(request(2, token++)); drv.flush();
      await pending(1);
      await until(() => (take(), got.length >= rounds + 3), 'the timeout failure event', 10_000);

      const text = await routerRegistry(router, { defaultMetrics: false }).metrics();
      const totals = router.deviceTotals();
      const h = histogram(text, 1);
      expect(h.count).toBe(rounds + 2);
      expect(h.count).toBe(totals.find((d) => d.dev === 1)!.responses);
      expect(h.buckets.map(([le]) => le)).toEqual([...REQUEST_LATENCY_BUCKETS, Infinity]);
      // Cumulative, so never decreasing, ending at the count.
      for (let i = 1; i < h.buckets.length; i++) expect(h.buckets[i]![1]).toBeGreaterThanOrEqual(h.buckets[i - 1]![1]);
      expect(h.buckets.at(-1)![1]).toBe(h.count);
      expect(totals.find((d) => d.dev === 1)!.held).toBe(1);
      // Every sample took about the delay: none longer than the request timeout, and at most one
      // in the buckets up to a third of it. The shard refreshes its clock every 64 passes and
      // after a sleep, so a shard descheduled for longer than the delay right after a refresh
      // (seen once on a machine at load 15) stamps one answer early; a broken clock would put
      // them all there.
      const below = h.buckets.filter(([le]) => le <= DELAY_MS / 3 / 1000);
      expect(below.length).toBeGreaterThan(5);
      expect(below.at(-1)![1]).toBeLessThanOrEqual(1);
      expect(h.buckets.find(([le]) => le >= 1.5)![1]).toBe(h.count);
      expect(h.sum / h.count).toBeGreaterThan(DELAY_MS / 2 / 1000);
      expect(h.sum / h.count).toBeLessThan(1.5);
      // Device 2: one failure, no sample, and its series are there at zero.
      expect(totals.find((d) => d.dev === 2)!.failed).toBe(1);
      expect(histogram(text, 2).count).toBe(0);
      expect(histogram(text, 2).buckets).toHaveLength(REQUEST_LATENCY_BUCKETS.length + 1);
    } finally {
      await router.close();
    }
  });
});
