// Driver thread of the pipeline and rtt cases. Two modes:
//   load  keep `outstanding` GET_DEVICE_STATUS requests in flight to each device, sending at
//         most `burst` per pass, and check every answer: a response (type 1) of the same id,
//         for a device we asked, carrying our next token for that device (per-device order).
//         With `inlineDevice` this thread also answers as the echo device (experiment: two
//         threads instead of three on a 2-core machine).
//   rtt   one request at a time; time each round trip and report the sorted latencies. With
//         `inlineDevice` this thread also runs the echo device on its own link, so only two
//         threads spin (this one and the shard) on a 2-core machine. With `rttWasm` (rtt.ts's
//         default) the loop runs in WASM (assembly/loadgen/round-trip.ts: one clock read per
//         round trip); without it, here in JS with the port's calls (performance.now twice).
// Live counters go to shared memory (never one message per frame): see C_* below.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { EndpointPort } from '../../src/endpoint/port.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../../src/ring/native.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { CL_ERRORS, CL_RESPONSES, CL_SENT, RTT_ERRORS } from '../../src/wasm/layout.js';

export interface DriverData {
  mode: 'load' | 'rtt';
  link: LinkDescriptor;
  module: WebAssembly.Module;
  devices: number[];
  /** load: requests in flight per device. */
  outstanding: number;
  /** load: most requests written per pass before looking at responses. */
  burst: number;
  /** rtt: round trips to time (after `warmup` untimed ones). */
  iterations: number;
  warmup: number;
  /** Echo device link run by this thread (null: a device worker answers). */
  inlineDevice: LinkDescriptor | null;
  /**
   * rtt in WASM: addresses in the link's memory of the engine's state (RTT_STATE_SIZE bytes,
   * zeroed) and of `iterations + warmup` u32 latencies (ns). Null: the JS loop.
   */
  rttWasm?: { state: number; times: number } | null;
  /**
   * load in WASM (assembly/loadgen/closed-loop.ts): addresses in the link's memory of its state
   * (CL_STATE_SIZE bytes) and per-device table (CLD_SIZE per device), zeroed; the devices must
   * be consecutive numbers. Null: the JS loop.
   */
  loadWasm?: { state: number; devs: number } | null;
  spinBeforeSleep: number;
  /** CPUs this thread keeps off (EndpointPort avoidCpus: the router's pinned shard). */
  avoidCpus?: number[];
  /** Sleep in poll(2) on an eventfd instead of Atomics.wait (EndpointPort pollSleep). */
  pollSleep?: boolean;
  stop: SharedArrayBuffer;
  counters: SharedArrayBuffer;
}

/** Float64 counters: requests sent, responses accepted, wrong/failed/missing answers, idle waits. */
export const C_SENT = 0;
export const C_RESPONSES = 1;
export const C_ERRORS = 2;
export const C_WAITS = 3;
export const C_COUNT = 4;

const GET_DEVICE_STATUS = 0x07;
const REQUEST_SIZE = 8; // GET_DEVICE_STATUS carries no payload
/** First 16 bits of a good answer: type 1 (response), msg_id GET_DEVICE_STATUS. */
const RESPONSE_TYPE_ID = 1 | (GET_DEVICE_STATUS << 8);
/** EVENT_DEVICE (bus event 0x40): hotplug news, not an answer. */
const EVENT_DEVICE_TYPE_ID = 2 | (0x40 << 8);

function main(d: DriverData): void {
  const port = new EndpointPort(d.link, { spinBeforeSleep: d.spinBeforeSleep, pollSleep: d.pollSleep === true, avoidCpus: d.avoidCpus }, d.module);
  const u32 = new Uint32Array(d.link.memory.buffer);
  const u16 = new Uint16Array(d.link.memory.buffer);
  const stop = new Int32Array(d.stop);
  const counters = new Float64Array(d.counters);
  const index = new Int32Array(65536).fill(-1);
  d.devices.forEach((dev, i) => (index[dev] = i));
  // Cursors of the inline echo device's link (0: a device worker answers) and of the driver link.
  const dev = d.inlineDevice;
  const devIn = dev === null ? 0 : dev.fromRouter + NR_CONS_CURSOR;
  const devOut = dev === null ? 0 : dev.toRouter + NR_PROD_CURSOR;
  const tx = d.link.toRouter + NR_PROD_CURSOR;
  const rx = d.link.fromRouter + NR_CONS_CURSOR;
  const nextToken = new Uint16Array(d.devices.length);
  const expectToken = new Uint16Array(d.devices.length);
  const inFlight = new Int32Array(d.devices.length);
  let sent = 0;
  let responses = 0;
  let errors = 0;
  let waits = 0;

  function publish(): void {
    counters[C_SENT] = sent;
    counters[C_RESPONSES] = responses;
    counters[C_ERRORS] = errors;
    counters[C_WAITS] = waits;
  }

  /** Write one request for device number `i` into a reserved slot (header as two u32 stores). */
  function request(slot: number, i: number): void {
    const dev = d.devices[i]!;
    const token = nextToken[i]!;
    nextToken[i] = (token + 1) & 0xffff;
    u32[slot >>> 2] = (GET_DEVICE_STATUS << 8) | (dev << 16); // type 0: transport request
    u32[(slot >>> 2) + 1] = token | (REQUEST_SIZE << 16);
    inFlight[i]!++;
    sent++;
  }

  /** Check and consume every frame waiting from the router; returns how many. */
  function receive(): number {
    let n = 0;
    for (let f = port.peek(); f !== 0; f = port.peek()) {
      const w = u32[f >>> 2]!;
      const typeId = w & 0xffff;
      if (typeId !== EVENT_DEVICE_TYPE_ID) {
        const i = index[w >>> 16]!;
        const token = u16[(f >>> 1) + 2]!;
        if (typeId !== RESPONSE_TYPE_ID || i < 0 || token !== expectToken[i]) errors++;
        else responses++;
        if (i >= 0) {
          expectToken[i] = (token + 1) & 0xffff;
          inFlight[i]!--;
        }
      }
      port.release();
      n++;
    }
    return n;
  }

  function runLoad(): void {
    const nDev = d.devices.length;
    let rr = 0;
    let pass = 0;
    while (Atomics.load(stop, 0) === 0) {
      let progress = dev === null ? 0 : port.wasm.echoSome(devIn, devOut, 4096);
      progress += receive();
      let budget = d.burst;
      for (let k = 0; k < nDev && budget > 0; k++) {
        const i = rr;
        rr = rr + 1 === nDev ? 0 : rr + 1;
        while (inFlight[i]! < d.outstanding && budget > 0) {
          const slot = port.reserve();
          if (slot === 0) {
            budget = 0;
            break;
          }
          request(slot, i);
          port.commit();
          budget--;
          progress++;
        }
      }
      port.flush();
      if (progress === 0) {
        waits++;
        // With the device inline, frames may also arrive on the device link's ring, whose
        // doorbell nobody watches: keep polling (two spinning threads fit on two cores).
        if (dev === null) port.wait(5);
      }
      if ((++pass & 255) === 0) publish();
    }
    publish();
    parentPort?.postMessage({ sent, responses, errors });
  }

  function runRtt(): void {
    const times = new Float64Array(d.iterations);
    const total = d.warmup + d.iterations;
    for (let it = 0; it < total && Atomics.load(stop, 0) === 0; it++) {
      const t0 = performance.now();
      let slot = port.reserve();
      while (slot === 0) slot = port.reserve();
      request(slot, it % d.devices.length);
      port.commit();
      port.flush();
      let got = 0;
      while (got === 0) {
        if (dev !== null) port.wasm.echoSome(devIn, devOut, 64);
        got = receive();
      }
      const t1 = performance.now();
      if (it >= d.warmup) times[it - d.warmup] = (t1 - t0) * 1000;
    }
    port.flushReceived();
    publish();
    times.sort();
    parentPort?.postMessage({ sent, responses, errors, micros: times }, [times.buffer]);
  }

  /** runLoad in WASM (clRun): the same checks; JS only waits when a pass found nothing and publishes the counters. */
  function runLoadWasm(at: { state: number; devs: number }): void {
    const first = d.devices[0]!;
    if (d.devices.some((v, i) => v !== first + i)) throw new Error('pipeline driver: the WASM loop needs consecutive device numbers');
    // u64 counters, far below 2^53: read as two u32 halves.
    const c = (off: number): number => u32[(at.state + off) >>> 2]! + u32[((at.state + off) >>> 2) + 1]! * 2 ** 32;
    const read = (): void => {
      sent = c(CL_SENT);
      responses = c(CL_RESPONSES);
      errors = c(CL_ERRORS);
    };
    let pass = 0;
    while (Atomics.load(stop, 0) === 0) {
      const moved = port.wasm.clRun(at.state, at.devs, tx, rx, devIn, devOut, first, d.devices.length, d.outstanding, d.burst, 64);
      if (moved === 0) {
        waits++;
        // With the device inline, frames may also arrive on the device link's ring, whose
        // doorbell nobody watches: keep polling (two spinning threads fit on two cores).
        if (dev === null) port.wait(5);
      }
      if ((++pass & 63) === 0) {
        read();
        publish();
      }
    }
    read();
    publish();
    parentPort?.postMessage({ sent, responses, errors });
  }

  /** runRtt in WASM (rttRun): in chunks, so the stop word is seen between them. */
  function runRttWasm(at: { state: number; times: number }): void {
    const total = d.warmup + d.iterations;
    const chunk = 4096;
    for (let done = 0; done < total && Atomics.load(stop, 0) === 0;) {
      const n = Math.min(chunk, total - done);
      // Seconds of looks without an answer: give up (reported as a missing response).
      const got = port.wasm.rttRun(at.state, tx, rx, devIn, devOut, d.devices[0]!, n, at.times + done * 4, 1 << 28);
      done += got;
      sent = responses = done;
      if (got < n) {
        sent++; // the request that got no answer
        break;
      }
    }
    errors = u32[(at.state + RTT_ERRORS) >>> 2]!;
    responses -= errors;
    port.flushReceived();
    publish();
    const ns = u32.subarray(at.times >>> 2, (at.times >>> 2) + total);
    const times = new Float64Array(d.iterations);
    for (let i = 0; i < d.iterations; i++) times[i] = ns[d.warmup + i]! / 1000;
    times.sort();
    parentPort?.postMessage({ sent, responses, errors, micros: times }, [times.buffer]);
  }

  if (d.mode === 'load') {
    if (d.loadWasm) runLoadWasm(d.loadWasm);
    else runLoad();
  }
  else if (d.rttWasm) runRttWasm(d.rttWasm);
  else runRtt();
}

// Only as a worker (the main thread imports the counter names above).
if (!isMainThread) main(workerData as DriverData);
