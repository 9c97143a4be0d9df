// Builds the router's shared tables (assembly/router/layout.ts, docs/ARCHITECTURE.md "Router
// tables") in the shared memory: config, device table, present map, endpoint table, and one
// shard state per shard with its pool, cross-shard rings and counters. Control plane only.
import type { SharedMemory } from '../memory/shared-memory.js';
import { routerLayout, type RouterLayout } from './layout.js';
import { slotSizeFor, type ResolvedRouterOptions } from './options.js';
import { CONTROL_BLOCK_SIZE } from './control.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR, nativeCursorFlags } from '../ring/native.js';

const DEVICE_NUMBERS = 65536;

export interface RingPair {
  /** endpoint → router ring (native ring base address). */
  toRouter: number;
  /** router → endpoint ring. */
  fromRouter: number;
}

/** What an endpoint table entry says (RouterTables.writeEndpoint). */
export interface EndpointFields {
  kind: 'driver' | 'device';
  shard: number;
  flags: number;
  maxMessageSize: number;
  /** Router's consumer cursor over the endpoint → router ring. */
  inCursor: number;
  /** Router's producer cursor over the router → endpoint ring. */
  outCursor: number;
  /** 8 KiB visibility bitmap, 0 = every device. */
  allow: number;
  /** u32[65536] bus number → device state for links with their own numbering, 0 = none. */
  busDevs: number;
}

/** What a device state says at attach time (RouterTables.newDeviceState). */
export interface DeviceStateFields {
  dev: number;
  /** The device's number on its own link's bus (= dev unless remapped). */
  busNum: number;
  endpoint: number;
  shard: number;
  window: number;
  /** First router token (default 1); a re-added device number continues where it stopped. */
  firstToken?: number;
}

/**
 * Frames for devices one shard may have unaccepted at another (cross-shard credit,
 * assembly/router/xs-credit.ts): a quarter of the pool shared among the other shards, so the
 * reserve kept for them never takes more than a quarter of a shard's pool. At least 1
 * (resolveRouterOptions refuses a pool smaller than 4 × (shards − 1)).
 */
export function xsCredit(opts: ResolvedRouterOptions): number {
  return opts.shards < 2 ? 0 : Math.max(1, Math.floor(opts.poolSlots / (4 * (opts.shards - 1))));
}

/** Bits of a device's outcome history (DS_HIST): max(2048, 2 × window), so it covers a window and more. */
function historyBits(window: number): number {
  return Math.max(2048, 2 * window);
}

export class RouterTables {
  readonly L: RouterLayout = routerLayout();
  readonly config: number;
  readonly devTable: number;
  readonly presentMap: number;
  readonly endpoints: number;
  readonly shards: number[] = [];
  /** Per shard: the control block (TS-only, src/router/control.ts) and its command ring. */
  readonly controlBlocks: number[] = [];
  readonly commandRings: number[] = [];
  /** Per shard: ring of bus messages the router hands to the control plane. */
  readonly controlOutRings: number[] = [];
  /** Doorbell of the control plane: the shards ring it after handing it frames (one word for all shards). */
  readonly controlBell: number;
  readonly statsStride: number;
  readonly xsSlotSize: number;

  constructor(readonly mem: SharedMemory, readonly opts: ResolvedRouterOptions) {
    const L = this.L;
    const { u32 } = mem;
    const n = opts.shards;
    this.config = mem.alloc(L.RC_SIZE);
    this.devTable = mem.alloc(DEVICE_NUMBERS * 4);
    this.presentMap = mem.alloc(DEVICE_NUMBERS / 8);
    this.endpoints = mem.alloc(opts.maxEndpoints * L.EP_SIZE);
    this.statsStride = L.EC_COUNTERS * 8;
    this.xsSlotSize = slotSizeFor(L.XT_SIZE + opts.busMaxSize);
    this.controlBell = mem.alloc(64);
    const c = this.config >>> 2;
    u32[c + L.RC_VERSION / 4] = L.RC_VERSION_VALUE;
    u32[c + L.RC_NUM_SHARDS / 4] = n;
    u32[c + L.RC_MAX_ENDPOINTS / 4] = opts.maxEndpoints;
    u32[c + L.RC_DEV_TABLE / 4] = this.devTable;
    u32[c + L.RC_PRESENT_MAP / 4] = this.presentMap;
    u32[c + L.RC_ENDPOINTS / 4] = this.endpoints;
    u32[c + L.RC_TIMEOUT_MS / 4] = opts.timeoutMs;
    u32[c + L.RC_BUS_MAX / 4] = opts.busMaxSize;
    u32[c + L.RC_STATS_STRIDE / 4] = this.statsStride;
    for (let s = 0; s < n; s++) this.shards.push(this.buildShard(s));
    // Cross-shard rings: one per ordered pair, produced by `from`, consumed by `to`.
    for (let from = 0; from < n; from++) {
      for (let to = 0; to < n; to++) {
        if (from === to) continue;
        // Releases ring the sender only for room, as on any ring: credit it ran out of is rung
        // for apart (xsCreditWake in assembly/router/xs-credit.ts, through XQ_PEER_SENT below).
        const ring = this.newRing(opts.ringCapacity * 4, this.xsSlotSize, this.bell(to), this.bell(from));
        const out = u32[(this.shards[from]! + L.SH_XS_OUT) >>> 2]! + to * L.OUT_SIZE;
        u32[(out + L.OUT_CURSOR) >>> 2] = ring + NR_PROD_CURSOR;
        u32[(out + L.OUT_TAGGED) >>> 2] = 1;
        u32[(u32[(this.shards[to]! + L.SH_XS_IN) >>> 2]! + from * 4) >>> 2] = ring + NR_CONS_CURSOR;
        // The sender reads how many of its frames for devices the receiver accepted (cross-shard credit).
        u32[(this.xsCredit(from, to) + L.XQ_PEER_DONE) >>> 2] = this.xsCredit(to, from) + L.XQ_DONE;
        // The receiver reads how many the sender sent, to ring it when it returns credit the sender ran out of.
        u32[(this.xsCredit(to, from) + L.XQ_PEER_SENT) >>> 2] = this.xsCredit(from, to) + L.XQ_SENT;
      }
    }
    Atomics.store(u32, c + L.RC_MAGIC / 4, L.RC_MAGIC_VALUE);
  }

  /** Shard `s`'s cross-shard credit entry for shard `other`. */
  xsCredit(s: number, other: number): number {
    return this.mem.u32[(this.shards[s]! + this.L.SH_XS_WAIT) >>> 2]! + other * this.L.XQ_SIZE;
  }

  private buildShard(id: number): number {
    const { L, mem, opts } = this;
    const { u32 } = mem;
    const n = opts.shards;
    const sh = mem.alloc(L.SH_SIZE);
    const set = (off: number, v: number): void => {
      u32[(sh + off) >>> 2] = v;
    };
    set(L.SH_ID, id);
    set(L.SH_CONFIG, this.config);
    set(L.SH_NUM_SHARDS, n);
    set(L.SH_SOURCES, mem.alloc(opts.maxEndpoints * 4));
    set(L.SH_DEVICES, mem.alloc(DEVICE_NUMBERS * 4));
    // Cursors with unpublished steps: each endpoint's output and input, the cross-shard outputs, control and capture.
    set(L.SH_DIRTY, mem.alloc((2 * opts.maxEndpoints + n + 8) * L.DL_SIZE));
    set(L.SH_XS_OUT, mem.alloc(n * L.OUT_SIZE));
    set(L.SH_XS_IN, mem.alloc(n * 4));
    set(L.SH_XS_WAIT, mem.alloc(n * L.XQ_SIZE));
    set(L.SH_XS_CREDIT, xsCredit(opts));
    set(L.SH_POOL_RESERVE, xsCredit(opts) * (n - 1));
    set(L.SH_STATS, mem.alloc(opts.maxEndpoints * this.statsStride));
    set(L.SH_PARK_LIMIT, opts.parkLimit);
    set(L.SH_SOURCE_BUDGET, opts.sourceBudget);
    // Frame pool: slots big enough for the largest frame, and a stack of free slot addresses.
    const stride = Math.ceil((L.PS_FRAME + opts.busMaxSize + 8) / 64) * 64;
    const pool = mem.alloc(opts.poolSlots * stride);
    const free = mem.alloc(opts.poolSlots * 4);
    for (let i = 0; i < opts.poolSlots; i++) u32[(free >>> 2) + i] = pool + i * stride;
    set(L.SH_POOL, pool);
    set(L.SH_POOL_SLOTS, opts.poolSlots);
    set(L.SH_POOL_STRIDE, stride);
    set(L.SH_POOL_FREE, free);
    set(L.SH_POOL_TOP, opts.poolSlots);
    // Bus messages the router does not terminate go to the control plane through this ring.
    const ctrlRing = this.newRing(opts.ringCapacity, this.xsSlotSize, this.controlBell, 0);
    const ctrlOut = mem.alloc(L.OUT_SIZE);
    u32[(ctrlOut + L.OUT_CURSOR) >>> 2] = ctrlRing + NR_PROD_CURSOR;
    u32[(ctrlOut + L.OUT_TAGGED) >>> 2] = 1;
    set(L.SH_CTRL_OUT, ctrlOut);
    this.controlOutRings.push(ctrlRing);
    const block = mem.alloc(CONTROL_BLOCK_SIZE);
    this.controlBlocks.push(block);
    this.commandRings.push(this.newRing(256, 64, sh + L.SH_BELL, 0));
    return sh;
  }

  /** Address of shard `s`'s doorbell word. */
  bell(s: number): number {
    return this.shards[s]! + this.L.SH_BELL;
  }

  /**
   * A native ring; bells are the consumer's and producer's doorbell addresses (0 = never sleeps).
   * `wakeOnEveryRelease`: the consumer rings a sleeping producer after every publish, not only
   * for room (NativeRingOptions).
   */
  newRing(capacity: number, slotSize: number, consumerBell: number, producerBell: number, frameUnits = 1, wakeOnEveryRelease = false): number {
    const base = this.mem.alloc(this.mem.wasm.nativeRingBytes(capacity, slotSize, frameUnits));
    this.mem.wasm.nativeRingInit(base, capacity, slotSize, this.opts.ringBatch, consumerBell, producerBell, nativeCursorFlags(wakeOnEveryRelease), frameUnits);
    return base;
  }

  /**
   * Fill endpoint table entry `id` (every EP_* field, docs/ARCHITECTURE.md "Router tables") and
   * zero its counters in every shard. Router.attach and the router-core bench both use it.
   */
  writeEndpoint(id: number, e: EndpointFields): void {
    const { L, mem } = this;
    const a = this.endpointAddr(id);
    // A new generation of the id: frames the shards still hold for its last owner are dropped.
    const gen = (mem.dv.getUint16(a + L.EP_GEN, true) + 1) & 0xffff;
    mem.u8.fill(0, a, a + L.EP_SIZE);
    mem.dv.setUint16(a + L.EP_GEN, gen, true);
    mem.u8[a + L.EP_SHARD] = e.shard;
    mem.dv.setUint16(a + L.EP_FLAGS, e.flags, true);
    mem.dv.setUint16(a + L.EP_MAX_MSG, e.maxMessageSize, true);
    mem.dv.setUint32(a + L.EP_IN_CURSOR, e.inCursor, true);
    mem.dv.setUint32(a + L.EP_ALLOW, e.allow, true);
    mem.dv.setUint32(a + L.EP_BUS_DEVS, e.busDevs, true);
    mem.dv.setUint32(a + L.EP_OUT + L.OUT_CURSOR, e.outCursor, true);
    mem.dv.setUint32(a + L.EP_OUT + L.OUT_STATS, this.counterAddr(e.shard, id, 0), true);
    // Counters of a reused id start from zero in every shard.
    for (let s = 0; s < this.opts.shards; s++) {
      const c = this.counterAddr(s, id, 0);
      mem.u8.fill(0, c, c + this.statsStride);
    }
    // Last, and atomically: a shard that sees the kind sees every field above (generation included).
    Atomics.store(mem.u8, a + L.EP_KIND, e.kind === 'driver' ? L.EPK_DRIVER : L.EPK_DEVICE);
  }

  /** Bytes of a device state with a correlation window of `window` entries. */
  deviceStateBytes(window: number): number {
    return this.L.DS_SIZE + window * this.L.CE_SIZE + historyBits(window) / 8;
  }

  /**
   * Allocate and fill a device state (DS_*) with `window` correlation entries; returns its
   * address. Its endpoint must be written already (writeEndpoint): the state keeps a copy of
   * that endpoint's output cursor (DS_OUT_CURSOR), right while the device is attached.
   */
  newDeviceState(d: DeviceStateFields): number {
    const { L, mem } = this;
    const e = this.endpointAddr(d.endpoint);
    const out = mem.dv.getUint32(e + L.EP_OUT + L.OUT_CURSOR, true);
    if (mem.u8[e + L.EP_KIND] !== L.EPK_DEVICE || out === 0 || (mem.dv.getUint16(e + L.EP_FLAGS, true) & L.EPF_CLOSING) !== 0) {
      throw new Error(`device ${d.dev}: endpoint ${d.endpoint} is not an attached device link (write its entry first; not while it is detached)`);
    }
    const ds = mem.alloc(this.deviceStateBytes(d.window));
    mem.dv.setUint16(ds + L.DS_DEV_NUM, d.dev, true);
    mem.dv.setUint16(ds + L.DS_BUS_NUM, d.busNum, true);
    mem.dv.setUint16(ds + L.DS_ENDPOINT, d.endpoint, true);
    mem.dv.setUint32(ds + L.DS_OUT_CURSOR, out, true);
    mem.dv.setUint16(ds + L.DS_SHARD, d.shard, true);
    mem.dv.setUint16(ds + L.DS_FLAGS, L.DSF_PRESENT, true);
    mem.dv.setUint32(ds + L.DS_WINDOW, d.window, true);
    mem.dv.setUint32(ds + L.DS_ENTRIES, ds + L.DS_SIZE, true);
    // Sequences count entries from 0; tokens run 1..65535 (0 is the events' token).
    mem.dv.setUint32(ds + L.DS_NEXT_SEQ, 0, true);
    mem.dv.setUint32(ds + L.DS_HEAD_SEQ, 0, true);
    mem.dv.setUint32(ds + L.DS_BASE_SEQ, 0, true);
    // Never 0: token 0 is the events', and the answer path's fast match relies on no entry holding it.
    mem.dv.setUint32(ds + L.DS_NEXT_TOKEN, d.firstToken || 1, true);
    const hist = ds + L.DS_SIZE + d.window * L.CE_SIZE;
    mem.dv.setUint32(ds + L.DS_HIST, hist, true);
    mem.dv.setUint32(ds + L.DS_HIST_BITS, historyBits(d.window), true);
    mem.u8.fill(0, hist, hist + historyBits(d.window) / 8);
    return ds;
  }

  endpointAddr(ep: number): number {
    return this.endpoints + ep * this.L.EP_SIZE;
  }

  /** Is the endpoint a frame tag (layout TAG_*: kind | generation) was made for still attached, as that generation? */
  endpointTagLive(ep: number, tag: number): boolean {
    const { L, mem } = this;
    const a = this.endpointAddr(ep);
    return mem.u8[a + L.EP_KIND] !== L.EPK_FREE && (mem.dv.getUint16(a + L.EP_FLAGS, true) & L.EPF_CLOSING) === 0 &&
      ((mem.dv.getUint16(a + L.EP_GEN, true) << L.TAG_GEN_SHIFT) & 0xffff) === (tag & ~L.TAG_KIND & 0xffff);
  }

  /** Address of counter `idx` of endpoint `ep` in shard `s`. */
  counterAddr(s: number, ep: number, idx: number): number {
    const stats = this.mem.u32[(this.shards[s]! + this.L.SH_STATS) >>> 2]!;
    return stats + ep * this.statsStride + idx * 8;
  }
}
