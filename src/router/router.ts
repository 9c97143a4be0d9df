// The public Router: builds the shared tables, runs the shards as long-lived piscina workers,
// attaches and detaches driver/device endpoints (hotplug), reads counters, and closes
// gracefully. Everything per-message happens in the shards' WASM over shared memory; this
// class only does control, through each shard's command ring.
import { Piscina } from 'piscina';
import { SharedMemory } from '../memory/shared-memory.js';
import { wasmModule } from '../wasm/module.js';
import { compiledModule } from '../util/paths.js';
import { linkRingShape, resolveRouterOptions, type ResolvedRouterOptions, type RouterOptions } from './options.js';
import { RouterTables } from './tables.js';
import { CommandSender, Op, CB_POLL_LINKS, CB_STATE, CB_WALL_SKEW, SHARD_RUNNING } from './control.js';
import { monotonicMs } from './clock.js';
import type { ShardTask } from './shard-worker.js';
import { SocketBells } from './socket-bells.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../ring/native.js';
import {
  readRouterStats, emptyEndpointStats, emptyDeviceStats, addEndpointStats, addDeviceStats, type RouterStats, type RetiredStats, type EndpointStats, type DeviceStats,
} from './stats.js';
import { LatencyCounts } from './latency-counts.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { Doorbell, ringDoorbell } from '../wait/doorbell.js';
import { CaptureTap, type CaptureOptions } from './capture-tap.js';
import { frameSize } from '../protocol/header.js';
import type { BusModel } from '../model/bus-model.js';

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
  /** The link this endpoint belongs to (its URI or name): the `link` label of its metrics. Default "inproc:driver". */
  label?: string;
  /**
   * A bus model between this endpoint and the router (README "Bus models"): a built-in name, a
   * model file path or a parsed model. The returned link then behaves like that bus; detach it
   * as any other.
   */
  model?: string | BusModel;
}

export interface AddDeviceOptions {
  /**
   * Correlation window of this device (requests in flight to it at once; more wait in order):
   * a power of two, default the router's `window`. A device behind another router (a gateway)
   * needs only what its hop keeps in flight, since the far router correlates again.
   */
  window?: number;
}

export interface DeviceLinkOptions {
  /** Device numbers served through this link (more can be added later with addDevice). */
  devices?: number[];
  maxMessageSize?: number;
  shard?: number;
  /** As DriverLinkOptions.label; default "inproc:device". */
  label?: string;
  /** As DriverLinkOptions.model. */
  model?: string | BusModel;
  /**
   * The endpoint's bus numbers its devices its own way, so addDevice may give one another router
   * number (bus adapters that remap, e.g. a modelled window link). Router-internal.
   */
  ownNumbering?: boolean;
}

/**
 * An endpoint whose two rings the caller built (an external bus window mapped into the
 * memory): the router consumes through `inCursor` and produces through `outCursor`, the
 * 64-byte cursors the caller filled (vmampCursorInit, spscCursorInit). Router-internal: the
 * bus adapters of src/bus/ use it.
 */
export interface ExternalEndpointOptions {
  /** 'driver': the peer drives devices through us; 'device': the peer serves devices. */
  kind: 'driver' | 'device';
  /** Address of the router's consumer cursor over the peer → router ring. */
  inCursor: number;
  /** Address of the router's producer cursor over the router → peer ring. */
  outCursor: number;
  /** Largest frame the link carries (a vmamp element, an SPSC slot). */
  maxMessageSize: number;
  /** The peer never rings our doorbell: the owning shard keeps polling while this is attached. */
  busyPoll: boolean;
  /** Device links: the peer numbers its devices its own way (addDevice may then remap). */
  ownNumbering?: boolean;
  shard?: number;
  /** The link's URI or name: the `link` label of its metrics. */
  label?: string;
}

/** One link's counters over its whole life (Router.linkStats). */
export interface LinkStats {
  link: string;
  kind: 'driver' | 'device';
  /** Endpoints of the link attached now (a listening stream link has one per connection). */
  endpoints: number;
  counters: EndpointStats;
}

/** What attachExternal returns: the endpoint id, its shard, and the router numbers of its devices. */
export interface ExternalEndpoint {
  readonly id: number;
  readonly kind: 'driver' | 'device';
  readonly shard: number;
  readonly devices: number[];
}

/** Either kind of attached link: what detach/addDevice need. */
export type AttachedLink = { readonly id: number; readonly devices: number[] };

interface EndpointRecord {
  id: number;
  kind: 'driver' | 'device';
  shard: number;
  link: AttachedLink;
  allow: number; // bitmap address or 0
  devices: Set<number>;
  /** Native rings the router built (in-process endpoints); external endpoints bring their own. */
  rings: { toRouter: number; fromRouter: number; bytes: number } | null;
  /** EP_BUS_DEVS table (links with their own device numbering), 0 = none. */
  busDevs: number;
  busyPoll: boolean;
}

interface DeviceRecord {
  dev: number;
  /** Its number on its own link's bus (= dev unless remapped). */
  busNum: number;
  ep: EndpointRecord;
  state: number; // device-state address
  bytes: number;
}

/** Receives the bus frames an external link sent that the router does not terminate. */
export type ControlFrameHandler = (frame: Uint8Array) => void;

const DEVICE_NUMBERS = 65536;
/**
 * Endpoint ids come back into use only after this long, so late frames never reach a new owner:
 * at least 10 s and three request timeouts (a request may wait parked, then forwarded, before
 * its deadline fails it).
 */
const ENDPOINT_QUARANTINE_MIN_MS = 10_000;
const ENDPOINT_QUARANTINE_TIMEOUTS = 3;

/** What only tests give Router.create. */
export interface RouterTestHooks {
  /** The hot path the shard workers run instead of dist/wasm/vmsg.wasm (the fault-injection build, faultsModule()). */
  module?: WebAssembly.Module;
}

/** Removed device numbers whose state stays in the table as a tombstone (Router.removeDevice). */
export const MAX_TOMBSTONES = 1024;

export class Router {
  readonly options: ResolvedRouterOptions;
  readonly mem: SharedMemory;
  readonly tables: RouterTables;
  private readonly pool: Piscina;
  private readonly senders: CommandSender[] = [];
  private readonly shardRuns: Promise<unknown>[] = [];
  private readonly endpoints = new Map<number, EndpointRecord>();
  private readonly devices = new Map<number, DeviceRecord>();
  /** Detached ids and when (performance.now(), monotonic) they were freed. */
  private readonly freeIds: { id: number; at: number }[] = [];
  /** Detached endpoints whose counters are still readable (until their id is reused). */
  private readonly detachedEndpoints = new Map<number, { id: number; kind: 'driver' | 'device' }>();
  /** Counters of reused endpoint ids and removed devices (see stats()). */
  private readonly retired: RetiredStats = { driverLinks: emptyEndpointStats('driver'), deviceLinks: emptyEndpointStats('device'), devices: emptyDeviceStats() };
  /** Link label of every endpoint id (kept while detached, replaced when the id is reused). */
  private readonly labels = new Map<number, string>();
  /** Counters of retired endpoints summed per link label, of removed devices per device number: what linkStats() adds back. */
  private readonly retiredByLink = new Map<string, EndpointStats>();
  private readonly retiredByDevice = new Map<number, DeviceStats>();
  private nextId = 0;
  /** Origin of the shards' clock (src/router/clock.ts). */
  private readonly clockOrigin = monotonicMs();
  private closed = false;
  private readonly controlHandlers = new Map<number, ControlFrameHandler>();
  private controlLoop: Promise<void> | null = null;
  /** Shard worker crashes seen (each was restarted). */
  restarts = 0;
  private recovering = 0;
  private capture: CaptureTap | undefined;
  /** Next router token of each device number that was removed (see addDevice). */
  private readonly lastToken = new Map<number, number>();
  /** Exact totals of the devices' u32 latency buckets. */
  private readonly latencyCounts: LatencyCounts;
  /** States of removed devices still in the device table (see removeDevice), oldest first. */
  private readonly tombstones = new Map<number, { state: number; bytes: number }>();

  /** The compiled hot path the shard workers run (the fault-injection build in some tests). */
  private readonly shardModule: WebAssembly.Module;

  private constructor(opts: RouterOptions, hooks: RouterTestHooks) {
    this.options = resolveRouterOptions(opts);
    this.shardModule = hooks.module ?? wasmModule();
    this.mem = new SharedMemory({ bytes: this.options.memoryBytes });
    this.tables = new RouterTables(this.mem, this.options);
    this.latencyCounts = new LatencyCounts(this.mem, this.tables.L);
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
  static async create(opts: RouterOptions = {}, hooks: RouterTestHooks = {}): Promise<Router> {
    const r = new Router(opts, hooks);
    await r.waitRunning();
    r.controlLoop = r.runControlLoop();
    r.latencyCounts.start(() => Array.from(r.devices.values(), (d) => d.state));
    return r;
  }

  private startShard(s: number): Promise<unknown> {
    const task: ShardTask = {
      memory: this.mem.memory,
      module: this.shardModule,
      shard: this.tables.shards[s]!,
      commandRing: this.tables.commandRings[s]!,
      controlBlock: this.tables.controlBlocks[s]!,
      originMs: this.clockOrigin,
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
    const now = performance.now();
    const reuse = this.freeIds[0];
    const quarantine = Math.max(ENDPOINT_QUARANTINE_MIN_MS, ENDPOINT_QUARANTINE_TIMEOUTS * this.options.timeoutMs);
    if (reuse !== undefined && now - reuse.at > quarantine) {
      this.freeIds.shift();
      // Its counters are about to be zeroed: keep them in the lifetime totals.
      const old = this.detachedEndpoints.get(reuse.id);
      if (old !== undefined) {
        const [st] = readRouterStats(this.mem, this.tables, [{ ...old, detached: true }], []).endpoints;
        addEndpointStats(old.kind === 'driver' ? this.retired.driverLinks : this.retired.deviceLinks, st!);
        const label = this.labels.get(reuse.id) ?? `inproc:${old.kind}`;
        let byLink = this.retiredByLink.get(label);
        if (byLink === undefined) this.retiredByLink.set(label, (byLink = emptyEndpointStats(old.kind)));
        addEndpointStats(byLink, st!);
        this.detachedEndpoints.delete(reuse.id);
      }
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

  private async attach(
    kind: 'driver' | 'device', maxMsg: number | undefined, shardReq: number | undefined, flags: number, allowList?: number[],
    external?: ExternalEndpointOptions, ownNumbering = external?.ownNumbering === true,
  ): Promise<EndpointRecord> {
    this.checkOpen();
    const { L } = this.tables;
    const { mem, tables, options } = this;
    const max = maxMsg ?? options.busMaxSize;
    if (!Number.isInteger(max) || max < 12 || max > options.busMaxSize) {
      throw new RangeError(`maxMessageSize must be an integer from 12 to busMaxSize (${options.busMaxSize}), got ${max}`);
    }
    const shard = this.pickShard(shardReq);
    const id = this.allocId();
    let inCursor: number, outCursor: number;
    let rings: EndpointRecord['rings'] = null;
    let link: AttachedLink;
    if (external === undefined) {
      const shape = linkRingShape(max, options.ringCapacity, options.packedRings);
      const bell = mem.alloc(64);
      const toRouter = tables.newRing(shape.capacity, shape.slotSize, tables.bell(shard), bell, shape.frameUnits);
      const fromRouter = tables.newRing(shape.capacity, shape.slotSize, bell, tables.bell(shard), shape.frameUnits);
      inCursor = toRouter + NR_CONS_CURSOR;
      outCursor = fromRouter + NR_PROD_CURSOR;
      rings = { toRouter, fromRouter, bytes: mem.wasm.nativeRingBytes(shape.capacity, shape.slotSize, shape.frameUnits) };
      const desc: LinkDescriptor = { memory: mem.memory, kind, id, toRouter, fromRouter, bell, maxMessageSize: max, devices: [] };
      link = desc;
    } else {
      inCursor = external.inCursor;
      outCursor = external.outCursor;
      const ext: ExternalEndpoint = { id, kind, shard, devices: [] };
      link = ext;
    }
    let allow = 0;
    if (allowList !== undefined) {
      allow = mem.alloc(8192);
      for (const d of allowList) {
        if (!Number.isInteger(d) || d < 0 || d > 65535) throw new RangeError(`allow: device numbers are 0..65535, got ${d}`);
        mem.u8[allow + (d >> 3)]! |= 1 << (d & 7);
      }
    }
    const busDevs = ownNumbering ? mem.alloc(DEVICE_NUMBERS * 4) : 0;
    tables.writeEndpoint(id, { kind, shard, flags, maxMessageSize: max, inCursor, outCursor, allow, busDevs });
    const busyPoll = external?.busyPoll === true;
    const rec: EndpointRecord = { id, kind, shard, link, allow, devices: new Set(), rings, busDevs, busyPoll };
    this.endpoints.set(id, rec);
    if (busyPoll) {
      Atomics.add(mem.u32, (tables.controlBlocks[shard]! + CB_POLL_LINKS) >>> 2, 1);
      this.wakeShard(shard); // a sleeping shard switches to napping now, not after its 5 ms sleep
    }
    await this.senders[shard]!.run(Op.AddSource, id);
    return rec;
  }

  /**
   * Attach an endpoint over rings the caller built (router-internal: the external bus adapters
   * of src/bus/ use it). Wire links get no failure events (the peer would not understand them).
   * Detach it with detach(); the caller then releases its cursors and window.
   */
  async attachExternal(opts: ExternalEndpointOptions): Promise<ExternalEndpoint> {
    for (const [name, v] of [['inCursor', opts.inCursor], ['outCursor', opts.outCursor]] as const) {
      if (!Number.isInteger(v) || v <= 0 || v % 4 !== 0 || v + 64 > this.mem.buffer.byteLength) {
        throw new RangeError(`attachExternal: ${name} must be the 4-aligned address of a 64-byte cursor inside the memory, got ${v}`);
      }
    }
    const rec = await this.attach(opts.kind, opts.maxMessageSize, opts.shard, 0, undefined, opts);
    this.labels.set(rec.id, opts.label ?? `external:${opts.kind}`);
    return rec.link as ExternalEndpoint;
  }

  /**
   * Detach `link` once `owner` — the worker thread (or anything with an 'exit' event) that
   * serves it — exits, however it ends (terminate(), an uncaught error, process.exit in the
   * worker). A device link's devices are removed: their requests in flight end in transport
   * failures (DEVICE_REMOVED) in order and drivers hear EVENT_DEVICE REMOVED. A driver link's
   * open requests are closed as failed (nobody to tell: ENDPOINT_GONE), its parked frames dropped
   * (SOURCE_GONE); the device's answers to them are late (LATE_RESPONSE). Resolves after that detach
   * (at once if the router closed or the link was detached first).
   */
  detachWhenGone(link: AttachedLink, owner: { once(event: 'exit', listener: (code: number) => void): unknown }): Promise<void> {
    if (!this.endpoints.has(link.id)) throw new Error(`endpoint ${link.id} is not attached`);
    return new Promise((resolve) => {
      owner.once('exit', () => {
        if (this.closed || !this.endpoints.has(link.id)) { resolve(); return; }
        this.detach(link).catch((err: unknown) => {
          process.emitWarning(`vmsg-router: detaching endpoint ${link.id} after its owner exited failed: ${String(err)}`);
        }).finally(resolve);
      });
    });
  }

  /**
   * Switch an external link between busy-poll (its peer rings no doorbell: the owning shard
   * naps briefly and looks again) and doorbell wake-ups, e.g. when its doorbell socket connects
   * after the link came up. The shard is woken so it looks at the link once more either way.
   */
  setExternalPolling(link: AttachedLink, busyPoll: boolean): void {
    const rec = this.endpoints.get(link.id);
    if (rec === undefined || rec.link !== link || rec.rings !== null || rec.busyPoll === busyPoll) return;
    rec.busyPoll = busyPoll;
    const at = (this.tables.controlBlocks[rec.shard]! + CB_POLL_LINKS) >>> 2;
    if (busyPoll) Atomics.add(this.mem.u32, at, 1);
    else Atomics.sub(this.mem.u32, at, 1);
    this.wakeShard(rec.shard);
  }

  private bells: SocketBells | undefined;

  /** Doorbell sockets the shards ring themselves (src/router/socket-bells.ts, src/bus/shm-link.ts). */
  get socketBells(): SocketBells {
    return (this.bells ??= new SocketBells(this.mem, this.tables.controlBlocks));
  }

  /** Wake shard `s` if it sleeps (an external peer rang our doorbell socket). */
  wakeShard(s: number): void {
    ringDoorbell(this.mem.i32, this.tables.bell(s) >>> 2);
  }

  /**
   * Have the owning shard send `frame` (a whole frame, msg_size bytes) to `link` as the router:
   * bus requests of the control plane (PING keep-alives, GET_DEVICES) towards an external peer.
   * Resolves once it is written to the link's ring or queued behind older frames.
   */
  async sendAsRouter(link: AttachedLink, frame: Uint8Array): Promise<void> {
    this.checkOpen();
    const rec = this.endpoints.get(link.id);
    if (rec === undefined) throw new Error(`endpoint ${link.id} is not attached`);
    const size = frameSize(frame);
    if (size < 8 || size > frame.length || size > this.options.busMaxSize) {
      throw new RangeError(`sendAsRouter: frame msg_size ${size} must be 8..${this.options.busMaxSize} and within the ${frame.length} bytes given`);
    }
    const at = this.mem.alloc(size);
    try {
      this.mem.u8.set(frame.subarray(0, size), at);
      for (let tries = 0; (await this.senders[rec.shard]!.run(Op.EmitFrame, rec.id, at)) !== 0; tries++) {
        if (tries > 1000) throw new Error(`endpoint ${link.id}: frame could not be queued (pool exhausted)`);
        await new Promise((r) => setTimeout(r, 1));
      }
    } finally {
      this.mem.free(at, size);
    }
  }

  /**
   * Receive the bus frames `link` sends that the router does not terminate (responses to
   * sendAsRouter requests, EVENT_DEVICE of an external bus, implementation-defined messages);
   * null stops. Frames of links without a handler are discarded.
   */
  onControlFrame(link: AttachedLink, handler: ControlFrameHandler | null): void {
    if (handler === null) {
      this.controlHandlers.delete(link.id);
      return;
    }
    this.checkOpen();
    this.controlHandlers.set(link.id, handler);
  }

  /** Take every frame the shards handed to the control plane; returns how many. */
  private drainControl(): number {
    const { mem, tables } = this;
    const { wasm } = mem;
    let n = 0;
    for (const ring of tables.controlOutRings) {
      const cur = ring + NR_CONS_CURSOR;
      for (let slot = wasm.ringPeek(cur); slot !== 0; slot = wasm.ringPeek(cur)) {
        const ep = mem.u16[(slot + tables.L.XT_EP) >>> 1]!;
        const tag = mem.u16[(slot + tables.L.XT_KIND) >>> 1]!;
        const f = slot + tables.L.XT_SIZE;
        const size = mem.u16[(f + 6) >>> 1]!;
        const frame = mem.u8.slice(f, f + Math.max(8, Math.min(size, tables.xsSlotSize - tables.L.XT_SIZE)));
        wasm.ringRelease(cur);
        n++;
        // A frame of an earlier owner of the id (detached while the frame waited) is not this handler's.
        const handler = tables.endpointTagLive(ep, tag) ? this.controlHandlers.get(ep) : undefined;
        if (handler !== undefined) {
          try {
            handler(frame);
          } catch (e) {
            process.emitWarning(`vmsg-router: control frame handler of endpoint ${ep} threw: ${String(e)}`);
          }
        }
      }
      wasm.cursorFlush(cur);
    }
    return n;
  }

  /**
   * Drain the control rings until the router closes, handing frames to their link's handler
   * (frames of links without one are discarded); sleep on the control doorbell between frames.
   * Always running, so bus frames nobody listens for never pile up in the shards' pools.
   */
  private async runControlLoop(): Promise<void> {
    const bell = new Doorbell(this.mem.buffer, this.tables.controlBell);
    const look = (): boolean => this.drainControl() !== 0;
    while (!this.closed) {
      if (this.drainControl() !== 0) {
        await new Promise((r) => setImmediate(r)); // let the handlers' follow-ups run
        continue;
      }
      // The shards ring after publishing; the last look drains what came meanwhile.
      await bell.sleepAsync(look, 100);
    }
  }

  /** Attach an in-process driver endpoint; hand the returned descriptor to an EndpointPort (any thread). */
  async attachDriver(opts: DriverLinkOptions = {}): Promise<LinkDescriptor> {
    if (opts.model !== undefined) return this.attachModelled('driver', opts);
    const flags = opts.failureEvents === false ? 0 : this.tables.L.EPF_FAILURE_EVENTS;
    const rec = await this.attach('driver', opts.maxMessageSize, opts.shard, flags, opts.allow);
    this.labels.set(rec.id, opts.label ?? 'inproc:driver');
    return rec.link as LinkDescriptor;
  }

  /** Attach an in-process device endpoint serving `devices`; announces each with EVENT_DEVICE READY. */
  async attachDevice(opts: DeviceLinkOptions = {}): Promise<LinkDescriptor> {
    if (opts.model !== undefined) return this.attachModelled('device', opts);
    for (const d of opts.devices ?? []) this.checkDevNum(d);
    const rec = await this.attach('device', opts.maxMessageSize, opts.shard, 0, undefined, undefined, opts.ownNumbering === true);
    this.labels.set(rec.id, opts.label ?? 'inproc:device');
    for (const d of opts.devices ?? []) await this.addDevice(rec.link, d);
    return rec.link as LinkDescriptor;
  }

  /** Links behind a bus model (src/bus/model/model-link.ts), by endpoint id: detach and close stop their adapters. */
  private readonly modelled = new Map<number, { close(): Promise<void> }>();

  private async attachModelled(kind: 'driver' | 'device', opts: DriverLinkOptions & DeviceLinkOptions): Promise<LinkDescriptor> {
    this.checkOpen();
    const { ModelLink } = await import('../bus/model/model-link.js');
    const m = kind === 'driver' ? await ModelLink.attachDriver(this, { ...opts, model: opts.model! }) : await ModelLink.attachDevice(this, { ...opts, model: opts.model! });
    this.modelled.set(m.link.id, m);
    return m.link;
  }

  /** True once close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Is router device number `dev` in use? */
  /** Bytes of router memory device `dev`'s state takes (correlation window and outcome history), or undefined when absent. */
  deviceStateBytes(dev: number): number | undefined {
    return this.devices.get(dev)?.bytes;
  }

  hasDevice(dev: number): boolean {
    return this.devices.has(dev);
  }

  private checkDevNum(d: number): void {
    if (!Number.isInteger(d) || d < 0 || d > 65535) throw new RangeError(`device numbers are integers 0..65535, got ${d}`);
    if (this.devices.has(d)) throw new RangeError(`device number ${d} is already attached`);
  }

  /**
   * Make device `dev` reachable through device link `link` (hotplug: EVENT_DEVICE READY to
   * drivers). `busNum` is its number on the link's own bus when that differs (a remap; only
   * for external links attached with ownNumbering).
   */
  async addDevice(link: AttachedLink, dev: number, busNum: number = dev, opts: AddDeviceOptions = {}): Promise<void> {
    this.checkOpen();
    this.checkDevNum(dev);
    const window = opts.window ?? this.options.window;
    if (!Number.isInteger(window) || window < 1 || window > 32768 || (window & (window - 1)) !== 0) {
      throw new RangeError(`device ${dev}: window must be a power of two from 1 to 32768, got ${String(window)}`);
    }
    const ep = this.endpoints.get(link.id);
    if (ep === undefined || ep.kind !== 'device') throw new Error(`endpoint ${link.id} is not an attached device link`);
    const { L } = this.tables;
    const { mem } = this;
    if (busNum !== dev || ep.busDevs !== 0) {
      if (ep.busDevs === 0) throw new RangeError(`device ${dev}: only links attached with ownNumbering can carry it under another number (${busNum})`);
      if (!Number.isInteger(busNum) || busNum < 0 || busNum > 65535) throw new RangeError(`bus device numbers are integers 0..65535, got ${busNum}`);
      if (mem.u32[(ep.busDevs >>> 2) + busNum] !== 0) throw new RangeError(`device ${busNum} of endpoint ${link.id}'s bus is already attached`);
    }
    const bytes = this.tables.deviceStateBytes(window);
    // A number that was here before continues its token sequence: a late answer to the old
    // device's requests then cannot match a new request's token (it is dropped as unmatched).
    const ds = this.tables.newDeviceState({ dev, busNum, endpoint: ep.id, shard: ep.shard, window, firstToken: this.lastToken.get(dev) });
    this.devices.set(dev, { dev, busNum, ep, state: ds, bytes });
    ep.devices.add(dev);
    link.devices.push(dev);
    await this.senders[ep.shard]!.run(Op.AddDevice, ds);
    // Publish: from here on the device number is validated (docs/PROTOCOL.md §7 rule 14).
    if (ep.busDevs !== 0) Atomics.store(mem.u32, (ep.busDevs >>> 2) + busNum, ds);
    Atomics.store(mem.u32, (this.tables.devTable >>> 2) + dev, ds);
    Atomics.or(mem.u8, this.tables.presentMap + (dev >> 3), 1 << (dev & 7));
    // The number's tombstone (if any) was just replaced in the table.
    await this.freeTombstone(dev, false);
    await this.broadcast(Op.DeviceEvent, dev, EVENT_DEVICE_READY);
  }

  /**
   * Free the tombstone of device number `dev`, taking it out of the table first when `clear`
   * (it may already have been replaced by a new state). Frames hold no pointer to a device
   * state, so once every shard has run a command since, none can still be using it.
   */
  private async freeTombstone(dev: number, clear: boolean): Promise<void> {
    const t = this.tombstones.get(dev);
    if (t === undefined) return;
    this.tombstones.delete(dev);
    if (clear) Atomics.compareExchange(this.mem.u32, (this.tables.devTable >>> 2) + dev, t.state, 0);
    await this.broadcastNoop();
    this.mem.free(t.state, t.bytes);
  }

  /**
   * Hot-unplug device `dev`: its waiting and parked requests fail (DEVICE_REMOVED) in order,
   * drivers get EVENT_DEVICE REMOVED, and GET_DEVICES stops listing it. Its state stays in the
   * device table as a tombstone, so a request for the number sent later fails (UNVALIDATED_DEV_NUM)
   * after every outcome owed before it, from the shard that owned the device; answers of the
   * device that come after are labelled like any answer to a closed request. The last
   * MAX_TOMBSTONES removed numbers keep one; an older one is freed and the number is then
   * refused at once by any shard.
   */
  async removeDevice(dev: number): Promise<void> {
    this.checkOpen();
    const rec = this.devices.get(dev);
    if (rec === undefined) throw new RangeError(`device number ${dev} is not attached`);
    const { mem, tables } = this;
    if (rec.ep.busDevs !== 0) Atomics.store(mem.u32, (rec.ep.busDevs >>> 2) + rec.busNum, 0);
    Atomics.and(mem.u8, tables.presentMap + (dev >> 3), ~(1 << (dev & 7)) & 0xff);
    for (let tries = 0; (await this.senders[rec.ep.shard]!.run(Op.RemoveDevice, rec.state)) !== 0; tries++) {
      if (tries > 1000) throw new Error(`device ${dev}: requests could not be failed (pool exhausted)`);
      await new Promise((r) => setTimeout(r, 1));
    }
    await this.broadcast(Op.DeviceEvent, dev, EVENT_DEVICE_REMOVED);
    // Nothing touches the device state any more: its counters join the lifetime totals.
    const [st] = readRouterStats(this.mem, this.tables, [], [{ dev, state: rec.state, endpoint: rec.ep.id }], undefined, this.latencyCounts).devices;
    this.latencyCounts.forget(rec.state);
    addDeviceStats(this.retired.devices, st!);
    let byDev = this.retiredByDevice.get(dev);
    if (byDev === undefined) this.retiredByDevice.set(dev, (byDev = { ...emptyDeviceStats(), dev }));
    addDeviceStats(byDev, st!);
    this.lastToken.set(dev, mem.u32[(rec.state + tables.L.DS_NEXT_TOKEN) >>> 2]!);
    this.devices.delete(dev);
    rec.ep.devices.delete(dev);
    const i = rec.ep.link.devices.indexOf(dev);
    if (i >= 0) rec.ep.link.devices.splice(i, 1);
    this.tombstones.set(dev, { state: rec.state, bytes: rec.bytes });
    if (this.tombstones.size > MAX_TOMBSTONES) await this.freeTombstone(this.tombstones.keys().next().value!, true);
  }

  /**
   * Detach an endpoint (driver or device link). A device link's devices are removed first.
   * When it resolves no shard touches the link's rings any more (external windows may go).
   */
  async detach(link: AttachedLink): Promise<void> {
    this.checkOpen();
    const modelled = this.modelled.get(link.id);
    if (modelled !== undefined) {
      this.modelled.delete(link.id);
      return modelled.close(); // stops its adapter, then detaches the router's side
    }
    const rec = this.endpoints.get(link.id);
    if (rec === undefined) throw new Error(`endpoint ${link.id} is not attached`);
    for (const d of [...rec.devices]) await this.removeDevice(d);
    const { L } = this.tables;
    const e = this.tables.endpointAddr(rec.id);
    this.mem.dv.setUint16(e + L.EP_FLAGS, this.mem.dv.getUint16(e + L.EP_FLAGS, true) | L.EPF_CLOSING, true);
    await this.senders[rec.shard]!.run(Op.RemoveSource, rec.id);
    // Its frames parked at any shard go now, not when their device next has room.
    if (rec.kind === 'driver') await Promise.all(this.senders.map((s) => s.run(Op.ForgetDriver, rec.id)));
    await this.broadcastNoop();
    this.mem.u8[e + L.EP_KIND] = L.EPK_FREE;
    this.endpoints.delete(rec.id);
    this.detachedEndpoints.set(rec.id, { id: rec.id, kind: rec.kind });
    this.controlHandlers.delete(rec.id);
    this.freeIds.push({ id: rec.id, at: performance.now() }); // monotonic: a wall-clock step must not end the quarantine early
    if (rec.rings !== null) {
      this.mem.free(rec.rings.toRouter, rec.rings.bytes);
      this.mem.free(rec.rings.fromRouter, rec.rings.bytes);
    }
    if (rec.allow !== 0) this.mem.free(rec.allow, 8192);
    if (rec.busDevs !== 0) this.mem.free(rec.busDevs, DEVICE_NUMBERS * 4);
    if (rec.busyPoll) Atomics.sub(this.mem.u32, (this.tables.controlBlocks[rec.shard]! + CB_POLL_LINKS) >>> 2, 1);
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

  /**
   * Fault injection for tests, inside a routing step: arm point `point` of shard `s`
   * (assembly/router/faults.ts: 1 a frame routed before the ring's consumer index moves, 2 after
   * parking, 3 after the first half of a cross-shard send, 4 after the second); it lets
   * `countdown` hits pass, then traps and the worker is restarted like after any crash. Only a
   * router created with the fault build (hooks.module = faultsModule()) has the points; 0
   * disarms.
   */
  injectStepFault(s: number, point: number, countdown = 0): void {
    const L = this.tables.L;
    const sh = this.tables.shards[s];
    if (sh === undefined) throw new RangeError(`no shard ${s}`);
    if (!Number.isInteger(point) || point < 0 || point > 0xff || !Number.isInteger(countdown) || countdown < 0 || countdown > 0xffffff) {
      throw new RangeError(`fault point must be 0-255 and countdown 0-16777215, got ${point}, ${countdown}`);
    }
    Atomics.store(this.mem.u32, (sh + L.SH_FAULT) >>> 2, point === 0 ? 0 : (point | (countdown << 8)) >>> 0);
  }

  /**
   * Fault injection for tests: the wall clock (Date.now()) of every shard thread jumps by `ms`
   * (negative: backwards), as after an NTP step. Deadlines must not notice (they use a
   * monotonic clock).
   */
  injectWallClockJump(ms: number): void {
    if (!Number.isInteger(ms) || Math.abs(ms) > 0x3fffffff) throw new RangeError(`wall clock jump must be an integer number of ms within ±2^30, got ${ms}`);
    for (const block of this.tables.controlBlocks) Atomics.add(this.mem.i32, (block + CB_WALL_SKEW) >>> 2, ms);
  }

  /** Resolves once shards have been restarted `n` times in total (see restarts) and none is still recovering. */
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

  /**
   * Every counter the router keeps, summed over shards. Safe to call at any time. Detached
   * endpoints stay listed (detached: true) until their id is reused; then they, like removed
   * devices, are summed into `retired`. Totals cover the router's whole life.
   */
  stats(): RouterStats {
    const eps: { id: number; kind: 'driver' | 'device'; detached?: boolean }[] = [...this.endpoints.values()].map((e) => ({ id: e.id, kind: e.kind }));
    for (const d of this.detachedEndpoints.values()) eps.push({ ...d, detached: true });
    const devs = [...this.devices.values()].map((d) => ({ dev: d.dev, state: d.state, endpoint: d.ep.id }));
    return readRouterStats(this.mem, this.tables, eps, devs, this.retired, this.latencyCounts);
  }

  /** The link label of an endpoint id (attach option `label`). */
  endpointLabel(id: number): string | undefined {
    return this.labels.get(id);
  }

  /**
   * Counters per link label over the router's whole life: live, detached and retired endpoints
   * of the link summed, so a link that reconnects (new endpoint ids) keeps one growing series.
   * `endpoints`: attached now (0 = the link is down).
   */
  linkStats(st: RouterStats = this.stats()): LinkStats[] {
    const by = new Map<string, LinkStats>();
    const get = (label: string, kind: 'driver' | 'device'): LinkStats => {
      let l = by.get(label);
      if (l === undefined) by.set(label, (l = { link: label, kind, endpoints: 0, counters: emptyEndpointStats(kind) }));
      return l;
    };
    for (const e of st.endpoints) {
      const l = get(this.labels.get(e.id) ?? `inproc:${e.kind}`, e.kind);
      addEndpointStats(l.counters, e);
      if (!e.detached) l.endpoints++;
    }
    for (const [label, c] of this.retiredByLink) addEndpointStats(get(label, c.kind).counters, c);
    return [...by.values()].sort((a, b) => a.link.localeCompare(b.link));
  }

  /**
   * Counters per device number over the router's whole life (a removed device's counters stay
   * under its number; a number attached again keeps adding to them). `link`: the link serving
   * it now, or "" when it is not attached.
   */
  deviceTotals(st: RouterStats = this.stats()): (DeviceStats & { link: string })[] {
    const by = new Map<number, DeviceStats & { link: string }>();
    for (const [dev, c] of this.retiredByDevice) by.set(dev, { ...c, inFlight: 0, parkedNow: 0, link: '' });
    for (const d of st.devices) {
      const cur = by.get(d.dev) ?? { ...emptyDeviceStats(), dev: d.dev, link: '' };
      addDeviceStats(cur, d);
      cur.endpoint = d.endpoint;
      cur.link = this.labels.get(d.endpoint) ?? '';
      by.set(d.dev, cur);
    }
    return [...by.values()].sort((a, b) => a.dev - b.dev);
  }

  /**
   * Stop: the shards keep routing until every request in flight is answered or has timed out
   * (at most timeoutMs), fail what is left (ROUTER_CLOSED), then the workers end.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.latencyCounts.stop();
    await this.capture?.stop();
    for (const s of this.senders) s.requestStop();
    // Wake sleeping shards so they see the stop flag.
    for (let s = 0; s < this.options.shards; s++) new Doorbell(this.mem.buffer, this.tables.bell(s)).wake();
    this.closed = true;
    this.controlHandlers.clear();
    new Doorbell(this.mem.buffer, this.tables.controlBell).wake();
    await Promise.allSettled(this.shardRuns);
    await this.controlLoop;
    await Promise.allSettled([...this.modelled.values()].map((m) => m.close()));
    this.modelled.clear();
    await this.pool.destroy();
  }
}
