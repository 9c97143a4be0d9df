// Shared pieces of the router tests: hex frames, vectors by name, polling ports, device workers.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { EndpointPort } from '../../src/endpoint/port.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { wasmModule } from '../../src/wasm/module.js';

export const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
export const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

interface Vector { name: string; hex: string }
let vectors: Map<string, Vector> | undefined;
/** A wire vector of test/fixtures/wire-vectors.json by name. */
export function vector(name: string): Uint8Array {
  if (vectors === undefined) {
    const path = fileURLToPath(new URL('../fixtures/wire-vectors.json', import.meta.url));
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { vectors: Vector[] };
    vectors = new Map(doc.vectors.map((v) => [v.name, v]));
  }
  const v = vectors.get(name);
  if (v === undefined) throw new Error(`no vector ${name}`);
  return bytes(v.hex);
}

export { sleep, until, receive } from '../helpers/wait.js';
import { sleep } from '../helpers/wait.js';

/** Send frames (hex or bytes) and publish them. */
export function sendAll(port: EndpointPort, ...frames: (string | Uint8Array)[]): void {
  for (const f of frames) {
    if (!port.send(typeof f === 'string' ? bytes(f) : f)) throw new Error('ring full');
  }
  port.flush();
}

/** What arrives within `ms` (a test that expects nothing; the wait is the thing under test). */
export async function silence(port: EndpointPort, ms = 100): Promise<string[]> {
  await sleep(ms);
  const out: string[] = [];
  for (let f = port.recv(); f; f = port.recv()) out.push(hex(f));
  return out;
}

export type DeviceMode = 'echo' | 'reverse' | 'silent' | 'stall' | 'dup';
export interface DeviceWorker {
  /** The thread itself (fault tests kill it). */
  worker: Worker;
  stop(): Promise<{ requests: number; events: number; answered: number }>;
}

/** Run a device endpoint in its own worker thread (test/router/workers/device.mjs). */
export function startDeviceWorker(link: LinkDescriptor, mode: DeviceMode, batch = 8): DeviceWorker {
  const stopBuffer = new SharedArrayBuffer(4);
  const w = new Worker(new URL('./workers/device.mjs', import.meta.url), {
    workerData: { link, mode, batch, stopBuffer, module: wasmModule() },
  });
  const report = new Promise<{ requests: number; events: number; answered: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  return {
    worker: w,
    async stop() {
      Atomics.store(new Int32Array(stopBuffer), 0, 1);
      Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
      const r = await report;
      await w.terminate();
      return r;
    },
  };
}

/** Failure event frame the router sends for request `tokenHex` (VMSG_EVT_REQUEST_FAILED, see docs). */
export function failureEvent(dev: number, msgId: number, reason: number, token: number): string {
  const f = new Uint8Array(16);
  const dv = new DataView(f.buffer);
  f[0] = 0x02; f[1] = 0xc1; dv.setUint16(6, 16, true);
  dv.setUint16(8, dev, true); f[10] = msgId; f[11] = reason; dv.setUint16(12, token, true);
  return hex(f);
}
