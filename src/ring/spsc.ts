// SPSC v1 "switchboard" ring (docs/BUSES.md §3.1), laid out by assembly/ring/spsc.ts: one region per
// direction, i32 head (PRODUCER index) @0, i32 tail (CONSUMER index) @0x40, 64-byte slots from
// 0x80, one slot kept empty, capacity derived from the region size (never stored). Here: the
// checks of a region someone else wrote, and cursors for either side (src/ring/cursor.ts).
// NB the name clash: here head = producer; in the vmamp window tail = producer (docs/BUSES.md §7).
import { CURSOR_CONSUMER, CURSOR_PRODUCER, CUR_SIZE, CursorConsumer, CursorProducer, resumeCursor, type CursorSide } from './cursor.js';
import type { SharedMemory } from '../memory/shared-memory.js';
// Layout constants: written once in assembly/, generated into src/wasm/layout.ts.
import {
  SPSC_HEAD, SPSC_TAIL, SPSC_SLOTS, SPSC_SLOT_SIZE, SPSC_CAPACITY_BIAS, SPSC_MIN_CAPACITY,
} from '../wasm/layout.js';
export {
  SPSC_HEAD, SPSC_TAIL, SPSC_SLOTS, SPSC_SLOT_SIZE, SPSC_CAPACITY_BIAS, SPSC_MIN_CAPACITY,
};

// The header's formula C = floor((region - 192) / 64) + 1: 192 = the two control lines + one slot.

/** Slots in a region of `regionBytes` (0 when it holds fewer than SPSC_MIN_CAPACITY). */
export function spscCapacity(regionBytes: number): number {
  if (regionBytes < SPSC_SLOTS + SPSC_MIN_CAPACITY * SPSC_SLOT_SIZE) return 0;
  return Math.floor((regionBytes - SPSC_CAPACITY_BIAS) / SPSC_SLOT_SIZE) + 1;
}

/** Smallest region holding `capacity` slots. */
export function spscRegionBytes(capacity: number): number {
  return SPSC_SLOTS + capacity * SPSC_SLOT_SIZE;
}

function reject(rule: string, value: number | string): never {
  throw new Error(`SPSC ring rejected by rule "${rule}": got ${value}`);
}

function checkRegion(buffer: SharedArrayBuffer, base: number, regionBytes: number): number {
  if (!Number.isInteger(base) || base < 0 || base % 4 !== 0) reject('base is 4-aligned', base);
  const cap = spscCapacity(regionBytes);
  if (!Number.isInteger(regionBytes) || cap === 0) reject(`region holds >= ${SPSC_MIN_CAPACITY} slots (>= ${spscRegionBytes(SPSC_MIN_CAPACITY)} bytes)`, regionBytes);
  if (base + regionBytes > buffer.byteLength) reject(`region inside memory (${buffer.byteLength} bytes)`, `end ${base + regionBytes}`);
  return cap;
}

/** Empty the ring in the region at `base` (spscInit: both control lines zeroed). Returns the capacity. */
export function initSpscRing(mem: SharedMemory, base: number, regionBytes: number): number {
  const cap = checkRegion(mem.buffer, base, regionBytes);
  mem.wasm.spscInit(base, regionBytes);
  return cap;
}

/**
 * Validate the region at `base`: alignment, size (capacity >= 2), bounds, and both indices
 * (read as u32, so negative i32s fail too) below the capacity. Throws an Error naming the rule
 * and the bad value; returns the capacity.
 */
export function checkSpscRing(buffer: SharedArrayBuffer, base: number, regionBytes: number): number {
  const cap = checkRegion(buffer, base, regionBytes);
  const u32 = new Uint32Array(buffer);
  for (const [name, at] of [['head (producer index)', SPSC_HEAD], ['tail (consumer index)', SPSC_TAIL]] as const) {
    const v = Atomics.load(u32, (base + at) >>> 2);
    if (v >= cap) reject(`${name} < capacity ${cap}`, v);
  }
  return cap;
}

export interface SpscCursorOptions {
  /** Publish the own index every `batch` steps. Default 1: external peers poll per message. */
  batch?: number;
  /** The peer's doorbell word in our memory (in-process peers only); 0 = none. */
  wakeAddr?: number;
}

/**
 * Fill the WASM cursor at `cur` for one side of the ring in the region at `base` (spscCursorInit:
 * the producer publishes head and reads tail, the consumer the reverse) and start it where that
 * side's published index is (a ring the device side created may already hold frames for us).
 */
export function spscCursorAt(mem: SharedMemory, cur: number, base: number, regionBytes: number, side: CursorSide, opts: SpscCursorOptions = {}): void {
  checkRegion(mem.buffer, base, regionBytes);
  mem.wasm.spscCursorInit(cur, base, regionBytes, side, opts.batch ?? 1, opts.wakeAddr ?? 0);
  resumeCursor(mem, cur, side);
}

/** The producer of the ring in the region at `base` (its cursor allocated in `mem`). */
export function spscProducer(mem: SharedMemory, base: number, regionBytes: number, opts: SpscCursorOptions = {}): CursorProducer {
  const cur = mem.alloc(CUR_SIZE);
  spscCursorAt(mem, cur, base, regionBytes, CURSOR_PRODUCER, opts);
  return new CursorProducer(mem, cur);
}

/** The consumer of the ring in the region at `base` (its cursor allocated in `mem`). */
export function spscConsumer(mem: SharedMemory, base: number, regionBytes: number, opts: SpscCursorOptions = {}): CursorConsumer {
  const cur = mem.alloc(CUR_SIZE);
  spscCursorAt(mem, cur, base, regionBytes, CURSOR_CONSUMER, opts);
  return new CursorConsumer(mem, cur);
}
