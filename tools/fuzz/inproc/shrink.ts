// Shrinking a failing in-process case to a short operation sequence that still breaks the same
// promise, and writing it down as a vitest file (test/router/regressions/) that replays it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replayCase, type Op } from './fuzz-case.js';
import type { InprocConfig } from './inproc-router.js';
import type { Violation } from './oracle.js';

/** Does replaying `ops` (then a settle) break `kind`? */
function breaks(cfg: InprocConfig, ops: readonly Op[], kind: string, module?: WebAssembly.Module): Violation | undefined {
  const r = replayCase(cfg, [...ops, ['s']], module);
  return r.violations.find((v) => v.kind === kind);
}

export interface Shrunk {
  ops: Op[];
  violation: Violation;
  replays: number;
}

/**
 * Shrink `ops` (a recorded case whose first violation is of `kind`): cut everything after the
 * operation where it showed, then remove chunks of operations, halving the chunk size, keeping
 * every removal after which the same kind of violation still shows. Bounded by `budgetMs`.
 */
export function shrink(cfg: InprocConfig, ops: readonly Op[], kind: string, firstBadOp: number, budgetMs = 60_000, module?: WebAssembly.Module): Shrunk | undefined {
  const deadline = Date.now() + budgetMs;
  let cur = ops.filter((op) => op[0] !== 's');
  if (firstBadOp >= 0 && firstBadOp < cur.length) cur = cur.slice(0, firstBadOp + 1);
  let replays = 1;
  let found = breaks(cfg, cur, kind, module);
  if (found === undefined) {
    cur = ops.filter((op) => op[0] !== 's');
    found = breaks(cfg, cur, kind, module);
    if (found === undefined) return undefined;
  }
  for (let chunk = cur.length >> 1; chunk >= 1 && Date.now() < deadline; chunk >>= 1) {
    for (let i = 0; i < cur.length && Date.now() < deadline;) {
      const cand = cur.slice(0, i).concat(cur.slice(i + chunk));
      replays++;
      const v = breaks(cfg, cand, kind, module);
      if (v !== undefined) {
        cur = cand;
        found = v;
      } else {
        i += chunk;
      }
    }
  }
  // Drop publishes and reads that no longer follow a write (noise in the test file).
  return { ops: [...cur, ['s']], violation: found, replays };
}

/** The operations as compact JSON lines (frames as hex). */
function opsSource(ops: readonly Op[]): string {
  return ops.map((op) => '  ' + JSON.stringify(op[0] === 'w' && typeof op[2] !== 'string' ? ['w', op[1], Buffer.from(op[2]).toString('hex')] : op)).join(',\n');
}

/** Write the shrunk case as test/router/regressions/<name>.test.ts; returns its path. */
export function writeRegression(root: string, name: string, cfg: InprocConfig, seed: number, originalOps: number, s: Shrunk, faults = false): string {
  const dir = join(root, 'test', 'router', 'regressions');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.test.ts`);
  const detail = s.violation.detail.replace(/\*\//g, '* /').replace(/\n/g, ' ');
  const text = `// Written by the in-process router fuzzer (tools/fuzz/inproc): case seed ${seed}, shrunk from
// ${originalOps} to ${s.ops.length} operations. It broke: ${s.violation.kind}: ${detail}
// The operations replay on a fresh in-process router (tools/fuzz/inproc/fuzz-case.ts replayCase):
// ['w', link, hex] a far end writes a frame, ['p', link] publishes, ['r', shard, budget] routes,
// ['d', link, n] reads, ['c', ms] moves the clock (every shard expires), ['s'] settles${faults ? `,
// ['f', shard, point, n] arms a trap point of the fault-injection build (assembly/router/faults.ts)` : ''}.
import { expect, it } from 'vitest';
import { replayCase, type Op } from '../../../tools/fuzz/inproc/fuzz-case.js';
import type { InprocConfig } from '../../../tools/fuzz/inproc/inproc-router.js';
${faults ? "import { faultsModule } from '../../../src/wasm/module.js';\n" : ''}
const config: InprocConfig = ${JSON.stringify(cfg)};

const ops: Op[] = [
${opsSource(s.ops)},
];

it(${JSON.stringify(`fuzz case ${seed} (${s.violation.kind}) replays without a violation`)}, () => {
  expect(replayCase(config, ops${faults ? ', faultsModule()' : ''}).violations).toEqual([]);
});
`;
  writeFileSync(path, text);
  return path;
}
