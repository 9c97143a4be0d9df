// Parent side of device/device-worker.ts: start SDK devices in their own worker thread and
// control them (stop, hold, resize) through shared memory and rare messages.
import { Worker } from 'node:worker_threads';
import { compiledModule } from '../util/paths.js';
import { wasmModule } from '../wasm/module.js';
import { ringDoorbell } from '../wait/doorbell.js';
import {
  CTL_HOLD, CTL_STOP, CTL_WORDS, DEVICE_WORKER_COUNTERS, type DeviceWorkerData, type DeviceWorkerReport,
} from './device-worker.js';

export type DeviceWorkerSpec = Omit<DeviceWorkerData, 'control' | 'counters' | 'module'> & { module?: WebAssembly.Module };

export interface DeviceWorkerHandle {
  readonly worker: Worker;
  /** Live counters (DW_* indices of device-worker.ts). */
  readonly counters: Float64Array;
  /** Stop reading the link (requests stay unanswered) or resume: fault injection for tests. */
  hold(on: boolean): void;
  /** Tell block device `dev` that its backing store now has `sectors` sectors (EVENT_CONFIG). */
  resize(dev: number, sectors: number): void;
  /** Stop the devices; resolves with their final report. */
  stop(): Promise<DeviceWorkerReport>;
}

export function spawnDeviceWorker(spec: DeviceWorkerSpec): DeviceWorkerHandle {
  const control = new Int32Array(new SharedArrayBuffer(4 * CTL_WORDS));
  const counters = new Float64Array(new SharedArrayBuffer(8 * DEVICE_WORKER_COUNTERS));
  const data: DeviceWorkerData = {
    ...spec, module: spec.module ?? wasmModule(), control: control.buffer as SharedArrayBuffer, counters: counters.buffer as SharedArrayBuffer,
  };
  const worker = new Worker(compiledModule('device/device-worker.js'), { workerData: data });
  const report = new Promise<DeviceWorkerReport>((resolve, reject) => {
    worker.on('message', (m: DeviceWorkerReport) => {
      if (m.type === 'report') resolve(m);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`device worker exited (code ${code}) before reporting`)));
  });
  report.catch(() => undefined); // observed by stop(); an early crash must not be an unhandled rejection
  const bells = new Int32Array(spec.link.memory.buffer);
  const wake = (): void => ringDoorbell(bells, spec.link.bell >>> 2);
  return {
    worker,
    counters,
    hold(on) {
      Atomics.store(control, CTL_HOLD, on ? 1 : 0);
      wake();
    },
    resize(dev, sectors) {
      worker.postMessage({ type: 'resize', dev, sectors });
      wake();
    },
    async stop() {
      Atomics.store(control, CTL_STOP, 1);
      wake();
      const r = await report;
      await worker.terminate();
      return r;
    },
  };
}
