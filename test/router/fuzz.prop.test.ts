// Router fuzzing, bounded and seeded (a longer run: npm run fuzz -- --minutes M): fuzzed frames
// on driver and device links of a real Router, a hostile peer's ring indices, torn writes in
// the shared ring. The properties are listed in tools/fuzz/router-fuzzer.ts.
import { afterAll, beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { RouterFuzzer, type FuzzCase } from '../../tools/fuzz/router-fuzzer.js';

const SEED = 0x5eed;

describe('router fuzzing (real shard workers, seeded)', () => {
  let fuzzer: RouterFuzzer;
  beforeAll(async () => {
    fuzzer = await RouterFuzzer.create();
  });
  afterAll(async () => {
    if (fuzzer === undefined) return;
    const t = fuzzer.tally;
    console.log(`router fuzz: ${t.cases} cases, ${t.framesSent} frames + ${t.tornFrames} torn, ${t.hostileIndexWrites} hostile index writes ` +
      `(${t.hostileOutOfRange} out of range, ${fuzzer.faults()} cursor faults counted), drops ${JSON.stringify(fuzzer.dropsByReason())}`);
    await fuzzer.close();
  });

  async function check(arb: fc.Arbitrary<FuzzCase>, seed: number, numRuns: number): Promise<void> {
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const found = await fuzzer.runCase(c);
        if (found.length > 0) throw new Error(`${found.length} violation(s):\n${found.slice(0, 12).join('\n')}`);
      }),
      { seed, numRuns, endOnFailure: true },
    );
  }

  it('random and mutated frames on every link: no crash or hang, only valid frames delivered, one answer per request, every frame accounted for', async () => {
    await check(fuzzer.framesCase(), SEED, 60);
  });

  it('a hostile peer writing its ring indices (out of range, racing ahead) harms only itself: faults counted, canaries intact, accounting exact', async () => {
    await check(fuzzer.hostileCase(), SEED + 1, 30);
  });

  it('torn writes (index published before the payload, bytes rewritten while the router reads) never make the router forward an invalid frame', async () => {
    await check(fuzzer.tornCase(), SEED + 2, 6);
  });
});
