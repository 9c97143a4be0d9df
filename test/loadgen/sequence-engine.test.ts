// The load tool's WASM engine (assembly/loadgen/sequence.ts through src/loadgen/sequence-run.ts)
// against the device model broken on purpose, profile kind by profile kind: a wrong token, a
// wrong dev_num, answers out of order and duplicated answers are caught exactly as the
// JavaScript engine catches them (the same error kinds), and the run really took the WASM path.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runLoad, type LoadOptions } from '../../src/loadgen/engine.js';
import { OP_NAMES, type ProfileSpec } from '../../src/loadgen/profiles.js';
import { engineLayout } from '../../src/loadgen/engine-layout.js';
import { SequenceRun } from '../../src/loadgen/sequence-run.js';
import { passed, type LoadResult } from '../../src/loadgen/result.js';
import { startModelDevice, type ModelMode } from '../tools/model-device.js';

const PROFILES: Record<string, ProfileSpec> = {
  init: { name: 'init' },
  ping: { name: 'ping' },
  avail: { name: 'avail' },
  'config-rw': { name: 'config-rw' },
  mixed: { name: 'mixed', mix: { GET_DEVICE_STATUS: 2, GET_CONFIG: 1, SET_CONFIG: 1, EVENT_AVAIL: 1, PING: 1 } },
};

/** Operations per run: enough for several rounds of the outstanding window. */
const COUNT = 12;

async function load(mode: ModelMode, profile: ProfileSpec, engine: 'wasm' | 'js', count = COUNT): Promise<LoadResult> {
  const m = await startModelDevice(mode);
  try {
    // Device 1 named: discovery (a bus request) would fail on some faults before the load begins.
    const o: LoadOptions = { profile, engine, count, devices: profile.name === 'ping' ? undefined : [1], outstanding: 4, timeoutMs: 300, stallMs: 10_000 };
    return await runLoad(m.channel, o);
  } finally {
    await m.stop();
  }
}

describe('load tool WASM engine', () => {
  afterEach(() => vi.restoreAllMocks());

  it('numbers message kinds as OP_NAMES does', () => {
    const L = engineLayout() as unknown as Record<string, number>;
    OP_NAMES.forEach((op, i) => expect({ op, i: L[`LG_OP_${op}`] }).toEqual({ op, i }));
    expect(L.LG_OPS).toBe(OP_NAMES.length);
  });

  it.each(Object.keys(PROFILES))('%s: a good device passes on the WASM path', async (name) => {
    const run = vi.spyOn(SequenceRun.prototype, 'run');
    const r = await load('good', PROFILES[name]!, 'wasm', 400);
    expect(run).toHaveBeenCalledTimes(1);
    expect(r.error_kinds).toEqual({});
    expect(r.order_violations).toBe(0);
    expect(r.completed).toBe(400);
    expect(r.timeline.ops.reduce((a, b) => a + b, 0)).toBe(400);
  });

  it('open loop on the WASM path keeps its rate and charges a pause to latency', async () => {
    const run = vi.spyOn(SequenceRun.prototype, 'run');
    const m = await startModelDevice('pause', { ringCapacity: 16, pauseAfter: 300, pauseMs: 200 });
    try {
      const r = await runLoad(m.channel, { profile: { name: 'mixed', mix: { GET_DEVICE_STATUS: 1 } }, devices: [1], loop: 'open', rate: 1000, durationS: 0.6, warmupS: 0, timeoutMs: 5000 });
      expect(run).toHaveBeenCalledTimes(1);
      expect(r.errors).toBe(0);
      expect(Math.abs(r.completed - 600)).toBeLessThanOrEqual(1);
      expect(r.p99_us).toBeGreaterThan(50_000); // operations due during the pause count their wait
    } finally {
      await m.stop();
    }
  });

  // What each fault must show per profile (the JavaScript engine's verdicts, checked below too).
  const FAULTS: [ModelMode, string, (r: LoadResult) => void][] = [];
  for (const name of ['init', 'ping', 'config-rw', 'mixed']) {
    FAULTS.push(['wrong-token', name, (r) => {
      expect(r.error_kinds.unexpected_response).toBeGreaterThan(0);
      expect(r.timeouts).toBeGreaterThan(0);
    }]);
    FAULTS.push(['dup-all', name, (r) => expect(r.error_kinds.unexpected_response).toBeGreaterThan(0)]);
    FAULTS.push(['reorder-all', name, (r) => expect(r.order_violations).toBeGreaterThan(0)]);
  }
  // A device response naming another device belongs to nothing in flight; a bus response with dev_num 1 is wrong on its face.
  FAULTS.push(['wrong-dev', 'init', (r) => { expect(r.error_kinds.unexpected_response).toBeGreaterThan(0); expect(r.timeouts).toBeGreaterThan(0); }]);
  FAULTS.push(['wrong-dev', 'config-rw', (r) => { expect(r.error_kinds.unexpected_response).toBeGreaterThan(0); expect(r.timeouts).toBeGreaterThan(0); }]);
  FAULTS.push(['wrong-dev', 'ping', (r) => expect(r.error_kinds.bus_dev_num).toBe(COUNT)]);
  FAULTS.push(['wrong-dev', 'mixed', (r) => { expect(r.error_kinds.bus_dev_num).toBeGreaterThan(0); expect(r.error_kinds.unexpected_response).toBeGreaterThan(0); }]);
  // Notifications: EVENT_USED for another device or twice is an extra event, and the notification times out or completes once.
  FAULTS.push(['wrong-dev', 'avail', (r) => { expect(r.counters.extra_events).toBeGreaterThanOrEqual(COUNT); expect(r.error_kinds.timeout).toBeGreaterThanOrEqual(COUNT); expect(r.completed).toBe(0); }]);
  FAULTS.push(['dup-all', 'avail', (r) => { expect(r.counters.extra_events).toBe(r.counters.events_used); expect(r.timeouts).toBe(0); expect(r.completed).toBe(COUNT); }]);

  it.each(FAULTS)('%s on %s is caught on the WASM path as in JavaScript', async (mode, name, check) => {
    const run = vi.spyOn(SequenceRun.prototype, 'run');
    const wasm = await load(mode, PROFILES[name]!, 'wasm');
    expect(run).toHaveBeenCalledTimes(1);
    check(wasm);
    const js = await load(mode, PROFILES[name]!, 'js');
    expect(run).toHaveBeenCalledTimes(1);
    check(js);
    expect(Object.keys(wasm.error_kinds).sort()).toEqual(Object.keys(js.error_kinds).sort());
    expect(passed(wasm)).toBe(passed(js));
  });
});
