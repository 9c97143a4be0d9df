// Flood: several drivers to several devices — some answering out of order, one stalled, one
// never answering, one answering twice — and the accounting invariant at the end:
// every frame sent is delivered, dropped with a reason, or (for requests) failed; none in flight.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Router } from '../../src/router/router.js';
import { wasmModule } from '../../src/wasm/module.js';
import { startDeviceWorker } from './helpers.js';
import { waitQuiescent } from '../../src/router/accounting.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';

interface DriverReport {
  sent: number; sentEvents: number; responses: number; failures: number; eventsUsed: number;
  orderViolations: number; doubles: number; other: number; unresolved: number;
  perDev: Record<string, { sent: number; responses: number; failures: Record<string, number> }>;
}

interface PlanItem { dev: number; count: number; limit?: number }

function runDriver(link: LinkDescriptor, plan: PlanItem[], eventDev: number): Promise<DriverReport> {
  const w = new Worker(new URL('./workers/driver.mjs', import.meta.url), {
    workerData: { link, plan, eventDev, eventEvery: 10, module: wasmModule(), limitMs: 30_000 },
  });
  return new Promise((resolve, reject) => {
    w.once('message', (r: DriverReport) => { void w.terminate(); resolve(r); });
    w.once('error', reject);
  });
}

describe('router under a flood', () => {
  it('keeps order per device, answers or fails every request exactly once, and accounts for every frame', async () => {
    const router = await Router.create({ shards: 2, timeoutMs: 1000, window: 32, parkLimit: 16, spinBeforeSleep: 200 });
    try {
      const modes = { 1: 'echo', 2: 'reverse', 3: 'stall', 4: 'silent', 5: 'dup', 6: 'echo' } as const;
      const devWorkers = [];
      for (const [dev, mode] of Object.entries(modes)) {
        const link = await router.attachDevice({ devices: [Number(dev)], shard: Number(dev) % 2 });
        devWorkers.push({ dev: Number(dev), mode, worker: startDeviceWorker(link, mode, 4) });
      }
      // Answering devices get a flow-controlled load (3 drivers × 5 outstanding < window 32, so
      // requests never park and events to device 1 always find room); the stalled and silent
      // devices get more than window + park bound (32 + 16), without flow control.
      const plan: PlanItem[] = [
        { dev: 1, count: 4000, limit: 5 }, { dev: 2, count: 4000, limit: 5 }, { dev: 5, count: 4000, limit: 5 },
        { dev: 6, count: 4000, limit: 5 }, { dev: 3, count: 60 }, { dev: 4, count: 60 },
      ];
      const drivers = [await router.attachDriver({ shard: 0 }), await router.attachDriver({ shard: 1 }), await router.attachDriver({ shard: 0 })];
      const reports = await Promise.all(drivers.map((l) => runDriver(l, plan, 1)));
      // Nothing in flight or parked any more, and the counters still for a moment (stragglers
      // such as the dup device's second answers are counted by then).
      const st = await waitQuiescent(router);
      const devReports = await Promise.all(devWorkers.map(async (d) => ({ ...d, report: await d.worker.stop() })));

      for (const r of reports) {
        expect(r.orderViolations).toBe(0);
        expect(r.doubles).toBe(0);
        expect(r.other).toBe(0);
        expect(r.unresolved).toBe(0);
        expect(r.responses + r.failures).toBe(r.sent);
        // Devices that answer get every request through, whatever the stalled ones do.
        for (const dev of [1, 2, 5, 6]) {
          expect({ dev, failures: r.perDev[dev]!.failures }).toEqual({ dev, failures: {} });
          expect(r.perDev[dev]!.responses).toBe(r.perDev[dev]!.sent);
        }
        // The stalled and the silent device end in transport failures: timeout, or busy once
        // their queue (window + park bound) is full.
        for (const dev of [3, 4]) {
          expect(Object.keys(r.perDev[dev]!.failures).every((k) => k === '40' || k === '45')).toBe(true);
          expect(r.perDev[dev]!.responses).toBe(0);
        }
      }
      for (const dev of [3, 4]) {
        expect(reports.reduce((t, r) => t + (r.perDev[dev]!.failures['40'] ?? 0), 0)).toBeGreaterThan(0); // timeouts
        expect(reports.reduce((t, r) => t + (r.perDev[dev]!.failures['45'] ?? 0), 0)).toBeGreaterThan(0); // busy
      }
      // Router-side accounting, from its shared-memory counters.
      const drvStats = st.endpoints.filter((e) => e.kind === 'driver');
      for (let i = 0; i < drivers.length; i++) {
        const e = drvStats.find((x) => x.id === drivers[i]!.id)!;
        expect(e.rx).toBe(reports[i]!.sent + reports[i]!.sentEvents);
        expect(e.failures).toBe(reports[i]!.failures);
      }
      // EVENT_AVAIL merged into a queued one (coalesced) is the third outcome of a driver frame;
      // it happens when the echo device falls behind (a loaded machine).
      const forwarded = st.devices.reduce((t, d) => t + d.requests + d.eventsIn + d.coalesced, 0);
      const driverDrops = drvStats.reduce((t, e) => t + e.dropped, 0);
      expect(st.totals.parkedNow).toBe(0);
      expect(forwarded + driverDrops).toBe(drvStats.reduce((t, e) => t + e.rx, 0));
      expect(st.totals.inFlight).toBe(0);
      const responses = st.devices.reduce((t, d) => t + d.responses, 0);
      expect(responses).toBe(reports.reduce((t, r) => t + r.responses, 0));
      // Duplicates from the dup device are dropped and counted, one per answered request.
      const dup = devReports.find((d) => d.dev === 5)!;
      const dupEp = st.endpoints.find((e) => e.kind === 'device' && st.devices.find((d) => d.dev === 5)!.endpoint === e.id)!;
      expect(dupEp.drops.DUPLICATE_RESPONSE).toBe(dup.report.answered / 2);
      // Every EVENT_AVAIL to the echo device reached it, or was merged into a queued one for
      // the same virtqueue; each one it saw came back as EVENT_USED to some driver.
      const echo = devReports.find((d) => d.dev === 1)!;
      expect(reports.reduce((t, r) => t + r.eventsUsed, 0)).toBe(echo.report.events);
      const coalesced = st.devices.find((d) => d.dev === 1)!.coalesced;
      expect(echo.report.events + coalesced).toBe(reports.reduce((t, r) => t + r.sentEvents, 0));
      expect(st.totals.dropsByReason.DEVICE_BUSY ?? 0).toBe(reports.reduce((t, r) => t + (r.perDev[3]!.failures['45'] ?? 0) + (r.perDev[4]!.failures['45'] ?? 0), 0));
    } finally {
      await router.close();
    }
  });
});
