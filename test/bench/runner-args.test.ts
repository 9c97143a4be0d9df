// The benchmark runner's command line: a mistyped option or case id, or --help, must not start
// the ~14-minute run, and a stopped run leaves no temporary directory. Each runner process gets
// TMPDIR of its own, so "nothing left" is checked exactly (other runs may share /tmp).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/paths.js';

const RUN = join(packageRoot(), 'dist', 'bench', 'run.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Runner { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** `node dist/bench/run.js ARGS` with a TMPDIR of its own; `poll`, called every 20 ms, may signal it. */
function runner(args: string[], tmp: string, poll?: (kill: (s: NodeJS.Signals) => void, pid: number) => void, env: NodeJS.ProcessEnv = {}): Promise<Runner> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [RUN, ...args], { env: { ...process.env, ...env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const poller = poll === undefined ? undefined : setInterval(() => poll((s) => child.kill(s), child.pid!), 20);
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => child.on('close', (status, signal) => {
    clearTimeout(guard);
    clearInterval(poller);
    resolve({ status, signal, stdout, stderr, ms: Date.now() - t0 });
  }));
}

function freshTmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'vmsg-runner-args-'));
  dirs.push(d);
  return d;
}

describe('bench runner: command line', () => {
  it.each([
    [['--bogus'], /^bench: unknown option --bogus \(see: npm run bench -- --help\)$/],
    [['--quick', 'extra'], /^bench: unexpected argument "extra"/],
    [['--runs', 'many'], /^bench: --runs needs a whole number from 1 to 1000, got "many"/],
    [['--only'], /^bench: --only needs a value/],
    [['--only', 'router-core,nosuch'], /^bench: --only: unknown case nosuch; known: c-anchor-route1, router-core, .*pipeline.*, cluster$/],
  ])('%j: one line, exit 2 at once, nothing run and nothing left in TMPDIR', async (args, line) => {
    const tmp = freshTmp();
    const r = await runner(args, tmp);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(line);
    expect(r.ms).toBeLessThan(10_000);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('npm run bench --quick (no --, so npm keeps --quick and runs us without it): exit 2 saying where the -- goes', async () => {
    const tmp = freshTmp();
    const r = await runner([], tmp, undefined, { npm_lifecycle_event: 'bench', npm_config_quick: 'true' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trimEnd()).toBe("bench: npm took --quick as its own option; put -- before the runner's options: npm run bench -- --quick");
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('npm run bench with no arguments (npm may have eaten --only and its value without a trace): one line first says a full run starts', async () => {
    const tmp = freshTmp();
    let stopped = false;
    const r = await runner([], tmp, (kill) => {
      // The run has started (its directory is there), so the line was printed: stop it.
      if (!stopped && readdirSync(tmp).length > 0) {
        stopped = true;
        kill('SIGTERM');
      }
    }, { npm_lifecycle_event: 'bench' });
    expect(r.stderr.split('\n')[0]).toMatch(/^bench: full run: \d+ cases, about 14 minutes; for some cases: npm run -s bench -- --only a,b$/);
    expect(r.status, r.stderr).toBe(143);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('--help prints the usage with every option and the case ids, exit 0, nothing run', async () => {
    const tmp = freshTmp();
    const r = await runner(['--help'], tmp);
    expect(r.status, r.stderr).toBe(0);
    for (const opt of ['--quick', '--only IDS', '--runs N', '--out FILE', '--help']) expect(r.stdout).toContain(opt);
    expect(r.stdout).toMatch(/Case ids: c-anchor-route1, router-core, /);
    expect(r.stderr).toBe('');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('SIGTERM while a case runs: the case ends, its temporary directory and the runner\'s go, exit 143 and no results', async () => {
    const tmp = freshTmp();
    // device-sdk makes a directory of its own in TMPDIR: the runner's cases/ directory, here.
    const caseDirs = (): string[] => readdirSync(tmp).flatMap((d) => {
      try {
        return readdirSync(join(tmp, d, 'cases'));
      } catch {
        return [];
      }
    });
    let sent = false;
    const r = await runner(['--only', 'device-sdk', '--runs', '1', '--quick'], tmp, (kill) => {
      if (!sent && caseDirs().some((d) => d.startsWith('vmsg-bench-device-sdk-'))) {
        sent = true;
        kill('SIGTERM');
      }
    });
    expect(sent, r.stderr).toBe(true);
    expect(r.stderr).toMatch(/stopping \(SIGTERM\): ending the running case and what it started, removing /);
    expect(r.status, r.stderr).toBe(143);
    expect(r.stdout).toBe('');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('SIGTERM while a case runs C peers (vmamp): the case\'s whole process group ends, no window of the run is left in /dev/shm, exit 143', async () => {
    const tmp = freshTmp();
    const shmBefore = new Set(readdirSync('/dev/shm'));
    let group = 0;
    const r = await runner(['--only', 'vmamp', '--runs', '1', '--quick'], tmp, (kill, runnerPid) => {
      if (group !== 0) return;
      const peer = processes().find((p) => p.comm === 'vmsg-peer' && processes().some((l) => l.pid === p.pgrp && l.ppid === runnerPid));
      if (peer !== undefined) {
        group = peer.pgrp;
        kill('SIGTERM');
      }
    });
    expect(group, r.stderr).not.toBe(0);
    expect(r.status, r.stderr).toBe(143);
    expect(r.stdout).toBe('');
    // The runner SIGKILLs the group before it exits; the kernel may take a moment to reap it.
    const deadline = Date.now() + 5000;
    while (processes().some((p) => p.pgrp === group && p.state !== 'Z') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(processes().filter((p) => p.pgrp === group && p.state !== 'Z')).toEqual([]);
    expect(readdirSync('/dev/shm').filter((f) => !shmBefore.has(f) && f.startsWith('vmsg-bench'))).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  }, 30_000);
});

interface Proc { pid: number; comm: string; state: string; ppid: number; pgrp: number }

/** Every process of the machine from /proc/PID/stat (comm may hold spaces: split after its ')'). */
function processes(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    const [state, ppid, pgrp] = stat.slice(close + 2).split(' ');
    out.push({ pid: Number(d), comm: stat.slice(stat.indexOf('(') + 1, close), state: state!, ppid: Number(ppid), pgrp: Number(pgrp) });
  }
  return out;
}
