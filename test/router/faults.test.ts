// Faults (docs/RELIABILITY.md "Faults"): a device worker killed with requests in flight, a
// driver gone or no longer draining with responses pending, shard worker crashes under load,
// wall-clock jumps. Each ends in its documented outcome, and the router's accounting invariant
// (src/router/accounting.ts) holds exactly once it is quiescent.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Router } from '../../src/router/router.js';
import { injectShardCrash, injectWallClockJump, waitRestarts } from '../../src/router/test-hooks.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { checkAccounting, accountingViolations, waitQuiescent } from '../../src/router/accounting.js';
import type { RouterStats } from '../../src/router/stats.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { compiledModule } from '../../src/util/paths.js';
import { wasmModule } from '../../src/wasm/module.js';
import { startDeviceWorker, receive, silence, failureEvent, sleep, until, hex } from './helpers.js';
import { Reason } from '../../src/protocol/reasons.js';

const R = { UNVALIDATED_DEV_NUM: 10, DEVICE_REMOVED: 38, TIMEOUT: 40, SHARD_RESTARTED: 44, DEVICE_BUSY: 45 };
const SHARDS = Math.min(2, availableParallelism());

async function expectExactAccounting(router: Router): Promise<RouterStats> {
  const st = await waitQuiescent(router, 15_000);
  expect(accountingViolations(checkAccounting(st))).toEqual([]);
  return st;
}

/** GET_DEVICE_STATUS to `dev` with driver token `token`. */
const statusReq = (dev: number, token: number): Uint8Array => Uint8Array.from([0, 7, dev & 0xff, dev >> 8, token & 0xff, token >> 8, 8, 0]);
const statusResp = (dev: number, token: number): Uint8Array => Uint8Array.from([1, 7, dev & 0xff, dev >> 8, token & 0xff, token >> 8, 12, 0, 0x0f, 0, 0, 0]);

interface PacedReport {
  sent: number; unexpected: number; outOfOrder: number; open: number;
  devices: Record<string, { responses: number; failures: Record<string, number>; maxLatencyMs: number; maxGapMs: number; open: number }>;
}

/** test/router/workers/paced-driver.mjs: `outstanding` requests in flight per device, timed. */
function startPacedDriver(link: LinkDescriptor, devices: number[], outstanding: number): { worker: Worker; stop(): Promise<PacedReport> } {
  const stopBuffer = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('./workers/paced-driver.mjs', import.meta.url), {
    workerData: { link, module: wasmModule(), devices, outstanding, stopBuffer },
  });
  const report = new Promise<PacedReport>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    worker,
    async stop() {
      Atomics.store(new Int32Array(stopBuffer), 0, 1);
      const r = await report;
      await worker.terminate();
      return r;
    },
  };
}

/** The package's echo device (src/device/echo-worker.ts) in a worker thread. */
function startEcho(link: LinkDescriptor): { worker: Worker; stop(): Promise<void> } {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(compiledModule('device/echo-worker.js'), {
    workerData: { link, module: wasmModule(), stop, counters: new SharedArrayBuffer(8), spinBeforeSleep: 200 },
  });
  const done = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    worker,
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
      await Promise.race([done, sleep(2000).then(() => worker.terminate())]);
    },
  };
}

/** Wait until every device of the router has answered more than `after[dev]` requests (worker threads can take a second to start on a loaded machine). */
async function answering(router: Router, devs: number[], after: Record<number, number> = {}): Promise<Record<number, number>> {
  const now = (): Record<number, number> => Object.fromEntries(devs.map((d) => [d, router.stats().devices.find((x) => x.dev === d)?.responses ?? 0]));
  await until(() => { const n = now(); return devs.every((d) => n[d]! > (after[d] ?? 0)); }, `devices ${devs.join(', ')} answering`, 30_000);
  return now();
}

const failureTotal = (r: PacedReport): number => Object.values(r.devices).reduce((t, d) => t + Object.values(d.failures).reduce((a, b) => a + b, 0), 0);
const responseTotal = (r: PacedReport): number => Object.values(r.devices).reduce((t, d) => t + d.responses, 0);

describe('faults: endpoints that die or stop', () => {
  it('a device worker killed with requests in flight: its devices are removed, each request fails once (DEVICE_REMOVED) in order, drivers hear EVENT_DEVICE REMOVED', async () => {
    const router = await Router.create({ shards: 1, timeoutMs: 10_000, spinBeforeSleep: 50 });
    try {
      const drv = new EndpointPort(await router.attachDriver());
      const deadLink = await router.attachDevice({ devices: [1] });
      const liveLink = await router.attachDevice({ devices: [2] });
      await silence(drv, 20); // EVENT_DEVICE READY x2
      const dead = startDeviceWorker(deadLink, 'silent'); // takes requests, never answers
      const live = startDeviceWorker(liveLink, 'echo');
      const gone = router.detachWhenGone(deadLink, dead.worker);
      for (let t = 1; t <= 10; t++) {
        drv.send(statusReq(1, t));
        drv.send(statusReq(2, 100 + t));
      }
      drv.flush();
      const answers = await receive(drv, 10);
      expect(answers.every((f) => f.startsWith('01070200'))).toBe(true);
      await until(() => router.stats().devices.find((d) => d.dev === 1)?.requests === 10, 'the silent device to take all 10 requests');

      await dead.worker.terminate();
      await gone;
      const removed = '0240000000000c0001000200';
      expect(await receive(drv, 11)).toEqual([
        ...Array.from({ length: 10 }, (_, i) => failureEvent(1, 7, R.DEVICE_REMOVED, i + 1)),
        removed,
      ]);
      // The number is no longer validated; the other device is untouched.
      drv.send(statusReq(1, 50));
      drv.send(statusReq(2, 51));
      drv.flush();
      const after = await receive(drv, 2);
      expect(after).toContain(failureEvent(1, 7, R.UNVALIDATED_DEV_NUM, 50));
      expect(after.some((f) => f.startsWith('010702003300'))).toBe(true); // the response, driver token 51
      await live.stop();
      const st = await expectExactAccounting(router);
      expect(st.retired.devices).toMatchObject({ requests: 10, failed: 10, responses: 0 });
      expect(st.endpoints.find((e) => e.id === deadLink.id)?.detached).toBe(true);
    } finally {
      await router.close();
    }
  });

  it('an echo device killed under load: the driver sees only responses and DEVICE_REMOVED / UNVALIDATED_DEV_NUM failures, the other device is unaffected', async () => {
    const router = await Router.create({ shards: SHARDS, timeoutMs: 2000, spinBeforeSleep: 100 });
    try {
      const link1 = await router.attachDevice({ devices: [1], shard: 0 });
      const link2 = await router.attachDevice({ devices: [2], shard: SHARDS - 1 });
      const echo1 = startEcho(link1);
      const echo2 = startEcho(link2);
      const gone = router.detachWhenGone(link1, echo1.worker);
      const load = startPacedDriver(await router.attachDriver({ shard: 0 }), [1, 2], 16);
      // Requests in flight to both when device 1's worker dies, and device 2 keeps answering after.
      await answering(router, [1, 2], await answering(router, [1, 2]));
      await echo1.worker.terminate();
      await gone;
      await answering(router, [2], await answering(router, [2]));
      const r = await load.stop();
      await echo2.stop();
      expect({ unexpected: r.unexpected, outOfOrder: r.outOfOrder, open: r.open }).toEqual({ unexpected: 0, outOfOrder: 0, open: 0 });
      expect(r.sent).toBe(responseTotal(r) + failureTotal(r));
      expect(r.devices[2]!.failures).toEqual({});
      expect(r.devices[2]!.responses).toBeGreaterThan(0);
      for (const reason of Object.keys(r.devices[1]!.failures)) expect([String(R.DEVICE_REMOVED), String(R.UNVALIDATED_DEV_NUM)]).toContain(reason);
      const st = await expectExactAccounting(router);
      expect(st.retired.devices.failed).toBe(r.devices[1]!.failures[R.DEVICE_REMOVED] ?? 0);
    } finally {
      await router.close();
    }
  });

  it('a driver worker killed with requests pending: the link is detached, its requests are closed at once (failed, ENDPOINT_GONE: nobody to tell), the device\'s answers then are late (LATE_RESPONSE)', async () => {
    const router = await Router.create({ shards: 1, timeoutMs: 10_000, spinBeforeSleep: 50 });
    try {
      const dev = new EndpointPort(await router.attachDevice({ devices: [1] }));
      const drvLink = await router.attachDriver();
      const driver = startPacedDriver(drvLink, [1], 8);
      const gone = router.detachWhenGone(drvLink, driver.worker);
      const held: Uint8Array[] = [];
      await until(() => {
        for (let f = dev.recv(); f; f = dev.recv()) held.push(f);
        return held.length === 8;
      }, '8 requests at the device');
      await driver.worker.terminate();
      await gone;
      // Closed by the detach: the device's window is free again before it answers.
      const closed = router.stats().devices.find((d) => d.dev === 1)!;
      expect([closed.inFlight, closed.failed, closed.responses]).toEqual([0, 8, 0]);
      for (const q of held) dev.send(statusResp(1, q[4]! | (q[5]! << 8)));
      dev.flush();
      const st = await expectExactAccounting(router);
      const drvStats = st.endpoints.find((e) => e.id === drvLink.id)!;
      expect(drvStats.detached).toBe(true);
      expect(drvStats.drops.ENDPOINT_GONE).toBe(8); // the 8 failure events, never sent
      const devStats = st.endpoints.find((e) => e.kind === 'device')!;
      await until(() => (router.stats().endpoints.find((e) => e.id === devStats.id)!.drops.LATE_RESPONSE ?? 0) === 8, 'the 8 answers dropped as late');
      expect(st.devices.find((d) => d.dev === 1)!.responses).toBe(0);
    } finally {
      await router.close();
    }
  });

  it('a driver detached with frames parked behind full device rings (same shard, across shards, behind another driver\'s frame): detach() drops them (SOURCE_GONE), they are never sent, and the devices\' events no longer go to it', async () => {
    // One frame per slot, 3 slots: the 4th frame for a device parks (its ring is full; it does not read).
    const router = await Router.create({ shards: SHARDS, timeoutMs: 8_000, ringCapacity: 4, packedRings: false, spinBeforeSleep: 50 });
    try {
      const devs = SHARDS > 1 ? [1, 2] : [1];
      const devLinks = await Promise.all(devs.map((d, i) => router.attachDevice({ devices: [d], shard: i })));
      const ports = devLinks.map((l) => new EndpointPort(l));
      const aLink = await router.attachDriver({ shard: 0 });
      const a = new EndpointPort(aLink);
      const b = new EndpointPort(await router.attachDriver({ shard: 0 }));
      const kick = (dev: number): Uint8Array => Uint8Array.from([0, 0x41, dev & 0xff, dev >> 8, 0, 0, 16, 0, 0, 0, 0, 0, 5, 0, 0, 0]);
      // The drivers' own rings are as small: each frame waits for room.
      const put = async (p: EndpointPort, f: Uint8Array): Promise<void> => {
        while (!p.send(f)) await sleep(1);
        p.flush();
      };
      const parked = (): number => router.stats().devices.reduce((n, d) => n + d.parkedNow, 0);
      // Device 1: A fills the ring, B's request parks first, then A's 5 requests and a kick behind it.
      for (let t = 1; t <= 3; t++) await put(a, statusReq(1, t));
      await until(() => router.stats().devices.find((d) => d.dev === 1)!.requests === 3, 'A in the ring');
      await put(b, statusReq(1, 77));
      await until(() => parked() === 1, 'B parked');
      for (let t = 4; t <= 8; t++) await put(a, statusReq(1, t));
      await put(a, kick(1));
      // Device 2 (on the other shard): A alone.
      for (const d of devs.slice(1)) {
        for (let t = 1; t <= 8; t++) await put(a, statusReq(d, t));
        await put(a, kick(d));
      }
      await until(() => parked() === 1 + 6 * devs.length, '5 requests and a kick of A parked per device');
      await router.detach(aLink);
      expect(parked()).toBe(1); // B's
      const gone = router.stats().endpoints.find((e) => e.id === aLink.id)!;
      expect(gone.detached).toBe(true);
      expect(gone.drops.SOURCE_GONE).toBe(6 * devs.length);

      // The devices read now: A's 3 frames forwarded before the detach reach each, and B's.
      const next = new EndpointPort(await router.attachDriver({ shard: 0 }));
      for (const [i, port] of ports.entries()) {
        const want = i === 0 ? 4 : 3;
        const got: string[] = [];
        for (let k = 0; k < want; k++) {
          const [h] = await receive(port, 1);
          expect(h?.slice(0, 8)).toBe(hex(statusReq(devs[i]!, 0)).slice(0, 8));
          got.push(h!);
          port.send(statusResp(devs[i]!, parseInt(h!.slice(10, 12) + h!.slice(8, 10), 16))); // frees its slot for B's
          port.flush();
        }
        expect(await silence(port, 100)).toEqual([]);
      }
      // A's requests were closed at the detach, so the answers to them are late; B gets its one; the new driver nothing.
      expect((await receive(b, 1)).map((h) => h.slice(0, 12))).toEqual([hex(statusResp(1, 77)).slice(0, 12)]);
      // Device events go to the device's last requester: for device 2 that was A, so its event is
      // dropped (NO_BOUND_DRIVER), not sent to A's id; for device 1 it is B (1 shard: the only device).
      const last = devs.length - 1;
      const used = Uint8Array.from([0x00, 0x42, devs[last]!, 0, 0, 0, 12, 0, 0, 0, 0, 0]);
      ports[last]!.send(used);
      ports[last]!.flush();
      if (last > 0) {
        const noBound = (): number => router.stats().endpoints.find((e) => e.id === devLinks[last]!.id)!.drops.NO_BOUND_DRIVER ?? 0;
        await until(() => noBound() === 1, 'the event dropped');
        expect(await silence(b, 50)).toEqual([]);
      } else {
        expect(await receive(b, 1)).toEqual([hex(used)]);
      }
      expect(await silence(next, 200)).toEqual([]);
      await expectExactAccounting(router);
    } finally {
      await router.close();
    }
  });

  it('a driver that stops draining holds only its own traffic: its answers are parked, its ring waits, once stalled its requests fail (DRIVER_STALLED); other drivers of the same device link never wait', async () => {
    const timeoutMs = 1000;
    // The stuck driver's ring holds 15 frames and 8 more park before its own ring is held.
    const router = await Router.create({ shards: 1, timeoutMs, ringCapacity: 16, packedRings: false, parkLimit: 8, spinBeforeSleep: 100 });
    try {
      // Both devices behind one device link: holding that link would stall device 2 as well.
      const link = await router.attachDevice({ devices: [1, 2] });
      const echo = startEcho(link);
      const stuckLink = await router.attachDriver();
      const stuck = new EndpointPort(stuckLink); // sends, never reads
      const busy = startPacedDriver(await router.attachDriver(), [1, 2], 4);
      await answering(router, [1, 2]);
      // Requests to device 1 (the one the other driver shares), whatever the router takes, until
      // it refuses them: the answers fill the stuck driver's ring and output queue, its own ring
      // is held, and once it has drained nothing for a timeout its requests are refused.
      let sent = 0;
      const stuckStats = (): RouterStats['endpoints'][number] => router.stats().endpoints.find((e) => e.id === stuckLink.id)!;
      await until(() => {
        while (sent < 60_000 && stuck.send(statusReq(1, sent + 1))) sent++;
        stuck.flush();
        return (stuckStats().drops.DRIVER_STALLED ?? 0) > 0;
      }, 'the stuck driver refused as stalled', timeoutMs * 10);
      // Its ring was held before that: the router took frames only while its output had room.
      expect(stuckStats().stalls).toBeGreaterThan(0);
      await answering(router, [1, 2], await answering(router, [1, 2])); // more traffic for the other driver after the stall
      const r = await busy.stop();
      expect({ unexpected: r.unexpected, open: r.open, outOfOrder: r.outOfOrder }).toEqual({ unexpected: 0, open: 0, outOfOrder: 0 });
      for (const dev of [1, 2]) {
        // Never held behind the stuck driver: no gap anywhere near a timeout, and no failure on
        // device 2. Device 1 is the one the stuck driver floods: when the echo device lags (a
        // loaded machine), its park queue can fill with the flood, and then a request of anyone
        // fails DEVICE_BUSY at once, in its place (the bus's back-pressure). The stuck driver's
        // refusals never count against that queue (they have a bound of their own).
        const failures = { ...r.devices[dev]!.failures };
        if (dev === 1) delete failures[Reason.DEVICE_BUSY];
        expect(failures).toEqual({});
        expect(r.devices[dev]!.responses).toBeGreaterThan(0);
        expect(r.devices[dev]!.maxGapMs).toBeLessThan(timeoutMs / 2);
      }
      console.log(`stuck driver: other driver's longest gap ${r.devices[1]!.maxGapMs.toFixed(0)} ms (device 1), ` +
        `${r.devices[2]!.maxGapMs.toFixed(0)} ms (device 2); timeout ${timeoutMs} ms; stuck drops ${JSON.stringify(stuckStats().drops)}`);
      // The stuck driver is finally detached: what was parked for it is dropped (ENDPOINT_GONE).
      await router.detach(stuckLink);
      await echo.stop();
      await expectExactAccounting(router);
    } finally {
      await router.close();
    }
  });
});

describe('faults: the router itself', () => {
  it('shard workers crashing under load are restarted; requests in flight fail once (SHARD_RESTARTED), nothing else is lost', async () => {
    const router = await Router.create({ shards: SHARDS, timeoutMs: 2000, spinBeforeSleep: 100 });
    try {
      const echoes = [startEcho(await router.attachDevice({ devices: [1], shard: 0 })), startEcho(await router.attachDevice({ devices: [2], shard: SHARDS - 1 }))];
      const load = startPacedDriver(await router.attachDriver({ shard: 0 }), [1, 2], 16);
      let answered = await answering(router, [1, 2]);
      for (let s = 0; s < SHARDS; s++) {
        await injectShardCrash(router, s);
        await waitRestarts(router, s + 1);
        answered = await answering(router, [1, 2], answered); // routing goes on after each restart
      }
      const r = await load.stop();
      for (const e of echoes) await e.stop();
      expect({ unexpected: r.unexpected, outOfOrder: r.outOfOrder, open: r.open }).toEqual({ unexpected: 0, outOfOrder: 0, open: 0 });
      expect(r.sent).toBe(responseTotal(r) + failureTotal(r));
      for (const d of Object.values(r.devices)) {
        expect(d.responses).toBeGreaterThan(0);
        for (const reason of Object.keys(d.failures)) expect(reason).toBe(String(R.SHARD_RESTARTED));
      }
      expect(router.restarts).toBe(SHARDS);
      await expectExactAccounting(router);
    } finally {
      await router.close();
    }
  });

  it('wall-clock jumps forwards and backwards move no deadline (the shards keep time on a monotonic clock)', async () => {
    const timeoutMs = 1000;
    const router = await Router.create({ shards: 1, timeoutMs, spinBeforeSleep: 50 });
    try {
      const drv = new EndpointPort(await router.attachDriver());
      const dev = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await silence(drv, 20);
      const hour = 3_600_000;

      // Forwards by an hour while a request is open: with wall-clock deadlines it would time
      // out at once; it must still get its response.
      drv.send(statusReq(1, 1));
      drv.flush();
      const [q1] = await receive(dev, 1);
      injectWallClockJump(router, hour);
      await sleep(150); // time under test: the request stays open across the jump while the shard reads its clock
      dev.send(statusResp(1, parseInt(q1!.slice(10, 12) + q1!.slice(8, 10), 16)));
      dev.flush();
      expect(await receive(drv, 1)).toEqual([hex(statusResp(1, 1))]);

      // Backwards by two hours while a request is open: it must still fail after about one
      // timeout, not two hours later.
      const t0 = performance.now();
      drv.send(statusReq(1, 2));
      drv.flush();
      await receive(dev, 1);
      injectWallClockJump(router, -2 * hour);
      expect(await receive(drv, 1, timeoutMs + 5000)).toEqual([failureEvent(1, 7, R.TIMEOUT, 2)]);
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs * 0.9);
      expect(elapsed).toBeLessThan(timeoutMs + 4000);
      await expectExactAccounting(router);
    } finally {
      await router.close();
    }
  });
});
