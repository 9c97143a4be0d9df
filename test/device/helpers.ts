// Shared pieces of the device and driver tests: a router with SDK devices in their own worker
// threads (device/spawn.ts), guest memory, block backing files in a temporary directory, and a
// driver worker (test/driver/workers/driver.mjs) that runs a scenario step by step.
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import type { RouterOptions } from '../../src/router/options.js';
import type { LinkDescriptor } from '../../src/endpoint/link.js';
import { GuestMemory } from '../../src/virtqueue/guest-memory.js';
import { spawnDeviceWorker, type DeviceWorkerHandle } from '../../src/device/spawn.js';
import type { DeviceKind } from '../../src/device/device-worker.js';
import type { DmaOptions } from '../../src/device/dma.js';
import { wasmModule } from '../../src/wasm/module.js';

export interface TestDevice {
  dev: number;
  kind: DeviceKind;
  dma?: DmaOptions;
  /** Block devices: backing file size (default 16 MiB). */
  bytes?: number;
  /** Payload layouts the device speaks (default rev1). */
  profile?: 'rev1' | 'rev1-2026';
}

export interface Bench {
  router: Router;
  memory: GuestMemory;
  driverLink: LinkDescriptor;
  deviceLinks: Map<number, LinkDescriptor>;
  workers: Map<number, DeviceWorkerHandle>;
  files: Map<number, string>;
  close(): Promise<void>;
}

/** Guest-physical base of the test guest memory: above 4 GiB, so 64-bit addresses are exercised. */
const GUEST_BASE = 0x1_0000_0000;

/** A router, guest memory, and each device in its own worker thread on its own device link. */
export async function startDevices(devices: TestDevice[], routerOptions: RouterOptions = {}): Promise<Bench> {
  const router = await Router.create({ shards: 1, timeoutMs: 2000, spinBeforeSleep: 50, ...routerOptions });
  const bytes = 32 << 20;
  const memory = new GuestMemory({ buffer: new SharedArrayBuffer(bytes), offset: 0, length: bytes, base: GUEST_BASE });
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-devices-'));
  const deviceLinks = new Map<number, LinkDescriptor>();
  const workers = new Map<number, DeviceWorkerHandle>();
  const files = new Map<number, string>();
  const module = wasmModule();
  for (const d of devices) {
    const link = await router.attachDevice({ devices: [d.dev] });
    deviceLinks.set(d.dev, link);
    let block;
    if (d.kind === 'block') {
      const path = join(dir, `disk-${d.dev}.img`);
      writeFileSync(path, Buffer.alloc(d.bytes ?? 16 << 20));
      files.set(d.dev, path);
      block = { path };
    }
    workers.set(d.dev, spawnDeviceWorker({ link, module, memory: memory.describe(), devices: [{ dev: d.dev, kind: d.kind, dma: d.dma, block }], profile: d.profile, spinBeforeSleep: 50 }));
  }
  await Promise.all([...workers.values()].map((w) => w.ready));
  const driverLink = await router.attachDriver();
  return {
    router, memory, driverLink, deviceLinks, workers, files,
    async close() {
      await Promise.allSettled([...workers.values()].map((w) => w.stop()));
      await router.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface DriverRun<R> {
  result: Promise<R>;
  worker: Worker;
}

/**
 * Run `scenario` of the driver worker. `onStep(name, data)` runs when the scenario reaches a step;
 * the scenario goes on once it resolves.
 */
export function runDriver<R = Record<string, unknown>>(bench: Bench, scenario: string, params: Record<string, unknown>, onStep: (name: string, data: unknown) => Promise<void> = async () => {}, profile: 'rev1' | 'rev1-2026' = 'rev1'): Promise<R> {
  const worker = new Worker(new URL('../driver/workers/driver.mjs', import.meta.url), {
    workerData: { link: bench.driverLink, memory: bench.memory.describe(), module: wasmModule(), scenario, params, profile },
  });
  return new Promise<R>((resolve, reject) => {
    worker.on('message', (m: { type: string; name?: string; data?: unknown; result?: R; message?: string }) => {
      if (m.type === 'step') {
        onStep(m.name!, m.data).then(() => worker.postMessage({ type: 'go', name: m.name }), reject);
      } else if (m.type === 'result') {
        resolve(m.result!);
        void worker.terminate();
      } else if (m.type === 'error') {
        reject(new Error(`driver worker: ${m.message}`));
        void worker.terminate();
      }
    });
    worker.once('error', reject);
  });
}

export { sleep, until } from '../helpers/wait.js';
