// Worker-thread entry of the demo's virtio driver: enumerates the bus, initialises the block,
// entropy and echo devices, then runs until told to stop: block passes (write, flush, read back
// and verify), entropy reads, and echo round trips (EVENT_AVAIL → EVENT_USED with real buffers).
// Live counters go to shared memory (DEMO_* indices); one report is posted at the end.
import { parentPort, workerData } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { VirtioDriver } from '../../driver/driver.js';
import { BlockDriver } from '../../driver/block-driver.js';
import { EntropyDriver } from '../../driver/entropy-driver.js';
import { EchoDriver } from '../../driver/echo-driver.js';
import { BlockWorkload } from '../../driver/block-workload.js';
import type { LinkDescriptor } from '../../endpoint/link.js';
import type { GuestMemoryDescriptor } from '../../virtqueue/guest-memory.js';

export interface DemoWorkerData {
  link: LinkDescriptor;
  module: WebAssembly.Module;
  memory: GuestMemoryDescriptor;
  devices: { block: number; entropy: number; echo: number };
  /** Block region exercised (bytes) and request size. */
  regionBytes: number;
  chunkBytes: number;
  inFlight: number;
  /** Int32Array [stop]. */
  control: SharedArrayBuffer;
  /** Float64Array of DEMO_COUNTERS. */
  counters: SharedArrayBuffer;
}

export const DEMO_INITIALISED = 0;
export const DEMO_BLOCK_WRITTEN = 1;
export const DEMO_VERIFIED = 2;
export const DEMO_MISMATCHES = 3;
export const DEMO_ENTROPY_BYTES = 4;
export const DEMO_ECHOES = 5;
export const DEMO_ECHO_MISMATCHES = 6;
export const DEMO_ERRORS = 7;
export const DEMO_PASSES = 8;
export const DEMO_COUNTERS = 9;

export interface DemoWorkerReport {
  type: 'report';
  enumerated: number[];
  initialised: string[];
  errors: string[];
  driver: VirtioDriver['counters'];
}

async function main(d: DemoWorkerData): Promise<void> {
  const stop = new Int32Array(d.control);
  const live = new Float64Array(d.counters);
  const stopped = (): boolean => Atomics.load(stop, 0) !== 0;
  const errors: string[] = [];
  let failures = 0;
  const fail = (what: string, e: unknown): void => {
    failures++;
    if (errors.length < 10) errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  };
  const driver = new VirtioDriver(d.link, { memory: d.memory, module: d.module });
  const initialised: string[] = [];
  const enumerated = await driver.enumerate();
  const blk = await BlockDriver.open(driver, d.devices.block);
  initialised.push(`block ${d.devices.block} (${blk.capacity} sectors)`);
  const entropy = await EntropyDriver.open(driver, d.devices.entropy);
  initialised.push(`entropy ${d.devices.entropy}`);
  const echo = await EchoDriver.open(driver, d.devices.echo);
  initialised.push(`echo ${d.devices.echo}`);
  live[DEMO_INITIALISED] = initialised.length;

  const workload = new BlockWorkload(blk, { regionBytes: d.regionBytes, chunkBytes: d.chunkBytes, inFlight: d.inFlight });
  let entropyBytes = 0, echoes = 0, echoMismatches = 0;
  const publish = (): void => {
    const c = workload.counters;
    live[DEMO_BLOCK_WRITTEN] = c.bytesWritten;
    live[DEMO_VERIFIED] = c.verifiedBytes;
    live[DEMO_MISMATCHES] = c.mismatches;
    live[DEMO_PASSES] = c.passes;
    live[DEMO_ENTROPY_BYTES] = entropyBytes;
    live[DEMO_ECHOES] = echoes;
    live[DEMO_ECHO_MISMATCHES] = echoMismatches;
    live[DEMO_ERRORS] = failures + c.errors;
  };
  const timer = setInterval(publish, 100);

  // Each part runs at least once (a window verified, a read, an echo), however early the stop:
  // the summary always shows the whole path working.
  const blockLoop = workload.run(() => stopped() && (workload.counters.verifiedBytes > 0 || workload.counters.errors > 0)).catch((e: unknown) => fail('block', e));
  const entropyLoop = (async () => {
    for (let first = true; first || !stopped(); first = false) {
      try {
        entropyBytes += (await entropy.read(4096)).length;
      } catch (e) {
        fail('entropy', e);
      }
    }
  })();
  const echoLoop = (async () => {
    for (let first = true; first || !stopped(); first = false) {
      const msg = randomBytes(256);
      try {
        const back = await echo.echo(msg);
        echoes++;
        if (Buffer.compare(back, msg) !== 0) echoMismatches++;
      } catch (e) {
        fail('echo', e);
      }
    }
  })();
  await Promise.all([blockLoop, entropyLoop, echoLoop]);
  clearInterval(timer);
  if (workload.lastError !== undefined) errors.push(`block: ${workload.lastError.message}`);
  publish();
  await driver.close();
  const report: DemoWorkerReport = { type: 'report', enumerated, initialised, errors, driver: driver.counters };
  parentPort?.postMessage(report);
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'link' in workerData) {
  main(workerData as DemoWorkerData).catch((e: unknown) => {
    parentPort?.postMessage({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) });
  });
}
