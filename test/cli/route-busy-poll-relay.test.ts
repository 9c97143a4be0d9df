// `vmsg route` relaying between two busy-poll windows (no doorbell sockets) with its defaults:
// C driver → window A → vmsg route → window B → C device. Three pollers (two C peers and the
// shard): on a machine with fewer CPUs than that the start-up line must say what the router
// chose, and whatever it chose, every answer still comes back, checked and in order.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';
import { freshPaths, peerArgs, peerSkipReason, startPeer, type PeerRun } from '../bus/helpers.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

const running: { kill(): void }[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

function startRoute(args: string[]): { proc: ChildProcess; stderr(): string; done: Promise<{ code: number | null; stdout: string }> } {
  const proc = spawn(process.execPath, [MAIN, 'route', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push({ kill: () => proc.kill('SIGKILL') });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) => proc.on('close', (code) => resolve({ code, stdout: out })));
  return { proc, stderr: () => err, done };
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Threads of process `pid` and the CPUs each may run on (Cpus_allowed_list), by thread id. */
function affinities(pid: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      m.set(t, /^Cpus_allowed_list:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))![1]!);
    } catch {
      // the thread ended meanwhile
    }
  }
  return m;
}

function peer(args: string[]): PeerRun {
  const p = startPeer(args);
  running.push({ kill: () => p.proc.kill('SIGKILL') });
  return p;
}

describe.skipIf(peerSkipReason !== null)('vmsg route between two busy-poll windows', () => {
  it('says how many busy threads share how many CPUs and what the shard does about it; every answer comes back in order', async () => {
    const a = freshPaths('poll-relay-a');
    const b = freshPaths('poll-relay-b');
    const device = peer([...peerArgs('vmamp', 'device', b, 8192, false), '--devices', '1']);
    const r = startRoute(['--driver-link', `vmamp:${a.path}?size=8192`, '--device-link', `vmamp:${b.path}?size=8192`]);
    await until('the device link', () => /link up: --device-link/.test(r.stderr()));
    const line = /routing: .*/.exec(r.stderr())?.[0] ?? '';
    const cpus = availableParallelism();
    // One shard (no stream link) and two polling peers.
    if (cpus < 3) {
      expect(line).toContain(`busy-poll: 3 busy threads (2 polling peer(s), 1 shard(s)) on ${cpus} CPU(s), more than the CPUs; shards spin up to 32 empty passes for an answer from another CPU, then yield the CPU between looks${cpus > 1 ? '; each shard moves to the CPU where it routes most' : ''}`);
    } else {
      expect(line).toContain(`busy-poll: 3 busy threads (2 polling peer(s), 1 shard(s)) on ${cpus} CPU(s); shards yield the CPU between looks`);
    }
    // 8 in flight, each answer checked by the C driver (response bit, id, dev_num, token, order).
    const driver = peer([...peerArgs('vmamp', 'driver', a, 8192, false), '--dev', '1', '--count', '20000', '--outstanding', '8']);
    const out = await driver.done;
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ sent: 20000, received: 20000, errors: 0, order_violations: 0 });
    r.proc.kill('SIGTERM');
    const end = await r.done;
    expect(end.code).toBe(0);
    const counters = JSON.parse(end.stdout.trim()) as { devices: { dev: number; requests: number; responses: number }[] };
    expect(counters.devices.find((d) => d.dev === 1)).toMatchObject({ requests: 20000, responses: 20000 });
    await device.done; // it saw our SHUTDOWN
  }, 60_000);

  it('--busy-poll-spins and --busy-poll-seek override the choice, and the start-up line says they were given', async () => {
    const a = freshPaths('poll-relay-a');
    const b = freshPaths('poll-relay-b');
    const device = peer([...peerArgs('vmamp', 'device', b, 8192, false), '--devices', '1']);
    const r = startRoute(['--driver-link', `vmamp:${a.path}?size=8192`, '--device-link', `vmamp:${b.path}?size=8192`, '--busy-poll-spins', '0', '--busy-poll-seek', 'off']);
    await until('the device link', () => /link up: --device-link/.test(r.stderr()));
    expect(/routing: .*/.exec(r.stderr())?.[0]).toMatch(/; shards yield the CPU between looks \(as given\)$/);
    const driver = peer([...peerArgs('vmamp', 'driver', a, 8192, false), '--dev', '1', '--count', '2000', '--outstanding', '8']);
    const out = await driver.done;
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ sent: 2000, received: 2000, errors: 0, order_violations: 0 });
    r.proc.kill('SIGTERM');
    expect((await r.done).code).toBe(0);
    await device.done;
  }, 60_000);

  it.skipIf(availableParallelism() < 2)('--busy-poll-seek on: while frames flow the shard runs on one CPU of its own choosing, and on all of them again once the links fall idle', async () => {
    const a = freshPaths('poll-relay-a');
    const b = freshPaths('poll-relay-b');
    const device = peer([...peerArgs('vmamp', 'device', b, 8192, false), '--devices', '1']);
    const r = startRoute(['--driver-link', `vmamp:${a.path}?size=8192`, '--device-link', `vmamp:${b.path}?size=8192`, '--busy-poll-seek', 'on']);
    await until('the device link', () => /link up: --device-link/.test(r.stderr()));
    const pid = r.proc.pid!;
    const all = affinities(pid).get(String(pid))!;
    const pinned = (): string[] => [...affinities(pid).entries()].filter(([, cpus]) => cpus !== all).map(([t, cpus]) => `${t}:${cpus}`);
    expect(pinned()).toEqual([]);
    const driver = peer([...peerArgs('vmamp', 'driver', a, 8192, false), '--dev', '1', '--count', '1000000000', '--seconds', '1', '--outstanding', '8']);
    // Its first try comes after 4 epochs of frames (32 ms).
    await until('a thread of vmsg route pinned to one CPU', () => pinned().length === 1, 10_000);
    expect(pinned()[0]).toMatch(/^\d+:\d+$/);
    const out = await driver.done;
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ errors: 0, order_violations: 0 });
    // No frames: within a few ms the shard naps, and may run anywhere again.
    await until('the shard to let go of its CPU', () => pinned().length === 0, 10_000);
    r.proc.kill('SIGTERM');
    expect((await r.done).code).toBe(0);
    await device.done;
  }, 60_000);
});
