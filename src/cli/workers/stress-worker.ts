// Worker-thread entry of `vmsg stress`'s driver: initialises the block device (notifications in-band
// or through an oob doorbell area), runs the self-checking block workload with every request's
// latency recorded from "started" until `control[STRESS_STOP]`, reports "drained" once nothing is outstanding,
// keeps its endpoint running (so late events are still read and counted) until
// `control[STRESS_CLOSE]`, then posts its report. Live frame counters go to shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { VirtioDriver } from '../../driver/driver.js';
import { BlockDriver } from '../../driver/block-driver.js';
import { BlockWorkload, type BlockWorkloadCounters } from '../../driver/block-workload.js';
import type { LinkDescriptor } from '../../endpoint/link.js';
import type { GuestMemoryDescriptor } from '../../virtqueue/guest-memory.js';
import type { DriverCounters } from '../../driver/driver.js';

export interface StressWorkerData {
  link: LinkDescriptor;
  module: WebAssembly.Module;
  memory: GuestMemoryDescriptor;
  dev: number;
  /** Oob doorbell area of the device, when notifications go out of band. */
  oob?: number;
  queueSize: number;
  chunkBytes: number;
  inFlight: number;
  regionBytes: number;
  /** Notify for every request instead of as suppression allows. */
  notifyEveryBuffer: boolean;
  /** Polls before the driver's idle loop sleeps. */
  spinBeforeSleep: number;
  /** Int32Array [stop, close]. */
  control: SharedArrayBuffer;
  /** Float64Array [framesIn, framesOut]. */
  counters: SharedArrayBuffer;
}

export const STRESS_STOP = 0;
export const STRESS_CLOSE = 1;
export const STRESS_FRAMES_IN = 0;
export const STRESS_FRAMES_OUT = 1;

export interface StressWorkerReport {
  type: 'report';
  /** ms from the start of the workload to the end of the last request. */
  workloadMs: number;
  block: BlockWorkloadCounters;
  lastError?: string;
  /** Latency percentiles (µs) of every block request. */
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; samples: number };
  /** [percentile, µs] points of the latency curve (the HTML report draws them). */
  latencyCurve: [number, number][];
  driver: DriverCounters;
}

/** Percentiles the latency curve is drawn at (HdrHistogram's usual set). */
const CURVE = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

function curve(ms: number[]): [number, number][] {
  const s = Float64Array.from(ms).sort();
  if (s.length === 0) return [];
  return CURVE.map((p) => [p, Math.round(s[Math.max(0, Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1))]! * 1000)]);
}

function percentiles(ms: number[]): StressWorkerReport['latencyUs'] {
  const s = Float64Array.from(ms).sort();
  const at = (p: number): number => (s.length === 0 ? 0 : Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 1000));
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: at(100), samples: s.length };
}

async function main(d: StressWorkerData): Promise<void> {
  const control = new Int32Array(d.control);
  const live = new Float64Array(d.counters);
  const driver = new VirtioDriver(d.link, { memory: d.memory, module: d.module, spinBeforeSleep: d.spinBeforeSleep });
  const publish = (): void => {
    live[STRESS_FRAMES_IN] = driver.endpoint.counters.framesIn;
    live[STRESS_FRAMES_OUT] = driver.endpoint.counters.framesOut;
  };
  const timer = setInterval(publish, 10);
  const blk = await BlockDriver.open(driver, d.dev, { queueSize: d.queueSize, maxTransfer: d.chunkBytes, oob: d.oob, notifyEveryBuffer: d.notifyEveryBuffer });
  // No flush: fdatasync measures the disk (and the other users of a shared one), not the bus.
  const workload = new BlockWorkload(blk, { regionBytes: d.regionBytes, chunkBytes: d.chunkBytes, inFlight: d.inFlight, recordLatency: true, flushEachPass: false });
  // Warm-up (not measured): one request each way, so a DMA pool has booted and the code is hot.
  await blk.write(0, new Uint8Array(d.chunkBytes));
  await blk.read(0, d.chunkBytes);
  parentPort?.postMessage({ type: 'started' });
  const t0 = performance.now();
  await workload.run(() => Atomics.load(control, STRESS_STOP) !== 0);
  const workloadMs = performance.now() - t0;
  parentPort?.postMessage({ type: 'drained' });
  while (Atomics.load(control, STRESS_CLOSE) === 0) await new Promise((r) => setTimeout(r, 5));
  await driver.close();
  clearInterval(timer);
  publish();
  const report: StressWorkerReport = {
    type: 'report', workloadMs, block: workload.counters, lastError: workload.lastError?.message,
    latencyUs: percentiles(workload.latencies), latencyCurve: curve(workload.latencies), driver: driver.counters,
  };
  parentPort?.postMessage(report);
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'link' in workerData) {
  main(workerData as StressWorkerData).catch((e: unknown) => {
    parentPort?.postMessage({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) });
  });
}
