// `npm run soak -- --minutes M`: the demo workload — a Router, echo devices on two device
// links and load-generating drivers, each in its own worker thread — held at a fixed load
// (`--outstanding` requests in flight per device and driver) for M minutes. Samples resident
// memory and rates; after a warm-up, RSS must not grow by more than `--max-growth` percent
// (median of the last samples against the first ones). At the end the drivers stop, their
// last answers are read, and nothing may be lost: every request answered or failed exactly
// once, in order, and the router's accounting invariant exact. The drivers time every answer;
// latency percentiles are reported per `--latency-window` seconds (default 5 minutes, shorter
// for short runs). Exit 0 when all holds, 1 when not, 2 on bad arguments.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Router } from '../src/router/router.js';
import { ringDoorbell } from '../src/wait/doorbell.js';
import { EndpointPort } from '../src/endpoint/port.js';
import type { LinkDescriptor } from '../src/endpoint/link.js';
import { checkAccounting, accountingViolations, waitQuiescent } from '../src/router/accounting.js';
import { compiledModule } from '../src/util/paths.js';
import { wasmModule } from '../src/wasm/module.js';
import { LOAD_COUNTERS, LOAD_SENT, LOAD_RESPONSES, LOAD_FAILURES, LOAD_ORDER_ERRORS, LOAD_OTHER, type LoadLatencyReport } from '../src/driver/load-worker.js';
import { newHistogram, decodeHistogram, summarize, type LatencySummary } from '../src/loadgen/latency.js';
import type { Histogram } from 'hdr-histogram-js';

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
}

class UsageError extends Error {}

function parseArgs(argv: string[]): SoakArgs {
  const a: SoakArgs = { minutes: 10, devices: 8, drivers: 2, outstanding: 16, sampleS: 0, warmupS: -1, maxGrowthPct: 5, latencyWindowS: 0, json: false };
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
    else throw new UsageError(`unknown option ${k}; usage: npm run soak -- --minutes M [--devices N] [--drivers N] [--outstanding K] [--sample S] [--warmup S] [--max-growth PCT] [--latency-window S] [--json]`);
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
  heapMiB: number;
  requestsPerS: number;
  framesPerS: number;
}

/** Answers timed in one latency window (by the time their report arrived). */
interface LatencyWindow extends LatencySummary {
  fromS: number;
  toS: number;
}

interface Running {
  worker: Worker;
  stop: Int32Array;
  counters: Float64Array;
  exited: Promise<void>;
}

function start(file: string, data: Record<string, unknown>, nCounters: number): Running {
  const stop = new SharedArrayBuffer(4);
  const counters = new SharedArrayBuffer(8 * nCounters);
  const worker = new Worker(compiledModule(file), { workerData: { ...data, stop, counters } });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (e) => process.stderr.write(`soak: worker ${file} failed: ${String(e)}\n`));
  return { worker, stop: new Int32Array(stop), counters: new Float64Array(counters), exited };
}

async function stopWorker(r: Running, link: LinkDescriptor): Promise<void> {
  Atomics.store(r.stop, 0, 1);
  ringDoorbell(new Int32Array(link.memory.buffer), link.bell >>> 2);
  await r.exited;
}

const MiB = 1024 * 1024;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Read what a stopped load driver left in its ring: the answers to its last requests. */
async function drainStoppedDriver(link: LinkDescriptor, open: number, timeoutMs: number): Promise<{ responses: number; failures: number; other: number }> {
  const port = new EndpointPort(link, { spinBeforeSleep: 0 });
  const got = { responses: 0, failures: 0, other: 0 };
  const deadline = Date.now() + timeoutMs;
  while (got.responses + got.failures < open && Date.now() < deadline) {
    const f = port.peek();
    if (f === 0) { await new Promise((r) => setTimeout(r, 2)); continue; }
    const type = port.u8[f]!, id = port.u8[f + 1]!;
    if (type === 1) got.responses++;
    else if (type === 2 && id === 0xc1) got.failures++;
    else got.other++;
    port.release();
  }
  port.flushReceived();
  return got;
}

async function main(): Promise<number> {
  let args: SoakArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`soak: ${(e as Error).message}\n`);
    return 2;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  const log = (s: string): void => { if (!args.json) process.stdout.write(s + '\n'); };
  const router = await Router.create();
  const module = wasmModule();
  const devNums = Array.from({ length: args.devices }, (_, i) => i + 1);
  const half = Math.ceil(devNums.length / 2);
  const deviceLinks: LinkDescriptor[] = [];
  for (const g of [devNums.slice(0, half), devNums.slice(half)].filter((x) => x.length > 0)) deviceLinks.push(await router.attachDevice({ devices: g }));
  const echoes = deviceLinks.map((link) => start('device/echo-worker.js', { link, module }, 1));
  const driverLinks: LinkDescriptor[] = [];
  for (let d = 0; d < args.drivers; d++) driverLinks.push(await router.attachDriver());
  const latencyReportMs = Math.min(5_000, (args.latencyWindowS * 1000) / 4);
  const loads = driverLinks.map((link) => start('driver/load-worker.js', { link, module, devices: devNums, outstanding: args.outstanding, latencyReportMs }, LOAD_COUNTERS));
  // Latency per window: the drivers' reports go into the window of the moment they arrive.
  const windows: Histogram[] = [];
  const overall = newHistogram();
  let tLatency0 = performance.now();
  for (const l of loads) {
    l.worker.on('message', (m: Partial<LoadLatencyReport>) => {
      if (typeof m.latency !== 'string') return;
      const h = decodeHistogram(m.latency);
      const w = Math.floor((performance.now() - tLatency0) / (args.latencyWindowS * 1000));
      while (windows.length <= w) windows.push(newHistogram());
      windows[w]!.add(h);
      overall.add(h);
    });
  }
  log(`soak: ${args.minutes} min, ${router.options.shards} shards, ${args.devices} echo devices on ${deviceLinks.length} links, ${args.drivers} drivers x ${args.outstanding} outstanding per device; warm-up ${args.warmupS} s, sample every ${args.sampleS} s (machine: ${availableParallelism()} cores, shared)`);

  const samples: Sample[] = [];
  const t0 = performance.now();
  tLatency0 = t0;
  const end = t0 + args.minutes * 60_000;
  const sent = (): number => loads.reduce((t, l) => t + l.counters[LOAD_SENT]!, 0);
  let lastT = t0, lastSent = 0, lastFrames = 0;
  let stopRequested = false;
  const onSigint = (): void => { stopRequested = true; };
  process.once('SIGINT', onSigint);
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
      heapMiB: mem.heapUsed / MiB,
      requestsPerS: ((s - lastSent) * 1000) / (now - lastT),
      framesPerS: ((frames - lastFrames) * 1000) / (now - lastT),
    };
    samples.push(sample);
    log(`${sample.t.toFixed(0).padStart(5)} s  rss ${sample.rssMiB.toFixed(1)} MiB  heap ${sample.heapMiB.toFixed(1)} MiB  ${(sample.requestsPerS / 1e3).toFixed(0)} k req/s  ${(sample.framesPerS / 1e3).toFixed(0)} k frames/s`);
    lastT = now; lastSent = s; lastFrames = frames;
  }
  process.removeListener('SIGINT', onSigint);

  // Stop the drivers, read their last answers, then the devices; the router goes quiescent.
  const drivers = [];
  for (let i = 0; i < loads.length; i++) {
    await stopWorker(loads[i]!, driverLinks[i]!);
    const c = loads[i]!.counters;
    const open = c[LOAD_SENT]! - c[LOAD_RESPONSES]! - c[LOAD_FAILURES]!;
    const tail = await drainStoppedDriver(driverLinks[i]!, open, 15_000);
    drivers.push({
      sent: c[LOAD_SENT]!, responses: c[LOAD_RESPONSES]! + tail.responses, failures: c[LOAD_FAILURES]! + tail.failures,
      orderErrors: c[LOAD_ORDER_ERRORS]!, other: c[LOAD_OTHER]! + tail.other,
    });
  }
  for (let i = 0; i < echoes.length; i++) await stopWorker(echoes[i]!, deviceLinks[i]!);
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
  // Baseline and final RSS: medians over the first and last fifth of the samples after warm-up
  // (at least 3 each), so one garbage-collection swing does not decide the verdict.
  const k = Math.min(Math.max(3, Math.floor(after.length / 5)), Math.floor(after.length / 2));
  const baseline = median(after.slice(0, k).map((s) => s.rssMiB));
  const final = median(after.slice(-k).map((s) => s.rssMiB));
  const growthPct = (final / baseline - 1) * 100;
  const totalSent = drivers.reduce((t, d) => t + d.sent, 0);
  const lost = drivers.reduce((t, d) => t + (d.sent - d.responses - d.failures), 0);
  const problems: string[] = [];
  if (!(growthPct <= args.maxGrowthPct)) problems.push(`RSS grew ${growthPct.toFixed(2)} % after warm-up (${baseline.toFixed(1)} → ${final.toFixed(1)} MiB; limit ${args.maxGrowthPct} %)`);
  if (lost !== 0) problems.push(`${lost} requests got neither a response nor a transport failure`);
  for (const [i, d] of drivers.entries()) {
    if (d.orderErrors !== 0) problems.push(`driver ${i}: ${d.orderErrors} answers out of per-device order`);
    if (d.other !== 0) problems.push(`driver ${i}: ${d.other} unexpected frames`);
  }
  problems.push(...accounting);
  const seconds = samples.length > 0 ? samples[samples.length - 1]!.t : 0;
  const latencyWindows: LatencyWindow[] = windows.map((h, i) => ({
    fromS: i * args.latencyWindowS, toS: Math.min((i + 1) * args.latencyWindowS, seconds), ...summarize(h),
  })).filter((w) => w.count > 0 && w.fromS < seconds);
  const timed = summarize(overall);
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
    rssMiB: { baseline, final, growthPct, maxAfterWarmup: Math.max(...after.map((s) => s.rssMiB)), min: Math.min(...samples.map((s) => s.rssMiB)) },
    latencyWindowS: args.latencyWindowS,
    latency: timed,
    latencyWindows,
    routerTotals: { rx: st.totals.rx, tx: st.totals.tx, dropped: st.totals.dropped, dropsByReason: st.totals.dropsByReason, failures: st.totals.failures },
    samples,
    ok: problems.length === 0,
    problems,
  };
  if (args.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else {
    log(`requests ${totalSent} (${(summary.meanRequestsPerS / 1e3).toFixed(0)} k/s mean), responses ${summary.responses}, transport failures ${summary.transportFailures}, lost ${lost}`);
    log(`RSS after warm-up: ${baseline.toFixed(1)} → ${final.toFixed(1)} MiB (${growthPct >= 0 ? '+' : ''}${growthPct.toFixed(2)} %), max ${summary.rssMiB.maxAfterWarmup.toFixed(1)} MiB`);
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
