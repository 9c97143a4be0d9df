// Faults inside a routing step (docs/RELIABILITY.md "Faults inside a routing step"): the test
// build of the hot path (faultsModule(): trap points after a frame is routed and before the
// ring's consumer index moves, after parking, and between the two halves of a cross-shard
// send) makes a shard die exactly there.
// - In-process, under the fuzzer's whole oracle (tools/fuzz/inproc): the shard is restarted as
//   Router does it (fresh instance, recoverWalk, failAll SHARD_RESTARTED) and every promise,
//   table invariant and the accounting law are checked after every step.
// - With real shard workers (tools/fuzz/step-faults.ts): the worker dies, the router restarts
//   it; after each restart every request outstanding at the fault ends in exactly one outcome,
//   no device receives a frame twice, and the accounting law holds exactly.
// `npm run fuzz -- --only faults --minutes M` runs the second for longer.
import { describe, expect, it } from 'vitest';
import { runCase } from '../../tools/fuzz/inproc/fuzz-case.js';
import { Corpus } from '../../tools/fuzz/inproc/generator.js';
import { loadVectorFrames } from '../../tools/fuzz/frames.js';
import { runStepFaults, POINTS } from '../../tools/fuzz/step-faults.js';
import { faultsModule } from '../../src/wasm/module.js';

describe('faults inside a routing step', () => {
  it('in-process: every promise holds across shards trapped at every point and restarted', () => {
    const module = faultsModule();
    const corpus = new Corpus(512, loadVectorFrames());
    const byPoint = new Array<number>(POINTS + 1).fill(0);
    let faults = 0;
    for (let seed = 1; seed <= 16; seed++) {
      const r = runCase(seed, { frames: 4000, corpus, module, faults: { chance: 0.12, points: POINTS } });
      expect(r.violations, `case ${seed}`).toEqual([]);
      faults += r.faults;
      r.faultsByPoint.forEach((n, p) => { byPoint[p] = byPoint[p]! + n; });
    }
    expect(faults).toBeGreaterThanOrEqual(400);
    for (let p = 1; p <= POINTS; p++) expect(byPoint[p], `point ${p}`).toBeGreaterThan(10);
  });

  it('real shard workers: exactly one outcome per outstanding request, nothing delivered twice, exact accounting after each restart', async () => {
    const r = await runStepFaults({ faults: 10 * POINTS, seed: 20261206 });
    expect(r.violations).toEqual([]);
    expect(r.faults).toBe(10 * POINTS);
    for (let p = 1; p <= POINTS; p++) expect(r.byPoint[p], `point ${p}`).toBe(10);
    // The faults hit requests in flight, and the dead shard's requests ended as SHARD_RESTARTED.
    expect(r.outstandingAtFault).toBeGreaterThan(100);
    expect(r.failuresByReason.SHARD_RESTARTED ?? 0).toBeGreaterThan(0);
    expect(r.requests).toBe(r.responses + Object.values(r.failuresByReason).reduce((a, b) => a + b, 0));
  });
});
