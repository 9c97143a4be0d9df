// The soak tool (tools/soak.ts): its memory verdict judges the RSS trend after the level the
// run's rate settles at, not the level; and a short real run reports where its memory is and
// accounts for every request.
import { describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/paths.js';
import { rssVerdict, slope, type RssSample } from '../../tools/soak-verdict.js';

const soak = join(packageRoot(), 'dist', 'tools', 'soak.js');
const run = promisify(execFile);

/** Samples every `stepS` seconds from 0 to `seconds`, RSS given by `f(t)`. */
const series = (seconds: number, stepS: number, f: (t: number) => number): RssSample[] =>
  Array.from({ length: Math.floor(seconds / stepS) + 1 }, (_, i) => ({ t: i * stepS, rssMiB: f(i * stepS) }));
/** A deterministic ±1 MiB wobble, like a collector's swings between samples. */
const wobble = (t: number): number => Math.sin(t * 0.37) + 0.5 * Math.sin(t * 1.91);

describe('soak memory verdict', () => {
  test('slope is the least-squares slope', () => {
    expect(slope([0, 1, 2, 3], [1, 3, 5, 7])).toBeCloseTo(2, 12);
    expect(slope([5], [1])).toBe(0);
  });

  test('a level reached in the first half (the peak rate arriving late) is not drift', () => {
    // The shape of a 60-minute run: ~111 MiB while the machine held the rate down, 117.5 MiB
    // after the rate rose at 27 minutes, flat from there.
    const v = rssVerdict(series(3600, 10, (t) => (t < 1630 ? 111 : 117.5) + 0.3 * wobble(t)), 60);
    expect(v.growthPct).toBeGreaterThan(5); // what the old rule judged
    expect(Math.abs(v.driftPct)).toBeLessThan(0.5);
  });

  test('a steady leak fails as it did under the old rule', () => {
    // 2 MiB a minute from 130 MiB, the first 60-minute run's leak.
    const v = rssVerdict(series(3600, 10, (t) => 130 + (2 * t) / 60 + wobble(t)), 60);
    expect(v.driftPct).toBeGreaterThan(50);
    expect(v.slopeMiBPerMin).toBeCloseTo(2, 1);
    // A slow one too: 0.1 MiB a minute is +5.3 % over 59 minutes of 112 MiB.
    expect(rssVerdict(series(3600, 10, (t) => 112 + (0.1 * t) / 60 + 0.3 * wobble(t)), 60).driftPct).toBeGreaterThan(5);
  });

  test('a rise in the second half counts: the level is not yet shown to be bounded', () => {
    const v = rssVerdict(series(600, 10, (t) => (t < 450 ? 110 : 118)), 60);
    expect(v.driftPct).toBeGreaterThan(5);
  });

  test('samples before the warm-up are left out', () => {
    const v = rssVerdict(series(600, 10, (t) => (t < 60 ? 200 - t : 105)), 60);
    expect(v.baseline).toBe(105);
    expect(v.driftPct).toBe(0);
  });
});

describe('soak tool', () => {
  test('--help states the memory rule; a bad option exits 2', async () => {
    const { stdout } = await run(process.execPath, [soak, '--help'], { timeout: 30_000 });
    expect(stdout).toMatch(/second half/);
    expect(stdout).toMatch(/--max-growth/);
    const bad = await run(process.execPath, [soak, '--minutes', 'x'], { timeout: 30_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toMatch(/--minutes needs a number/);
  });

  test('a 15-second run: nothing lost, accounting exact, RSS split into anonymous, file and shared, the young generation of each worker', async () => {
    // The memory limit is not judged here: 15 seconds say nothing about drift.
    const { stdout } = await run(process.execPath, [soak, '--minutes', '0.25', '--max-growth', '1000', '--json'], { timeout: 90_000 });
    const r = JSON.parse(stdout) as {
      ok: boolean; problems: string[]; requests: number; lost: number;
      rssMiB: { driftPct: number; slopeMiBPerMin: number };
      samples: {
        rssMiB: number; anonMiB: number; fileMiB: number; shmemMiB: number;
        heaps: { main: { newSpaceMiB: number }; echo: ({ newSpaceMiB: number; physicalMiB: number } | null)[]; load: ({ newSpaceMiB: number } | null)[] };
      }[];
    };
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.requests).toBeGreaterThan(0);
    expect(r.lost).toBe(0);
    expect(Number.isFinite(r.rssMiB.driftPct)).toBe(true);
    expect(r.samples.length).toBeGreaterThanOrEqual(6);
    for (const s of r.samples) {
      expect(s.anonMiB).toBeGreaterThan(0);
      expect(s.fileMiB).toBeGreaterThan(0);
      expect(s.shmemMiB).toBeGreaterThanOrEqual(0);
      // The three parts are the RSS (read a moment apart: within a few MiB).
      expect(Math.abs(s.anonMiB + s.fileMiB + s.shmemMiB - s.rssMiB)).toBeLessThan(8);
      expect(s.heaps.main.newSpaceMiB).toBeGreaterThan(0);
      expect(s.heaps.echo).toHaveLength(2);
      expect(s.heaps.load).toHaveLength(2);
    }
    // Every worker answered its heap probe by the last sample (asked at each one).
    const last = r.samples[r.samples.length - 1]!;
    for (const h of [...last.heaps.echo, ...last.heaps.load]) {
      expect(h).not.toBeNull();
      expect(h!.newSpaceMiB).toBeGreaterThan(0);
    }
  });
});
