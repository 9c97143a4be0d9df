// `vmsg demo` (npm start): a router with virtio devices on the Device SDK — block (on a real
// temporary file), entropy and echo, each in its own worker thread — and a driver worker that
// initialises every one and runs a workload (block writes then read-back with verification,
// entropy reads, echo round trips); plus WASM echo devices under a load-generating driver for
// message rates. A live display of the rates on a TTY, then a summary (--json: one JSON object).
import { Worker } from 'node:worker_threads';
import { mkdtempSync, openSync, ftruncateSync, closeSync, rmSync } from 'node:fs';
import { onStopSignal } from './stop-signals.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../router/router.js';
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { EXIT_OK, EXIT_USAGE, usageLine } from './exit.js';
import { numberFlag, NumberFlagError } from './tool-io.js';
import { wasmModule } from '../wasm/module.js';
import { compiledModule } from '../util/paths.js';
import { ringDoorbell } from '../wait/doorbell.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { GuestMemory } from '../virtqueue/guest-memory.js';
import { spawnDeviceWorker, type DeviceWorkerHandle } from '../device/spawn.js';
import { LOAD_COUNTERS, LOAD_SENT, LOAD_RESPONSES, LOAD_FAILURES, LOAD_ORDER_ERRORS } from './workers/load-worker.js';
import {
  DEMO_COUNTERS, DEMO_BLOCK_WRITTEN, DEMO_VERIFIED, DEMO_MISMATCHES, DEMO_ENTROPY_BYTES, DEMO_ECHOES,
  DEMO_ECHO_MISMATCHES, DEMO_ERRORS, DEMO_PASSES, type DemoWorkerReport,
} from './workers/demo-worker.js';

export interface DemoOptions {
  durationS: number;
  json: boolean;
  devices: number;
  shards?: number;
  outstanding: number;
}

// 32 devices × 48 in flight: deep enough that the load driver and echo devices mostly find
// work without sleeping (8 × 32 measured 0.43 M round trips/s, this 1.4 M, on 2 cores).
const DEFAULTS = { durationS: 10, devices: 32, outstanding: 48 };

const FLAGS = {
  duration: { kind: 'string', value: 'S', help: `seconds to run, 0.1 to 86400 (default ${DEFAULTS.durationS})` },
  devices: { kind: 'integer', value: 'N', min: 1, max: 1024, help: `WASM echo devices under the load driver (default ${DEFAULTS.devices})` },
  outstanding: { kind: 'integer', value: 'K', min: 1, max: 48, help: `requests in flight per echo device (default ${DEFAULTS.outstanding})` },
  shards: { kind: 'integer', value: 'N', min: 1, max: 64, help: 'router shards (worker threads; default one per core)' },
  json: { kind: 'boolean', help: 'print one JSON summary instead of the live rates and the table' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

const USAGE = `usage: vmsg demo [--duration S] [--devices N] [--outstanding K] [--shards N] [--json]

A router with block (on a temporary file), entropy and echo virtio devices, each in its own
worker thread, and a driver that initialises each and runs a verified workload; plus WASM echo
devices under a load driver for message rates. Live rates on a terminal, then a summary.
Exit status: 0 when every device came up and nothing was lost, reordered or mismatched; 1 otherwise.

options:
${optionsHelp(FLAGS)}

example:
  vmsg demo --duration 5 --json
`;

function parse(argv: string[]): DemoOptions | 'help' {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const durationS = numberFlag('--duration', flags.duration, 0.1, 86400) ?? DEFAULTS.durationS;
  return {
    durationS,
    json: flags.json,
    devices: flags.devices ?? DEFAULTS.devices,
    shards: flags.shards,
    outstanding: flags.outstanding ?? DEFAULTS.outstanding,
  };
}

/** Device numbers of the virtio devices: above every WASM echo device (those are 1..--devices). */
const VIRTIO_DEVICES = { block: 4096, entropy: 4097, echo: 4098 };
/** The block backing file (sparse) and the region the workload cycles over. */
const DISK_BYTES = 64 << 20;
const REGION_BYTES = 8 << 20;
const CHUNK_BYTES = 64 << 10;
const GUEST_MEMORY_BYTES = 32 << 20;
/** Guest-physical base of the demo's guest memory (above 4 GiB: 64-bit descriptor addresses). */
const GUEST_BASE = 0x1_0000_0000;

interface Running {
  worker: Worker;
  stop: Int32Array;
  counters: Float64Array;
  done: Promise<unknown>;
}

function startWorker(file: string, data: Record<string, unknown>, nCounters: number, stopKey = 'stop', counterKey = 'counters'): Running {
  const stopBuf = new SharedArrayBuffer(4);
  const countersBuf = new SharedArrayBuffer(8 * nCounters);
  const worker = new Worker(compiledModule(file), { workerData: { ...data, [stopKey]: stopBuf, [counterKey]: countersBuf } });
  const done = new Promise((resolve, reject) => {
    worker.on('message', (m: { type?: string; message?: string }) => {
      if (m.type === 'error') reject(new Error(m.message));
      else resolve(m);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${file} exited (code ${code}) before reporting`)));
  });
  done.catch(() => undefined);
  return { worker, stop: new Int32Array(stopBuf), counters: new Float64Array(countersBuf), done };
}

async function stopWorker(r: Running, link: LinkDescriptor): Promise<unknown> {
  Atomics.store(r.stop, 0, 1);
  ringDoorbell(new Int32Array(link.memory.buffer), link.bell >>> 2);
  const report = await r.done;
  await r.worker.terminate();
  return report;
}

export async function runDemo(o: DemoOptions, log: (line: string) => void = (l) => process.stdout.write(l)): Promise<Record<string, unknown>> {
  // Ctrl-C or SIGTERM at any point, even while starting, ends the run cleanly with a summary.
  let stopRequested = false;
  const stopListening = onStopSignal(() => { stopRequested = true; });
  const router = await Router.create({ shards: o.shards });
  const module = wasmModule();
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-demo-'));
  const workers: DeviceWorkerHandle[] = [];
  try {
    // Benchmark load: WASM echo devices (two links, half of the devices each) under the load driver.
    const devNums = Array.from({ length: o.devices }, (_, i) => i + 1);
    const half = Math.ceil(devNums.length / 2);
    const groups = [devNums.slice(0, half), devNums.slice(half)].filter((g) => g.length > 0);
    const echoLinks: LinkDescriptor[] = [];
    for (const g of groups) echoLinks.push(await router.attachDevice({ devices: g }));
    const loadLink = await router.attachDriver();
    const echoes = echoLinks.map((link) => startWorker('device/echo-worker.js', { link, module }, 1));
    const load = startWorker('cli/workers/load-worker.js', { link: loadLink, module, devices: devNums, outstanding: o.outstanding }, LOAD_COUNTERS);

    // Virtio devices on the Device SDK, each in its own worker on its own link, sharing guest memory with the driver.
    const memory = new GuestMemory({ buffer: new SharedArrayBuffer(GUEST_MEMORY_BYTES), offset: 0, length: GUEST_MEMORY_BYTES, base: GUEST_BASE });
    const disk = join(dir, 'disk.img');
    const fd = openSync(disk, 'w');
    ftruncateSync(fd, DISK_BYTES);
    closeSync(fd);
    const kinds = [
      { dev: VIRTIO_DEVICES.block, kind: 'block' as const, block: { path: disk } },
      { dev: VIRTIO_DEVICES.entropy, kind: 'entropy' as const },
      { dev: VIRTIO_DEVICES.echo, kind: 'echo' as const },
    ];
    for (const k of kinds) {
      const link = await router.attachDevice({ devices: [k.dev] });
      workers.push(spawnDeviceWorker({ link, module, memory: memory.describe(), devices: [k] }));
    }
    await Promise.all(workers.map((w) => w.ready));
    const driverLink = await router.attachDriver();
    const demo = startWorker('cli/workers/demo-worker.js', {
      link: driverLink, module, memory: memory.describe(), devices: VIRTIO_DEVICES,
      regionBytes: REGION_BYTES, chunkBytes: CHUNK_BYTES, inFlight: 8,
    }, DEMO_COUNTERS, 'control');

    const t0 = performance.now();
    const tty = !o.json && process.stdout.isTTY === true;
    const d = demo.counters;
    let last = { t: t0, frames: 0, rt: 0, written: 0, entropy: 0, echoes: 0 };
    while (!stopRequested && performance.now() - t0 < o.durationS * 1000) {
      await new Promise((r) => setTimeout(r, 500));
      if (!tty) continue;
      const now = performance.now();
      const st = router.stats();
      const cur = { t: now, frames: st.totals.rx, rt: load.counters[LOAD_RESPONSES]!, written: d[DEMO_BLOCK_WRITTEN]!, entropy: d[DEMO_ENTROPY_BYTES]!, echoes: d[DEMO_ECHOES]! };
      const rate = (k: keyof typeof cur): number => (cur[k] - last[k]) / ((now - last.t) / 1000);
      log(`\r t=${((now - t0) / 1000).toFixed(1)}s  routed ${(rate('frames') / 1e6).toFixed(2)} M msg/s  load ${(rate('rt') / 1e6).toFixed(2)} M rt/s | ` +
        `block ${(rate('written') / 1e6).toFixed(1)} MB/s, ${(d[DEMO_VERIFIED]! / (1 << 20)).toFixed(0)} MiB verified, ${d[DEMO_MISMATCHES]} bad | ` +
        `entropy ${(rate('entropy') / 1e3).toFixed(0)} kB/s | echo ${rate('echoes').toFixed(0)}/s | errors ${d[DEMO_ERRORS]} drops ${st.totals.dropped}   `);
      last = cur;
    }
    const virtio = (await stopWorker(demo, driverLink)) as DemoWorkerReport;
    await stopWorker(load, loadLink);
    await new Promise((r) => setTimeout(r, 20)); // let the last answers reach the driver ring
    for (let i = 0; i < echoes.length; i++) await stopWorker(echoes[i]!, echoLinks[i]!);
    for (const w of workers.splice(0)) await w.stop();
    const seconds = (performance.now() - t0) / 1000;
    const st = router.stats();
    if (tty) log('\n');
    const responses = load.counters[LOAD_RESPONSES]!;
    return {
      seconds: Number(seconds.toFixed(3)),
      shards: router.options.shards,
      devices: o.devices,
      // Frames the router took from links (a frame that crosses shards counts once).
      messages_routed: st.totals.rx,
      requests_sent: load.counters[LOAD_SENT],
      round_trips: responses,
      round_trips_per_s: Math.round(responses / seconds),
      failures: load.counters[LOAD_FAILURES],
      order_errors: load.counters[LOAD_ORDER_ERRORS],
      dropped: st.totals.dropped,
      drops_by_reason: st.totals.dropsByReason,
      virtio_devices: virtio.initialised,
      verified_bytes: d[DEMO_VERIFIED],
      mismatches: d[DEMO_MISMATCHES]! + d[DEMO_ECHO_MISMATCHES]!,
      block_bytes_written: d[DEMO_BLOCK_WRITTEN],
      block_passes: d[DEMO_PASSES],
      entropy_bytes: d[DEMO_ENTROPY_BYTES],
      echo_round_trips: d[DEMO_ECHOES],
      errors: d[DEMO_ERRORS],
      error_messages: virtio.errors,
    };
  } finally {
    stopListening();
    for (const w of workers) await w.stop().catch(() => undefined);
    await router.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(argv: string[]): Promise<number> {
  let o: DemoOptions;
  try {
    const parsed = parse(argv);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return EXIT_OK;
    }
    o = parsed;
  } catch (e) {
    if (e instanceof UsageError || e instanceof NumberFlagError) {
      process.stderr.write(usageLine('demo', e.message));
      return EXIT_USAGE;
    }
    throw e;
  }
  if (!o.json) {
    process.stdout.write(`vmsg demo: router + block, entropy and echo virtio devices + ${o.devices} WASM echo devices, 2 drivers, for ${o.durationS} s (Ctrl-C stops)\n`);
  }
  const summary = await runDemo(o);
  if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    for (const [k, v] of Object.entries(summary)) process.stdout.write(`  ${k.padEnd(20)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
  }
  const ok = summary.order_errors === 0 && summary.mismatches === 0 && summary.errors === 0 && (summary.virtio_devices as string[]).length === 3;
  return ok ? 0 : 1;
}
