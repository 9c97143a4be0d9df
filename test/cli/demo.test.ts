// `vmsg demo` (npm start) as a user runs it: a real process with the router, the virtio devices
// and both drivers in worker threads; the summary proves every device was initialised and every
// block byte read back was what was written.
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

describe('vmsg demo', () => {
  it('--json prints one summary with every device initialised, verified block bytes and no mismatch', async () => {
    const { status, stdout } = await new Promise<{ status: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [MAIN, 'demo', '--duration', '1', '--json', '--devices', '2'], { encoding: 'utf8', timeout: 60_000 }, (err, out) => {
        resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout: out });
      });
    });
    expect(status).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(s.virtio_devices).toEqual(['block 4096 (131072 sectors)', 'entropy 4097', 'echo 4098']);
    expect(s.verified_bytes).toBeGreaterThan(0);
    expect(s).toMatchObject({ mismatches: 0, errors: 0, order_errors: 0, dropped: 0, drops_by_reason: {} });
    expect(s.messages_routed).toBeGreaterThan(0);
    expect(s.entropy_bytes).toBeGreaterThan(0);
    expect(s.echo_round_trips).toBeGreaterThan(0);
    for (const k of ['seconds', 'shards', 'devices', 'requests_sent', 'round_trips', 'round_trips_per_s', 'failures']) expect(s).toHaveProperty(k);
  });

  it('Ctrl-C stops it cleanly: the summary is printed and the exit status is 0', async () => {
    const child = spawn(process.execPath, [MAIN, 'demo', '--duration', '120', '--devices', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    // Interrupt soon after the banner: it may still be starting, which must end cleanly too.
    await new Promise<void>((resolve) => {
      const check = (): void => { if (out.includes('Ctrl-C stops')) resolve(); else setTimeout(check, 20); };
      check();
    });
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/^ {2}mismatches +0$/m);
    expect(out).toMatch(/^ {2}verified_bytes +[1-9]/m);
  });
});
