// The reference devices (Device SDK: entropy, block, echo) behind a Router pass every rule the
// conformance checker can apply to them, and the load engine's init-storm and config-rw
// profiles run against them with every answer verified.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { InprocChannel } from '../../src/bus/inproc-channel.js';
import { spawnDeviceWorker, type DeviceWorkerHandle } from '../../src/device/spawn.js';
import { runConformance } from '../../src/conform/runner.js';
import { DEFAULT_QUEUE_BASE } from '../../src/conform/context.js';
import { runLoad } from '../../src/loadgen/engine.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-refdev-'));
let router: Router;
let devices: DeviceWorkerHandle;

beforeAll(async () => {
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, Buffer.alloc(256 * 1024));
  // Router timeout 2500 ms: the held-answers case below needs a hold that outlasts the first run
  // (which takes a while on a loaded machine) by more than the second run's 300 ms rule timeout.
  router = await Router.create({ shards: 1, timeoutMs: 2500 });
  const link = await router.attachDevice({ devices: [2, 3, 4] });
  // Guest memory where the checker's test queue lands (DEFAULT_QUEUE_BASE, as vmsg route's devices).
  const memory = { buffer: new SharedArrayBuffer(1 << 20), offset: 0, length: 1 << 20, base: DEFAULT_QUEUE_BASE };
  devices = spawnDeviceWorker({ link, memory, devices: [{ dev: 2, kind: 'entropy' }, { dev: 3, kind: 'block', block: { path: disk } }, { dev: 4, kind: 'echo' }] });
});
afterAll(async () => {
  await devices.stop();
  await router.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('reference devices', () => {
  it.each([[3, undefined], [2, ['device']], [4, ['device']]] as const)('device %i passes every rule that applies to it', async (dev, only) => {
    const ch = await InprocChannel.attach(router);
    try {
      const r = await runConformance(ch, { dev, timeoutMs: 5000, quietMs: 100, only: only === undefined ? undefined : [...only] });
      expect(r.rules.filter((x) => x.status === 'FAIL').map((x) => `${x.id}: ${x.detail}`)).toEqual([]);
      expect(r.summary.pass).toBeGreaterThanOrEqual(only === undefined ? 19 : 8);
      // What is skipped says why (no config space on entropy/echo, no EVENT_DEVICE seen, ...).
      for (const x of r.rules.filter((y) => y.status === 'SKIP')) expect(x.detail).not.toBe('');
    } finally {
      await ch.close();
    }
  });

  it('a run right after one that left requests unanswered waits for the held answers instead of failing', async () => {
    const ch = await InprocChannel.attach(router);
    try {
      // Truncated requests: the device drops them, so the router holds device 3's later answers
      // until it fails them at its own timeout (2500 ms here).
      const first = await runConformance(ch, { dev: 3, timeoutMs: 5000, quietMs: 100, only: ['device.malformed'] });
      expect(first.summary.fail).toBe(0);
      const second = await runConformance(ch, { dev: 3, timeoutMs: 300, quietMs: 50, settleMs: 5000, only: ['bus.order', 'device.reset'] });
      expect(second.rules.filter((x) => x.status === 'FAIL').map((x) => `${x.id}: ${x.detail}`)).toEqual([]);
      expect(second.first_answer_ms).toBeGreaterThan(300); // it was held, longer than the rules' timeout
    } finally {
      await ch.close();
    }
  });

  it('init-storm and config-rw run against the block and entropy devices with every answer verified', async () => {
    const ch = await InprocChannel.attach(router);
    try {
      // 1 s: long enough for whole sequences even when the device worker gets little CPU.
      const init = await runLoad(ch, { profile: { name: 'init-storm' }, devices: [2, 3], durationS: 1, warmupS: 0, timeoutMs: 10_000 });
      expect(init.error_kinds).toEqual({});
      expect(init.order_violations).toBe(0);
      expect(init.counters.sequences_completed).toBeGreaterThan(0);
      expect(init.counters.features_refused).toBe(0);
      const cfg = await runLoad(ch, { profile: { name: 'config-rw' }, devices: [3], outstanding: 1, durationS: 0.2, warmupS: 0, timeoutMs: 10_000 });
      expect(cfg.error_kinds).toEqual({});
      expect(cfg.completed).toBeGreaterThan(0);
    } finally {
      await ch.close();
    }
  });
});
