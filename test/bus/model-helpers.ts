// Helpers of the bus model tests: a probe device in a real worker thread that logs what reached
// it (and answers, holds or does not read), frame builders, and waiting on conditions.
import { Worker } from 'node:worker_threads';
import { wasmModule } from '../../src/wasm/module.js';
import { loadBusModel, type BusModel } from '../../src/model/bus-model.js';
import type { InprocChannel } from '../../src/bus/inproc-channel.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';

export interface Seen { type: number; msgId: number; dev: number; token: number; size: number }

export interface Probe {
  seen(): Seen[];
  release(): void;
  stop(): Promise<void>;
}

export function startProbe(link: LinkDescriptor, mode: 'answer' | 'hold' | 'noread'): Probe {
  const control = new Int32Array(new SharedArrayBuffer(8));
  const log = new Int32Array(new SharedArrayBuffer(4 * (1 + 5 * 4096)));
  const worker = new Worker(new URL('./workers/probe-device.mjs', import.meta.url), { workerData: { link, module: wasmModule(), control: control.buffer, log: log.buffer, mode } });
  return {
    seen: () => {
      const n = Atomics.load(log, 0);
      return Array.from({ length: n }, (_, i) => {
        const [type, msgId, dev, token, size] = log.subarray(1 + 5 * i, 6 + 5 * i);
        return { type: type!, msgId: msgId!, dev: dev!, token: token!, size: size! };
      });
    },
    release: () => { Atomics.store(control, 1, 1); Atomics.notify(control, 1); },
    stop: async () => {
      Atomics.store(control, 0, 1);
      Atomics.store(control, 1, 1);
      Atomics.notify(control, 1);
      await worker.terminate();
    },
  };
}

/** Poll `cond` until it holds (or fail after `ms`). */

export function frame(type: number, msgId: number, dev: number, token: number, payload: number[] = []): Uint8Array {
  const f = new Uint8Array(8 + payload.length);
  f[0] = type; f[1] = msgId; f[2] = dev & 0xff; f[3] = dev >> 8; f[4] = token & 0xff; f[5] = token >> 8; f[6] = f.length; f[7] = 0;
  f.set(payload, 8);
  return f;
}
export const GET_DEVICE_STATUS = 0x07;
export const EVENT_AVAIL = 0x41;
export const statusReq = (dev: number, token: number): Uint8Array => frame(0, GET_DEVICE_STATUS, dev, token);
export const avail = (dev: number, q: number): Uint8Array => frame(0, EVENT_AVAIL, dev, 0, [q, 0, 0, 0, 0, 0, 0, 0]);

/** Every answer the driver gets (EVENT_DEVICE and other events skipped), until `n` arrived. */
export async function answers(ch: InprocChannel, n: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  const end = Date.now() + 10_000;
  while (got.length < n && Date.now() < end) {
    const f = ch.recv();
    if (f === null) { await ch.wait(50); continue; }
    if ((f[0]! & 1) === 1) got.push(f);
  }
  return got;
}

export const withModel = (name: string, change: (m: BusModel) => void): BusModel => {
  const m = loadBusModel(name);
  change(m);
  return m;
};
