// DEVICE_NEEDS_RESET (docs/PROTOCOL.md §8 device rule 13, driver rule 7) and malformed virtqueue descriptors
// (virtio 1.2 §2.7): a guest fault makes the device set NEEDS_RESET and send
// EVENT_CONFIG instead of crashing or touching memory outside the guest window; the driver resets,
// initialises again, and its I/O goes on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevices, runDriver, type Bench } from './helpers.js';

describe('NEEDS_RESET and malformed descriptors', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startDevices([{ dev: 5, kind: 'block' }, { dev: 6, kind: 'block' }]);
  });
  afterAll(async () => {
    await bench.close();
  });

  it('NEEDS_RESET recovery: a fault with writes in flight; the driver resets, re-initialises and resends them', async () => {
    const w = bench.workers.get(5)!;
    const r = await runDriver<{ before: { mismatches: number }; after: { mismatches: number; verified: number }; mismatches: number; reinits: number; states: string[]; whys: string[] }>(
      bench, 'needsReset', { dev: 5 }, async (step) => {
        if (step === 'hold-device') w.hold(true);
        if (step === 'release-device') w.hold(false);
      });
    expect(r.before.mismatches).toBe(0);
    expect(r.reinits).toBe(1);
    expect(r.states).toEqual(['resetting', 'initialising', 'ready']);
    expect(r.whys[0]).toBe('DEVICE_NEEDS_RESET');
    expect(r.mismatches).toBe(0); // the writes that were in flight were sent again and landed
    expect(r.after).toMatchObject({ mismatches: 0, verified: 32 * 16384 });
  });

  it('malformed descriptors are rejected without crashing the device: each kind ends in NEEDS_RESET and recovery', async () => {
    const r = await runDriver<{ results: { kind: string; recovered: boolean }[]; reinits: number }>(bench, 'malformed', { dev: 6 });
    expect(r.results.map((x) => x.kind)).toEqual([
      'head beyond queue size', 'address outside guest memory', 'address near 2^64', 'length past the window end',
      'descriptor loop', 'next beyond queue size', 'readable after writable', 'indirect without the feature',
    ]);
    for (const x of r.results) expect(x, x.kind).toMatchObject({ recovered: true });
    expect(r.reinits).toBe(8);
    const report = await bench.workers.get(6)!.stop();
    const dev = report.devices[0]!;
    expect(dev.counters.faults).toBe(8);
    expect(dev.counters.resets).toBeGreaterThanOrEqual(9); // the first init and one per fault
    expect(dev.lastFault).toMatch(/virtqueue 0: indirect-not-negotiated/);
  });
});
