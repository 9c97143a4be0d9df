// `vmsg demo` (npm start): a router with built-in echo devices and a load-generating driver,
// each in its own worker thread, with a live display of message rates, then a summary.
import { Worker } from 'node:worker_threads';
import { Router } from '../router/router.js';
import { wasmModule } from '../wasm/module.js';
import { compiledModule } from '../util/paths.js';
import type { LinkDescriptor } from '../router/link.js';
import { LOAD_COUNTERS, LOAD_SENT, LOAD_RESPONSES, LOAD_FAILURES, LOAD_ORDER_ERRORS } from '../driver/load-worker.js';

export interface DemoOptions {
  durationS: number;
  json: boolean;
  devices: number;
  shards?: number;
  outstanding: number;
}

function parse(argv: string[]): DemoOptions {
  const o: DemoOptions = { durationS: 10, json: false, devices: 8, outstanding: 32 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (name: string, min: number, max: number): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < min || v > max) throw new UsageError(`${name} needs a number from ${min} to ${max}, got ${argv[i] ?? '(nothing)'}`);
      return v;
    };
    if (a === '--duration') o.durationS = num('--duration', 0.1, 86400);
    else if (a === '--json') o.json = true;
    else if (a === '--devices') o.devices = Math.floor(num('--devices', 1, 1024));
    else if (a === '--shards') o.shards = Math.floor(num('--shards', 1, 64));
    else if (a === '--outstanding') o.outstanding = Math.floor(num('--outstanding', 1, 48));
    else throw new UsageError(`unknown option ${a}; usage: vmsg demo [--duration S] [--json] [--devices N] [--shards N] [--outstanding K]`);
  }
  return o;
}

export class UsageError extends Error {}

interface Running {
  worker: Worker;
  stop: Int32Array;
  counters: Float64Array;
  done: Promise<unknown>;
}

function startWorker(file: string, data: Record<string, unknown>, nCounters: number): Running {
  const stopBuf = new SharedArrayBuffer(4);
  const countersBuf = new SharedArrayBuffer(8 * nCounters);
  const worker = new Worker(compiledModule(file), { workerData: { ...data, stop: stopBuf, counters: countersBuf } });
  const done = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, stop: new Int32Array(stopBuf), counters: new Float64Array(countersBuf), done };
}

async function stopWorker(r: Running, link: LinkDescriptor): Promise<void> {
  Atomics.store(r.stop, 0, 1);
  Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
  await r.done;
  await r.worker.terminate();
}

export async function runDemo(o: DemoOptions, log: (line: string) => void = (l) => process.stdout.write(l)): Promise<Record<string, unknown>> {
  const router = await Router.create({ shards: o.shards });
  const module = wasmModule();
  const devNums = Array.from({ length: o.devices }, (_, i) => i + 1);
  // Two device links (two echo workers), half of the devices each.
  const half = Math.ceil(devNums.length / 2);
  const groups = [devNums.slice(0, half), devNums.slice(half)].filter((g) => g.length > 0);
  const devLinks: LinkDescriptor[] = [];
  for (const g of groups) devLinks.push(await router.attachDevice({ devices: g }));
  const drvLink = await router.attachDriver();
  const echoes = devLinks.map((link) => startWorker('device/echo-worker.js', { link, module }, 1));
  const load = startWorker('driver/load-worker.js', { link: drvLink, module, devices: devNums, outstanding: o.outstanding }, LOAD_COUNTERS);

  const t0 = performance.now();
  const tty = !o.json && process.stdout.isTTY === true;
  let stopRequested = false;
  const onSigint = (): void => { stopRequested = true; };
  process.once('SIGINT', onSigint);
  let lastT = t0, lastFrames = 0, lastRt = 0;
  try {
    while (!stopRequested && performance.now() - t0 < o.durationS * 1000) {
      await new Promise((r) => setTimeout(r, 500));
      if (!tty) continue;
      const now = performance.now();
      const st = router.stats();
      const frames = st.shards.reduce((t, s) => t + s.frames, 0);
      const rt = load.counters[LOAD_RESPONSES]!;
      const dt = (now - lastT) / 1000;
      log(`\r t=${((now - t0) / 1000).toFixed(1)}s  routed ${((frames - lastFrames) / dt / 1e6).toFixed(2)} M msg/s  ` +
        `round trips ${((rt - lastRt) / dt / 1e6).toFixed(2)} M/s  failures ${load.counters[LOAD_FAILURES]}  ` +
        `order errors ${load.counters[LOAD_ORDER_ERRORS]}  drops ${st.totals.dropped}   `);
      lastT = now; lastFrames = frames; lastRt = rt;
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  await stopWorker(load, drvLink);
  await new Promise((r) => setTimeout(r, 20)); // let the last answers reach the driver ring
  for (let i = 0; i < echoes.length; i++) await stopWorker(echoes[i]!, devLinks[i]!);
  const seconds = (performance.now() - t0) / 1000;
  const st = router.stats();
  await router.close();
  if (tty) log('\n');
  const responses = load.counters[LOAD_RESPONSES]!;
  return {
    seconds: Number(seconds.toFixed(3)),
    shards: router.options.shards,
    devices: o.devices,
    messages_routed: st.shards.reduce((t, s) => t + s.frames, 0),
    requests_sent: load.counters[LOAD_SENT],
    round_trips: responses,
    round_trips_per_s: Math.round(responses / seconds),
    failures: load.counters[LOAD_FAILURES],
    order_errors: load.counters[LOAD_ORDER_ERRORS],
    dropped: st.totals.dropped,
    drops_by_reason: st.totals.dropsByReason,
  };
}

export async function run(argv: string[]): Promise<number> {
  let o: DemoOptions;
  try {
    o = parse(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`vmsg demo: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (!o.json) process.stdout.write(`vmsg demo: router + ${o.devices} echo devices + 1 driver for ${o.durationS} s (Ctrl-C stops)\n`);
  const summary = await runDemo(o);
  if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    for (const [k, v] of Object.entries(summary)) process.stdout.write(`  ${k.padEnd(18)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
  }
  return summary.order_errors === 0 ? 0 : 1;
}
