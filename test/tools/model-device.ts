// Starts the device model of workers/model-device.mjs (a device with its own device-side bus,
// good or broken on purpose) on a router-less in-process link pair, and gives the driver's end
// as a FrameChannel.
import { Worker } from 'node:worker_threads';
import { createInprocPair, InprocChannel } from '../../src/bus/inproc-channel.js';
import { wasmModule } from '../../src/wasm/module.js';

export type ModelMode =
  | 'good' | 'reorder' | 'dup' | 'answers-events' | 'bad-ping' | 'bad-get-devices' | 'answers-malformed'
  | 'wrong-id' | 'no-reset' | 'stale-generation' | 'pause' | 'wrong-token' | 'wrong-dev' | 'reorder-all' | 'dup-all';

export interface ModelDevice {
  channel: InprocChannel;
  /** Stop the worker; resolves its report. */
  stop(): Promise<{ requests: number; answered: number }>;
}

/** Resolves once the worker is reading its ring. */
export async function startModelDevice(mode: ModelMode, opts: { devices?: number[]; maxMessageSize?: number; ringCapacity?: number; pauseAfter?: number; pauseMs?: number } = {}): Promise<ModelDevice> {
  const pair = createInprocPair({ maxMessageSize: opts.maxMessageSize ?? 264, ringCapacity: opts.ringCapacity ?? 256 });
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('./workers/model-device.mjs', import.meta.url), {
    workerData: { link: pair.device, module: wasmModule(), stop, mode, devices: opts.devices ?? [1], pauseAfter: opts.pauseAfter, pauseMs: opts.pauseMs },
  });
  const messages: unknown[] = [];
  let wake: (() => void) | undefined;
  let failed: unknown;
  worker.on('message', (m) => { messages.push(m); wake?.(); });
  worker.once('error', (e) => { failed = e; wake?.(); });
  const next = async (): Promise<unknown> => {
    while (messages.length === 0) {
      if (failed !== undefined) throw failed;
      await new Promise<void>((r) => { wake = r; });
    }
    return messages.shift();
  };
  if ((await next()) !== 'ready') throw new Error('model device did not start');
  const channel = new InprocChannel(pair.driver, { mem: pair.mem }); // the load engine may run its WASM loop on it
  return {
    channel,
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(pair.device.memory.buffer), pair.device.bell >>> 2);
      const r = (await next()) as { requests: number; answered: number };
      await worker.terminate();
      await channel.close();
      return r;
    },
  };
}
