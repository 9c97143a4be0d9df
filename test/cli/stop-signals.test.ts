// SIGTERM ends `vmsg demo` and `vmsg stress` as Ctrl-C does: the run stops, its report is
// printed, exit 0, and the temporary directory with its disk image is gone. (SIGTERM used to
// kill them at once, leaving vmsg-demo-* / vmsg-stress-* with a disk image in the temp dir.)
// Each run gets a temp dir of its own (TMPDIR), so what it leaves behind is seen exactly.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN } from './run-vmsg.js';

const roots: string[] = [];
afterAll(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

interface Stopped { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; exitMs: number; left: string[] }

/**
 * Start `vmsg ARGS` with a TMPDIR of its own, wait until its temporary directory exists and
 * stdout has shown `ready`, send `signal`, and collect how it ended and what it left there.
 */
async function runAndSignal(args: string[], ready: RegExp, signal: NodeJS.Signals): Promise<Stopped> {
  const tmp = mkdtempSync(join(tmpdir(), 'vmsg-stop-signals-'));
  roots.push(tmp);
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (status, sig) => resolve({ status, signal: sig })));
  try {
    const deadline = Date.now() + 20_000;
    while (!(ready.test(stdout) && readdirSync(tmp).length > 0)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`not ready: stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}, ${tmp}: [${readdirSync(tmp).join(', ')}]`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const t0 = performance.now();
    child.kill(signal);
    const end = await exited;
    return { ...end, stdout, stderr, exitMs: performance.now() - t0, left: readdirSync(tmp) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('a stop signal ends a run with its report and removes its temporary files', () => {
  it('vmsg stress, SIGTERM: report, exit 0, no vmsg-stress-* left', async () => {
    const r = await runAndSignal(['stress', '--duration', '60'], /\(Ctrl-C stops\)/, 'SIGTERM');
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/messages_lost\s+0/);
    expect(r.left).toEqual([]);
    expect(r.exitMs).toBeLessThan(10_000);
  });

  it('vmsg stress --model, SIGTERM during the first run: the other runs are skipped, the table printed', async () => {
    const r = await runAndSignal(['stress', '--model', 'vmamp-pci,spsc-v1', '--duration', '60'], /running vmamp-pci/, 'SIGTERM');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^vmamp-pci\s+inline\s+\d+/m);
    expect(r.stdout).not.toMatch(/running spsc-v1/);
    expect(r.left).toEqual([]);
  });

  it('vmsg demo, SIGTERM: summary, exit 0, no vmsg-demo-* left', async () => {
    const r = await runAndSignal(['demo', '--duration', '60', '--devices', '2'], /for 60 s \(Ctrl-C stops\)/, 'SIGTERM');
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/mismatches\s+0/);
    expect(r.left).toEqual([]);
    expect(r.exitMs).toBeLessThan(10_000);
  });
});
