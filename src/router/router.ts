// The public Router: owns the shared tables, the shard workers (shard-pool.ts), the control-frame
// plane (control-frames.ts) and the lifetime counters (lifetime-counters.ts); attaches and
// detaches driver/device endpoints (ids: endpoint-ids.ts, shard: shard-placement.ts) and hot-plugs
// devices (what a removed one leaves: device-tombstones.ts). Everything per-message happens in the shards' WASM over shared memory; this class only
// does control, through each shard's command ring. Test hooks live in test-hooks.ts.
import { SharedMemory } from '../memory/shared-memory.js';
import { allowedCpus, checkCpusUsable } from '../native/cpu-affinity.js';
import { wasmModule } from '../wasm/module.js';
import { linkRingShape, resolveRouterOptions, type ResolvedRouterOptions, type RouterOptions } from './options.js';
import { RouterTables } from './tables.js';
import { Op, CB_POLL_LINKS } from './control.js';
import { monotonicMs } from './clock.js';
import { SocketBells } from './socket-bells.js';
import { StreamPumps } from './stream-pumps.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../ring/native.js';
import { CUR_SIZE } from '../ring/cursor.js';
import type { RouterStats, DeviceStats } from './stats.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { CaptureTap, type CaptureOptions } from './capture-tap.js';
import type { BusModel } from '../model/bus-model.js';
import { EndpointIds, endpointQuarantineMs } from './endpoint-ids.js';
import { DeviceTombstones } from './device-tombstones.js';
import { placeShard } from './shard-placement.js';
import { ShardPool } from './shard-pool.js';
import { ControlFrames, type ControlFrameHandler } from './control-frames.js';
import { LifetimeCounters, type LinkStats } from './lifetime-counters.js';
import { CREATE_WITH_MODULE, ROUTER_INTERNALS, type RouterInternals } from './internals.js';

export type { ControlFrameHandler } from './control-frames.js';
export type { LinkStats } from './lifetime-counters.js';

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
 * cursors the caller filled (vmampCursorInit, spscCursorInit). Router-internal: the
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
  /** detach() began (its promise): no device may be added to it (its rings are about to be freed). */
  detaching: Promise<void> | null;
}

interface DeviceRecord {
  dev: number;
  /** Its number on its own link's bus (= dev unless remapped). */
  busNum: number;
  ep: EndpointRecord;
  state: number; // device-state address
  bytes: number;
}

const DEVICE_NUMBERS = 65536;

export class Router {
  readonly options: ResolvedRouterOptions;
  readonly mem: SharedMemory;
  readonly tables: RouterTables;
  private readonly shards: ShardPool;
  private readonly control: ControlFrames;
  private readonly counters: LifetimeCounters;
  private readonly ids: EndpointIds;
  private readonly endpoints = new Map<number, EndpointRecord>();
  private readonly devices = new Map<number, DeviceRecord>();
  private closed = false;
  private capture: CaptureTap | undefined;
  private bells: SocketBells | undefined;
  private pumps: StreamPumps | undefined;
  private readonly tombstones: DeviceTombstones;
  /** Links behind a bus model (src/bus/model/model-link.ts), by endpoint id: detach and close stop their adapters. */
  private readonly modelled = new Map<number, { close(): Promise<void> }>();

  private constructor(opts: RouterOptions, module: WebAssembly.Module) {
    this.options = resolveRouterOptions(opts);
    if (this.options.shardCpus.length !== 0) {
      // Refused here, on the caller's thread: a shard pinned to a CPU it may not use could only
      // run unpinned, and a shard's own warning would never leave its endless loop.
      checkCpusUsable(this.options.shardCpus, 'router option shardCpus');
      if (allowedCpus() === null) process.emitWarning('vmsg-router: shardCpus needs the doorbell addon (build/Release/vmsg_bell.node); the shards run unpinned');
    }
    this.mem = new SharedMemory({ bytes: this.options.memoryBytes });
    this.tables = new RouterTables(this.mem, this.options);
    this.shards = new ShardPool(this.mem, this.tables, this.options, module, monotonicMs());
    this.control = new ControlFrames(this.mem, this.tables, this.shards, this.options.busMaxSize);
    this.counters = new LifetimeCounters(this.mem, this.tables);
    this.tombstones = new DeviceTombstones(this.mem, this.tables, this.shards);
    this.ids = new EndpointIds(this.options.maxEndpoints, endpointQuarantineMs(this.options.timeoutMs));
  }

  /** Start a router and wait until every shard runs. */
  static create(opts: RouterOptions = {}): Promise<Router> {
    return Router[CREATE_WITH_MODULE](opts, wasmModule());
  }

  /** As create, the shards running `module` (test-hooks.ts: the fault-injection build). */
  static async [CREATE_WITH_MODULE](opts: RouterOptions, module: WebAssembly.Module): Promise<Router> {
    const r = new Router(opts, module);
    await r.shards.waitRunning();
    r.control.start();
    r.counters.followLatency(() => Array.from(r.devices.values(), (d) => d.state));
    return r;
  }

  /** For test-hooks.ts only. */
  get [ROUTER_INTERNALS](): RouterInternals {
    return { mem: this.mem, tables: this.tables, shards: this.shards, tombstones: this.tombstones };
  }

  /** Shard worker crashes seen (each was restarted). */
  get restarts(): number {
    return this.shards.restarts;
  }

  /** True once close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('router is closed');
  }

  /** A free endpoint id; a reused one's counters join the lifetime totals before it is zeroed. */
  private takeId(): number {
    const { id, reused } = this.ids.take();
    if (reused) this.counters.idReused(id);
    return id;
  }

  private async attach(
    kind: 'driver' | 'device', maxMsg: number | undefined, shardReq: number | undefined, flags: number, allowList?: number[],
    external?: ExternalEndpointOptions, ownNumbering = external?.ownNumbering === true,
  ): Promise<EndpointRecord> {
    this.checkOpen();
    const { mem, tables, options } = this;
    const max = maxMsg ?? options.busMaxSize;
    if (!Number.isInteger(max) || max < 12 || max > options.busMaxSize) {
      throw new RangeError(`maxMessageSize must be an integer from 12 to busMaxSize (${options.busMaxSize}), got ${max}`);
    }
    const shard = placeShard(shardReq, options.shards, this.endpoints.values());
    const id = this.takeId();
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
    const rec: EndpointRecord = { id, kind, shard, link, allow, devices: new Set(), rings, busDevs, busyPoll, detaching: null };
    this.endpoints.set(id, rec);
    if (busyPoll) {
      Atomics.add(mem.u32, (tables.controlBlocks[shard]! + CB_POLL_LINKS) >>> 2, 1);
      this.wakeShard(shard); // a sleeping shard switches to napping now, not after its 5 ms sleep
    }
    await this.shards.run(shard, Op.AddSource, id);
    return rec;
  }

  /** Attach an in-process driver endpoint; hand the returned descriptor to an EndpointPort (any thread). */
  async attachDriver(opts: DriverLinkOptions = {}): Promise<LinkDescriptor> {
    if (opts.model !== undefined) return this.attachModelled('driver', opts);
    const flags = opts.failureEvents === false ? 0 : this.tables.L.EPF_FAILURE_EVENTS;
    const rec = await this.attach('driver', opts.maxMessageSize, opts.shard, flags, opts.allow);
    this.counters.setLabel(rec.id, opts.label ?? 'inproc:driver');
    return rec.link as LinkDescriptor;
  }

  /** Attach an in-process device endpoint serving `devices`; announces each with EVENT_DEVICE READY. */
  async attachDevice(opts: DeviceLinkOptions = {}): Promise<LinkDescriptor> {
    if (opts.model !== undefined) return this.attachModelled('device', opts);
    for (const d of opts.devices ?? []) this.checkDevNum(d);
    const rec = await this.attach('device', opts.maxMessageSize, opts.shard, 0, undefined, undefined, opts.ownNumbering === true);
    this.counters.setLabel(rec.id, opts.label ?? 'inproc:device');
    for (const d of opts.devices ?? []) await this.addDevice(rec.link, d);
    return rec.link as LinkDescriptor;
  }

  private async attachModelled(kind: 'driver' | 'device', opts: DriverLinkOptions & DeviceLinkOptions): Promise<LinkDescriptor> {
    this.checkOpen();
    const { ModelLink } = await import('../bus/model/model-link.js');
    const m = kind === 'driver' ? await ModelLink.attachDriver(this, { ...opts, model: opts.model! }) : await ModelLink.attachDevice(this, { ...opts, model: opts.model! });
    this.modelled.set(m.link.id, m);
    return m.link;
  }

  /**
   * Attach an endpoint over rings the caller built (router-internal: the external bus adapters
   * of src/bus/ use it). Wire links get no failure events (the peer would not understand them).
   * Detach it with detach(); the caller then releases its cursors and window.
   */
  async attachExternal(opts: ExternalEndpointOptions): Promise<ExternalEndpoint> {
    for (const [name, v] of [['inCursor', opts.inCursor], ['outCursor', opts.outCursor]] as const) {
      if (!Number.isInteger(v) || v <= 0 || v % 4 !== 0 || v + CUR_SIZE > this.mem.buffer.byteLength) {
        throw new RangeError(`attachExternal: ${name} must be the 4-aligned address of a ${CUR_SIZE}-byte cursor inside the memory, got ${v}`);
      }
    }
    const rec = await this.attach(opts.kind, opts.maxMessageSize, opts.shard, 0, undefined, opts);
    this.counters.setLabel(rec.id, opts.label ?? `external:${opts.kind}`);
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

  /** Doorbell sockets the shards ring themselves (src/router/socket-bells.ts, src/bus/shm-link.ts). */
  get socketBells(): SocketBells {
    return (this.bells ??= new SocketBells(this.mem, this.tables.controlBlocks));
  }

  /** Stream connections the shards serve themselves (src/router/stream-pumps.ts, src/bus/shard-bridge.ts). */
  get streamPumps(): StreamPumps {
    return (this.pumps ??= new StreamPumps(this.mem, this.tables.controlBlocks));
  }

  /** The shard that serves endpoint `link`. */
  shardOf(link: AttachedLink): number {
    const rec = this.endpoints.get(link.id);
    if (rec === undefined) throw new Error(`endpoint ${link.id} is not attached`);
    return rec.shard;
  }

  /** Resolves once shard `s` has finished a loop pass begun after this call (it no longer uses what was unpublished before). */
  async syncShard(s: number): Promise<void> {
    await this.shards.run(s, Op.Noop);
  }

  /** Wake shard `s` if it sleeps (an external peer rang our doorbell socket). */
  wakeShard(s: number): void {
    this.shards.wake(s);
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
    await this.control.send(rec.shard, rec.id, frame);
  }

  /**
   * Receive the bus frames `link` sends that the router does not terminate (responses to
   * sendAsRouter requests, EVENT_DEVICE of an external bus, implementation-defined messages);
   * null stops. Frames of links without a handler are discarded.
   */
  onControlFrame(link: AttachedLink, handler: ControlFrameHandler | null): void {
    if (handler !== null) this.checkOpen();
    this.control.listen(link.id, handler);
  }

  /** Bytes of router memory device `dev`'s state takes (correlation window and outcome history), or undefined when absent. */
  deviceStateBytes(dev: number): number | undefined {
    return this.devices.get(dev)?.bytes;
  }

  /** Is router device number `dev` in use? */
  hasDevice(dev: number): boolean {
    return this.devices.has(dev);
  }

  /**
   * Is device `dev` listed in GET_DEVICES now: validated, from just before drivers hear its
   * READY until just before they hear its REMOVED (a number still being added or removed is in
   * use, hasDevice, but not listed).
   */
  isListed(dev: number): boolean {
    if (!Number.isInteger(dev) || dev < 0 || dev > 65535) return false;
    return (Atomics.load(this.mem.u8, this.tables.presentMap + (dev >> 3)) & (1 << (dev & 7))) !== 0;
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
    if (ep.detaching !== null) throw new Error(`endpoint ${link.id} is being detached: device ${dev} cannot be added to it`);
    const { mem } = this;
    if (busNum !== dev || ep.busDevs !== 0) {
      if (ep.busDevs === 0) throw new RangeError(`device ${dev}: only links attached with ownNumbering can carry it under another number (${busNum})`);
      if (!Number.isInteger(busNum) || busNum < 0 || busNum > 65535) throw new RangeError(`bus device numbers are integers 0..65535, got ${busNum}`);
      if (mem.u32[(ep.busDevs >>> 2) + busNum] !== 0) throw new RangeError(`device ${busNum} of endpoint ${link.id}'s bus is already attached`);
    }
    const bytes = this.tables.deviceStateBytes(window);
    // A number that was here before continues its token sequence (device-tombstones.ts).
    const ds = this.tables.newDeviceState({ dev, busNum, endpoint: ep.id, shard: ep.shard, window, firstToken: this.tombstones.firstToken(dev) });
    this.devices.set(dev, { dev, busNum, ep, state: ds, bytes });
    ep.devices.add(dev);
    link.devices.push(dev);
    await this.shards.run(ep.shard, Op.AddDevice, ds);
    // A detach of its link that began meanwhile removes it (or did): never publish it then (its
    // state would keep the freed ring's cursor, DS_OUT_CURSOR, for good).
    if (ep.detaching !== null || this.devices.get(dev)?.state !== ds) throw new Error(`endpoint ${link.id} was detached while device ${dev} was being added`);
    // Publish: from here on the device number is validated (docs/PROTOCOL.md §7 rule 14).
    if (ep.busDevs !== 0) Atomics.store(mem.u32, (ep.busDevs >>> 2) + busNum, ds);
    Atomics.store(mem.u32, (this.tables.devTable >>> 2) + dev, ds);
    Atomics.or(mem.u8, this.tables.presentMap + (dev >> 3), 1 << (dev & 7));
    // The number's tombstone (if any) was just replaced in the table.
    await this.tombstones.free(dev, false);
    await this.shards.broadcast(Op.DeviceEvent, dev, EVENT_DEVICE_READY);
  }

  /**
   * Hot-unplug device `dev`: its waiting and parked requests fail (DEVICE_REMOVED) in order,
   * drivers get EVENT_DEVICE REMOVED, and GET_DEVICES stops listing it. Its state stays in the
   * device table as a tombstone, so a request for the number sent later fails (UNVALIDATED_DEV_NUM)
   * after every outcome owed before it, from the shard that owned the device; answers of the
   * device that come after are labelled like any answer to a closed request. The last
   * MAX_TOMBSTONES (device-tombstones.ts) removed numbers keep one; an older one is freed and the number is then
   * refused at once by any shard.
   */
  async removeDevice(dev: number): Promise<void> {
    this.checkOpen();
    const rec = this.devices.get(dev);
    if (rec === undefined) throw new RangeError(`device number ${dev} is not attached`);
    const { mem, tables } = this;
    if (rec.ep.busDevs !== 0) Atomics.store(mem.u32, (rec.ep.busDevs >>> 2) + rec.busNum, 0);
    Atomics.and(mem.u8, tables.presentMap + (dev >> 3), ~(1 << (dev & 7)) & 0xff);
    for (let tries = 0; (await this.shards.run(rec.ep.shard, Op.RemoveDevice, rec.state)) !== 0; tries++) {
      if (tries > 1000) throw new Error(`device ${dev}: requests could not be failed (pool exhausted)`);
      await new Promise((r) => setTimeout(r, 1));
    }
    await this.shards.broadcast(Op.DeviceEvent, dev, EVENT_DEVICE_REMOVED);
    // Nothing touches the device state any more: its counters join the lifetime totals.
    this.counters.deviceRemoved(dev, rec.state, rec.ep.id);
    this.devices.delete(dev);
    rec.ep.devices.delete(dev);
    const i = rec.ep.link.devices.indexOf(dev);
    if (i >= 0) rec.ep.link.devices.splice(i, 1);
    await this.tombstones.bury(dev, rec.state, rec.bytes);
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
    // A second detach while the first runs waits for it (it would free the rings twice).
    rec.detaching ??= this.detachEndpoint(rec);
    return rec.detaching;
  }

  private async detachEndpoint(rec: EndpointRecord): Promise<void> {
    // From here addDevice refuses the link; every device goes, also one whose addDevice is
    // still waiting on its shard (that addDevice then sees it gone and does not publish it).
    while (rec.devices.size > 0) await this.removeDevice(rec.devices.values().next().value!);
    const { L } = this.tables;
    const e = this.tables.endpointAddr(rec.id);
    this.mem.dv.setUint16(e + L.EP_FLAGS, this.mem.dv.getUint16(e + L.EP_FLAGS, true) | L.EPF_CLOSING, true);
    await this.shards.run(rec.shard, Op.RemoveSource, rec.id);
    // Its frames parked at any shard go now, not when their device next has room.
    if (rec.kind === 'driver') await this.shards.all(Op.ForgetDriver, rec.id);
    await this.shards.sync();
    this.mem.u8[e + L.EP_KIND] = L.EPK_FREE;
    this.endpoints.delete(rec.id);
    this.counters.endpointDetached(rec.id, rec.kind);
    this.control.listen(rec.id, null);
    this.ids.release(rec.id);
    if (rec.rings !== null) {
      this.mem.free(rec.rings.toRouter, rec.rings.bytes);
      this.mem.free(rec.rings.fromRouter, rec.rings.bytes);
    }
    if (rec.allow !== 0) this.mem.free(rec.allow, 8192);
    if (rec.busDevs !== 0) this.mem.free(rec.busDevs, DEVICE_NUMBERS * 4);
    if (rec.busyPoll) Atomics.sub(this.mem.u32, (this.tables.controlBlocks[rec.shard]! + CB_POLL_LINKS) >>> 2, 1);
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
      sync: () => this.shards.sync(),
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
    const eps = [...this.endpoints.values()].map((e) => ({ id: e.id, kind: e.kind }));
    const devs = [...this.devices.values()].map((d) => ({ dev: d.dev, state: d.state, endpoint: d.ep.id }));
    return this.counters.read(eps, devs);
  }

  /** The link label of an endpoint id (attach option `label`). */
  endpointLabel(id: number): string | undefined {
    return this.counters.label(id);
  }

  /**
   * Counters per link label over the router's whole life: live, detached and retired endpoints
   * of the link summed, so a link that reconnects (new endpoint ids) keeps one growing series.
   * `endpoints`: attached now (0 = the link is down).
   */
  linkStats(st: RouterStats = this.stats()): LinkStats[] {
    return this.counters.byLink(st);
  }

  /**
   * Counters per device number over the router's whole life (a removed device's counters stay
   * under its number; a number attached again keeps adding to them). `link`: the link serving
   * it now, or "" when it is not attached.
   */
  deviceTotals(st: RouterStats = this.stats()): (DeviceStats & { link: string })[] {
    return this.counters.byDevice(st);
  }

  /**
   * Stop: the shards keep routing until every request in flight is answered or has timed out
   * (at most timeoutMs), fail what is left (ROUTER_CLOSED), then the workers end.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.counters.stop();
    await this.capture?.stop();
    const shardsEnded = this.shards.stop();
    this.closed = true;
    const controlEnded = this.control.close();
    await shardsEnded;
    await controlEnded;
    await Promise.allSettled([...this.modelled.values()].map((m) => m.close()));
    this.modelled.clear();
    await this.shards.destroy();
  }
}
