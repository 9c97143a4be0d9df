// c-anchor: the C baseline (bench/c/baseline.c + spsc-ring.h), built into a temporary directory
// by the runner and run in the same invocation as our cases, so every ratio compares numbers
// measured minutes apart on the same (noisy) machine. Each run of the binary prints
// `RESULT <case> <unit> median=… min=… max=… reps=…`; the median over its reps is the value.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

/** Where the C baseline's sources are: bench/c of the checkout. */
export function anchorSourceDir(): string {
  return join(packageRoot(), 'bench', 'c');
}

export type AnchorBuild = { bin: string } | { skipped: string };

/** Compile baseline.c into `tmpDir`, or say why the C rows are skipped. */
export function buildAnchor(tmpDir: string): AnchorBuild {
  const dir = anchorSourceDir();
  const src = join(dir, 'baseline.c');
  if (!existsSync(src) || !existsSync(join(dir, 'spsc-ring.h'))) return { skipped: `no C baseline sources at ${dir}` };
  const bin = join(tmpDir, 'c-baseline');
  try {
    execFileSync('cc', ['-O2', '-pthread', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') return { skipped: 'no C compiler (cc) on PATH' };
    return { skipped: `cc failed: ${err.stderr?.toString().trim() ?? err.message}` };
  }
  return { bin };
}

/** Parse the value of `median=` from the first `RESULT …` line of the baseline's output. */
export function parseAnchorMedian(output: string): number {
  const line = output.split('\n').find((l) => l.startsWith('RESULT '));
  const m = line?.match(/ median=([0-9.eE+-]+)/);
  if (m === null || m === undefined) throw new Error(`C baseline printed no RESULT line: ${output.trim()}`);
  return Number(m[1]);
}
