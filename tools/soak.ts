// `npm run soak -- --minutes M`: the demo workload — a Router, echo devices on two device
// links and load-generating drivers, each in its own worker thread — held at a fixed load
// (`--outstanding` requests in flight per device and driver) for M minutes. Samples resident
// memory (split into anonymous, file-backed and shared) and rates; after a warm-up, RSS must
// not drift by more than `--max-growth` percent (tools/soak-verdict.ts: the trend over the
// second half, since the level itself follows the rate reached). At the end the drivers stop, their
// last answers are read, and nothing may be lost: every request answered or failed exactly
// once, in order, and the router's accounting invariant exact. The drivers time every answer;
// latency percentiles are reported per `--latency-window` seconds (default 5 minutes, shorter
// for short runs). `--hostile` (or `--attack A,B`) adds one more link attacked by a hostile peer
// process (tools/hostile-peer.ts; the legacy one: the C QEMU peer's hostile mode), each attack
// for an equal share of the minutes: the same verdict must hold for the well-behaved drivers.
// Exit 0 when all holds, 1 when not, 2 on bad arguments.
import { availableParallelism } from 'node:os';
import { Router } from '../src/router/router.js';
import { checkAccounting, accountingViolations, waitQuiescent } from '../src/router/accounting.js';
import { startLoadPair } from './load-pair.js';
import { runHostile, type HostileResult } from './hostile-session.js';
import { runHostileLegacy, type HostileLegacyResult } from './hostile-legacy.js';
import { ATTACK_BUSES, SOAK_ATTACKS, type Attack, type SoakAttack } from './hostile-attacks.js';
import type { LatencySummary } from '../src/loadgen/latency.js';
import { histogramPercentile, bucketRange } from '../src/loadgen/engine-histogram.js';
import { readFileSync } from 'node:fs';
import { rssVerdict } from './soak-verdict.js';
import { heapFigures, type HeapFigures } from '../src/util/heap-probe.js';

interface SoakArgs {
  minutes: number;
  devices: number;
  drivers: number;
  outstanding: number;
  sampleS: number;
  warmupS: number;
  maxGrowthPct: number;
  latencyWindowS: number;
  json: boolean;
  /** Hostile-peer attacks run one after another against one more link, each for an equal share of the time. */
  attacks: SoakAttack[];
  seed: number;
}

class UsageError extends Error {}
class HelpRequested extends Error {}

const USAGE = `usage: npm run soak -- --minutes M [--devices N] [--drivers N] [--outstanding K] [--sample S] [--warmup S] [--max-growth PCT] [--latency-window S] [--hostile | --attack A,B] [--seed N] [--json]

Routes the demo workload (echo devices, load drivers, all in worker threads) for M minutes, then
stops the drivers and checks that nothing was lost and the router's accounting is exact.

Memory: RSS is sampled every --sample seconds. After the --warmup (default 20 % of the run, 5 to
60 s), the verdict fits a least-squares line to RSS over the second half of the samples and
extrapolates its slope over the whole time after warm-up: that drift, as a percentage of the
second half's median RSS, must stay within --max-growth (default 5). The level itself (first
fifth against last fifth, printed too) is not judged: each worker thread's young generation
grows and shrinks with its allocation rate, so RSS settles higher when the machine lets the
run go faster; a leak keeps rising and shows as a slope.

Exit 0 when all holds, 1 when not, 2 on bad arguments.`;

function parseArgs(argv: string[]): SoakArgs {
  const a: SoakArgs = { minutes: 10, devices: 8, drivers: 2, outstanding: 16, sampleS: 0, warmupS: -1, maxGrowthPct: 5, latencyWindowS: 0, json: false, attacks: [], seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const num = (min: number, max: number): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < min || v > max) throw new UsageError(`${k} needs a number from ${min} to ${max}, got ${argv[i] ?? '(nothing)'}`);
      return v;
    };
    if (k === '--minutes') a.minutes = num(0.05, 24 * 60);
    else if (k === '--devices') a.devices = Math.floor(num(1, 1024));
    else if (k === '--drivers') a.drivers = Math.floor(num(1, 16));
    else if (k === '--outstanding') a.outstanding = Math.floor(num(1, 48));
    else if (k === '--sample') a.sampleS = num(0.2, 600);
    else if (k === '--warmup') a.warmupS = num(0, 3600);
    else if (k === '--max-growth') a.maxGrowthPct = num(0, 1000);
    else if (k === '--latency-window') a.latencyWindowS = num(1, 24 * 3600);
    else if (k === '--json') a.json = true;
    else if (k === '--hostile') a.attacks = [...SOAK_ATTACKS];
    else if (k === '--attack') {
      const names = (argv[++i] ?? '').split(',');
      const bad = names.find((n) => !(SOAK_ATTACKS as readonly string[]).includes(n));
      if (bad !== undefined) throw new UsageError(`--attack takes ${SOAK_ATTACKS.join(', ')} (comma-separated), got ${bad}`);
      a.attacks = names as SoakAttack[];
    } else if (k === '--seed') a.seed = Math.floor(num(0, 2 ** 32 - 1));
    else if (k === '--help' || k === '-h') throw new HelpRequested();
    else throw new UsageError(`unknown option ${k}; ${USAGE.split('\n')[0]}`);
  }
  const total = a.minutes * 60;
  if (a.sampleS === 0) a.sampleS = Math.max(1, Math.min(10, total / 60)); // about 60 samples
  if (a.warmupS < 0) a.warmupS = Math.min(60, Math.max(5, total * 0.2));
  if (a.latencyWindowS === 0) a.latencyWindowS = Math.min(300, Math.max(1, total / 6)); // 5 minutes; at least 6 windows in short runs
  if (a.warmupS + 6 * a.sampleS > total) throw new UsageError(`--minutes ${a.minutes} leaves fewer than 6 samples after a ${a.warmupS} s warm-up`);
  return a;
}

interface Sample {
  t: number;
  rssMiB: number;
  /** RSS split (Linux, /proc/self/status): anonymous (V8 heaps of every thread, malloc, stacks, the router's WASM memory), file-backed (code), shared (window files). */
  anonMiB?: number;
  fileMiB?: number;
  shmemMiB?: number;
  heapMiB: number;
  /**
   * V8 heaps per thread (the echo devices' and load drivers' as they reported them at the
   * previous sample); the router shards' are not probed. newSpaceMiB is what follows a
   * thread's allocation rate.
   */
  heaps: { main: HeapFigures; echo: (HeapFigures | undefined)[]; load: (HeapFigures | undefined)[] };
  requestsPerS: number;
  framesPerS: number;
}

/** Answers timed in one latency window (between two reads of the shared counts). */
interface LatencyWindow extends LatencySummary {
  fromS: number;
  toS: number;
}

const MiB = 1024 * 1024;

/** RssAnon, RssFile and RssShmem of this process in MiB, or {} where /proc is not there. */
function rssSplit(): { anonMiB?: number; fileMiB?: number; shmemMiB?: number } {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return {};
  }
  const kib = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return m === null ? undefined : Number(m[1]) / 1024;
  };
  const anonMiB = kib('RssAnon'), fileMiB = kib('RssFile'), shmemMiB = kib('RssShmem');
  return anonMiB === undefined || fileMiB === undefined || shmemMiB === undefined ? {} : { anonMiB, fileMiB, shmemMiB };
}

/** count, mean and percentiles (µs) of engine-form latency counts (ns buckets). */
function summarizeCounts(counts: Float64Array): LatencySummary {
  let n = 0, sum = 0, top = -1;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k]!;
    if (c <= 0) continue;
    const { low, width } = bucketRange(k);
    n += c;
    sum += c * (width === 1 ? low : low + width / 2);
    top = k;
  }
  const us = (ns: number): number => Math.round(ns / 10) / 100;
  if (n === 0) return { count: 0, mean_us: 0, p50_us: 0, p90_us: 0, p99_us: 0, p999_us: 0, max_us: 0 };
  const r = bucketRange(top);
  return {
    count: n, mean_us: us(sum / n), p50_us: us(histogramPercentile(counts, 50)), p90_us: us(histogramPercentile(counts, 90)),
    p99_us: us(histogramPercentile(counts, 99)), p999_us: us(histogramPercentile(counts, 99.9)), max_us: us(r.low + r.width), // max: the top of its bucket
  };
}

async function main(): Promise<number> {
  let args: SoakArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    process.stderr.write(`soak: ${(e as Error).message}\n`);
    return 2;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  const log = (s: string): void => { if (!args.json) process.stdout.write(s + '\n'); };
  const router = await Router.create();
  const devNums = Array.from({ length: args.devices }, (_, i) => i + 1);
  // The hostile driver sends its requests to a device of its own: the good drivers' failures stay theirs.
  const hostileDev = args.devices + 1;
  const pair = await startLoadPair(router, {
    devices: devNums, drivers: args.drivers, outstanding: args.outstanding, timed: true,
    ...(args.attacks.length > 0 ? { spareDevices: [hostileDev] } : {}),
  });
  type Case = { bus: 'vmamp' | 'spsc'; attack: Attack } | { bus: 'qemu-v0'; attack: 'legacy' };
  const cases = args.attacks.flatMap((attack): Case[] => (attack === 'legacy' ? [{ bus: 'qemu-v0', attack }] : ATTACK_BUSES[attack].map((bus) => ({ bus, attack }))));
  log(`soak: ${args.minutes} min, ${router.options.shards} shards, ${args.devices} echo devices on ${Math.min(2, args.devices)} links, ${args.drivers} drivers x ${args.outstanding} outstanding per device; warm-up ${args.warmupS} s, sample every ${args.sampleS} s (machine: ${availableParallelism()} cores, shared)`);
  if (cases.length > 0) log(`hostile: ${cases.map((c) => `${c.bus}/${c.attack}`).join(', ')}, ${(args.minutes * 60 / cases.length).toFixed(0)} s each, one after another, against one more link (shared-memory attacks: the hostile driver's requests go to echo device ${hostileDev}; legacy: the hostile device is ${hostileDev + 1}); seed ${args.seed}`);

  const samples: Sample[] = [];
  const t0 = performance.now();
  // Latency per window: the drivers' shared counts are read at each window's end (the first
  // sample past it); a window's histogram is the difference of two reads.
  const windowEnds: { t: number; counts: Float64Array }[] = [{ t: 0, counts: pair.latencyCounts() }];
  const end = t0 + args.minutes * 60_000;
  const sent = (): number => pair.sent();
  let lastT = t0, lastSent = 0, lastFrames = 0;
  let stopRequested = false;
  const onSigint = (): void => { stopRequested = true; };
  process.once('SIGINT', onSigint);
  // The attacks run beside the sampling, each for its share of the minutes.
  const hostileResults: HostileResult[] = [];
  const legacyResults: HostileLegacyResult[] = [];
  const hostile = (async () => {
    for (const [i, c] of cases.entries()) {
      if (stopRequested) break;
      const seconds = Math.max(1, (end - performance.now()) / 1000 / (cases.length - i));
      if (c.bus === 'qemu-v0') {
        const r = await runHostileLegacy(router, { seconds, dev: hostileDev + 1, tag: 'soak-legacy', log });
        legacyResults.push(r);
        log(`hostile qemu-v0/legacy: ${r.sessions} sessions; its driver: ${r.sent} requests, ${r.responses} responses, ${r.failures} transport failures, lost ${r.lost}, out of order ${r.orderErrors}; peer ${JSON.stringify(r.peer)}`);
        continue;
      }
      const r = await runHostile(router, { bus: c.bus, attack: c.attack, seconds, dev: hostileDev, seed: args.seed + i * 1000, tag: `soak-${c.bus}-${c.attack}`, log });
      hostileResults.push(r);
      log(`hostile ${c.bus}/${c.attack}: ${r.sessions} sessions, link downs ${JSON.stringify(r.linkDowns)}, windows lost ${r.windowsLost}, peer ${JSON.stringify(r.peer)}, drops ${JSON.stringify(r.drops)}`);
    }
  })();
  while (performance.now() < end && !stopRequested) {
    await new Promise((r) => setTimeout(r, Math.min(args.sampleS * 1000, Math.max(0, end - performance.now()))));
    gc?.();
    const now = performance.now();
    const st = router.stats();
    const frames = st.totals.rx;
    const s = sent();
    const mem = process.memoryUsage();
    const sample: Sample = {
      t: (now - t0) / 1000,
      rssMiB: mem.rss / MiB,
      ...rssSplit(),
      heapMiB: mem.heapUsed / MiB,
      heaps: { main: heapFigures(), ...pair.heaps() },
      requestsPerS: ((s - lastSent) * 1000) / (now - lastT),
      framesPerS: ((frames - lastFrames) * 1000) / (now - lastT),
    };
    samples.push(sample);
    const split = sample.anonMiB !== undefined ? ` (anon ${sample.anonMiB.toFixed(1)}, file ${sample.fileMiB!.toFixed(1)}, shmem ${sample.shmemMiB!.toFixed(1)})` : '';
    const young = (hs: (HeapFigures | undefined)[]): string => hs.map((h) => (h === undefined ? '?' : h.newSpaceMiB.toFixed(0))).join('/');
    const h = sample.heaps;
    log(`${sample.t.toFixed(0).padStart(5)} s  rss ${sample.rssMiB.toFixed(1)} MiB${split}  heap ${sample.heapMiB.toFixed(1)} MiB  new space MiB main ${h.main.newSpaceMiB.toFixed(0)} echo ${young(h.echo)} load ${young(h.load)}  ${(sample.requestsPerS / 1e3).toFixed(0)} k req/s  ${(sample.framesPerS / 1e3).toFixed(0)} k frames/s`);
    lastT = now; lastSent = s; lastFrames = frames;
    if (sample.t >= windowEnds[windowEnds.length - 1]!.t + args.latencyWindowS) windowEnds.push({ t: sample.t, counts: pair.latencyCounts() });
  }
  process.removeListener('SIGINT', onSigint);

  await hostile;
  // Stop the drivers, read their last answers, then the devices; the router goes quiescent.
  const finalCounts = pair.latencyCounts();
  {
    const last = windowEnds[windowEnds.length - 1]!;
    const t = (performance.now() - t0) / 1000;
    if (t - last.t >= args.latencyWindowS / 2) windowEnds.push({ t, counts: finalCounts }); // a last window at least half full
  }
  const { drivers } = await pair.stop();
  let accounting: string[];
  let st;
  try {
    st = await waitQuiescent(router, 15_000);
    accounting = accountingViolations(checkAccounting(st));
  } catch (e) {
    st = router.stats();
    accounting = [(e as Error).message];
  }
  await router.close();

  const after = samples.filter((s) => s.t >= args.warmupS);
  const memory = rssVerdict(samples, args.warmupS);
  const { baseline, final, growthPct } = memory;
  const totalSent = drivers.reduce((t, d) => t + d.sent, 0);
  const lost = drivers.reduce((t, d) => t + (d.sent - d.responses - d.failures), 0);
  const problems: string[] = [];
  if (!(memory.driftPct <= args.maxGrowthPct)) problems.push(`RSS drifts ${memory.driftPct.toFixed(2)} % after warm-up (${memory.slopeMiBPerMin.toFixed(3)} MiB/min over the second half; limit ${args.maxGrowthPct} %)`);
  if (lost !== 0) problems.push(`${lost} requests got neither a response nor a transport failure`);
  for (const [i, d] of drivers.entries()) {
    if (d.orderErrors !== 0) problems.push(`driver ${i}: ${d.orderErrors} answers out of per-device order`);
    if (d.other !== 0) problems.push(`driver ${i}: ${d.other} unexpected frames`);
  }
  problems.push(...accounting);
  for (const r of [...hostileResults, ...legacyResults]) if (r.peerFailures !== 0) problems.push(`hostile ${r.bus}/${r.attack}: ${r.peerFailures} peer sessions failed to run`);
  // The hostile device's own driver: every request still ends once, in order.
  for (const r of legacyResults) if (r.lost !== 0 || r.orderErrors !== 0) problems.push(`hostile legacy device: ${r.lost} requests without an outcome, ${r.orderErrors} out of order`);
  const seconds = samples.length > 0 ? samples[samples.length - 1]!.t : 0;
  const latencyWindows: LatencyWindow[] = windowEnds.slice(1).map((w, i) => ({
    fromS: windowEnds[i]!.t, toS: w.t, ...summarizeCounts(w.counts.map((c, k) => c - windowEnds[i]!.counts[k]!)),
  }));
  const timed = summarizeCounts(finalCounts);
  if (timed.count === 0) problems.push('no answer was timed (latency reports missing)');
  const summary = {
    minutes: seconds / 60,
    shards: router.options.shards,
    devices: args.devices,
    drivers: args.drivers,
    outstandingPerDevice: args.outstanding,
    warmupS: args.warmupS,
    requests: totalSent,
    responses: drivers.reduce((t, d) => t + d.responses, 0),
    transportFailures: drivers.reduce((t, d) => t + d.failures, 0),
    lost,
    meanRequestsPerS: seconds > 0 ? totalSent / seconds : 0,
    rssMiB: { baseline, final, growthPct, slopeMiBPerMin: memory.slopeMiBPerMin, driftPct: memory.driftPct, maxAfterWarmup: Math.max(...after.map((s) => s.rssMiB)), min: Math.min(...samples.map((s) => s.rssMiB)) },
    latencyWindowS: args.latencyWindowS,
    latency: timed,
    latencyWindows,
    routerTotals: { rx: st.totals.rx, tx: st.totals.tx, dropped: st.totals.dropped, dropsByReason: st.totals.dropsByReason, failures: st.totals.failures },
    // Which devices' requests failed, and how many of those by timeout (any driver's).
    deviceFailures: st.devices.filter((d) => d.failed > 0).map((d) => ({ dev: d.dev, failed: d.failed, timeouts: d.timeouts })),
    hostile: [...hostileResults, ...legacyResults],
    samples,
    ok: problems.length === 0,
    problems,
  };
  if (args.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else {
    log(`requests ${totalSent} (${(summary.meanRequestsPerS / 1e3).toFixed(0)} k/s mean), responses ${summary.responses}, transport failures ${summary.transportFailures}, lost ${lost}`);
    log(`RSS after warm-up: ${baseline.toFixed(1)} → ${final.toFixed(1)} MiB (level ${growthPct >= 0 ? '+' : ''}${growthPct.toFixed(2)} %), max ${summary.rssMiB.maxAfterWarmup.toFixed(1)} MiB; trend over the second half ${memory.slopeMiBPerMin >= 0 ? '+' : ''}${memory.slopeMiBPerMin.toFixed(3)} MiB/min, drift ${memory.driftPct >= 0 ? '+' : ''}${memory.driftPct.toFixed(2)} % (limit ${args.maxGrowthPct} %)`);
    log(`latency (µs, answers timed by the drivers): all ${timed.count} — p50 ${timed.p50_us}  p90 ${timed.p90_us}  p99 ${timed.p99_us}  p99.9 ${timed.p999_us}  max ${timed.max_us}`);
    for (const w of latencyWindows) log(`  ${w.fromS.toFixed(0).padStart(5)}–${w.toS.toFixed(0).padEnd(5)} s  ${String(w.count).padStart(11)}  p50 ${w.p50_us}  p90 ${w.p90_us}  p99 ${w.p99_us}  p99.9 ${w.p999_us}  max ${w.max_us}`);
    log(`router: rx ${st.totals.rx}, tx ${st.totals.tx}, drops ${JSON.stringify(st.totals.dropsByReason)}; accounting ${accounting.length === 0 ? 'exact' : 'VIOLATED'}`);
    log(problems.length === 0 ? 'soak: OK' : `soak: FAILED\n  ${problems.join('\n  ')}`);
  }
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
