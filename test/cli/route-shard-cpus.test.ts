// `vmsg route --shard-cpus`: the shard thread pinned (the kernel's record of its allowed CPUs),
// the built-in echo device's thread kept off that CPU, the start-up line saying so, and bad
// lists refused with exit 2 before anything starts.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';
import { tryBellAddon } from '../../src/native/bell.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const running: ChildProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
});

/** CPUs each thread of `pid` may run on (Cpus_allowed_list), by thread id. */
function affinities(pid: number): string[] {
  const out: string[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.push(/^Cpus_allowed_list:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))![1]!);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

function ourCpus(): number[] {
  const list = new Int32Array(1024);
  return [...list.subarray(0, tryBellAddon()!.cpus(list))];
}

const route = (args: string[]) => spawnSync(process.execPath, [MAIN, 'route', ...args], { encoding: 'utf8', timeout: 20_000 });

describe('vmsg route --shard-cpus', () => {
  it('refuses a list that is not CPU numbers, a CPU this process may not use, and --busy-poll-seek on', () => {
    for (const [args, msg] of [
      [['--shard-cpus', '1,x'], /--shard-cpus needs CPU numbers separated by commas/],
      [['--shard-cpus', ''], /--shard-cpus needs CPU numbers/],
      [['--shard-cpus', '1', '--busy-poll-seek', 'on'], /shardCpus and busyPollSeek exclude each other/],
      ...(tryBellAddon() !== null ? [[['--shard-cpus', '1023'], /CPU 1023 is not one this process may use/]] : []),
    ] as [string[], RegExp][]) {
      const r = route([...args, '--device', 'echo:1', '--duration', '1']);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });

  const usable = tryBellAddon() !== null && availableParallelism() >= 2 && ourCpus().length >= 2;

  it.skipIf(!usable)('pins the shard, keeps the echo device off its CPU, and says so', async () => {
    const cpus = ourCpus();
    const cpu = cpus[cpus.length - 1]!;
    const proc = spawn(process.execPath, [MAIN, 'route', '--shard-cpus', String(cpu), '--device', 'echo:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.push(proc);
    let err = '';
    proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const deadline = Date.now() + 20_000;
    // Ready once the start-up line is out (the shard pinned itself and the echo worker's port
    // was made before it, see src/cli/route.ts); then exactly one thread is allowed only `cpu`.
    while (!/routing: .* 1 shard\(s\) pinned to CPU\(s\) \d+/.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(err).toContain(`1 shard(s) pinned to CPU(s) ${cpu}`);
    let only: string[] = [];
    let avoiding: string[] = [];
    const rest = cpus.filter((c) => c !== cpu).join(',');
    while (Date.now() < deadline) {
      const a = affinities(proc.pid!);
      only = a.filter((x) => x === String(cpu));
      avoiding = a.filter((x) => x === rest || (cpus.length > 2 && !x.split(/[,-]/).includes(String(cpu)) && x !== ''));
      if (only.length === 1 && avoiding.length >= 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(only).toHaveLength(1); // the shard
    expect(avoiding.length).toBeGreaterThanOrEqual(1); // the echo device's thread
    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
    expect(code).toBe(0);
  });
});
