// The WASM load engine of `vmsg bench` (src/driver/frame-engine.ts, assembly/loadgen/driver.ts)
// against a device side that misbehaves on purpose (a worker thread on a real vmamp window):
// every kind of wrong answer is counted exactly as the JavaScript loop counts it, on the same
// channel run after run, and the engine answers the device's keep-alive PINGs.
import { afterEach, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { openFrameChannel } from '../../src/bus/open.js';
import { runFrameBench, type FrameBenchResult } from '../../src/driver/frame-bench.js';
import { ShmFrameChannel } from '../../src/bus/shm-channel.js';
import { freshPaths } from '../bus/helpers.js';

const PER_RUN = 60;
const SCRIPT: Record<number, string> = { 5: 'badId', 10: 'swap', 20: 'dup', 25: 'pingBefore', 41: 'swap', 57: 'drop' };

const workers: Worker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.terminate();
});

async function scriptedDevice(path: string): Promise<{ stop(): Promise<{ pings: number; pingErrors: number }> }> {
  const w = new Worker(new URL('./workers/scripted-device.mjs', import.meta.url), {
    workerData: { path, size: 8192, perRun: PER_RUN, script: Array.from({ length: PER_RUN }, (_, i) => SCRIPT[i] ?? 'ok') },
  });
  workers.push(w);
  await new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
  return {
    stop: async () => {
      const report = new Promise<{ pings: number; pingErrors: number }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      w.postMessage('stop');
      return report;
    },
  };
}

describe('the WASM load engine verifies every answer', () => {
  it('wrong msg_id, out of order, duplicate and missing answers are counted as the JS loop counts them; keep-alive PINGs are answered', async () => {
    const p = freshPaths('engine');
    const device = await scriptedDevice(p.path);
    const ch = await openFrameChannel(`vmamp:${p.path}?size=8192`, { waitMs: 10_000 });
    expect(ch).toBeInstanceOf(ShmFrameChannel);
    const results: FrameBenchResult[] = [];
    try {
      // Twice with the engine, once with the JS loop, once more with the engine: one channel,
      // so each run also proves the rings are handed over where the previous one left them.
      for (const engine of ['wasm', 'wasm', 'js', 'wasm'] as const) {
        results.push(await runFrameBench(ch, { mode: 'init', dev: 1, count: PER_RUN, outstanding: 4, idleMs: 300, engine }));
      }
    } finally {
      await ch.close();
    }
    const report = await device.stop();
    // One wrong id, one duplicate and one never answered are errors; a wrong-id answer still
    // settles its request. Two swapped pairs are two order violations, and each answer that
    // overtakes the one never answered (#58, #59) is one too.
    for (const r of results) {
      expect(r).toMatchObject({ mode: 'init', sent: PER_RUN, received: PER_RUN - 1, errors: 3, order_violations: 4 });
      expect(r.p50_us).toBeGreaterThan(0);
      expect(r.p99_us).toBeGreaterThanOrEqual(r.p50_us);
    }
    expect(report).toEqual({ pings: 4, pingErrors: 0 });
  }, 30_000);

  it('bus PINGs at 8 and at 65535 in flight: nothing lost, latencies recorded; the window goes with its device', async () => {
    const p = freshPaths('engine-ok');
    const device = await scriptedDevice(p.path);
    const ch = await openFrameChannel(`vmamp:${p.path}?size=8192`, { waitMs: 10_000 });
    try {
      const ping = await runFrameBench(ch, { mode: 'ping', dev: 0, count: 5000, outstanding: 8, idleMs: 2000 });
      expect(ping).toMatchObject({ sent: 5000, received: 5000, errors: 0, order_violations: 0 });
      expect(ping.p50_us).toBeGreaterThan(0);
      // The most frames in flight the CLI takes: the engine's state still fits the channel.
      const wide = await runFrameBench(ch, { mode: 'ping', dev: 0, count: 3000, outstanding: 65535, idleMs: 2000 });
      expect(wide).toMatchObject({ sent: 3000, received: 3000, errors: 0, order_violations: 0 });
    } finally {
      await ch.close();
    }
    await device.stop();
    expect(existsSync(p.path)).toBe(false);
  }, 30_000);
});
