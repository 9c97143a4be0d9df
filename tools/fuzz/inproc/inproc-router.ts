// A whole router in this thread: the router tables built directly (as bench/router-core.ts
// does), every shard's routeSome called by the caller on one WASM instance, a virtual clock,
// and the far end of every link played through the ring API. Nothing runs unless the caller
// steps it, so a run is a pure function of the operations applied: the in-process fuzzer
// (./fuzz-case.ts) replays a failing case exactly, and fault injection (a module built with
// trap points) can restart a shard the way Router does after a worker died: a fresh instance
// over the same memory, then failAll(SHARD_RESTARTED).
import { SharedMemory } from '../../../src/memory/shared-memory.js';
import { RouterTables } from '../../../src/router/tables.js';
import { resolveRouterOptions, linkRingShape, slotSizeFor, type ResolvedRouterOptions } from '../../../src/router/options.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../../../src/ring/native.js';
import { CUR_LOCAL, CUR_CAP, CUR_STRIDE, CUR_PEEK_UNITS } from '../../../src/ring/cursor.js';
import { instantiate, type WasmExports } from '../../../src/wasm/module.js';

export interface LinkConfig {
  name: string;
  kind: 'driver' | 'device';
  shard: number;
  packed: boolean;
  maxMessageSize: number;
  /** Device links: the device numbers served. */
  devices?: number[];
  /** Driver links: the devices it may see (absent: all). */
  allow?: number[];
  failureEvents?: boolean;
}

export interface InprocConfig {
  shards: number;
  links: LinkConfig[];
  window: number;
  parkLimit: number;
  poolSlots: number;
  ringCapacity: number;
  timeoutMs: number;
  sourceBudget: number;
  ringBatch: number;
  /** First router token per device number (default 1): near 65535 the token wraps early. */
  firstToken?: Record<number, number>;
  /** Record every frame into per-shard capture rings (the capture tap's hot path). */
  capture: boolean;
}

export interface Link {
  id: number;
  cfg: LinkConfig;
  toRouter: number;
  fromRouter: number;
  /** Units (slots) per frame at most, and the ring's unit size and capacity. */
  maxUnits: number;
  stride: number;
  cap: number;
  /** The router's consumer position last seen (to tell which frames it took). */
  takenLocal: number;
}

export interface Device {
  dev: number;
  state: number;
  link: Link;
  shard: number;
}

const MEMORY_BYTES = 8 << 20;

export class InprocRouter {
  readonly mem: SharedMemory;
  readonly opts: ResolvedRouterOptions;
  readonly tables: RouterTables;
  readonly L: RouterTables['L'];
  readonly links: Link[] = [];
  readonly devices = new Map<number, Device>();
  /** The instance the shards run on (replaced on a restart). */
  wasm: WasmExports;
  now = 1;
  private readonly captureRings: number[] = [];
  private readonly big: BigUint64Array;
  /** u32 index of each [shard][endpoint] counter block. */
  private counterWord: Uint32Array = new Uint32Array(0);

  constructor(readonly cfg: InprocConfig, private readonly module?: WebAssembly.Module) {
    this.opts = resolveRouterOptions({
      shards: cfg.shards, window: cfg.window, parkLimit: cfg.parkLimit, poolSlots: cfg.poolSlots,
      ringCapacity: cfg.ringCapacity, timeoutMs: cfg.timeoutMs, sourceBudget: cfg.sourceBudget,
      ringBatch: cfg.ringBatch, maxEndpoints: Math.max(2, cfg.links.length), memoryBytes: MEMORY_BYTES,
    });
    this.mem = new SharedMemory({ bytes: MEMORY_BYTES });
    this.big = new BigUint64Array(this.mem.buffer);
    this.wasm = module === undefined ? this.mem.wasm : instantiate(this.mem.memory, module);
    this.tables = new RouterTables(this.mem, this.opts);
    this.L = this.tables.L;
    cfg.links.forEach((lc, id) => this.links.push(this.attach(id, lc)));
    this.counterWord = new Uint32Array(cfg.shards * this.links.length);
    for (let s = 0; s < cfg.shards; s++) for (const l of this.links) this.counterWord[s * this.links.length + l.id] = this.tables.counterAddr(s, l.id, 0) >>> 2;
    for (const link of this.links) for (const dev of link.cfg.devices ?? []) this.addDevice(link, dev);
    if (cfg.capture) this.startCapture();
    this.setClock(this.now);
  }

  /** Router.attach's endpoint-table writes, for link `id`. */
  private attach(id: number, lc: LinkConfig): Link {
    const { mem, tables, L } = this;
    const shape = linkRingShape(lc.maxMessageSize, this.opts.ringCapacity, lc.packed);
    const toRouter = tables.newRing(shape.capacity, shape.slotSize, 0, 0, shape.frameUnits);
    const fromRouter = tables.newRing(shape.capacity, shape.slotSize, 0, 0, shape.frameUnits);
    let allow = 0;
    if (lc.allow !== undefined) {
      allow = mem.alloc(8192);
      for (const d of lc.allow) mem.u8[allow + (d >> 3)]! |= 1 << (d & 7);
    }
    tables.writeEndpoint(id, {
      kind: lc.kind, shard: lc.shard, flags: lc.failureEvents === false ? 0 : L.EPF_FAILURE_EVENTS, maxMessageSize: lc.maxMessageSize,
      inCursor: toRouter + NR_CONS_CURSOR, outCursor: fromRouter + NR_PROD_CURSOR, allow, busDevs: 0,
    });
    this.wasm.addSource(tables.shards[lc.shard]!, id);
    return { id, cfg: lc, toRouter, fromRouter, maxUnits: shape.frameUnits, stride: shape.slotSize, cap: shape.capacity, takenLocal: 0 };
  }

  /** Router.addDevice's device-state writes. */
  private addDevice(link: Link, dev: number): void {
    const { mem, tables } = this;
    const shard = link.cfg.shard;
    const state = tables.newDeviceState({ dev, busNum: dev, endpoint: link.id, shard, window: this.opts.window, firstToken: this.cfg.firstToken?.[dev] });
    this.wasm.addDevice(tables.shards[shard]!, state);
    Atomics.store(mem.u32, (tables.devTable >>> 2) + dev, state);
    Atomics.or(mem.u8, tables.presentMap + (dev >> 3), 1 << (dev & 7));
    this.devices.set(dev, { dev, state, link, shard });
  }

  private startCapture(): void {
    const { L, tables, mem } = this;
    const slot = slotSizeFor(L.CAP_FRAME + this.opts.busMaxSize);
    for (const sh of tables.shards) {
      const ring = tables.newRing(256, slot, 0, 0);
      this.captureRings.push(ring);
      Atomics.store(mem.u32, (sh + L.SH_CAPTURE) >>> 2, ring + NR_PROD_CURSOR);
    }
  }

  /** Frames the capture tap recorded since the last call (each shard's ring drained). */
  drainCapture(into: (bytes: Uint8Array) => void): number {
    const { L, mem, wasm } = this;
    let n = 0;
    for (const ring of this.captureRings) {
      const cur = ring + NR_CONS_CURSOR;
      for (let r = wasm.ringPeek(cur); r !== 0; r = wasm.ringPeek(cur)) {
        const len = mem.dv.getUint16(r + L.CAP_LEN, true);
        into(mem.u8.slice(r + L.CAP_FRAME, r + L.CAP_FRAME + len));
        wasm.ringRelease(cur);
        n++;
      }
      wasm.cursorFlush(cur);
    }
    return n;
  }

  setClock(ms: number): void {
    this.now = ms >>> 0;
    for (const sh of this.tables.shards) this.mem.u32[(sh + this.L.SH_NOW) >>> 2] = this.now;
  }

  /** One routing call of shard `s` (a WASM trap propagates as a RuntimeError). */
  route(s: number, budget: number): number {
    return this.wasm.routeSome(this.tables.shards[s]!, budget);
  }

  expire(s: number): number {
    return this.wasm.expire(this.tables.shards[s]!);
  }

  /**
   * What Router does after a shard worker died: a new instance (fresh globals) over the same
   * tables, which first ends the ring walk it died in, then the Recover command (every waiting
   * request of the shard fails, SHARD_RESTARTED).
   */
  restartShard(s: number): number {
    this.wasm = this.module === undefined ? instantiate(this.mem.memory) : instantiate(this.mem.memory, this.module);
    const sh = this.tables.shards[s]!;
    this.wasm.recoverWalk(sh); // what a new shard worker does first (src/router/shard-worker.ts)
    return this.wasm.failAll(sh, this.L.R_SHARD_RESTARTED);
  }

  /** Arm fault point `point` of shard `s` to trap after `countdown` more hits (fault build; injectStepFault in src/router/test-hooks.ts). */
  armFault(s: number, point: number, countdown: number): void {
    Atomics.store(this.mem.u32, (this.tables.shards[s]! + this.L.SH_FAULT) >>> 2, (point | (countdown << 8)) >>> 0);
  }

  /** The point that trapped on shard `s` since the last call (0: none). */
  faultFired(s: number): number {
    return Atomics.exchange(this.mem.u32, (this.tables.shards[s]! + this.L.SH_FAULT_FIRED) >>> 2, 0);
  }

  /** Where the last successful write() put its frame, and the bytes the router may read there. */
  lastAt = 0;
  lastRoom = 0;

  /**
   * The far end writes `bytes` into link `link`'s ring (msg_size as the bytes say; the rest of
   * the slot keeps whatever it held). Returns the slots the frame took (lastAt and lastRoom say
   * where and how many bytes the router may read), or 0 when the ring is full.
   */
  write(link: Link, bytes: Uint8Array): number {
    const { wasm, mem } = this;
    const cur = link.toRouter + NR_PROD_CURSOR;
    const slot = wasm.ringReserve(cur);
    if (slot === 0) return 0;
    const limit = link.maxUnits * link.stride;
    mem.u8.set(bytes.length > limit ? bytes.subarray(0, limit) : bytes, slot);
    const before = mem.u32[(cur + CUR_LOCAL) >>> 2]!;
    wasm.ringCommit(cur);
    const after = mem.u32[(cur + CUR_LOCAL) >>> 2]!;
    const units = (after - before + link.cap) % link.cap || link.cap;
    this.lastAt = slot;
    this.lastRoom = units * link.stride;
    return units;
  }

  /** Publish what the far end of `link` wrote. */
  publish(link: Link): void {
    this.wasm.cursorFlush(link.toRouter + NR_PROD_CURSOR);
  }

  /** Units of link `link`'s ring the router consumed since the last call. */
  takenUnits(link: Link): number {
    const local = this.mem.u32[(link.toRouter + NR_CONS_CURSOR + CUR_LOCAL) >>> 2]!;
    const n = (local - link.takenLocal + link.cap) % link.cap;
    link.takenLocal = local;
    return n;
  }

  /**
   * The far end of `link` reads up to `max` frames the router wrote for it. `into` gets a view of
   * the slot (valid until it returns: copy what you keep), so reading allocates no buffer.
   */
  read(link: Link, max: number, into: (bytes: Uint8Array) => void): number {
    const { wasm, mem } = this;
    const cur = link.fromRouter + NR_CONS_CURSOR;
    let n = 0;
    while (n < max) {
      const f = wasm.ringPeek(cur);
      if (f === 0) break;
      const room = link.maxUnits > 1 ? mem.u32[(cur + CUR_PEEK_UNITS) >>> 2]! * link.stride : mem.u32[(cur + CUR_STRIDE) >>> 2]!;
      const size = mem.u8[f + 6]! | (mem.u8[f + 7]! << 8);
      into(mem.u8.subarray(f, f + Math.min(Math.max(size, 8), room)));
      wasm.ringRelease(cur);
      n++;
    }
    wasm.cursorFlush(cur);
    return n;
  }

  /** Frames waiting in a native ring (published producer minus consumer position). */
  ringBacklog(base: number): number {
    const u32 = this.mem.u32;
    const cap = u32[(base + NR_PROD_CURSOR + CUR_CAP) >>> 2]!;
    const prod = u32[(base + NR_PROD_CURSOR + CUR_LOCAL) >>> 2]!;
    const cons = u32[(base + NR_CONS_CURSOR + CUR_LOCAL) >>> 2]!;
    return (prod - cons + cap) % cap;
  }

  /** Drain the control-plane rings (bus frames the router hands on); returns how many. */
  drainControl(): number {
    const { wasm } = this;
    let n = 0;
    for (const ring of this.tables.controlOutRings) {
      const cur = ring + NR_CONS_CURSOR;
      while (wasm.ringPeek(cur) !== 0) {
        wasm.ringRelease(cur);
        n++;
      }
      wasm.cursorFlush(cur);
    }
    return n;
  }

  /** Counter `idx` of endpoint `ep` in shard `s` (u64, read as two words: no BigInt on this path). */
  counter(s: number, ep: number, idx: number): number {
    const at = this.counterWord[s * this.links.length + ep]! + idx * 2;
    return this.mem.u32[at]! + this.mem.u32[at + 1]! * 4294967296;
  }

  /** Counter `idx` of endpoint `ep` summed over shards. */
  counterSum(ep: number, idx: number): number {
    let t = 0;
    for (let s = 0; s < this.opts.shards; s++) t += this.counter(s, ep, idx);
    return t;
  }

  u64(addr: number): number {
    return Number(this.big[addr / 8]!);
  }

  /** Drops of endpoint `ep` by reason, summed over shards. */
  drops(ep: number, reason: number): number {
    return this.counterSum(ep, this.L.EC_DROP_BASE + reason);
  }
}
