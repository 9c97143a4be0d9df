// The in-process router fuzzer (tools/fuzz/inproc), fixed seeds, a few seconds: both shards of
// one WASM instance stepped in this thread, every frame judged by the validator and checked
// against the router's counters, every outcome's order and label, the table invariants after
// each routing call and the accounting law at the end. `npm run fuzz -- --minutes M` runs it
// for longer with fresh seeds (and shrinks failures into test/router/regressions/).
import { describe, expect, it } from 'vitest';
import { runCase } from '../../tools/fuzz/inproc/fuzz-case.js';
import { Corpus } from '../../tools/fuzz/inproc/generator.js';
import { loadVectorFrames } from '../../tools/fuzz/frames.js';

/** Seeds whose cases reach parking, refusals, stalled drivers, timeouts and the token wrap. */
const SEEDS = [1, 2, 4, 5, 6, 7, 8, 9];

describe('in-process router fuzzing (fixed seeds)', () => {
  it('no promise broken over the fixed-seed cases', () => {
    const vectors = loadVectorFrames();
    let frames = 0;
    const drops: Record<string, number> = {};
    for (const seed of SEEDS) {
      const r = runCase(seed, { frames: 10_000, corpus: new Corpus(512, vectors) });
      expect(r.violations, `case ${seed}`).toEqual([]);
      frames += r.frames;
      for (const [k, n] of Object.entries(r.drops)) drops[k] = (drops[k] ?? 0) + n;
    }
    expect(frames).toBeGreaterThan(75_000);
    // The cases reach the stateful paths, not only header checks.
    for (const reason of ['DEVICE_BUSY', 'DRIVER_STALLED', 'LATE_RESPONSE', 'DUPLICATE_RESPONSE', 'POLICY_DENIED', 'SPOOFED_DEV_NUM']) {
      expect(drops[reason] ?? 0, reason).toBeGreaterThan(0);
    }
  });
});
