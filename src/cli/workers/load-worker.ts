// Worker-thread entry of a load-generating driver: keeps `outstanding` GET_DEVICE_STATUS
// requests in flight to each device of `devices`, checks every answer (response bit, id,
// device, and per-device order of its own tokens), and publishes live counters in shared
// memory: [sent, responses, failures, orderErrors, eventsUsed, otherFrames]. Given `latency` (a
// shared Float64Array of HIST_BUCKETS counts, the load engine's histogram form) it also times
// every answer — two clock reads per pass, not per frame — and counts it there, allocating nothing;
// the reader takes differences of snapshots for any window it likes.
import { workerData, parentPort } from 'node:worker_threads';
import { EndpointPort } from '../../endpoint/port.js';
import type { LinkDescriptor } from '../../endpoint/link.js';
import { histBucketOfNs } from '../../loadgen/engine-histogram.js';
import { failedDevice, failedToken, isRequestFailed } from '../../client/request-failed.js';
import { devNumAt, msgSizeAt, tokenAt } from '../../protocol/header.js';

export interface LoadWorkerData {
  link: LinkDescriptor;
  module: WebAssembly.Module;
  devices: number[];
  outstanding: number;
  stop: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  spinBeforeSleep?: number;
  /** HIST_BUCKETS × f64 latency counts (ns buckets of src/loadgen/engine-histogram.ts), written by this worker only. */
  latency?: SharedArrayBuffer;
}

// Send times are kept per device by token: answers come in order per device and at most
// `outstanding` (< STAMP_SLOTS) are open, so token & (STAMP_SLOTS - 1) never collides.
const STAMP_SLOTS = 64;

export const LOAD_SENT = 0;
export const LOAD_RESPONSES = 1;
export const LOAD_FAILURES = 2;
export const LOAD_ORDER_ERRORS = 3;
export const LOAD_EVENTS = 4;
export const LOAD_OTHER = 5;
export const LOAD_COUNTERS = 6;

const GET_DEVICE_STATUS = 0x07;

function main(d: LoadWorkerData): void {
  const port = new EndpointPort(d.link, { spinBeforeSleep: d.spinBeforeSleep ?? 2000 }, d.module);
  const stop = new Int32Array(d.stop);
  const out = new Float64Array(d.counters);
  const u8 = port.u8;
  const index = new Map(d.devices.map((dev, i) => [dev, i]));
  const nextToken = new Uint16Array(d.devices.length).fill(1);
  const expectToken = new Uint16Array(d.devices.length).fill(1);
  const inFlight = new Int32Array(d.devices.length);
  let sent = 0, responses = 0, failures = 0, orderErrors = 0, events = 0, other = 0, k = 0;
  const hist = d.latency !== undefined ? new Float64Array(d.latency) : undefined;
  const timing = hist !== undefined;
  if (timing && d.outstanding >= STAMP_SLOTS) throw new RangeError(`load worker: timing needs outstanding < ${STAMP_SLOTS}`);
  const stamps = new Float64Array(timing ? d.devices.length * STAMP_SLOTS : 0);
  let now = 0;

  const settle = (dev: number, token: number): void => {
    const i = index.get(dev);
    if (i === undefined) { other++; return; }
    if (hist !== undefined) hist[histBucketOfNs(Math.round((now - stamps[i * STAMP_SLOTS + (token & (STAMP_SLOTS - 1))]!) * 1e6))]!++;
    if (token !== expectToken[i]) orderErrors++;
    expectToken[i] = token + 1 === 0x10000 ? 1 : token + 1;
    inFlight[i]!--;
  };

  while (Atomics.load(stop, 0) === 0) {
    let progress = 0;
    if (timing) now = performance.now();
    for (let i = 0; i < d.devices.length; i++) {
      while (inFlight[i]! < d.outstanding) {
        const s = port.reserve();
        if (s === 0) break;
        const dev = d.devices[i]!;
        const tok = nextToken[i]!;
        nextToken[i] = tok === 0xffff ? 1 : tok + 1;
        u8[s] = 0; u8[s + 1] = GET_DEVICE_STATUS; u8[s + 2] = dev & 0xff; u8[s + 3] = dev >> 8;
        u8[s + 4] = tok & 0xff; u8[s + 5] = tok >> 8; u8[s + 6] = 8; u8[s + 7] = 0;
        port.commit();
        if (timing) stamps[i * STAMP_SLOTS + (tok & (STAMP_SLOTS - 1))] = now;
        inFlight[i]!++;
        sent++;
        progress++;
      }
    }
    port.flush();
    if (timing) now = performance.now();
    for (let f = port.peek(); f !== 0; f = port.peek()) {
      const type = u8[f]!, id = u8[f + 1]!;
      if (type === 1 && id === GET_DEVICE_STATUS) {
        responses++;
        settle(devNumAt(u8, f), tokenAt(u8, f));
      } else if (isRequestFailed(u8, f, msgSizeAt(u8, f))) {
        failures++;
        settle(failedDevice(u8, f), failedToken(u8, f));
      } else if (type === 0 && id === 0x42) events++;
      else if (!(type === 2 && id === 0x40)) other++;
      port.release();
      progress++;
    }
    if ((++k & 63) === 0) {
      out[LOAD_SENT] = sent; out[LOAD_RESPONSES] = responses; out[LOAD_FAILURES] = failures;
      out[LOAD_ORDER_ERRORS] = orderErrors; out[LOAD_EVENTS] = events; out[LOAD_OTHER] = other;
    }
    if (progress === 0) port.wait(5);
  }
  out[LOAD_SENT] = sent; out[LOAD_RESPONSES] = responses; out[LOAD_FAILURES] = failures;
  out[LOAD_ORDER_ERRORS] = orderErrors; out[LOAD_EVENTS] = events; out[LOAD_OTHER] = other;
  parentPort?.postMessage({ sent, responses, failures, orderErrors, events, other });
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'link' in workerData) main(workerData as LoadWorkerData);
