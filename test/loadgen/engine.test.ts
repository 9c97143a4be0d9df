// The load engine against a real Router with the WASM echo device (through an InprocChannel),
// and against the device model driven directly (good, and broken on purpose): every profile
// completes with every answer verified, open loop keeps its rate and counts latency from the
// intended send time, and wrong answers are caught.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { runLoad, LoadOptionsError } from '../../src/loadgen/engine.js';
import { PROFILE_NAMES, type ProfileSpec } from '../../src/loadgen/profiles.js';
import { decodeHistogram } from '../../src/loadgen/latency.js';
import { formatTable } from '../../src/loadgen/report-table.js';
import { startEchoRouter, type EchoRouter } from '../tools/echo-router.js';
import { startModelDevice } from '../tools/model-device.js';

const MIX: ProfileSpec = { name: 'mixed', mix: { GET_DEVICE_STATUS: 4, GET_CONFIG: 2, SET_CONFIG: 1, EVENT_AVAIL: 2, PING: 1, GET_DEVICES: 1 } };
const EXPECTED_MESSAGES: Record<string, string[]> = {
  'init-storm': ['GET_DEVICE_FEATURES', 'GET_DEVICE_INFO', 'GET_DEVICE_STATUS', 'GET_VQUEUE', 'SET_DEVICE_STATUS', 'SET_DRIVER_FEATURES', 'SET_VQUEUE'],
  init: ['GET_DEVICE_FEATURES', 'GET_DEVICE_INFO', 'GET_DEVICE_STATUS', 'GET_VQUEUE', 'SET_DEVICE_STATUS', 'SET_DRIVER_FEATURES', 'SET_VQUEUE'],
  'notify-flood': ['EVENT_AVAIL'],
  avail: ['EVENT_AVAIL'],
  'config-rw': ['GET_CONFIG', 'SET_CONFIG'],
  ping: ['PING'],
  mixed: ['EVENT_AVAIL', 'GET_CONFIG', 'GET_DEVICES', 'GET_DEVICE_STATUS', 'PING', 'SET_CONFIG'],
};

describe('load engine through a router in front of the echo device', () => {
  let target: EchoRouter;
  beforeAll(async () => { target = await startEchoRouter([1, 2, 3]); });
  afterAll(async () => { await target.close(); });

  it.each(PROFILE_NAMES)('profile %s completes on every device with every answer verified', async (name) => {
    const ch = await target.channel();
    try {
      // Sequence profiles run by count: three whole sequences per device meet every step even when a
      // loaded machine makes 0.3 s too short for one.
      const span = name === 'init-storm' || name === 'init' ? { count: 63, warmupS: 0 } : { durationS: 0.3, warmupS: 0.05 };
      const r = await runLoad(ch, { profile: name === 'mixed' ? MIX : { name }, ...span, timeoutMs: 20_000 });
      expect(r.mode).toBe(name);
      expect(r.error_kinds).toEqual({});
      expect(r.errors).toBe(0);
      expect(r.order_violations).toBe(0);
      expect(r.completed).toBeGreaterThan(0);
      expect(Object.keys(r.by_message).sort()).toEqual(EXPECTED_MESSAGES[name]);
      // Devices came from GET_DEVICES; the ping profile talks to the bus only.
      expect(r.devices).toEqual(name === 'ping' ? [] : [1, 2, 3]);
      expect(r.p50_us).toBeGreaterThan(0);
      expect(r.p50_us).toBeLessThanOrEqual(r.p99_us);
      expect(r.p99_us).toBeLessThanOrEqual(r.max_us);
      expect(decodeHistogram(r.latency.hdr).totalCount).toBe(r.completed);
      if (name === 'init-storm' || name === 'init') {
        expect(r.counters.sequences_completed).toBeGreaterThan(0);
        expect(r.sequence!.count).toBeGreaterThan(0);
      }
      if (name === 'notify-flood' || name === 'avail') {
        // One queue per notification in flight: each EVENT_USED completes exactly one (warm-up ones included).
        expect(r.counters.events_used).toBeGreaterThanOrEqual(r.completed);
        expect(r.counters.extra_events).toBe(0);
      }
      expect(r.timeline.t_s.length).toBeGreaterThan(0);
      expect(r.timeline.ops.reduce((a, b) => a + b, 0)).toBe(r.completed);
    } finally {
      await ch.close();
    }
  });

  it('init-storm keeps one request in flight per device (each step waits for the answer before it)', async () => {
    const ch = await target.channel();
    try {
      const r = await runLoad(ch, { profile: { name: 'init-storm' }, devices: [2], durationS: 0.2, warmupS: 0 });
      expect(r.outstanding).toBe(1);
      expect(r.devices).toEqual([2]);
      // 11 steps per sequence with one queue: completed steps and sequences agree.
      expect(Math.abs(r.completed - 11 * r.counters.sequences_completed)).toBeLessThanOrEqual(11);
      // The summary leads with whole sequences, as the README says init-storm is measured.
      const lines = formatTable(r).split('\n');
      expect(lines[1]).toMatch(/^ {2}sequences +[\d,]+ initialisation sequences\/s \([\d,]+ in /);
      expect(lines[2]).toMatch(/^ {2}throughput /);
    } finally {
      await ch.close();
    }
  });

  it('count mode sends exactly the measured operations asked for, then collects them', async () => {
    const ch = await target.channel();
    try {
      const r = await runLoad(ch, { profile: { name: 'ping' }, count: 500, outstanding: 16 });
      expect(r.completed).toBe(500);
      expect(r.count).toBe(500);
      expect(r.duration_s).toBeNull();
      expect(r.by_message.PING!.count).toBe(500);
      // The result document's contract (`vmsg bench --json`): its keys, in this order.
      expect(Object.keys(r)).toEqual([
        'format', 'version', 'mode', 'profile', 'loop', 'outstanding', 'rate', 'devices', 'warmup_s', 'duration_s', 'count',
        'started', 'seconds', 'sent', 'received', 'completed', 'errors', 'error_kinds', 'order_violations', 'timeouts',
        'transport_failures', 'queue_full', 'stalls', 'stall_ms', 'ops_per_s', 'round_trips_per_s', 'p50_us', 'p90_us', 'p99_us',
        'p999_us', 'max_us', 'mean_us', 'latency', 'by_message', 'sequence', 'by_device', 'counters', 'timeline', 'events',
        'events_not_listed', 'machine',
      ]);
      expect(Object.keys(r.counters)).toEqual([
        'generation_changes', 'set_config_rejected', 'features_refused', 'sequences_completed', 'events_used', 'extra_events',
        'config_events', 'device_events', 'pings_answered', 'window_full', 'other_frames',
      ]);
      expect(Object.keys(r.timeline)).toEqual(['interval_s', 't_s', 'ops', 'errors', 'queue_full', 'stalls', 'p50_us', 'p99_us', 'hdr']);
      expect(r.sent).toBe(500 + r.counters.pings_answered);
      expect(r.received).toBe(500 + r.counters.pings_answered);
    } finally {
      await ch.close();
    }
  });

  it('open loop sends at the asked rate and measures latency from intended send times', async () => {
    const ch = await target.channel();
    try {
      const r = await runLoad(ch, { profile: { name: 'ping' }, loop: 'open', rate: 2000, durationS: 0.5, warmupS: 0.1 });
      expect(r.loop).toBe('open');
      expect(r.latency.corrected).toBe(true);
      // Every operation due in the measured half second is sent, however late the generator runs.
      expect(Math.abs(r.completed - 2000 * 0.5)).toBeLessThanOrEqual(1);
    } finally {
      await ch.close();
    }
  });

  it('a request to a device the router does not have ends in a counted transport failure', async () => {
    const ch = await target.channel();
    try {
      const r = await runLoad(ch, { profile: { name: 'init' }, devices: [9], count: 3, probe: false, timeoutMs: 5000 });
      expect(r.transport_failures).toBe(3);
      expect(r.error_kinds.transport_failure).toBe(3);
      expect(r.events[0]!.detail).toMatch(/UNVALIDATED_DEV_NUM/);
      expect(r.completed).toBe(0);
    } finally {
      await ch.close();
    }
  });

  it('refuses options that cannot work, naming the option', async () => {
    const ch = await target.channel();
    try {
      await expect(runLoad(ch, { profile: { name: 'ping' }, loop: 'open' })).rejects.toThrow(/open loop needs a rate/);
      await expect(runLoad(ch, { profile: { name: 'ping' }, rate: 10 })).rejects.toThrow(/rate applies to the open loop only/);
      await expect(runLoad(ch, { profile: { name: 'ping' }, count: 5, durationS: 1 })).rejects.toThrow(LoadOptionsError);
      await expect(runLoad(ch, { profile: { name: 'mixed', mix: {} } })).rejects.toThrow(/needs a mix/);
      await expect(runLoad(ch, { profile: { name: 'init' }, outstanding: 0 })).rejects.toThrow(/outstanding must be an integer from 1/);
      await expect(runLoad(ch, { profile: { name: 'init' }, devices: [1, 1] })).rejects.toThrow(/lists a device twice/);
    } finally {
      await ch.close();
    }
  });
});

describe('load engine against a device driven directly (no router between)', () => {
  it('the device model passes; its config generation moves with the writes', async () => {
    const m = await startModelDevice('good');
    try {
      const r = await runLoad(m.channel, { profile: { name: 'config-rw' }, outstanding: 1, durationS: 0.2, warmupS: 0 });
      expect(r.errors).toBe(0);
      expect(r.order_violations).toBe(0);
      // One write in flight at a time: every write carries the latest generation and is applied.
      expect(r.counters.set_config_rejected).toBe(0);
      expect(r.counters.generation_changes).toBeGreaterThan(0);
      const init = await runLoad(m.channel, { profile: { name: 'init', initQueues: 2 }, outstanding: 4, durationS: 0.2, warmupS: 0 });
      expect(init.errors).toBe(0);
      expect(init.counters.features_refused).toBe(0);
    } finally {
      await m.stop();
    }
  });

  it('answers out of order per device are counted as order violations', async () => {
    const m = await startModelDevice('reorder');
    try {
      const r = await runLoad(m.channel, { profile: { name: 'init' }, outstanding: 8, count: 400 });
      expect(r.order_violations).toBeGreaterThan(0);
    } finally {
      await m.stop();
    }
  });

  it('an answer with the wrong msg_id and a wrong PING echo are errors', async () => {
    const m = await startModelDevice('wrong-id');
    try {
      const r = await runLoad(m.channel, { profile: { name: 'mixed', mix: { GET_DEVICE_STATUS: 1 } }, count: 50 });
      expect(r.error_kinds.id_mismatch).toBe(50);
      expect(r.completed).toBe(0);
    } finally {
      await m.stop();
    }
    const p = await startModelDevice('bad-ping');
    try {
      const r = await runLoad(p.channel, { profile: { name: 'ping' }, count: 20 });
      expect(r.error_kinds.ping_echo).toBe(20);
    } finally {
      await p.stop();
    }
  });

  it('requests a device never answers time out, each counted once', async () => {
    const m = await startModelDevice('good', { devices: [1] });
    try {
      const r = await runLoad(m.channel, { profile: { name: 'init' }, devices: [4], outstanding: 3, count: 3, probe: false, timeoutMs: 100 });
      expect(r.timeouts).toBe(3);
      expect(r.errors).toBe(3);
      expect(r.events.filter((e) => e.kind === 'timeout')).toHaveLength(3);
    } finally {
      await m.stop();
    }
  });

  it('a bus that stops reading shows as queue-full and a stall; open loop charges the wait to latency', async () => {
    // The device stops reading for 300 ms after 200 requests; the ring (16 slots) fills meanwhile.
    const open = await startModelDevice('pause', { ringCapacity: 16, pauseAfter: 200, pauseMs: 300 });
    let openP99: number;
    try {
      const r = await runLoad(open.channel, { profile: { name: 'mixed', mix: { GET_DEVICE_STATUS: 1 } }, loop: 'open', rate: 1000, durationS: 1, warmupS: 0, stallMs: 100, timeoutMs: 5000 });
      expect(r.errors).toBe(0);
      expect(r.queue_full).toBeGreaterThan(0);
      expect(r.stalls).toBeGreaterThan(0);
      expect(r.events.some((e) => e.kind === 'stall')).toBe(true);
      // Operations due during the pause count their wait: the p99 holds a good part of it.
      expect(r.p99_us).toBeGreaterThan(100_000);
      openP99 = r.p99_us;
    } finally {
      await open.stop();
    }
    const closed = await startModelDevice('pause', { ringCapacity: 16, pauseAfter: 200, pauseMs: 300 });
    try {
      const r = await runLoad(closed.channel, { profile: { name: 'mixed', mix: { GET_DEVICE_STATUS: 1 } }, outstanding: 2, durationS: 1, warmupS: 0, stallMs: 100, timeoutMs: 5000 });
      expect(r.stalls).toBeGreaterThan(0);
      expect(r.max_us).toBeGreaterThan(200_000); // the two requests caught in the pause
      // Closed loop sends nothing while it waits, so the pause touches only those few operations.
      expect(r.p50_us).toBeLessThan(openP99);
    } finally {
      await closed.stop();
    }
  });
});
