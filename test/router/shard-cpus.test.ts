// RouterOptions.shardCpus and EndpointPort avoidCpus: a spinning shard on a CPU of its own, and
// the endpoint threads it wakes kept off that CPU (a woken thread placed on the shard's CPU
// preempts it: docs/BENCHMARKS.md "pipeline"). Checked on the kernel's own record of each
// thread's allowed CPUs (/proc/self/task/TID/status), with a real router and worker thread.
import { describe, expect, test } from 'vitest';
import { Worker } from 'node:worker_threads';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Router } from '../../src/router/router.js';
import { resolveRouterOptions } from '../../src/router/options.js';
import { tryBellAddon } from '../../src/native/bell.js';
import { parseCpuListText } from '../../src/native/cpu-affinity.js';
import { wasmModule } from '../../src/wasm/module.js';
import { EndpointPort } from '../../src/endpoint/port.js';

const tasks = (): string[] => readdirSync('/proc/self/task');
const allowedOf = (tid: string): string | undefined => {
  try {
    return /^Cpus_allowed_list:\s+(.*)$/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined; // the thread ended meanwhile
  }
};
/** The CPUs this process may use, as numbers. */
function ourCpus(): number[] {
  const list = new Int32Array(1024);
  const n = tryBellAddon()!.cpus(list);
  return [...list.subarray(0, n)];
}

describe('router option shardCpus', () => {
  test('is a non-empty list of CPU numbers, and not with busyPollSeek', () => {
    expect(resolveRouterOptions({ shards: 1 }).shardCpus).toEqual([]);
    expect(resolveRouterOptions({ shards: 1, shardCpus: [0] }).shardCpus).toEqual([0]);
    for (const bad of [[], [-1], [1.5], [1024], ['1'], [0, 0], 3]) {
      expect(() => resolveRouterOptions({ shards: 1, shardCpus: bad as unknown as number[] })).toThrow(/router option shardCpus must be a non-empty list of distinct CPU numbers from 0 to 1023/);
    }
    expect(() => resolveRouterOptions({ shards: 1, shardCpus: [0], busyPollSeek: true })).toThrow(/shardCpus and busyPollSeek exclude each other/);
  });

  const usable = tryBellAddon() !== null && availableParallelism() >= 2 && ourCpus().length >= 2;

  test.skipIf(tryBellAddon() === null)('Router.create refuses a CPU this process may not run on (the shard could only run unpinned)', async () => {
    const missing = ourCpus().length < 1024 ? 1023 : -1;
    await expect(Router.create({ shards: 1, shardCpus: [missing] })).rejects.toThrow(/router option shardCpus: CPU 1023 is not one this process may use \(online and in its cpuset: /);
  });

  test('a port refuses an avoidCpus that is not a list of distinct CPU numbers', async () => {
    const router = await Router.create({ shards: 1 });
    try {
      const link = await router.attachDriver({});
      for (const bad of [[-1], [1.5], [4096], ['x'], [1, 1], 3]) {
        expect(() => new EndpointPort(link, { avoidCpus: bad as unknown as number[] })).toThrow(/port option avoidCpus must be a list of distinct CPU numbers from 0 to 1023/);
      }
      // Empty: none to avoid (an unpinned router's shardCpus passed along).
      const none = new EndpointPort(link, { avoidCpus: [] });
      expect(none.avoidedCpus).toBe(false);
      none.close();
    } finally {
      await router.close();
    }
  });

  test.skipIf(!usable)('ports of one thread avoid CPUs together: closing one in any order gives back only what no other avoids; a router made from the narrowed thread still pins', async () => {
    const cpus = ourCpus();
    const [a, b] = [cpus[cpus.length - 1]!, cpus[0]!];
    const router = await Router.create({ shards: 1 });
    try {
      const link = await router.attachDriver({});
      const p1 = new EndpointPort(link, { avoidCpus: [a] });
      const p2 = new EndpointPort(link, { avoidCpus: [a] });
      expect(p1.avoidedCpus && p2.avoidedCpus).toBe(true);
      expect(ourCpus()).toEqual(cpus.filter((c) => c !== a));
      // This thread is narrowed now: a router made from it may still pin a shard to `a`.
      const pinned = await Router.create({ shards: 1, shardCpus: [a] });
      await pinned.close();
      p1.close(); // made first, closed first: p2 still avoids `a`
      expect(ourCpus()).toEqual(cpus.filter((c) => c !== a));
      if (cpus.length > 2) {
        const p3 = new EndpointPort(link, { avoidCpus: [b] });
        expect(ourCpus()).toEqual(cpus.filter((c) => c !== a && c !== b));
        p2.close();
        expect(ourCpus()).toEqual(cpus.filter((c) => c !== b));
        p3.close();
      } else p2.close();
      expect(ourCpus()).toEqual(cpus);
    } finally {
      await router.close();
    }
  });

  test.skipIf(!usable)('pins the shard thread, and a port made with avoidCpus keeps its thread off that CPU', async () => {
    const cpus = ourCpus();
    const cpu = cpus[cpus.length - 1]!;
    const before = new Set(tasks());
    const router = await Router.create({ shards: 1, shardCpus: [cpu] });
    let worker: Worker | undefined;
    try {
      // The shard pins itself as it starts: wait for a new thread allowed only that CPU.
      let pinned: string[] = [];
      for (let i = 0; i < 200 && pinned.length === 0; i++) {
        pinned = tasks().filter((t) => !before.has(t) && allowedOf(t) === String(cpu));
        if (pinned.length === 0) await new Promise((r) => setImmediate(r));
      }
      expect(pinned.length).toBe(1);
      // The router still routes (a driver's PING would need a device: attach both).
      const link = await router.attachDriver({});
      worker = new Worker(new URL('./workers/cpu-avoider.mjs', import.meta.url), { workerData: { link, module: wasmModule(), avoidCpus: [cpu] } });
      const got = await new Promise<{ before: string; allowed: string; afterClose: string; avoided: boolean }>((resolve, reject) => {
        worker!.once('message', resolve);
        worker!.once('error', reject);
      });
      expect(got.avoided).toBe(true);
      const rest = cpus.filter((c) => c !== cpu);
      const listed = parseCpuListText(got.allowed);
      expect(listed).toEqual(rest);
      // close() gives the thread the CPUs it had: later threads it starts are not narrowed.
      expect(got.afterClose).toBe(got.before);
    } finally {
      await worker?.terminate();
      await router.close();
    }
  });
});
