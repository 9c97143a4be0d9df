// The built-in devices `vmsg route --device KIND:DEVNUM[?opts]` can attach, by kind: the WASM
// echo device and the Device SDK's entropy and block devices.
import { Worker } from 'node:worker_threads';
import type { Router } from '../router/router.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { wasmModule } from '../wasm/module.js';
import { compiledModule } from '../util/paths.js';
import { ringDoorbell } from '../wait/doorbell.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GuestMemory } from '../virtqueue/guest-memory.js';
import { spawnDeviceWorker, type DeviceWorkerHandle } from './spawn.js';
import { openGuestMemoryFile, type GuestMemoryFile } from '../virtqueue/guest-memory-file.js';

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
  /** Hot-unplug while the router runs: devices removed (drivers hear REMOVED), workers stopped, links detached. */
  remove(router: Router): Promise<void>;
}

interface DeviceKind {
  summary: string;
  /** Query parameters it accepts. */
  params: readonly string[];
  /** Checks that need the machine, before the device starts (DeviceSpecError). */
  check?: (spec: DeviceSpec) => void;
  start: (router: Router, specs: DeviceSpec[]) => Promise<RunningDevices>;
}

/** The echo device (src/device/echo.ts): every device of the kind on one link, one worker thread. */
async function startEcho(router: Router, specs: DeviceSpec[]): Promise<RunningDevices> {
  const devices = specs.map((s) => s.dev);
  const link = await router.attachDevice({ devices });
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(compiledModule('device/echo-worker.js'), {
    // Off the router's pinned shard CPUs: a woken device thread placed there preempts the shard.
    workerData: { link, module: wasmModule(), stop, counters: new SharedArrayBuffer(8), avoidCpus: router.options.shardCpus.length !== 0 ? [...router.options.shardCpus] : undefined },
  });
  const ended = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const running: RunningDevices = {
    kind: 'echo',
    devices,
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      ringDoorbell(new Int32Array(link.memory.buffer), link.bell >>> 2);
      await ended;
      await worker.terminate();
    },
    async remove(r) {
      await r.detach(link); // removes its devices first
      await running.stop();
    },
  };
  return running;
}

/**
 * Guest memory the SDK devices of `vmsg route` may reach with their virtqueues. An external
 * driver lives in another address space, so buffers it names cannot be reached from here: the
 * control plane (init, features, config, status, queue setup) works in full; descriptors that
 * point outside this region are device errors (DEVICE_NEEDS_RESET), never out-of-bounds access.
 */
const ROUTE_GUEST_BYTES = 1 << 20;
const ROUTE_GUEST_BASE = 0x1_0000_0000;

/** Devices on the Device SDK (src/device/), each in its own worker thread on its own link. */
function startSdk(kind: 'entropy' | 'block') {
  return async (router: Router, specs: DeviceSpec[]): Promise<RunningDevices> => {
    const memory = new GuestMemory({ buffer: new SharedArrayBuffer(ROUTE_GUEST_BYTES), offset: 0, length: ROUTE_GUEST_BYTES, base: ROUTE_GUEST_BASE });
    const module = wasmModule();
    const handles: DeviceWorkerHandle[] = [];
    const links: LinkDescriptor[] = [];
    const files: GuestMemoryFile[] = [];
    for (const s of specs) {
      let block: { path: string } | undefined;
      if (kind === 'block') block = { path: s.params.get('file')! }; // checked by checkBlock
      // mem=FILE&mem_base=ADDR: the external driver's memory, shared through the file; its
      // virtqueues and buffers are reached there (bounds-checked by GuestMemory), nowhere else.
      const mem = s.params.get('mem');
      const file = mem === undefined ? undefined : openGuestMemoryFile(mem, memBase(s));
      if (file !== undefined) files.push(file);
      const link = await router.attachDevice({ devices: [s.dev] });
      links.push(link);
      handles.push(spawnDeviceWorker({ link, module, memory: (file?.memory ?? memory).describe(), devices: [{ dev: s.dev, kind, block }] }));
    }
    await Promise.all(handles.map((h) => h.ready));
    const running: RunningDevices = {
      kind,
      devices: specs.map((s) => s.dev),
      async stop() {
        await Promise.allSettled(handles.map((h) => h.stop()));
        for (const f of files) f.close();
      },
      async remove(r) {
        for (const link of links) await r.detach(link);
        await running.stop();
      },
    };
    return running;
  };
}

/** mem_base= of an SDK device: where the external driver sees the memory file (default 0). */
function memBase(s: DeviceSpec): number {
  const v = s.params.get('mem_base') ?? '0';
  const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v.slice(2), 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n % 16 !== 0) throw new DeviceSpecError(`"${s.text}": mem_base= must be an address (decimal or 0x hex), a multiple of 16, got "${v}"`);
  return n;
}

function checkMem(s: DeviceSpec): void {
  const mem = s.params.get('mem');
  if (mem === undefined) {
    if (s.params.has('mem_base')) throw new DeviceSpecError(`"${s.text}": mem_base= needs mem=FILE`);
    return;
  }
  memBase(s);
  if (!existsSync(mem)) throw new DeviceSpecError(`"${s.text}": memory file ${mem} does not exist (the driver side's memory, e.g. truncate -s 16M ${mem})`);
  if (statSync(mem).isDirectory()) throw new DeviceSpecError(`"${s.text}": memory file ${mem} is a directory; give the driver side's memory file`);
}

function checkBlock(s: DeviceSpec): void {
  checkMem(s);
  const file = s.params.get('file');
  if (file === undefined) throw new DeviceSpecError(`"${s.text}": block devices need ?file=PATH (an existing disk image)`);
  if (!existsSync(file)) throw new DeviceSpecError(`"${s.text}": ${file} does not exist (create it first, e.g. truncate -s 16M ${file})`);
  // A directory would be accepted here and fail only at the device's first request.
  if (statSync(file).isDirectory()) throw new DeviceSpecError(`"${s.text}": ${file} is a directory; give a disk image file (e.g. truncate -s 16M ${join(file, 'disk.img')})`);
}

export const DEVICE_KINDS: Readonly<Record<string, DeviceKind>> = {
  echo: { summary: 'answers every request at once (status 0x0f), turns EVENT_AVAIL into EVENT_USED', params: [], start: startEcho },
  entropy: { summary: 'virtio entropy source (virtio-rng, device id 4; ?mem=FILE&mem_base=ADDR: an external driver\'s memory)', params: ['mem', 'mem_base'], check: checkMem, start: startSdk('entropy') },
  block: { summary: 'virtio block device over a file (virtio-blk, device id 2; ?file=PATH[&mem=FILE&mem_base=ADDR])', params: ['file', 'mem', 'mem_base'], check: checkBlock, start: startSdk('block') },
};

/** A malformed `KIND:DEVNUM[?opts]`; the message starts with the spec in quotes. */
export class DeviceSpecError extends Error {
  override name = 'DeviceSpecError';
}

/**
 * Parse `KIND:DEVNUM[?key=value&...]` (the `--device` syntax, also the config file's `devices`):
 * form, kind and option names. What needs the machine (a block device's file) is checked by
 * checkDeviceSpec when the devices are about to start.
 */
export function parseDeviceSpec(text: string): DeviceSpec {
  const kinds = Object.keys(DEVICE_KINDS).join(', ');
  const m = /^([a-z][a-z0-9-]*):(\d{1,5})(?:\?(.*))?$/.exec(text);
  if (m === null) throw new DeviceSpecError(`"${text}" is not KIND:DEVNUM[?key=value&...] (kinds: ${kinds}), e.g. echo:1 or block:3?file=disk.img`);
  const kind = m[1]!;
  const k = Object.hasOwn(DEVICE_KINDS, kind) ? DEVICE_KINDS[kind]! : undefined;
  if (k === undefined) throw new DeviceSpecError(`"${text}": unknown device kind "${kind}" (kinds: ${kinds})`);
  const dev = Number(m[2]);
  if (dev > 65535) throw new DeviceSpecError(`"${text}": device number ${dev} is above 65535`);
  const params = new Map<string, string>();
  for (const part of (m[3] ?? '').split('&').filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new DeviceSpecError(`"${text}": option "${part}" is not key=value`);
    const key = decodeURIComponent(part.slice(0, eq));
    if (params.has(key)) throw new DeviceSpecError(`"${text}": option "${key}" given twice`);
    if (!k.params.includes(key)) throw new DeviceSpecError(`"${text}": unknown option "${key}" for ${kind} (known: ${k.params.join(', ') || 'none'})`);
    params.set(key, decodeURIComponent(part.slice(eq + 1)));
  }
  return { text, kind, dev, params };
}

/** The checks of parseDeviceSpec that need the machine (DeviceSpecError). */
export function checkDeviceSpec(spec: DeviceSpec): void {
  DEVICE_KINDS[spec.kind]!.check?.(spec);
}

/** Start every built-in device, grouped by kind; device numbers must be distinct. */
export async function startBuiltinDevices(router: Router, specs: DeviceSpec[]): Promise<RunningDevices[]> {
  const seen = new Map<number, string>();
  for (const s of specs) {
    const other = seen.get(s.dev);
    if (other !== undefined) throw new DeviceSpecError(`--device ${s.text}: device ${s.dev} is already --device ${other}`);
    seen.set(s.dev, s.text);
  }
  const running: RunningDevices[] = [];
  for (const kind of new Set(specs.map((s) => s.kind))) {
    running.push(await DEVICE_KINDS[kind]!.start(router, specs.filter((s) => s.kind === kind)));
  }
  return running;
}
