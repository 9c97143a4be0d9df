// The public Router: builds the shared tables, runs the shards as long-lived piscina workers,
// attaches and detaches driver/device endpoints (hotplug), reads counters, and closes
// gracefully. Everything per-message happens in the shards' WASM over shared memory; this
// class only does control, through each shard's command ring.
import { Piscina } from 'piscina';
import { SharedMemory } from '../memory/shared-memory.js';
import { wasmModule } from '../wasm/module.js';
import { compiledModule } from '../util/paths.js';
import { resolveRouterOptions, slotSizeFor, type ResolvedRouterOptions, type RouterOptions } from './options.js';
import { RouterTables } from './tables.js';
import { CommandSender, Op, CB_STATE, SHARD_RUNNING } from './control.js';
import type { ShardTask } from './shard-worker.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../ring/native.js';
import { readRouterStats, type RouterStats } from './stats.js';
import type { LinkDescriptor } from './link.js';
import { CaptureTap, type CaptureOptions } from '../capture/tap.js';

export const EVENT_DEVICE_READY = 1;
export const EVENT_DEVICE_REMOVED = 2;

export interface DriverLinkOptions {
  /** Device numbers this driver may see and use; others are invisible (absent from GET_DEVICES, requests refused). */
  allow?: number[];
  /** Report transport failures with the VMSG_EVT_REQUEST_FAILED bus event. Default true (in-process drivers rely on it). */
  failureEvents?: boolean;
  /** Largest frame on this link. Default: the router's busMaxSize. */
  maxMessageSize?: number;
  /** Shard to place it on. Default: the least loaded. */
  shard?: number;
}

export interface DeviceLinkOptions {
  /** Device numbers served through this link (more can be added later with addDevice). */
  devices?: number[];
  maxMessageSize?: number;
  shard?: number;
}

interface EndpointRecord {
  id: number;
  kind: 'driver' | 'device';
  shard: number;
  link: LinkDescriptor;
  allow: number; // bitmap address or 0
  devices: Set<number>;
  ringBytes: number;
}

interface DeviceRecord {
  dev: number;
  ep: EndpointRecord;
  state: number; // device-state address
  bytes: number;
}

/** Endpoint ids come back into use only after this long, so late frames never reach a new owner. */
const ENDPOINT_QUARANTINE_MS = 10_000;

export class Router {
  readonly options: ResolvedRouterOptions;
  readonly mem: SharedMemory;
  readonly tables: RouterTables;
  private readonly pool: Piscina;
  private readonly senders: CommandSender[] = [];
  private readonly shardRuns: Promise<unknown>[] = [];
  private readonly endpoints = new Map<number, EndpointRecord>();
  private readonly devices = new Map<number, DeviceRecord>();
  private readonly freeIds: { id: number; at: number }[] = [];
  private nextId = 0;
  private readonly epoch = Date.now();
  private closed = false;
  /** Shard worker crashes seen (each was restarted). */
  restarts = 0;
  private recovering = 0;
  private capture: CaptureTap | undefined;

  private constructor(opts: RouterOptions) {
    this.options = resolveRouterOptions(opts);
    this.mem = new SharedMemory({ bytes: this.options.memoryBytes });
    this.tables = new RouterTables(this.mem, this.options);
    const n = this.options.shards;
    this.pool = new Piscina({
      filename: compiledModule('router/shard-worker.js'),
      minThreads: n,
      maxThreads: n,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      maxQueue: n,
    });
    for (let s = 0; s < n; s++) {
      this.senders.push(new CommandSender(this.mem.wasm, this.mem.memory, this.tables.commandRings[s]!, this.tables.controlBlocks[s]!));
      this.shardRuns.push(this.startShard(s));
    }
  }

  /** Start a router and wait until every shard runs. */
  static async create(opts: RouterOptions = {}): Promise<Router> {
    const r = new Router(opts);
    await r.waitRunning();
    return r;
  }

  private startShard(s: number): Promise<unknown> {
    const task: ShardTask = {
      memory: this.mem.memory,
      module: wasmModule(),
      shard: this.tables.shards[s]!,
      commandRing: this.tables.commandRings[s]!,
      controlBlock: this.tables.controlBlocks[s]!,
      epochMs: this.epoch,
      spinBeforeSleep: this.options.spinBeforeSleep,
      drainMs: this.options.timeoutMs,
    };
    return this.pool.run(task).catch(async (err: unknown) => {
      if (this.closed) return;
      // The shard's tables live in shared memory and survive; a new worker picks them up and
      // first fails the requests that were in flight (their fate is unknown).
      this.restarts++;
      this.recovering++;
      process.emitWarning(`vmsg-router: shard ${s} worker failed (${String(err)}); restarting it`);
      this.shardRuns[s] = this.startShard(s);
      try {
        await this.senders[s]!.run(Op.Recover, this.tables.L.R_SHARD_RESTARTED);
      } finally {
        this.recovering--;
      }
    });
  }

  private async waitRunning(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (const block of this.tables.controlBlocks) {
      while (this.mem.u32[(block + CB_STATE) >>> 2] !== SHARD_RUNNING) {
        if (Date.now() > deadline) throw new Error('router shards did not start within 20 s');
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  }

  private allocId(): number {
    const now = Date.now();
    const reuse = this.freeIds[0];
    if (reuse !== undefined && now - reuse.at > ENDPOINT_QUARANTINE_MS) {
      this.freeIds.shift();
      return reuse.id;
    }
    if (this.nextId >= this.options.maxEndpoints) {
      throw new RangeError(`router is full: ${this.options.maxEndpoints} endpoints attached (raise maxEndpoints)`);
    }
    return this.nextId++;
  }

  private pickShard(requested: number | undefined): number {
    const n = this.options.shards;
    if (requested !== undefined) {
      if (!Number.isInteger(requested) || requested < 0 || requested >= n) {
        throw new RangeError(`shard must be an integer from 0 to ${n - 1}, got ${requested}`);
      }
      return requested;
    }
    const load = new Array<number>(n).fill(0);
    for (const e of this.endpoints.values()) load[e.shard]! += e.kind === 'device' ? Math.max(1, e.devices.size) : 1;
    return load.indexOf(Math.min(...load));
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('router is closed');
  }

  private async attach(kind: 'driver' | 'device', maxMsg: number | undefined, shardReq: number | undefined, flags: number, allowList?: number[]): Promise<EndpointRecord> {
    this.checkOpen();
    const { L } = this.tables;
    const { mem, tables, options } = this;
    const max = maxMsg ?? options.busMaxSize;
    if (!Number.isInteger(max) || max < 12 || max > options.busMaxSize) {
      throw new RangeError(`maxMessageSize must be an integer from 12 to busMaxSize (${options.busMaxSize}), got ${max}`);
    }
    const shard = this.pickShard(shardReq);
    const id = this.allocId();
    const slot = slotSizeFor(max);
    const bell = mem.alloc(64);
    const toRouter = tables.newRing(options.ringCapacity, slot, tables.bell(shard), bell);
    const fromRouter = tables.newRing(options.ringCapacity, slot, bell, tables.bell(shard));
    let allow = 0;
    if (allowList !== undefined) {
      allow = mem.alloc(8192);
      for (const d of allowList) {
        if (!Number.isInteger(d) || d < 0 || d > 65535) throw new RangeError(`allow: device numbers are 0..65535, got ${d}`);
        mem.u8[allow + (d >> 3)]! |= 1 << (d & 7);
      }
    }
    const e = tables.endpointAddr(id);
    mem.u8.fill(0, e, e + L.EP_SIZE);
    mem.u8[e + L.EP_KIND] = kind === 'driver' ? L.EPK_DRIVER : L.EPK_DEVICE;
    mem.u8[e + L.EP_SHARD] = shard;
    mem.dv.setUint16(e + L.EP_FLAGS, flags, true);
    mem.dv.setUint16(e + L.EP_MAX_MSG, max, true);
    mem.dv.setUint32(e + L.EP_IN_CURSOR, toRouter + NR_CONS_CURSOR, true);
    mem.dv.setUint32(e + L.EP_ALLOW, allow, true);
    mem.dv.setUint32(e + L.EP_OUT + L.OUT_CURSOR, fromRouter + NR_PROD_CURSOR, true);
    mem.dv.setUint32(e + L.EP_OUT + L.OUT_STATS, tables.counterAddr(shard, id, 0), true);
    // Counters of a reused id start from zero in every shard.
    for (let s = 0; s < options.shards; s++) {
      const c = tables.counterAddr(s, id, 0);
      mem.u8.fill(0, c, c + tables.statsStride);
    }
    const link: LinkDescriptor = {
      memory: mem.memory, kind, id, toRouter, fromRouter, bell, maxMessageSize: max, devices: [],
    };
    const rec: EndpointRecord = { id, kind, shard, link, allow, devices: new Set(), ringBytes: mem.wasm.nativeRingBytes(options.ringCapacity, slot) };
    this.endpoints.set(id, rec);
    await this.senders[shard]!.run(Op.AddSource, id);
    return rec;
  }

  /** Attach an in-process driver endpoint; hand the returned descriptor to a DriverPort (any thread). */
  async attachDriver(opts: DriverLinkOptions = {}): Promise<LinkDescriptor> {
    const flags = opts.failureEvents === false ? 0 : this.tables.L.EPF_FAILURE_EVENTS;
    const rec = await this.attach('driver', opts.maxMessageSize, opts.shard, flags, opts.allow);
    return rec.link;
  }

  /** Attach an in-process device endpoint serving `devices`; announces each with EVENT_DEVICE READY. */
  async attachDevice(opts: DeviceLinkOptions = {}): Promise<LinkDescriptor> {
    for (const d of opts.devices ?? []) this.checkDevNum(d);
    const rec = await this.attach('device', opts.maxMessageSize, opts.shard, 0);
    for (const d of opts.devices ?? []) await this.addDevice(rec.link, d);
    return rec.link;
  }

  private checkDevNum(d: number): void {
    if (!Number.isInteger(d) || d < 0 || d > 65535) throw new RangeError(`device numbers are integers 0..65535, got ${d}`);
    if (this.devices.has(d)) throw new RangeError(`device number ${d} is already attached`);
  }

  /** Make device `dev` reachable through device link `link` (hotplug: EVENT_DEVICE READY to drivers). */
  async addDevice(link: LinkDescriptor, dev: number): Promise<void> {
    this.checkOpen();
    this.checkDevNum(dev);
    const ep = this.endpoints.get(link.id);
    if (ep === undefined || ep.kind !== 'device') throw new Error(`endpoint ${link.id} is not an attached device link`);
    const { L } = this.tables;
    const { mem, options } = this;
    const bytes = L.DS_SIZE + options.window * L.CE_SIZE;
    const ds = mem.alloc(bytes);
    mem.dv.setUint16(ds + L.DS_DEV_NUM, dev, true);
    mem.dv.setUint16(ds + L.DS_ENDPOINT, ep.id, true);
    mem.dv.setUint16(ds + L.DS_SHARD, ep.shard, true);
    mem.dv.setUint16(ds + L.DS_FLAGS, L.DSF_PRESENT, true);
    mem.dv.setUint32(ds + L.DS_WINDOW, options.window, true);
    mem.dv.setUint32(ds + L.DS_ENTRIES, ds + L.DS_SIZE, true);
    mem.dv.setUint32(ds + L.DS_NEXT_SEQ, 1, true);
    mem.dv.setUint32(ds + L.DS_HEAD_SEQ, 1, true);
    this.devices.set(dev, { dev, ep, state: ds, bytes });
    ep.devices.add(dev);
    link.devices.push(dev);
    await this.senders[ep.shard]!.run(Op.AddDevice, ds);
    // Publish: from here on the device number is validated (spec §7 rule 14).
    Atomics.store(mem.u32, (this.tables.devTable >>> 2) + dev, ds);
    Atomics.or(mem.u8, this.tables.presentMap + (dev >> 3), 1 << (dev & 7));
    await this.broadcast(Op.DeviceEvent, dev, EVENT_DEVICE_READY);
  }

  /**
   * Hot-unplug device `dev`: it stops being validated at once, its waiting requests fail
   * (DEVICE_REMOVED) in order, and drivers get EVENT_DEVICE REMOVED.
   */
  async removeDevice(dev: number): Promise<void> {
    this.checkOpen();
    const rec = this.devices.get(dev);
    if (rec === undefined) throw new RangeError(`device number ${dev} is not attached`);
    const { mem, tables } = this;
    Atomics.store(mem.u32, (tables.devTable >>> 2) + dev, 0);
    Atomics.and(mem.u8, tables.presentMap + (dev >> 3), ~(1 << (dev & 7)) & 0xff);
    for (let tries = 0; (await this.senders[rec.ep.shard]!.run(Op.RemoveDevice, rec.state)) !== 0; tries++) {
      if (tries > 1000) throw new Error(`device ${dev}: requests could not be failed (pool exhausted)`);
      await new Promise((r) => setTimeout(r, 1));
    }
    await this.broadcast(Op.DeviceEvent, dev, EVENT_DEVICE_REMOVED);
    this.devices.delete(dev);
    rec.ep.devices.delete(dev);
    const i = rec.ep.link.devices.indexOf(dev);
    if (i >= 0) rec.ep.link.devices.splice(i, 1);
    // Every shard has run a command since the table entry was cleared, so none still uses it.
    mem.free(rec.state, rec.bytes);
  }

  /** Detach an endpoint (driver or device link). A device link's devices are removed first. */
  async detach(link: LinkDescriptor): Promise<void> {
    this.checkOpen();
    const rec = this.endpoints.get(link.id);
    if (rec === undefined) throw new Error(`endpoint ${link.id} is not attached`);
    for (const d of [...rec.devices]) await this.removeDevice(d);
    const { L } = this.tables;
    const e = this.tables.endpointAddr(rec.id);
    this.mem.dv.setUint16(e + L.EP_FLAGS, this.mem.dv.getUint16(e + L.EP_FLAGS, true) | L.EPF_CLOSING, true);
    await this.senders[rec.shard]!.run(Op.RemoveSource, rec.id);
    await this.broadcastNoop();
    this.mem.u8[e + L.EP_KIND] = L.EPK_FREE;
    this.endpoints.delete(rec.id);
    this.freeIds.push({ id: rec.id, at: Date.now() });
    this.mem.free(link.toRouter, rec.ringBytes);
    this.mem.free(link.fromRouter, rec.ringBytes);
    if (rec.allow !== 0) this.mem.free(rec.allow, 8192);
  }

  private async broadcast(op: Op, a: number, b: number): Promise<void> {
    const results = await Promise.all(this.senders.map((s) => s.run(op, a, b)));
    // A driver not reached now (pool empty) is retried once its shard has drained a little.
    for (let s = 0; s < results.length; s++) {
      for (let tries = 0; results[s] !== 0 && tries < 100; tries++) {
        await new Promise((r) => setTimeout(r, 2));
        results[s] = await this.senders[s]!.run(op, a, b);
      }
    }
  }

  /** Wait until every shard has finished one routing step after this point. */
  private async broadcastNoop(): Promise<void> {
    await Promise.all(this.senders.map((s) => s.run(Op.Noop)));
  }

  /** Fault injection for tests: shard `s`'s worker throws, as if it had crashed. */
  async injectShardCrash(s: number): Promise<void> {
    await this.senders[s]!.run(Op.Crash);
  }

  /** Resolves once shard `s` has been restarted `n` times in total (see restarts). */
  async waitRestarts(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.restarts < n || this.recovering > 0) {
      if (Date.now() > deadline) throw new Error(`no shard restart within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Record every frame crossing the router's endpoint links (time, link, direction, bytes) into
   * the capture file `path` (.vmc, see src/capture/vmc.ts) until stop() on the returned tap.
   */
  async startCapture(path: string, opts: CaptureOptions = {}): Promise<CaptureTap> {
    this.checkOpen();
    if (this.capture !== undefined) throw new Error(`a capture is already running (${this.capture.path}); stop it first`);
    const tap = await CaptureTap.start({
      mem: this.mem,
      tables: this.tables,
      sync: () => this.broadcastNoop(),
      linkInfo: (id) => {
        const e = this.endpoints.get(id);
        if (e === undefined) return undefined;
        const devices = e.kind === 'device' ? ` devices ${[...e.devices].join(',')}` : '';
        return { link: id, kind: e.kind, name: `${e.kind}#${id}${devices}` };
      },
      onStopped: () => { this.capture = undefined; },
    }, path, opts);
    this.capture = tap;
    return tap;
  }

  /** Every counter the router keeps, summed over shards. Safe to call at any time. */
  stats(): RouterStats {
    return readRouterStats(this.mem, this.tables, [...this.endpoints.values()].map((e) => ({ id: e.id, kind: e.kind })), [...this.devices.values()].map((d) => ({ dev: d.dev, state: d.state, endpoint: d.ep.id })));
  }

  /**
   * Stop: the shards keep routing until every request in flight is answered or has timed out
   * (at most timeoutMs), fail what is left (ROUTER_CLOSED), then the workers end.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.capture?.stop();
    for (const s of this.senders) s.requestStop();
    // Wake sleeping shards so they see the stop flag.
    for (let s = 0; s < this.options.shards; s++) {
      Atomics.store(this.mem.i32, this.tables.bell(s) >>> 2, 0);
      Atomics.notify(this.mem.i32, this.tables.bell(s) >>> 2);
    }
    this.closed = true;
    await Promise.allSettled(this.shardRuns);
    await this.pool.destroy();
  }
}
