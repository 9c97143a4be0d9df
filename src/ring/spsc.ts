// SPSC v1 "switchboard" ring (docs/BUSES.md §3.1), TS twin of assembly/ring/spsc.ts: one region per
// direction, i32 head (PRODUCER index) @0, i32 tail (CONSUMER index) @0x40, 64-byte slots from
// 0x80, one slot kept empty, capacity derived from the region size (never stored).
// NB the name clash: here head = producer; in the vmamp window tail = producer (docs/BUSES.md §7).
import {
  CURSOR_CONSUMER, CURSOR_PRODUCER, RingConsumer, RingProducer, writeCursor, type CursorSide, type RingGeometry,
} from './cursor.js';
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

/** Empty the ring in the region at `base` (both control lines zeroed). Same bytes as the AS spscInit. Returns the capacity. */
export function initSpscRing(buffer: SharedArrayBuffer, base: number, regionBytes: number): number {
  const cap = checkRegion(buffer, base, regionBytes);
  new Uint8Array(buffer, base, SPSC_SLOTS).fill(0);
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

/** Geometry of one side: the producer publishes head and reads tail, the consumer the reverse. */
export function spscGeometry(buffer: SharedArrayBuffer, base: number, regionBytes: number, side: CursorSide, opts: SpscCursorOptions = {}): RingGeometry {
  const cap = checkRegion(buffer, base, regionBytes);
  const producer = side === CURSOR_PRODUCER;
  return {
    buffer,
    slotsAddr: base + SPSC_SLOTS,
    pubIndexAddr: base + (producer ? SPSC_HEAD : SPSC_TAIL),
    peerIndexAddr: base + (producer ? SPSC_TAIL : SPSC_HEAD),
    capacity: cap,
    stride: SPSC_SLOT_SIZE,
    // i32 in memory, loaded as u32: a negative index from a hostile peer is >= capacity (a fault).
    idx16: false,
    wakeAddr: opts.wakeAddr ?? 0,
    batch: opts.batch ?? 1,
  };
}

/** JS producer for the ring in the region at `base`. */
export function spscProducer(buffer: SharedArrayBuffer, base: number, regionBytes: number, opts: SpscCursorOptions = {}): RingProducer {
  return new RingProducer(spscGeometry(buffer, base, regionBytes, CURSOR_PRODUCER, opts));
}

/** JS consumer for the ring in the region at `base`. */
export function spscConsumer(buffer: SharedArrayBuffer, base: number, regionBytes: number, opts: SpscCursorOptions = {}): RingConsumer {
  return new RingConsumer(spscGeometry(buffer, base, regionBytes, CURSOR_CONSUMER, opts));
}

/** Write the WASM cursor for one side at `cur`: the same bytes as the AS spscCursorInit. */
export function writeSpscCursor(buffer: SharedArrayBuffer, cur: number, base: number, regionBytes: number, side: CursorSide, batch: number, bell: number): void {
  writeCursor(spscGeometry(buffer, base, regionBytes, side, { batch, wakeAddr: bell }), cur);
}
