// A router link that behaves like a real bus (docs/BUSES.md §6): the endpoint gets a link whose
// rings have the model's slots and frame size, and a worker thread between those rings and the
// router's own link applies the rest of the model (src/bus/model/model-link-worker.ts): the
// window of outstanding requests, tokens toward a device, the sender's full-queue policy with
// its timings, notification costs, timeouts. The endpoint (a driver, a device host, any thread)
// uses `link` exactly as a plain link from router.attachDriver / attachDevice.
import { Worker } from 'node:worker_threads';
import type { Router, DriverLinkOptions, DeviceLinkOptions } from '../../router/router.js';
import type { LinkDescriptor } from '../../endpoint/link.js';
import { slotSizeFor } from '../../router/options.js';
import { nativeCursorFlags, nativeRingBytes } from '../../ring/native.js';
import { compiledModule } from '../../util/paths.js';
import { wasmModule } from '../../wasm/module.js';
import { loadBusModel, type BusModel } from '../../model/bus-model.js';
import { MC_COUNT, readCounters, type ModelCounters } from './model-core.js';
import type { ModelLinkWorkerData } from './model-link-worker.js';

export interface ModelLinkOptions {
  /** A built-in model name, a model file path, or a parsed model. */
  model: string | BusModel;
}

export class ModelLink {
  private closed = false;
  private constructor(
    /** The endpoint's link: give it to the driver or device (any thread). */
    readonly link: LinkDescriptor,
    /** The router's side (what router.stats() lists under its id). */
    readonly routerLink: LinkDescriptor,
    readonly model: BusModel,
    private readonly router: Router,
    private readonly worker: Worker,
    private readonly control: Int32Array,
    private readonly counterView: Float64Array,
    private readonly rings: { nearTx: number; nearRx: number; bytes: number },
  ) {}

  /** Attach a driver whose bus to the router is `opts.model`. */
  static async attachDriver(router: Router, opts: DriverLinkOptions & ModelLinkOptions): Promise<ModelLink> {
    const model = typeof opts.model === 'string' ? loadBusModel(opts.model) : opts.model;
    const max = Math.min(model.maxFrame, opts.maxMessageSize ?? router.options.busMaxSize, router.options.busMaxSize);
    const routerLink = await router.attachDriver({ ...opts, model: undefined, maxMessageSize: max });
    return ModelLink.start(router, routerLink, model, 'driver', max);
  }

  /** Attach a device link (serving `opts.devices`) whose bus to the router is `opts.model`. */
  static async attachDevice(router: Router, opts: DeviceLinkOptions & ModelLinkOptions): Promise<ModelLink> {
    const model = typeof opts.model === 'string' ? loadBusModel(opts.model) : opts.model;
    const max = Math.min(model.maxFrame, opts.maxMessageSize ?? router.options.busMaxSize, router.options.busMaxSize);
    const routerLink = await router.attachDevice({ ...opts, model: undefined, maxMessageSize: max });
    return ModelLink.start(router, routerLink, model, 'device', max);
  }

  private static async start(router: Router, routerLink: LinkDescriptor, model: BusModel, near: 'driver' | 'device', max: number): Promise<ModelLink> {
    const mem = router.mem;
    // One frame per slot and the model's slots (+1: a native ring keeps one empty), published one by one.
    const capacity = model.slots + 1;
    const slotSize = slotSizeFor(max);
    const bytes = nativeRingBytes(capacity, slotSize, 1);
    const nearTx = mem.alloc(bytes, 64);
    const nearRx = mem.alloc(bytes, 64);
    const endpointBell = mem.alloc(64);
    const adapterBell = routerLink.bell;
    mem.wasm.nativeRingInit(nearTx, capacity, slotSize, 1, adapterBell, endpointBell, nativeCursorFlags(), 1);
    // The adapter waits for the model's room (frames in the ring plus frames still in transit),
    // which the endpoint frees before the ring itself is full: every release rings it.
    mem.wasm.nativeRingInit(nearRx, capacity, slotSize, 1, endpointBell, adapterBell, nativeCursorFlags(true), 1);
    const link: LinkDescriptor = {
      memory: mem.memory, kind: near, id: routerLink.id, toRouter: nearTx, fromRouter: nearRx, bell: endpointBell, maxMessageSize: max, devices: routerLink.devices,
    };
    const control = new Int32Array(new SharedArrayBuffer(4));
    const counters = new Float64Array(new SharedArrayBuffer(MC_COUNT * 8));
    const data: ModelLinkWorkerData = { model, near, routerLink, nearTx, nearRx, module: wasmModule(), control: control.buffer as SharedArrayBuffer, counters: counters.buffer as SharedArrayBuffer };
    const worker = new Worker(compiledModule('bus/model/model-link-worker.js'), { workerData: data });
    worker.unref();
    return new ModelLink(link, routerLink, model, router, worker, control, counters, { nearTx, nearRx, bytes });
  }

  /** What the model did so far (read live from shared memory). */
  counters(): ModelCounters {
    return readCounters(this.counterView);
  }

  /** Stop the adapter, detach the router's link (devices REMOVED, requests failed) and free the rings. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control, 0, 1);
    const bell = new Int32Array(this.routerLink.memory.buffer);
    const stopped = new Promise<void>((resolve) => {
      this.worker.once('message', () => resolve());
      this.worker.once('exit', () => resolve());
    });
    Atomics.store(bell, this.routerLink.bell >>> 2, 0);
    Atomics.notify(bell, this.routerLink.bell >>> 2);
    await stopped;
    await this.worker.terminate();
    if (!this.router.isClosed) {
      await this.router.detach(this.routerLink).catch(() => undefined);
      this.router.mem.free(this.rings.nearTx, this.rings.bytes);
      this.router.mem.free(this.rings.nearRx, this.rings.bytes);
    }
  }
}
