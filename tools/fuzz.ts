// `npm run fuzz -- --minutes M [--seed S] [--json]`: the router fuzzer of tools/fuzz/
// (test/router/fuzz.prop.test.ts runs a bounded version) for M minutes, rotating through the
// three case kinds with fresh seeds. Prints the cases run, frames injected, drops by reason
// and transport failures by reason; on a failure, the case kind, seed and fast-check path to
// replay it, and exits 1.
import fc from 'fast-check';
import { RouterFuzzer, type FuzzCase } from './fuzz/router-fuzzer.js';

interface Args { minutes: number; seed: number; json: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { minutes: 1, seed: Date.now() & 0x7fffffff, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${k} needs a non-negative number, got ${argv[i] ?? '(nothing)'}`);
      return v;
    };
    if (k === '--minutes') a.minutes = num();
    else if (k === '--seed') a.seed = Math.floor(num());
    else if (k === '--json') a.json = true;
    else throw new Error(`unknown option ${k}; usage: npm run fuzz -- --minutes M [--seed S] [--json]`);
  }
  return a;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const fuzzer = await RouterFuzzer.create();
  const kinds: { name: string; arb: fc.Arbitrary<FuzzCase>; runs: number }[] = [
    { name: 'frames', arb: fuzzer.framesCase(), runs: 50 },
    { name: 'hostile-indices', arb: fuzzer.hostileCase(), runs: 30 },
    { name: 'torn-writes', arb: fuzzer.tornCase(), runs: 5 },
  ];
  const casesByKind: Record<string, number> = {};
  const t0 = Date.now();
  const end = t0 + args.minutes * 60_000;
  let seed = args.seed;
  let failure: { kind: string; seed: number; path?: string; counterexample: string; error: string } | undefined;
  for (let round = 0; Date.now() < end && failure === undefined; round++) {
    const k = kinds[round % kinds.length]!;
    const r = await fc.check(
      fc.asyncProperty(k.arb, async (c) => {
        casesByKind[k.name] = (casesByKind[k.name] ?? 0) + 1;
        const found = await fuzzer.runCase(c);
        if (found.length > 0) throw new Error(found.slice(0, 20).join('\n'));
      }),
      { seed, numRuns: k.runs, endOnFailure: true },
    );
    if (r.failed) {
      failure = {
        kind: k.name, seed, path: r.counterexamplePath ?? undefined,
        counterexample: fc.stringify(r.counterexample).slice(0, 2000),
        error: r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance),
      };
    }
    seed = (seed + 1) >>> 0;
    if (!args.json && round % 3 === 2) {
      process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${fuzzer.tally.cases} cases, ${fuzzer.tally.framesSent + fuzzer.tally.tornFrames} frames injected\n`);
    }
  }
  const summary = {
    minutes: (Date.now() - t0) / 60_000,
    firstSeed: args.seed,
    cases: fuzzer.tally.cases,
    casesByKind,
    framesInjected: fuzzer.tally.framesSent,
    tornFrames: fuzzer.tally.tornFrames,
    hostileIndexWrites: fuzzer.tally.hostileIndexWrites,
    hostileOutOfRange: fuzzer.tally.hostileOutOfRange,
    cursorFaultsCounted: fuzzer.faults(),
    framesDelivered: fuzzer.tally.framesDelivered,
    dropsByReason: fuzzer.dropsByReason(),
    transportFailuresByReason: fuzzer.tally.failuresByReason,
    failure: failure ?? null,
  };
  await fuzzer.close();
  if (args.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else {
    process.stdout.write(`fuzz: ${summary.cases} cases (${Object.entries(casesByKind).map(([k, n]) => `${k} ${n}`).join(', ')}) in ${summary.minutes.toFixed(1)} min, first seed ${args.seed}\n`);
    process.stdout.write(`frames injected ${summary.framesInjected} + torn ${summary.tornFrames}; hostile index writes ${summary.hostileIndexWrites} (${summary.hostileOutOfRange} out of range, ${summary.cursorFaultsCounted} cursor faults counted); frames delivered ${summary.framesDelivered}\n`);
    process.stdout.write(`drops by reason: ${JSON.stringify(summary.dropsByReason)}\n`);
    process.stdout.write(`transport failures by reason: ${JSON.stringify(summary.transportFailuresByReason)}\n`);
    if (failure !== undefined) {
      process.stdout.write(`FAILED (${failure.kind}) seed ${failure.seed} path ${failure.path ?? '-'}\n${failure.error}\ncounterexample: ${failure.counterexample}\n`);
    } else process.stdout.write('no property violated\n');
  }
  return failure === undefined ? 0 : 1;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`fuzz: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
