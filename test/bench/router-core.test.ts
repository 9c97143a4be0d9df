// The router-core benchmark as the bench runner starts it: a real `node dist/bench/router-core.js`
// process. Its per-rep call medians are what tells host weather from a regression
// (docs/BENCHMARKS.md), so they must be there, one per timed rep, and plausible.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/paths.js';

const run = promisify(execFile);
const CORE = join(packageRoot(), 'dist', 'bench', 'router-core.js');

describe('bench router-core', () => {
  it('reports one call median per timed rep, with every response checked', async () => {
    const { stdout, stderr } = await run(process.execPath, [CORE, '--quick', '--reps', '2', '--cpu', '-1']);
    const report = JSON.parse(stdout) as { samples: Record<string, number>; info: { reps: number; errors: number; cpu: unknown; call_median_per_rep: number[] } };
    expect(report.info.reps).toBe(2);
    expect(report.info.errors).toBe(0);
    expect(report.info.cpu).toBe('unpinned');
    expect(report.info.call_median_per_rep).toHaveLength(2);
    for (const r of report.info.call_median_per_rep) expect(r).toBeGreaterThan(0);
    expect(report.samples['router-core']).toBeGreaterThan(0);
    expect(stderr).toMatch(/router-core reps: .* M msgs\/s \(median call: \S+ \S+\)/);
  });

  it('refuses a rep count below one', async () => {
    await expect(run(process.execPath, [CORE, '--quick', '--reps', '0', '--cpu', '-1'])).rejects.toMatchObject({
      stderr: expect.stringContaining('--reps must be at least 1, got 0'),
    });
  });
});
