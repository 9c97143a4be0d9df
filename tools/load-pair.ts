// Well-behaved traffic through a router: echo devices on device links and load drivers keeping
// `outstanding` requests in flight per device, each in its own worker thread, with exact
// accounting at the end (every request answered or failed once, in per-device order). The
// soak's workload, and the good links the hostile-peer tests watch.
import { Worker } from 'node:worker_threads';
import type { Router } from '../src/router/router.js';
import { ringDoorbell } from '../src/wait/doorbell.js';
import { EndpointPort } from '../src/endpoint/port.js';
import type { LinkDescriptor } from '../src/endpoint/link.js';
import { compiledModule } from '../src/util/paths.js';
import { wasmModule } from '../src/wasm/module.js';
import { engineLayout } from '../src/loadgen/engine-layout.js';
import { LOAD_COUNTERS, LOAD_SENT, LOAD_RESPONSES, LOAD_FAILURES, LOAD_ORDER_ERRORS, LOAD_OTHER } from '../src/cli/workers/load-worker.js';

export interface LoadPairOptions {
  /** Device numbers of the echo devices (split over two device links). */
  devices: number[];
  drivers: number;
  outstanding: number;
  /** Echo devices on a device link of their own that these drivers leave alone (for other traffic). */
  spareDevices?: number[];
  /** The drivers time every answer into shared latency histograms (src/cli/workers/load-worker.ts). */
  timed?: boolean;
}

/** One driver's totals once it stopped and its last answers were read. */
export interface DriverTotals {
  sent: number;
  responses: number;
  failures: number;
  orderErrors: number;
  other: number;
}

export interface LoadPair {
  readonly deviceLinks: LinkDescriptor[];
  readonly driverLinks: LinkDescriptor[];
  /** Requests sent so far by all drivers. */
  sent(): number;
  /** The drivers' latency counts so far, summed (ns buckets of src/loadgen/engine-histogram.ts); empty unless `timed`. */
  latencyCounts(): Float64Array;
  /** Stop the drivers, read their last answers, stop the devices. */
  stop(): Promise<{ drivers: DriverTotals[]; lost: number }>;
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
  worker.on('error', (e) => process.stderr.write(`load pair: worker ${file} failed: ${String(e)}\n`));
  return { worker, stop: new Int32Array(stop), counters: new Float64Array(counters), exited };
}

async function stopWorker(r: Running, link: LinkDescriptor): Promise<void> {
  Atomics.store(r.stop, 0, 1);
  ringDoorbell(new Int32Array(link.memory.buffer), link.bell >>> 2);
  await r.exited;
}

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

export async function startLoadPair(router: Router, o: LoadPairOptions): Promise<LoadPair> {
  const module = wasmModule();
  const half = Math.ceil(o.devices.length / 2);
  const deviceLinks: LinkDescriptor[] = [];
  for (const g of [o.devices.slice(0, half), o.devices.slice(half), o.spareDevices ?? []].filter((x) => x.length > 0)) deviceLinks.push(await router.attachDevice({ devices: g }));
  const echoes = deviceLinks.map((link) => start('device/echo-worker.js', { link, module }, 1));
  const driverLinks: LinkDescriptor[] = [];
  for (let d = 0; d < o.drivers; d++) driverLinks.push(await router.attachDriver());
  const buckets = engineLayout().HIST_BUCKETS;
  const latency = driverLinks.map(() => (o.timed === true ? new SharedArrayBuffer(8 * buckets) : undefined));
  const loads = driverLinks.map((link, i) => start('cli/workers/load-worker.js', {
    link, module, devices: o.devices, outstanding: o.outstanding, ...(latency[i] !== undefined ? { latency: latency[i] } : {}),
  }, LOAD_COUNTERS));
  const sum = new Float64Array(o.timed === true ? buckets : 0);
  return {
    deviceLinks,
    driverLinks,
    sent: () => loads.reduce((t, l) => t + l.counters[LOAD_SENT]!, 0),
    latencyCounts() {
      sum.fill(0);
      for (const b of latency) {
        if (b === undefined) continue;
        const c = new Float64Array(b);
        for (let k = 0; k < c.length; k++) sum[k]! += c[k]!;
      }
      return sum.slice();
    },
    async stop() {
      const drivers: DriverTotals[] = [];
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
      return { drivers, lost: drivers.reduce((t, d) => t + (d.sent - d.responses - d.failures), 0) };
    },
  };
}
