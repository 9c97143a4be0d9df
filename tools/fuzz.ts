// `npm run fuzz -- --minutes M [--seed S] [--json] [--only inproc|threads|faults] [--threads-minutes T] [--frames N] [--regressions DIR|none]`:
// first the in-process fuzzer (tools/fuzz/inproc: one WASM instance, every shard stepped in
// this thread, a differential oracle; failing cases shrunk into test/router/regressions/) for
// M minutes, then the multi-thread router fuzzer of tools/fuzz/router-fuzzer.ts (real shard
// workers: the cross-thread properties) for T minutes (default M / 5, at least 0.5), rotating
// through its three case kinds with fresh seeds. Prints seeds, cases, frames, drops by
// reason and failures; exits 1 on any violation. `--only faults`: faults inside a routing step
// (the fault-injection build) instead — the in-process fuzzer trapping shards at every point
// for M / 2 minutes, then real shard workers killed there and restarted for M / 2 minutes
// (tools/fuzz/step-faults.ts).
import fc from 'fast-check';
import { RouterFuzzer, type FuzzCase } from './fuzz/router-fuzzer.js';
import { runInprocFuzzer, type InprocSummary } from './fuzz/inproc/run-inproc.js';
import { runStepFaults, POINT_NAMES } from './fuzz/step-faults.js';

interface Args { minutes: number; seed: number; json: boolean; only: 'inproc' | 'threads' | 'faults' | null; threadsMinutes: number | null; frames: number; regressions: string | null | undefined }

function parseArgs(argv: string[]): Args {
  const a: Args = { minutes: 1, seed: Date.now() & 0x7fffffff, json: false, only: null, threadsMinutes: null, frames: 50_000, regressions: undefined };
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
    else if (k === '--threads-minutes') a.threadsMinutes = num();
    else if (k === '--frames') a.frames = Math.max(1, Math.floor(num()));
    else if (k === '--regressions') {
      const v = argv[++i];
      if (v === undefined) throw new Error('--regressions takes a directory (test/router/regressions/ is created in it) or none');
      a.regressions = v === 'none' ? null : v;
    }
    else if (k === '--only') {
      const v = argv[++i];
      if (v !== 'inproc' && v !== 'threads' && v !== 'faults') throw new Error(`--only takes inproc, threads or faults, got ${v ?? '(nothing)'}`);
      a.only = v;
    } else throw new Error(`unknown option ${k}; usage: npm run fuzz -- --minutes M [--seed S] [--json] [--only inproc|threads|faults] [--threads-minutes T] [--frames N] [--regressions DIR|none]`);
  }
  return a;
}

function printInproc(s: InprocSummary): void {
  const out = (line: string): void => { process.stdout.write(line + '\n'); };
  out(`in-process fuzz: ${s.cases} cases from seed ${s.firstSeed} in ${(s.wallSeconds / 60).toFixed(1)} min: ${s.frames} frames written, ${s.framesRead} read back, ${s.outcomesChecked} outcomes and ${s.labelsPredicted} answer labels checked`);
  out(`rate: ${(s.framesPerMinute / 1e6).toFixed(2)} M frames/min wall, ${(s.framesPerCpuMinute / 1e6).toFixed(2)} M frames per CPU-minute (${s.cpuSeconds.toFixed(1)} s CPU)`);
  out(`drops by reason: ${JSON.stringify(s.dropsByReason)}`);
  if (s.faults > 0) out(`faults inside a routing step: ${s.faults} (by point: ${s.faultsByPoint.slice(1).map((n, i) => `${POINT_NAMES[i + 1]} ${n}`).join(', ')})`);
  if (s.failingSeeds.length === 0) out('in-process: no promise broken');
  else {
    out(`in-process: VIOLATIONS by kind ${JSON.stringify(s.violationsByKind)}; first failing seeds:`);
    for (const f of s.failingSeeds.slice(0, 10)) out(`  seed ${f.seed} ${f.kind}: ${f.detail}`);
    for (const p of s.regressions) out(`  regression test written: ${p}`);
  }
}

/** --only faults: the in-process fuzzer on the fault build, then real shard workers killed inside steps. */
async function faults(args: Args): Promise<number> {
  const log = args.json ? undefined : (line: string): void => { process.stdout.write(line + '\n'); };
  const inproc = runInprocFuzzer({ minutes: args.minutes / 2, seed: args.seed, frames: args.frames, regressions: args.regressions, faults: true, log });
  if (!args.json) printInproc(inproc);
  const workers = await runStepFaults({ minutes: args.minutes / 2, seed: args.seed, log });
  if (args.json) process.stdout.write(JSON.stringify({ inproc, workers }, null, 2) + '\n');
  else {
    process.stdout.write(`real shard workers: ${workers.faults} faults in ${workers.runs} runs (${(workers.seconds / 60).toFixed(1)} min, seed ${workers.seed}; by point: ${workers.byPoint.slice(1).map((n, i) => `${POINT_NAMES[i + 1]} ${n}`).join(', ')})\n`);
    process.stdout.write(`requests ${workers.requests}: responses ${workers.responses}, failures ${JSON.stringify(workers.failuresByReason)}; ${workers.outstandingAtFault} outstanding at a fault; ${workers.events} events\n`);
    process.stdout.write(workers.violations.length === 0 ? 'real shard workers: exactly one outcome each, nothing delivered twice, accounting exact after every restart\n' : `real shard workers: VIOLATIONS\n  ${workers.violations.join('\n  ')}\n`);
  }
  return inproc.failingSeeds.length > 0 || workers.violations.length > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.only === 'faults') return faults(args);
  let inproc: InprocSummary | null = null;
  if (args.only !== 'threads') {
    inproc = runInprocFuzzer({
      minutes: args.minutes, seed: args.seed, frames: args.frames, regressions: args.regressions,
      log: args.json ? undefined : (line) => process.stdout.write(line + '\n'),
    });
    if (!args.json) printInproc(inproc);
  }
  const inprocFailed = inproc !== null && inproc.failingSeeds.length > 0;
  if (args.only === 'inproc') {
    if (args.json) process.stdout.write(JSON.stringify({ inproc }, null, 2) + '\n');
    return inprocFailed ? 1 : 0;
  }
  const threadMinutes = args.only === 'threads' ? args.minutes : args.threadsMinutes ?? Math.max(0.5, args.minutes / 5);
  const fuzzer = await RouterFuzzer.create();
  const kinds: { name: string; arb: fc.Arbitrary<FuzzCase>; runs: number }[] = [
    { name: 'frames', arb: fuzzer.framesCase(), runs: 50 },
    { name: 'hostile-indices', arb: fuzzer.hostileCase(), runs: 30 },
    { name: 'torn-writes', arb: fuzzer.tornCase(), runs: 5 },
  ];
  const casesByKind: Record<string, number> = {};
  const t0 = Date.now();
  const end = t0 + threadMinutes * 60_000;
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
  if (args.json) process.stdout.write(JSON.stringify({ inproc, threads: summary }, null, 2) + '\n');
  else {
    process.stdout.write(`fuzz: ${summary.cases} cases (${Object.entries(casesByKind).map(([k, n]) => `${k} ${n}`).join(', ')}) in ${summary.minutes.toFixed(1)} min, first seed ${args.seed}\n`);
    process.stdout.write(`frames injected ${summary.framesInjected} + torn ${summary.tornFrames}; hostile index writes ${summary.hostileIndexWrites} (${summary.hostileOutOfRange} out of range, ${summary.cursorFaultsCounted} cursor faults counted); frames delivered ${summary.framesDelivered}\n`);
    process.stdout.write(`drops by reason: ${JSON.stringify(summary.dropsByReason)}\n`);
    process.stdout.write(`transport failures by reason: ${JSON.stringify(summary.transportFailuresByReason)}\n`);
    if (failure !== undefined) {
      process.stdout.write(`FAILED (${failure.kind}) seed ${failure.seed} path ${failure.path ?? '-'}\n${failure.error}\ncounterexample: ${failure.counterexample}\n`);
    } else process.stdout.write('no property violated\n');
  }
  return failure === undefined && !inprocFailed ? 0 : 1;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`fuzz: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
