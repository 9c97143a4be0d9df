// The router's promises to a driver, tested as a hostile user would (docs/ARCHITECTURE.md
// "Order and head-of-line promises"): every request ends in exactly one outcome (its response
// or one transport failure), and a driver sees the outcomes of its requests to one device in
// the order it sent them — refusals included; a late answer is labelled by one rule whatever
// happened to its correlation slot since; the token wrap still forwards a whole window.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Router } from '../../src/router/router.js';
import { continueTokensFrom } from '../../src/router/test-hooks.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { checkAccounting, accountingViolations, waitQuiescent } from '../../src/router/accounting.js';
import type { RouterStats } from '../../src/router/stats.js';
import { Reason } from '../../src/protocol/reasons.js';
import { receive, silence, sleep, until } from './helpers.js';

const SHARDS = 2; // a driver and its device on different shards where the machine has 2 cores (the router caps shards at the core count)

/** A GET_DEVICE_STATUS-shaped request of `size` bytes (the router forwards payloads opaquely). */
function request(dev: number, token: number, size = 8): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0, 0x07, dev & 0xff, dev >> 8, token & 0xff, token >> 8, size & 0xff, size >> 8]);
  return f;
}

/** The device's answer to the request frame `req` (same msg_id, dev_num and token). */
function answer(req: Uint8Array): Uint8Array {
  const f = new Uint8Array(12);
  f.set(req.subarray(0, 6));
  f[0] = 1;
  f[6] = 12;
  f[8] = 0x0f;
  return f;
}

const u16 = (f: Uint8Array, at: number): number => f[at]! | (f[at + 1]! << 8);

/** One outcome a driver saw: a response, or a failure event with its reason; null for anything else (EVENT_DEVICE). */
interface Outcome { dev: number; token: number; reason: number }
function outcome(f: Uint8Array): Outcome | null {
  if (f[0] === 1) return { dev: u16(f, 2), token: u16(f, 4), reason: 0 };
  if (f[0] === 2 && f[1] === 0xc1) return { dev: u16(f, 8), token: u16(f, 12), reason: f[11]! };
  return null;
}

/** Outcomes arriving at `port` until `n` came (EVENT_DEVICE frames skipped). */
async function outcomes(port: EndpointPort, n: number, ms = 5000): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n && Date.now() < deadline) {
    const f = port.recv();
    if (f === null) { await sleep(1); continue; }
    const o = outcome(f);
    if (o !== null) out.push(o);
  }
  return out;
}

async function expectExactAccounting(router: Router): Promise<RouterStats> {
  const st = await waitQuiescent(router, 15_000);
  expect(accountingViolations(checkAccounting(st))).toEqual([]);
  return st;
}

const deviceDrops = (router: Router, linkId: number): Record<string, number> => router.stats().endpoints.find((e) => e.id === linkId)!.drops;

describe('order of outcomes per device, refusals included', () => {
  it('a refused request (device busy, too large for the device link) waits for the answers to the requests sent before it', async () => {
    const router = await Router.create({ shards: 1, window: 2, parkLimit: 2, timeoutMs: 10_000 });
    try {
      const devLink = await router.attachDevice({ devices: [1], maxMessageSize: 64 });
      const dev = new EndpointPort(devLink);
      const drv = new EndpointPort(await router.attachDriver());
      // r1, r2 forwarded (window 2), r3, r4 parked (limit 2), r5 refused DEVICE_BUSY, r6 (65 bytes) too large.
      for (let t = 1; t <= 5; t++) expect(drv.send(request(1, t, 32))).toBe(true);
      expect(drv.send(request(1, 6, 65))).toBe(true);
      drv.flush();
      const first = (await receive(dev, 2)).map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
      expect(first).toHaveLength(2);
      // Nothing may reach the driver yet: r5 and r6's failures would overtake r1..r4.
      expect((await silence(drv, 100)).map((h) => outcome(Uint8Array.from(Buffer.from(h, 'hex'))))).toEqual([]);
      const pending = [...first];
      const got: Outcome[] = [];
      while (got.length < 6) {
        const req = pending.shift();
        if (req !== undefined) { dev.send(answer(req)); dev.flush(); }
        for (const h of await receive(dev, 1, 50)) pending.push(Uint8Array.from(Buffer.from(h, 'hex')));
        got.push(...(await outcomes(drv, 6 - got.length, 20)));
      }
      expect(got).toEqual([
        { dev: 1, token: 1, reason: 0 }, { dev: 1, token: 2, reason: 0 }, { dev: 1, token: 3, reason: 0 }, { dev: 1, token: 4, reason: 0 },
        { dev: 1, token: 5, reason: Reason.DEVICE_BUSY }, { dev: 1, token: 6, reason: Reason.MSG_SIZE_GT_BUS_MAX },
      ]);
      const st = await expectExactAccounting(router);
      expect(st.totals.dropsByReason.DEVICE_BUSY).toBe(1);
      expect(st.totals.dropsByReason.MSG_SIZE_GT_BUS_MAX).toBe(1);
    } finally {
      await router.close();
    }
  });

  it('requests sent while and after a device is removed fail after the earlier ones (also across shards); the device\'s answers after that are late', async () => {
    const router = await Router.create({ shards: SHARDS, timeoutMs: 10_000 });
    try {
      const devLink = await router.attachDevice({ devices: [1], shard: SHARDS - 1 });
      const dev = new EndpointPort(devLink);
      const drv = new EndpointPort(await router.attachDriver({ shard: 0 }));
      for (let t = 1; t <= 3; t++) drv.send(request(1, t));
      drv.flush();
      const taken = (await receive(dev, 3)).map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
      expect(taken).toHaveLength(3);
      // r4 goes out while the removal runs, r5 once it is done.
      const removal = router.removeDevice(1);
      drv.send(request(1, 4));
      drv.flush();
      await removal;
      drv.send(request(1, 5));
      drv.flush();
      const got = await outcomes(drv, 5);
      expect(got.map((o) => o.token)).toEqual([1, 2, 3, 4, 5]);
      expect(got.slice(0, 3).map((o) => o.reason)).toEqual([Reason.DEVICE_REMOVED, Reason.DEVICE_REMOVED, Reason.DEVICE_REMOVED]);
      expect([Reason.DEVICE_REMOVED, Reason.UNVALIDATED_DEV_NUM]).toContain(got[3]!.reason);
      expect(got[4]!.reason).toBe(Reason.UNVALIDATED_DEV_NUM);
      // The removed device answers r1 after all: late, like any answer to a closed request.
      dev.send(answer(taken[0]!));
      dev.flush();
      await until(() => (deviceDrops(router, devLink.id).LATE_RESPONSE ?? 0) === 1, 'the late answer counted');
      expect(await silence(drv, 50)).toEqual([]);
      await expectExactAccounting(router);
    } finally {
      await router.close();
    }
  });
});

describe('answers after their request closed: one label whatever happened to the slot', () => {
  it('late after a timeout and a reuse of its slot is LATE_RESPONSE, a second answer DUPLICATE_RESPONSE, a token never issued UNMATCHED_RESPONSE', async () => {
    const router = await Router.create({ shards: 1, window: 2, timeoutMs: 150 });
    try {
      const devLink = await router.attachDevice({ devices: [1] });
      const dev = new EndpointPort(devLink);
      const drv = new EndpointPort(await router.attachDriver());
      drv.send(request(1, 1));
      drv.flush();
      const [r1h] = await receive(dev, 1);
      const r1 = Uint8Array.from(Buffer.from(r1h!, 'hex'));
      expect(await outcomes(drv, 1)).toEqual([{ dev: 1, token: 1, reason: Reason.TIMEOUT }]);
      // Three more round trips: r3 takes r1's slot (window 2).
      const answered: Uint8Array[] = [];
      for (let t = 2; t <= 4; t++) {
        drv.send(request(1, t));
        drv.flush();
        const [h] = await receive(dev, 1);
        const req = Uint8Array.from(Buffer.from(h!, 'hex'));
        answered.push(req);
        dev.send(answer(req));
        dev.flush();
        expect(await outcomes(drv, 1)).toEqual([{ dev: 1, token: t, reason: 0 }]);
      }
      const never = answer(r1);
      never[4] = (u16(answered[2]!, 4) + 500) & 0xff; // a token the router has not issued yet
      never[5] = ((u16(answered[2]!, 4) + 500) >> 8) & 0xff;
      for (const f of [answer(r1), answer(answered[0]!), never]) dev.send(f);
      dev.flush();
      await until(() => {
        const d = deviceDrops(router, devLink.id);
        return (d.LATE_RESPONSE ?? 0) + (d.DUPLICATE_RESPONSE ?? 0) + (d.UNMATCHED_RESPONSE ?? 0) === 3;
      }, 'three drops counted');
      expect(deviceDrops(router, devLink.id)).toMatchObject({ LATE_RESPONSE: 1, DUPLICATE_RESPONSE: 1, UNMATCHED_RESPONSE: 1 });
      expect(await silence(drv, 50)).toEqual([]);
      await expectExactAccounting(router);
    } finally {
      await router.close();
    }
  });
});

describe('a device link ends a request it cannot serve (VMSG_EVT_REQUEST_FAILED from a bridge)', () => {
  it('the request fails once with the bridge\'s reason, in its place; a second report is late, an unknown token unmatched', async () => {
    const router = await Router.create({ shards: 1, timeoutMs: 10_000 });
    try {
      const devLink = await router.attachDevice({ devices: [1] });
      const dev = new EndpointPort(devLink);
      const drv = new EndpointPort(await router.attachDriver());
      for (let t = 1; t <= 3; t++) drv.send(request(1, t));
      drv.flush();
      const reqs = (await receive(dev, 3)).map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
      expect(reqs).toHaveLength(3);
      /** The bridge's report for request `r`: failure event with the router's token. */
      const report = (r: Uint8Array, reason: number, token = u16(r, 4)): Uint8Array =>
        Uint8Array.from([2, 0xc1, 0, 0, 0, 0, 16, 0, 1, 0, r[1]!, reason, token & 0xff, token >> 8, 0, 0]);
      // r2 fails at the device side first, then r1 and r3 are answered: r2's failure waits for r1.
      dev.send(report(reqs[1]!, Reason.LEGACY_NO_REPLY));
      dev.flush();
      expect(await silence(drv, 50)).toEqual([]);
      dev.send(answer(reqs[0]!));
      dev.send(answer(reqs[2]!));
      dev.send(report(reqs[1]!, Reason.LEGACY_NO_REPLY)); // a second report of the same request
      dev.send(report(reqs[0]!, Reason.LEGACY_NO_REPLY, (u16(reqs[2]!, 4) + 100) & 0xffff)); // a token never issued
      dev.flush();
      expect(await outcomes(drv, 3)).toEqual([
        { dev: 1, token: 1, reason: 0 }, { dev: 1, token: 2, reason: Reason.LEGACY_NO_REPLY }, { dev: 1, token: 3, reason: 0 },
      ]);
      await until(() => (deviceDrops(router, devLink.id).LATE_RESPONSE ?? 0) + (deviceDrops(router, devLink.id).UNMATCHED_RESPONSE ?? 0) === 2, 'both bad reports counted');
      expect(deviceDrops(router, devLink.id)).toMatchObject({ LATE_RESPONSE: 1, UNMATCHED_RESPONSE: 1 });
      await expectExactAccounting(router);
    } finally {
      await router.close();
    }
  });
});

describe('the 16-bit token wrap', () => {
  it('forwards a whole window across the wrap (65533, 65534, 65535, 1) and restores every driver token', async () => {
    const router = await Router.create({ shards: 1, window: 4, timeoutMs: 10_000 });
    try {
      // A device number that was here before continues its tokens: start this one just before the wrap.
      continueTokensFrom(router, 1, 65533);
      const dev = new EndpointPort(await router.attachDevice({ devices: [1] }));
      const drv = new EndpointPort(await router.attachDriver());
      for (let t = 1; t <= 8; t++) drv.send(request(1, 100 + t));
      drv.flush();
      const tokens: number[] = [];
      for (let batch = 0; batch < 2; batch++) {
        // This device answers only once it holds a whole window of requests.
        const reqs = (await receive(dev, 4, 2000)).map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
        expect(reqs).toHaveLength(4);
        for (const r of reqs) { tokens.push(u16(r, 4)); dev.send(answer(r)); }
        dev.flush();
      }
      expect(tokens).toEqual([65533, 65534, 65535, 1, 2, 3, 4, 5]);
      expect((await outcomes(drv, 8)).map((o) => o.token)).toEqual([101, 102, 103, 104, 105, 106, 107, 108]);
    } finally {
      await router.close();
    }
  });
});

// ---------------------------------------------------------------- random hostile mixes
type DeviceMode = 'answer' | 'reverse' | 'lossy' | 'dup';
interface Mix {
  shards: number;
  window: number;
  parkLimit: number;
  modes: DeviceMode[]; // devices 1, 2 (link A, 64 bytes) and 3 (link B)
  scripts: { dev: number; big: boolean }[][]; // per driver: requests in order
  stuckDriver: number; // -1: none; this driver drains nothing for the first `stuckMs`
  stuckMs: number;
  removeAt: number; // request index of driver 0 at which device 2 is removed (-1: never)
  detachDriver: number; // -1: none; detached halfway through its script
}

const mixArb: fc.Arbitrary<Mix> = fc.record({
  shards: fc.constantFrom(1, SHARDS),
  window: fc.constantFrom(2, 4),
  parkLimit: fc.constantFrom(2, 4),
  modes: fc.array(fc.constantFrom<DeviceMode>('answer', 'reverse', 'lossy', 'dup'), { minLength: 3, maxLength: 3 }),
  scripts: fc.array(fc.array(fc.record({ dev: fc.constantFrom(1, 2, 3, 9), big: fc.boolean() }), { minLength: 5, maxLength: 40 }), { minLength: 2, maxLength: 3 }),
  stuckDriver: fc.integer({ min: -1, max: 2 }),
  stuckMs: fc.constantFrom(50, 400),
  removeAt: fc.integer({ min: -1, max: 30 }),
  detachDriver: fc.integer({ min: -1, max: 2 }),
});

/** A device link served from the test thread with a hostile `mode` per device. */
class ScriptedDevices {
  private readonly held = new Map<number, Uint8Array[]>();
  private n = 0;
  constructor(readonly port: EndpointPort, private readonly modes: Map<number, DeviceMode>) {}
  step(): void {
    for (let f = this.port.recv(); f !== null; f = this.port.recv()) {
      if (f[0] !== 0 || f[1] === 0x41) continue; // only requests are answered
      const d = u16(f, 2);
      const mode = this.modes.get(d) ?? 'answer';
      this.n++;
      if (mode === 'lossy' && this.n % 3 === 0) continue; // never answered: the router times it out
      if (mode === 'reverse') {
        const q = this.held.get(d) ?? [];
        q.push(f);
        this.held.set(d, q);
        if (q.length >= 2) { for (const r of q.reverse()) this.port.send(answer(r)); this.held.set(d, []); }
        continue;
      }
      this.port.send(answer(f));
      if (mode === 'dup') this.port.send(answer(f));
    }
    this.port.flush();
  }
  /** Answer what `reverse` still holds (end of the run). */
  flushHeld(): void {
    for (const q of this.held.values()) for (const r of q) this.port.send(answer(r));
    this.held.clear();
    this.port.flush();
  }
}

async function runMix(m: Mix): Promise<void> {
  const timeoutMs = 200;
  const router = await Router.create({ shards: m.shards, window: m.window, parkLimit: m.parkLimit, timeoutMs, ringCapacity: 16, packedRings: false, spinBeforeSleep: 0 });
  try {
    const linkA = await router.attachDevice({ devices: [1, 2], maxMessageSize: 64, shard: 0 });
    const linkB = await router.attachDevice({ devices: [3], shard: m.shards - 1 });
    const modes = new Map<number, DeviceMode>([[1, m.modes[0]!], [2, m.modes[1]!], [3, m.modes[2]!]]);
    const devices = [new ScriptedDevices(new EndpointPort(linkA), modes), new ScriptedDevices(new EndpointPort(linkB), modes)];
    const links = await Promise.all(m.scripts.map((_, i) => router.attachDriver({ shard: i % m.shards })));
    const drivers = links.map((l) => new EndpointPort(l));
    const sent = m.scripts.map(() => new Map<number, number>()); // token -> dev
    const seen = m.scripts.map(() => [] as Outcome[]);
    const next = m.scripts.map(() => 0);
    const detached = new Set<number>();
    let removed = m.removeAt < 0;
    const t0 = Date.now();
    const drain = (i: number): void => {
      for (let f = drivers[i]!.recv(); f !== null; f = drivers[i]!.recv()) {
        const o = outcome(f);
        if (o !== null) seen[i]!.push(o);
      }
    };
    const deadline = Date.now() + 20_000;
    for (;;) {
      let busy = false;
      for (let i = 0; i < drivers.length; i++) {
        if (detached.has(i)) continue;
        const script = m.scripts[i]!;
        if (i === m.detachDriver && next[i]! >= script.length / 2) {
          detached.add(i);
          await router.detach(links[i]!);
          continue;
        }
        if (i === 0 && !removed && next[0]! >= m.removeAt) { removed = true; await router.removeDevice(2); }
        if (next[i]! < script.length) {
          busy = true;
          const op = script[next[i]!]!;
          const token = next[i]! + 1;
          if (drivers[i]!.send(request(op.dev, token, op.big ? 65 : 8))) { sent[i]!.set(token, op.dev); next[i]!++; }
          drivers[i]!.flush();
        }
        if (i !== m.stuckDriver || Date.now() - t0 > m.stuckMs) drain(i);
      }
      for (const d of devices) d.step();
      const open = m.scripts.some((_, i) => !detached.has(i) && seen[i]!.length < sent[i]!.size);
      if (!busy && !open) break;
      if (!busy) for (const d of devices) d.flushHeld();
      if (Date.now() > deadline) break;
      await sleep(busy ? 0 : 1);
    }
    for (let i = 0; i < drivers.length; i++) {
      if (detached.has(i)) continue;
      // Exactly one outcome per request, and per device in the order sent.
      const tokens = seen[i]!.map((o) => o.token);
      expect(new Set(tokens).size).toBe(tokens.length);
      expect(tokens.sort((a, b) => a - b)).toEqual([...sent[i]!.keys()].sort((a, b) => a - b));
      for (const d of [1, 2, 3, 9]) {
        const order = seen[i]!.filter((o) => o.dev === d).map((o) => o.token);
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
      for (const o of seen[i]!) expect(o.dev).toBe(sent[i]!.get(o.token));
    }
    for (const d of devices) d.flushHeld();
    await expectExactAccounting(router);
  } finally {
    await router.close();
  }
}

describe('random hostile mixes (refusals, timeouts, duplicates, a stuck driver, a removal, a detach)', () => {
  it('every driver sees each request end exactly once, per device in the order it sent them', async () => {
    await fc.assert(fc.asyncProperty(mixArb, runMix), { numRuns: 12, seed: 0x5eed13, endOnFailure: true });
  }, 240_000);
});
