// Worker-thread entry that runs SDK devices (entropy, block, echo) behind one router device link.
// Control is shared memory plus rare messages, never per frame: `control` Int32Array [stop, hold],
// live counters in `counters` (Float64Array, DEVICE_WORKER_COUNTERS), {type:'resize'} messages to
// a block device, and one report posted when it stops. Started by spawnDeviceWorker (spawn.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceHost, type DeviceHostCounters } from './host.js';
import { BlockDevice, type BlockDeviceOptions } from './block.js';
import { EntropyDevice } from './entropy.js';
import { EchoVirtioDevice } from './echo-virtio.js';
import type { DeviceCounters, VirtioDevice } from './device.js';
import type { DmaCounters, DmaOptions } from './dma.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import type { GuestMemoryDescriptor } from '../virtqueue/guest-memory.js';
import type { Profile } from '../protocol/codec.js';

export type DeviceKind = 'entropy' | 'block' | 'echo';

export interface DeviceWorkerDevice {
  dev: number;
  kind: DeviceKind;
  /** Block devices: the backing file and options (path is required). */
  block?: BlockDeviceOptions;
  dma?: DmaOptions;
  /** Address of the device's oob doorbell area in the link's memory. */
  oob?: number;
}

export interface DeviceWorkerData {
  link: LinkDescriptor;
  module: WebAssembly.Module;
  memory: GuestMemoryDescriptor;
  devices: DeviceWorkerDevice[];
  /** Int32Array [stop, hold]. */
  control: SharedArrayBuffer;
  /** Float64Array of DEVICE_WORKER_COUNTERS. */
  counters: SharedArrayBuffer;
  profile?: Profile;
  spinBeforeSleep?: number;
}

export const CTL_STOP = 0;
export const CTL_HOLD = 1;
export const CTL_WORDS = 2;

// Live counters (summed over the worker's devices).
export const DW_FRAMES_IN = 0;
export const DW_FRAMES_OUT = 1;
export const DW_CHAINS = 2;
export const DW_DMA_BYTES = 3;
export const DW_QUEUE_FULL = 4;
export const DW_STALL_MS = 5;
export const DW_FAULTS = 6;
export const DW_REQUESTS = 7;
export const DEVICE_WORKER_COUNTERS = 8;

/** What the worker posts when it stops. */
export interface DeviceWorkerReport {
  type: 'report';
  host: DeviceHostCounters;
  devices: { dev: number; kind: DeviceKind; counters: DeviceCounters; dma: DmaCounters; status: number; lastFault: string; extra: Record<string, unknown> }[];
}

function makeDevice(d: DeviceWorkerDevice): VirtioDevice {
  switch (d.kind) {
    case 'entropy':
      return new EntropyDevice({ dma: d.dma });
    case 'echo':
      return new EchoVirtioDevice({ dma: d.dma });
    case 'block':
      if (d.block === undefined) throw new TypeError(`device ${d.dev}: a block device needs block.path`);
      return new BlockDevice({ ...d.block, dma: d.dma ?? d.block.dma });
  }
}

function extra(device: VirtioDevice): Record<string, unknown> {
  if (device instanceof BlockDevice) return { ...device.blockCounters, capacity: device.capacity };
  if (device instanceof EntropyDevice) return { randomBytes: device.bytes };
  return {};
}

async function main(data: DeviceWorkerData): Promise<void> {
  const control = new Int32Array(data.control);
  const live = new Float64Array(data.counters);
  const host = new DeviceHost(data.link, { memory: data.memory, module: data.module, profile: data.profile, spinBeforeSleep: data.spinBeforeSleep });
  const devices = data.devices.map((d) => ({ ...d, device: makeDevice(d) }));
  for (const d of devices) host.add(d.dev, d.device, { oob: d.oob });

  const publish = (): void => {
    const c = host.counters;
    live[DW_FRAMES_IN] = c.framesIn;
    live[DW_FRAMES_OUT] = c.framesOut;
    live[DW_QUEUE_FULL] = c.queueFull;
    live[DW_STALL_MS] = c.stallMs;
    let chains = 0, bytes = 0, faults = 0, requests = 0;
    for (const { device } of devices) {
      chains += device.counters.chains;
      faults += device.counters.faults;
      requests += device.counters.requests;
      bytes += device.dmaCounters.bytes;
    }
    live[DW_CHAINS] = chains;
    live[DW_DMA_BYTES] = bytes;
    live[DW_FAULTS] = faults;
    live[DW_REQUESTS] = requests;
  };
  const timer = setInterval(publish, 100);
  parentPort?.on('message', (m: { type: string; dev?: number; sectors?: number }) => {
    if (m.type === 'resize') {
      const d = devices.find((x) => x.dev === m.dev)?.device;
      if (d instanceof BlockDevice) {
        d.resize(m.sectors!);
        host.endpoint.flush();
      }
    }
  });

  // The parent's `ready` resolves on this: the devices exist and the frame loop starts now.
  parentPort?.postMessage({ type: 'ready' });
  await host.run(() => {
    host.hold(Atomics.load(control, CTL_HOLD) !== 0);
    return Atomics.load(control, CTL_STOP) !== 0;
  });
  clearInterval(timer);
  publish();
  const report: DeviceWorkerReport = {
    type: 'report',
    host: host.counters,
    devices: devices.map(({ dev, kind, device }) => ({ dev, kind, counters: { ...device.counters }, dma: { ...device.dmaCounters }, status: device.status, lastFault: device.lastFault, extra: extra(device) })),
  };
  await host.close();
  parentPort?.postMessage(report);
  parentPort?.close();
}

// A failure rejects main(): unhandled, it ends the worker with an 'error' event the parent sees.
if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'link' in workerData) void main(workerData as DeviceWorkerData);
