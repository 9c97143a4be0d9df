// rtt: latency of one request at a time through a real Router (driver → shard → echo device →
// shard → driver), everything busy-polling (spinBeforeSleep 2^30 on the shard and the ports).
// The driver thread times each round trip with performance.now() and reports percentiles over
// `--iterations` round trips after a warm-up.
//
// Where the echo device runs (--device):
//   inline  (default) the driver thread also runs the echo device's WASM loop on its own device
//           link: two threads spin (driver and shard), which is what 2 cores can hold — the
//           router still does both hops (two rings in, two rings out, correlation).
//   worker  the echo device in its own worker: three spinning threads on two cores; the
//           scheduler then decides the latency (shown for comparison).
// Busy-polling everywhere (BUSY_POLL_SPINS) also marks the doorbells DOORBELL_BUSY_POLL, so the
// rings publish with plain stores on x86-64 (src/wait/fence.ts; VMSG_PUBLISH=seq-cst to compare).
// --packed 1: packed rings (busy-poll mode defaults to one frame per slot). --name PREFIX: metric names.
// --driver js: the driver's loop in JS with the port's calls and two clock reads per round trip
// (default wasm: assembly/loadgen/round-trip.ts, one read per round trip). --ring N: ring capacity.
import { Worker } from 'node:worker_threads';
import { Router } from '../src/router/router.js';
import { ringDoorbell } from '../src/wait/doorbell.js';
import { wasmModule } from '../src/wasm/module.js';
import { compiledModule } from '../src/util/paths.js';
import { C_COUNT, type DriverData } from './workers/pipeline-driver.js';
import { argInt, argStr, emit, isQuick, log, percentileSorted } from './stats.js';
import { BUSY_POLL_SPINS } from '../src/wait/idle-strategy.js';
import { RTT_STATE_SIZE } from '../src/wasm/layout.js';

const SPIN_FOREVER = BUSY_POLL_SPINS;

interface DriverResult {
  responses: number;
  errors: number;
  micros: Float64Array;
}

async function main(): Promise<void> {
  const quick = isQuick();
  const inline = !process.argv.includes('--device') || process.argv[process.argv.indexOf('--device') + 1] !== 'worker';
  const iterations = argInt('iterations', quick ? 30_000 : 100_000);
  const warmup = Math.max(1000, iterations / 10);
  // Busy-poll mode picks one frame per ring slot unless --packed says otherwise.
  const packed = process.argv.includes('--packed') ? argInt('packed', 0) !== 0 : undefined;
  const ring = process.argv.includes('--ring') ? { ringCapacity: argInt('ring', 256) } : {};
  const router = await Router.create({ shards: 1, spinBeforeSleep: SPIN_FOREVER, ...ring, ...(packed === undefined ? {} : { packedRings: packed }) });
  const module = wasmModule();
  const devLink = await router.attachDevice({ devices: [1] });
  const drvLink = await router.attachDriver();
  const stop = new SharedArrayBuffer(4);

  let echo: Worker | undefined;
  if (!inline) {
    echo = new Worker(compiledModule('device/echo-worker.js'), {
      workerData: { link: devLink, module, stop, counters: new SharedArrayBuffer(8), spinBeforeSleep: SPIN_FOREVER },
    });
    await new Promise((r) => echo!.once('online', r));
  }
  // The driver's loop in WASM (default) or in JS (--driver js, the loop this case had before).
  const wasmDriver = argStr('driver', 'wasm') !== 'js';
  const timesBytes = (iterations + warmup) * 4;
  // alloc hands out zeroed bytes: the engine's state starts at 0.
  const rttWasm = wasmDriver ? { state: router.mem.alloc(RTT_STATE_SIZE), times: router.mem.alloc(timesBytes) } : null;
  const data: DriverData = {
    mode: 'rtt', link: drvLink, module, devices: [1], outstanding: 1, burst: 1, iterations, warmup,
    inlineDevice: inline ? devLink : null, rttWasm, spinBeforeSleep: SPIN_FOREVER, stop, counters: new SharedArrayBuffer(8 * C_COUNT),
  };
  const driver = new Worker(new URL('./workers/pipeline-driver.js', import.meta.url), { workerData: data });
  const result = await new Promise<DriverResult>((resolve, reject) => {
    driver.once('message', resolve);
    driver.once('error', reject);
  });
  Atomics.store(new Int32Array(stop), 0, 1);
  await driver.terminate();
  if (echo !== undefined) {
    ringDoorbell(new Int32Array(devLink.memory.buffer), devLink.bell >>> 2);
    await echo.terminate();
  }
  await router.close();

  const us = result.micros;
  const p = (q: number): number => percentileSorted(us, q);
  log(`rtt (${inline ? 'inline device' : 'device worker'}) p50 ${p(50).toFixed(2)} p99 ${p(99).toFixed(2)} p99.9 ${p(99.9).toFixed(1)} µs, errors ${result.errors}`);
  if (result.errors !== 0 || result.responses !== iterations + warmup) throw new Error(`rtt: ${result.errors} wrong responses, ${result.responses} of ${iterations + warmup}`);
  const prefix = argStr('name', inline ? 'rtt' : 'rtt-device-worker');
  emit({
    samples: { [`${prefix}-p50-us`]: p(50), [`${prefix}-p99-us`]: p(99), [`${prefix}-p999-us`]: p(99.9) },
    info: { device: inline ? 'inline' : 'worker', driver: wasmDriver ? 'wasm' : 'js', iterations, min_us: us[0], max_us: us[us.length - 1] },
  });
}

await main();
