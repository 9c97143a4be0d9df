// Worker-thread entry running the echo device on one link until `stop[0]` becomes 1.
// Live counters go to `counters` (Float64Array over shared memory: [frames handled]).
import { workerData, parentPort } from 'node:worker_threads';
import { EndpointPort } from '../endpoint/port.js';
import { echoSome } from './echo.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { HeapProbe } from '../util/heap-probe.js';

export interface EchoWorkerData {
  link: LinkDescriptor;
  module: WebAssembly.Module;
  stop: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  spinBeforeSleep?: number;
  /** Sleep in poll(2) on an eventfd (EndpointPort pollSleep: one thread switch per wake-up, Atomics.wait costs 2-4). Default false. */
  pollSleep?: boolean;
  /** CPUs this worker's thread keeps off (EndpointPort avoidCpus: a router's pinned shards). */
  avoidCpus?: number[];
  /** A heap probe (src/util/heap-probe.ts): this thread's V8 heap figures when asked. */
  heap?: SharedArrayBuffer;
}

const data = workerData as EchoWorkerData;
const port = new EndpointPort(data.link, { spinBeforeSleep: data.spinBeforeSleep ?? 2000, pollSleep: data.pollSleep === true, avoidCpus: data.avoidCpus }, data.module);
const stop = new Int32Array(data.stop);
const out = new Float64Array(data.counters);
const probe = data.heap !== undefined ? new HeapProbe(data.heap) : undefined;
let frames = 0;
let k = 0;
while (Atomics.load(stop, 0) === 0) {
  const n = echoSome(port);
  frames += n;
  if (n === 0) port.wait(5);
  if ((++k & 255) === 0) {
    out[0] = frames;
    probe?.poll();
  }
}
out[0] = frames;
port.close();
parentPort?.postMessage({ frames });
