// Router options: defaults and validation at the API edge (errors name the field and the fix).
import { MAX_CPU, isCpuSet } from '../native/cpu-affinity.js';
import { availableParallelism } from 'node:os';
import { PACKED_UNIT } from '../ring/cursor.js';
import { packedFrameUnits } from '../ring/native.js';
import { BUSY_POLL_SPINS } from '../wait/idle-strategy.js';

export interface RouterOptions {
  /** Router shards (worker threads). Default: one per core; at most the core count. */
  shards?: number;
  /** Largest frame the router carries, bytes (docs/PROTOCOL.md §7 rules 3–5). Default 264. */
  busMaxSize?: number;
  /** A request with no response after this long ends in a transport failure. Default 1000 ms. */
  timeoutMs?: number;
  /** Outstanding requests per device before further ones are parked (power of two). Default 64. */
  window?: number;
  /**
   * Room of each endpoint ring (each direction), in 64-byte frames. Default 256. A packed ring
   * (the default) has 4 × ringCapacity 16-byte units and a frame takes ceil(msg_size / 16) of
   * them: 256 holds 256 frames of 64 bytes or 1024 of up to 16.
   */
  ringCapacity?: number;
  /**
   * Endpoint rings packed in 16-byte units: small frames share cache lines (pipeline +25-55 %
   * with 8- and 12-byte frames). false: one frame per slot of the link's largest frame,
   * ringCapacity slots (what vmamp/SPSC windows do; `vmsg stress` uses it to mimic their tiny
   * queues exactly). Default: true, except in busy-poll mode (spinBeforeSleep
   * BUSY_POLL_SPINS), where one frame at a time is the case that matters and a frame sharing
   * its line with the one the peer is reading costs ~0.3 us per round trip (rtt).
   */
  packedRings?: boolean;
  /** Steps before a ring index is published (ring batching). Default 16. */
  ringBatch?: number;
  /** Endpoints (driver + device links) the router can hold at once. Default 2048. */
  maxEndpoints?: number;
  /** Frames each shard can keep parked or held for order. Default 8192. */
  poolSlots?: number;
  /** Frames parked per device or output before the source is held back. Default 256. */
  parkLimit?: number;
  /** Frames taken from one source before the shard moves to the next (fairness). Default 64. */
  sourceBudget?: number;
  /** Bytes of the shared memory. Default 256 MiB (untouched pages cost no RSS). */
  memoryBytes?: number;
  /** Idle shards poll this many times before sleeping on their doorbell. Default 2000; 0 = sleep at once. */
  spinBeforeSleep?: number;
  /**
   * While a busy-poll external link is attached: empty passes a shard spins at most for an
   * answer due from another core before it yields the CPU between looks (sched_yield;
   * src/wait/busy-poll-yield.ts). 0 (the default) yields from the first empty pass; `vmsg
   * route` sets 32 when its shards and the peers' pollers outnumber the cores (src/cli/shard-budget.ts).
   */
  busyPollSpins?: number;
  /**
   * While a busy-poll external link carries frames: the shard looks for the CPU where it routes
   * most, moving itself between the CPUs it may run on (src/router/cpu-seek.ts), and may run
   * anywhere again once the links fall idle. Default false; `vmsg route` turns it on when its
   * shards and the peers' pollers outnumber the cores.
   */
  busyPollSeek?: boolean;
  /**
   * Pin shard i to CPU shardCpus[i % length] (sched_setaffinity of its thread, with the doorbell
   * addon; without it the shards run where the scheduler puts them). Default none. A spinning
   * shard on a CPU of its own is not preempted by the threads it wakes: on a machine with few
   * CPUs, keep the endpoint threads off these CPUs too (EndpointPort `avoidCpus`). Not with
   * busyPollSeek, which moves the shards itself.
   */
  shardCpus?: number[];
}

export type ResolvedRouterOptions = Required<RouterOptions>;

/** CPU numbers shardCpus accepts: below this (the affinity masks the doorbell addon passes). */
export { MAX_CPU };

/**
 * Accepted range of every integer option, [min, max]: the one table Router.create() checks and
 * the config file's schema (src/ops/route-config-schema.ts) states. `shards` is also capped at
 * the core count, and `window` must be a power of two.
 */
export const ROUTER_OPTION_RANGES = {
  shards: [1, 64],
  busMaxSize: [52, 65535],
  timeoutMs: [1, 24 * 3600 * 1000],
  window: [1, 32768],
  ringCapacity: [3, 65536],
  ringBatch: [1, 4096],
  maxEndpoints: [2, 65535],
  poolSlots: [16, 1 << 20],
  parkLimit: [1, 1 << 20],
  sourceBudget: [1, 1 << 16],
  memoryBytes: [1 << 20, 4 * 1024 * 1024 * 1024 - 65536],
  spinBeforeSleep: [0, 1 << 30],
  busyPollSpins: [0, 1 << 20],
} as const satisfies Record<Exclude<keyof RouterOptions, 'packedRings' | 'busyPollSeek' | 'shardCpus'>, readonly [number, number]>;

/** A value as an error shows it: a string quoted, so "2" from a config file is not shown as the number 2. */
const shown = (v: unknown): string => (typeof v === 'string' ? `string ${JSON.stringify(v)}` : String(v));

function check(name: string, v: number, min: number, max: number, extra?: (v: number) => string | undefined): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`router option ${name} must be an integer from ${min} to ${max}, got ${shown(v)}`);
  }
  const more = extra?.(v);
  if (more !== undefined) throw new RangeError(`router option ${name}: ${more}, got ${v}`);
}

const powerOfTwo = (v: number): string | undefined => ((v & (v - 1)) === 0 ? undefined : 'must be a power of two');

export function resolveRouterOptions(opts: RouterOptions = {}): ResolvedRouterOptions {
  if (opts === null || typeof opts !== 'object') throw new TypeError('router options must be an object');
  const known = new Set([
    'shards', 'busMaxSize', 'timeoutMs', 'window', 'ringCapacity', 'ringBatch', 'maxEndpoints', 'poolSlots',
    'parkLimit', 'sourceBudget', 'memoryBytes', 'spinBeforeSleep', 'busyPollSpins', 'busyPollSeek', 'packedRings', 'shardCpus',
  ]);
  for (const k of Object.keys(opts)) {
    if (!known.has(k)) throw new TypeError(`unknown router option "${k}"; known: ${[...known].join(', ')}`);
  }
  const cores = availableParallelism();
  const r: ResolvedRouterOptions = {
    shards: opts.shards ?? cores,
    busMaxSize: opts.busMaxSize ?? 264,
    timeoutMs: opts.timeoutMs ?? 1000,
    window: opts.window ?? 64,
    ringCapacity: opts.ringCapacity ?? 256,
    ringBatch: opts.ringBatch ?? 16,
    maxEndpoints: opts.maxEndpoints ?? 2048,
    poolSlots: opts.poolSlots ?? 8192,
    parkLimit: opts.parkLimit ?? 256,
    sourceBudget: opts.sourceBudget ?? 64,
    memoryBytes: opts.memoryBytes ?? 256 * 1024 * 1024,
    spinBeforeSleep: opts.spinBeforeSleep ?? 2000,
    busyPollSpins: opts.busyPollSpins ?? 0,
    busyPollSeek: opts.busyPollSeek ?? false,
    shardCpus: opts.shardCpus ?? [],
    packedRings: opts.packedRings ?? (opts.spinBeforeSleep ?? 2000) < BUSY_POLL_SPINS,
  };
  if (typeof r.packedRings !== 'boolean') throw new RangeError(`router option packedRings must be true or false, got ${shown(r.packedRings)}`);
  if (typeof r.busyPollSeek !== 'boolean') throw new RangeError(`router option busyPollSeek must be true or false, got ${shown(r.busyPollSeek)}`);
  if (opts.shardCpus !== undefined && !isCpuSet(r.shardCpus)) {
    throw new RangeError(`router option shardCpus must be a non-empty list of distinct CPU numbers from 0 to ${MAX_CPU - 1}, got ${JSON.stringify(r.shardCpus)}`);
  }
  if (r.shardCpus.length !== 0 && r.busyPollSeek) throw new RangeError('router options shardCpus and busyPollSeek exclude each other (busyPollSeek moves the shards itself)');
  for (const [name, [min, max]] of Object.entries(ROUTER_OPTION_RANGES) as [keyof typeof ROUTER_OPTION_RANGES, readonly [number, number]][]) {
    // shards: at most one per core as well.
    check(name, r[name], min, name === 'shards' ? Math.min(cores, max) : max, name === 'window' ? powerOfTwo : undefined);
  }
  // Each shard keeps pool slots for the other shards' frames (cross-shard credit, at least one
  // per other shard, at most a quarter of its pool): docs/ARCHITECTURE.md "Cross-shard credit".
  if (r.poolSlots < 4 * (r.shards - 1)) {
    throw new RangeError(`router option poolSlots must be at least 4 × (shards − 1) = ${4 * (r.shards - 1)} with ${r.shards} shards, got ${r.poolSlots}`);
  }
  return r;
}

/**
 * Slot size for rings that carry frames up to `maxMsg` bytes: 16 or 32 bytes for links of small
 * frames (2-4 slots per cache line: fewer cross-core misses per frame, +30 % pipeline throughput
 * measured with 16), else whole cache lines. A slot never straddles two lines.
 */
export function slotSizeFor(maxMsg: number): number {
  if (maxMsg <= 16) return 16;
  if (maxMsg <= 32) return 32;
  return Math.ceil(maxMsg / 64) * 64;
}

/** Geometry of one native ring: slots (units), slot size, most slots per frame. */
export interface RingShape {
  capacity: number;
  slotSize: number;
  frameUnits: number;
}

/**
 * The ring of an endpoint link carrying frames up to `maxMsg` bytes, with room for
 * `ringCapacity` 64-byte frames: packed (4 units per 64 bytes, at least two largest frames),
 * or one frame per slotSizeFor(maxMsg) slot.
 */
export function linkRingShape(maxMsg: number, ringCapacity: number, packed: boolean): RingShape {
  if (!packed) return { capacity: ringCapacity, slotSize: slotSizeFor(maxMsg), frameUnits: 1 };
  const frameUnits = packedFrameUnits(maxMsg);
  return { capacity: Math.max(ringCapacity * 4, 2 * frameUnits + 1), slotSize: PACKED_UNIT, frameUnits };
}
