// The built-in devices `vmsg route --device KIND:DEVNUM[?opts]` can attach, by kind. A kind
// whose implementation is not in this build is listed with why, so the CLI accepts the
// contract's spelling and answers "not available" instead of "unknown".
import { Worker } from 'node:worker_threads';
import type { Router } from '../router/router.js';
import { wasmModule } from '../wasm/module.js';
import { compiledModule } from '../util/paths.js';
import { UsageError } from './args.js';

export interface DeviceSpec {
  text: string;
  kind: string;
  dev: number;
  params: Map<string, string>;
}

/** Devices of one kind, running; stop() ends them (after the router has drained). */
export interface RunningDevices {
  kind: string;
  devices: number[];
  stop(): Promise<void>;
}

interface DeviceKind {
  summary: string;
  /** Query parameters it accepts. */
  params: readonly string[];
  /** Absent: not in this build (the string says where it comes from). */
  start?: (router: Router, specs: DeviceSpec[]) => Promise<RunningDevices>;
  unavailable?: string;
}

/** The echo device (src/device/echo.ts): every device of the kind on one link, one worker thread. */
async function startEcho(router: Router, specs: DeviceSpec[]): Promise<RunningDevices> {
  const devices = specs.map((s) => s.dev);
  const link = await router.attachDevice({ devices });
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(compiledModule('device/echo-worker.js'), {
    workerData: { link, module: wasmModule(), stop, counters: new SharedArrayBuffer(8) },
  });
  const ended = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    kind: 'echo',
    devices,
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(link.memory.buffer), link.bell >>> 2);
      await ended;
      await worker.terminate();
    },
  };
}

export const DEVICE_KINDS: Readonly<Record<string, DeviceKind>> = {
  echo: { summary: 'answers every request at once (status 0x0f), turns EVENT_AVAIL into EVENT_USED', params: [], start: startEcho },
  entropy: { summary: 'virtio entropy source', params: [], unavailable: 'the entropy device is not available in this build (it comes with the devices work)' },
  block: { summary: 'virtio block device over a file (?file=PATH)', params: ['file'], unavailable: 'the block device is not available in this build (it comes with the devices work)' },
};

/** Parse `KIND:DEVNUM[?key=value&...]`; UsageError names what is wrong. */
export function parseDeviceSpec(text: string): DeviceSpec {
  const m = /^([a-z][a-z0-9-]*):(\d{1,5})(?:\?(.*))?$/.exec(text);
  if (m === null) throw new UsageError(`--device ${text}: expected KIND:DEVNUM[?opts], e.g. echo:1 or block:3?file=disk.img`);
  const kind = DEVICE_KINDS[m[1]!] !== undefined ? m[1]! : undefined;
  if (kind === undefined) throw new UsageError(`--device ${text}: unknown device kind "${m[1]}" (kinds: ${Object.keys(DEVICE_KINDS).join(', ')})`);
  const dev = Number(m[2]);
  if (dev > 65535) throw new UsageError(`--device ${text}: device numbers are 0..65535`);
  const params = new Map<string, string>();
  for (const part of (m[3] ?? '').split('&').filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--device ${text}: option "${part}" is not key=value`);
    params.set(decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1)));
  }
  const k = DEVICE_KINDS[kind]!;
  if (k.unavailable !== undefined) throw new UsageError(`--device ${text}: ${k.unavailable}`);
  for (const key of params.keys()) {
    if (!k.params.includes(key)) throw new UsageError(`--device ${text}: unknown option "${key}" for ${kind} (known: ${k.params.join(', ') || 'none'})`);
  }
  return { text, kind, dev, params };
}

/** Start every built-in device, grouped by kind; device numbers must be distinct. */
export async function startBuiltinDevices(router: Router, specs: DeviceSpec[]): Promise<RunningDevices[]> {
  const seen = new Map<number, string>();
  for (const s of specs) {
    const other = seen.get(s.dev);
    if (other !== undefined) throw new UsageError(`--device ${s.text}: device ${s.dev} is already --device ${other}`);
    seen.set(s.dev, s.text);
  }
  const running: RunningDevices[] = [];
  for (const kind of new Set(specs.map((s) => s.kind))) {
    running.push(await DEVICE_KINDS[kind]!.start!(router, specs.filter((s) => s.kind === kind)));
  }
  return running;
}
