// c-anchor: the C baseline of ../shared/anchors (bench.c + ring.h), built into a temporary
// directory by the runner and run in the same invocation as our cases, so every ratio compares
// numbers measured minutes apart on the same (noisy) machine. Each run of the binary prints
// `RESULT <case> <unit> median=… min=… max=… reps=…`; the median over its reps is the value.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

/** The shared anchors directory: a sibling of the repository (read-only). */
export function anchorsDir(): string {
  return join(packageRoot(), '..', 'shared', 'anchors');
}

export type AnchorBuild = { bin: string } | { skipped: string };

/** Compile bench.c into `tmpDir`, or say why the C rows are skipped. */
export function buildAnchor(tmpDir: string): AnchorBuild {
  const dir = anchorsDir();
  const src = join(dir, 'bench.c');
  if (!existsSync(src) || !existsSync(join(dir, 'ring.h'))) return { skipped: `no anchors at ${dir}` };
  const bin = join(tmpDir, 'anchor-bench');
  try {
    execFileSync('cc', ['-O2', '-pthread', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') return { skipped: 'no C compiler (cc) on PATH' };
    return { skipped: `cc failed: ${err.stderr?.toString().trim() ?? err.message}` };
  }
  return { bin };
}

/** Parse the value of `median=` from a `RESULT …` line of the anchor's output. */
export function parseAnchorMedian(output: string): number {
  const line = output.split('\n').find((l) => l.startsWith('RESULT '));
  const m = line?.match(/ median=([0-9.eE+-]+)/);
  if (m === null || m === undefined) throw new Error(`anchor printed no RESULT line: ${output.trim()}`);
  return Number(m[1]);
}
