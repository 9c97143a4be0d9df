// Worker-thread entry running the echo device on one link until `stop[0]` becomes 1.
// Live counters go to `counters` (Float64Array over shared memory: [requests, events]).
import { workerData, parentPort } from 'node:worker_threads';
import { EndpointPort } from '../router/port.js';
import { echoSome, type EchoCounters } from './echo.js';
import type { LinkDescriptor } from '../router/link.js';

export interface EchoWorkerData {
  link: LinkDescriptor;
  module: WebAssembly.Module;
  stop: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  spinBeforeSleep?: number;
}

const data = workerData as EchoWorkerData;
const port = new EndpointPort(data.link, { spinBeforeSleep: data.spinBeforeSleep ?? 2000 }, data.module);
const stop = new Int32Array(data.stop);
const out = new Float64Array(data.counters);
const c: EchoCounters = { requests: 0, events: 0 };
let k = 0;
while (Atomics.load(stop, 0) === 0) {
  if (echoSome(port, c) === 0) port.wait(5);
  if ((++k & 255) === 0) { out[0] = c.requests; out[1] = c.events; }
}
out[0] = c.requests;
out[1] = c.events;
parentPort?.postMessage(c);
