// A real Router with WASM echo devices (src/device/echo-worker.ts) in their own worker thread:
// the target the tool tests (load engine, conformance, replay) drive through an InprocChannel.
import { Worker } from 'node:worker_threads';
import { Router } from '../../src/router/router.js';
import { InprocChannel, type InprocChannelOptions } from '../../src/bus/inproc-channel.js';
import { compiledModule } from '../../src/util/paths.js';
import { wasmModule } from '../../src/wasm/module.js';
import type { RouterOptions } from '../../src/router/options.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import type { DriverLinkOptions } from '../../src/router/router.js';

export interface EchoRouter {
  router: Router;
  devices: number[];
  /** A new driver channel on the router (detached again by its close()). */
  channel(link?: DriverLinkOptions, opts?: InprocChannelOptions): Promise<InprocChannel>;
  /** Stop the echo worker and close the router. */
  close(): Promise<void>;
}

/** Start an echo device worker on an attached device link; resolves its stop function. */
export function startEchoWorker(link: LinkDescriptor, spinBeforeSleep = 200): () => Promise<void> {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(compiledModule('device/echo-worker.js'), {
    workerData: { link, module: wasmModule(), stop, counters: new SharedArrayBuffer(8), spinBeforeSleep },
  });
  const done = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return async () => {
    Atomics.store(new Int32Array(stop), 0, 1);
    Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
    await done;
    await worker.terminate();
  };
}

/**
 * The router's request timeout defaults to 20 s here: on a loaded machine a slow answer must
 * not become a transport failure (tests about failures set a short one).
 */
export async function startEchoRouter(devices: number[] = [1, 2], opts: RouterOptions = {}): Promise<EchoRouter> {
  const router = await Router.create({ shards: 1, timeoutMs: 20_000, spinBeforeSleep: 200, ...opts });
  const link = await router.attachDevice({ devices });
  const stopEcho = startEchoWorker(link);
  return {
    router,
    devices,
    channel: (l = {}, o = {}) => InprocChannel.attach(router, l, o),
    async close() {
      await stopEcho();
      await router.close();
    },
  };
}
