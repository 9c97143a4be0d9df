// `vmsg stress` as a user runs it: driver, router and block device in real threads with the queue
// geometry of a 496-byte vmamp window (3 slots of 64 bytes per direction, 2 frames in flight).
// The report must show the geometry, every block byte verified, and frame accounting in which
// every frame sent was received (no message lost).
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { packageRoot } from '../../src/util/paths.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

function vmsg(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

interface Report {
  slots_per_direction: number;
  in_flight_per_direction: number;
  max_message_size: number;
  block: { requests: number; verified_bytes: number; mismatches: number; errors: number };
  latency_us: { p50: number; p99: number; samples: number };
  messages: { routed: number; oob_avail_signals: number; oob_used_signals: number };
  queue_full: { total: number };
  accounting: Record<string, number>;
  messages_lost: number;
  failures: number;
  drops_by_reason: Record<string, number>;
  dma_jobs: { jobs: number; offloaded: number };
}

function checkNothingLost(r: Report): void {
  const a = r.accounting;
  expect(a.router_took_from_driver).toBe(a.driver_sent);
  expect(a.device_received).toBe(a.router_gave_device);
  expect(a.router_took_from_device).toBe(a.device_sent);
  expect(a.driver_received).toBe(a.router_gave_driver);
  expect(r).toMatchObject({ messages_lost: 0, failures: 0, drops_by_reason: {} });
  expect(r.block).toMatchObject({ mismatches: 0, errors: 0 });
  expect(r.block.verified_bytes).toBeGreaterThan(0);
  expect(r.latency_us.samples).toBe(r.block.requests);
}

describe('vmsg stress', () => {
  it('--window 496 --dma inline --notify inband: 3 slots, 2 in flight, 64-byte frames; nothing lost', async () => {
    const { status, stdout } = await vmsg('stress', '--window', '496', '--dma', 'inline', '--notify', 'inband', '--duration', '1', '--json');
    expect(status).toBe(0);
    const r = JSON.parse(stdout) as Report;
    expect(r).toMatchObject({ slots_per_direction: 3, in_flight_per_direction: 2, max_message_size: 64 });
    checkNothingLost(r);
    expect(r.messages.routed).toBeGreaterThan(64); // notifications travel as frames, not only initialisation
    expect(r.dma_jobs.offloaded).toBe(0);
  });

  it('--dma offload --notify oob: buffers processed in the pool, notifications as doorbells; nothing lost', async () => {
    const { status, stdout } = await vmsg('stress', '--dma', 'offload', '--notify', 'oob', '--duration', '1', '--json');
    expect(status).toBe(0);
    const r = JSON.parse(stdout) as Report;
    checkNothingLost(r);
    expect(r.messages.oob_avail_signals).toBeGreaterThan(0);
    expect(r.messages.oob_used_signals).toBeGreaterThan(0);
    expect(r.messages.routed).toBeLessThan(64); // only initialisation travels as frames
    expect(r.dma_jobs.offloaded).toBe(r.dma_jobs.jobs);
  });

  it('a window too small for 3 slots is a usage error naming the flag', async () => {
    const r = await vmsg('stress', '--window', '400');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--window needs an integer from 464/);
  });

  it('--model sram-496,ffa-fifo: the same workload on each bus, the model\'s geometry and window applied, nothing lost; --report draws one series per run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-stress-models-'));
    try {
      const report = join(dir, 'models.html');
      const { status, stdout } = await vmsg('stress', '--model', 'sram-496,ffa-fifo', '--duration', '1', '--json', '--report', report);
      expect(status).toBe(0);
      const out = JSON.parse(stdout) as { format: string; runs: { model: string; dma: string; report: Report & { bus: Record<string, number>; model: string }; error: null }[] };
      expect(out.format).toBe('vmsg-stress-models');
      expect(out.runs.map((r) => [r.model, r.dma, r.error])).toEqual([['sram-496', 'inline', null], ['ffa-fifo', 'inline', null]]);
      const [sram, ffa] = out.runs.map((r) => r.report);
      expect(sram).toMatchObject({ slots_per_direction: 2, max_message_size: 64 });
      expect(ffa).toMatchObject({ slots_per_direction: 29, max_message_size: 104 });
      for (const r of [sram!, ffa!]) {
        checkNothingLost(r);
        expect(r.bus.dropped).toBe(0);
        expect(r.accounting.bus_gave_device).toBe(r.accounting.device_received);
      }
      // AMP: one request in flight per device, token 1; FF-A: the per-endpoint counter.
      expect(sram!.bus.in_flight_max).toBe(1);
      expect(sram!.bus.tokens_rewritten).toBeGreaterThan(0);
      const html = readFileSync(report, 'utf8');
      expect(html.match(/class="series" data-series="[^"]*"/g)?.filter((m) => m.includes('inline')).length).toBe(4); // latency curve + rate, per run
      expect(html).toContain('data-series="sram-496 inline"');
      expect(html).toContain('data-series="ffa-fifo inline"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--model with a bad model file is a usage error naming the field by its JSON pointer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-stress-models-'));
    try {
      const file = join(dir, 'bad.json');
      const doc = JSON.parse(readFileSync(join(packageRoot(), 'models', 'vmamp-pci.json'), 'utf8'));
      doc.outstanding.limit = 0;
      writeFileSync(file, JSON.stringify(doc));
      const r = await vmsg('stress', '--model', `vmamp-pci,${file}`);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`--model: ${file}: /outstanding/limit: must be an integer from 1 to 65535, got number 0`);
      const w = await vmsg('stress', '--model', 'vmamp-pci', '--window', '496');
      expect(w.status).toBe(2);
      expect(w.stderr).toMatch(/--window and --model exclude each other/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
