// Our in-process ring (docs/ARCHITECTURE.md "Native ring"), TS twin of assembly/ring/native.ts:
// the same offset names and values (test/layout/rings.test.ts compares them with the wasm
// exports), an init that writes the same bytes as nativeRingInit, a checker, and JS cursors.
import { CURSOR_CONSUMER, CURSOR_PRODUCER, CURF_RELAXED, CUR_BATCH, CUR_FLAGS, PACKED_UNIT, RingConsumer, RingProducer, writeCursor, type RingGeometry } from './cursor.js';
import { relaxedPublish } from '../wait/fence.js';
// Layout constants: written once in assembly/, generated into src/wasm/layout.ts.
import {
  NR_MAGIC_VALUE, NR_VERSION_VALUE, NR_MAGIC, NR_VERSION, NR_FLAGS, NR_CAPACITY, NR_SLOT_SIZE,
  NR_CONS_BELL, NR_PROD_BELL, NR_FRAME_UNITS, NR_PROD_INDEX, NR_CONS_INDEX, NR_PROD_CURSOR,
  NR_CONS_CURSOR, NR_SLOTS, NR_HEADER_SIZE, NR_MIN_SLOT_SIZE, NR_SLOT_ALIGN, NR_BASE_ALIGN,
} from '../wasm/layout.js';
export {
  NR_MAGIC_VALUE, NR_VERSION_VALUE, NR_MAGIC, NR_VERSION, NR_FLAGS, NR_CAPACITY, NR_SLOT_SIZE,
  NR_CONS_BELL, NR_PROD_BELL, NR_FRAME_UNITS, NR_PROD_INDEX, NR_CONS_INDEX, NR_PROD_CURSOR,
  NR_CONS_CURSOR, NR_SLOTS, NR_HEADER_SIZE, NR_MIN_SLOT_SIZE, NR_SLOT_ALIGN, NR_BASE_ALIGN,
};

/** Default slot: 64 bytes, the vmamp/SPSC element size. 272 holds the spec's 264-byte maximum. */
export const DEFAULT_NATIVE_SLOT_SIZE = 64;
/** Default publication batch, as the router's ringBatch default. */
export const DEFAULT_NATIVE_BATCH = 16;

export interface NativeRingOptions {
  /** Slots (16-byte units for a packed ring). */
  capacity: number;
  /** Default DEFAULT_NATIVE_SLOT_SIZE (PACKED_UNIT for a packed ring). */
  slotSize?: number;
  /**
   * Most slots a frame takes. Default 1: a frame per slot, frames up to slotSize. > 1: packed
   * (slotSize must be PACKED_UNIT): a frame takes ceil(msg_size / 16) slots, up to frameUnits.
   */
  frameUnits?: number;
  /** Default DEFAULT_NATIVE_BATCH. */
  batch?: number;
  /** The consumer's doorbell word (the producer rings it); 0 = the consumer never sleeps. */
  consumerBell?: number;
  /** The producer's doorbell word (the consumer rings it); 0 = the producer never sleeps. */
  producerBell?: number;
  /** Both sides publish with plain stores (src/wait/fence.ts). Default: relaxedPublish(). */
  relaxed?: boolean;
}

/** What checkNativeRing found in a valid header. */
export interface NativeRingInfo {
  capacity: number;
  slotSize: number;
  frameUnits: number;
  consumerBell: number;
  producerBell: number;
}

/** Bytes a native ring of `capacity` slots of `slotSize` bytes occupies (a packed ring: plus frameUnits - 1 slots of slack). */
export function nativeRingBytes(capacity: number, slotSize: number = DEFAULT_NATIVE_SLOT_SIZE, frameUnits = 1): number {
  return NR_HEADER_SIZE + (capacity + frameUnits - 1) * slotSize;
}

/** The packed-ring shape that holds frames up to `maxFrame` bytes: its frameUnits. */
export function packedFrameUnits(maxFrame: number): number {
  return Math.max(1, Math.ceil(maxFrame / PACKED_UNIT));
}

function reject(rule: string, value: number | string): never {
  throw new Error(`native ring rejected by rule "${rule}": got ${value}`);
}

function checkShape(buffer: SharedArrayBuffer, base: number, capacity: number, slotSize: number, frameUnits: number, consumerBell: number, producerBell: number): void {
  if (!Number.isInteger(base) || base < 0 || base % NR_BASE_ALIGN !== 0) reject('base is 64-byte aligned', base);
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > 0x7fffffff) reject('capacity >= 2', capacity);
  if (!Number.isInteger(slotSize) || slotSize < NR_MIN_SLOT_SIZE || slotSize % NR_SLOT_ALIGN !== 0) {
    reject('slot size is a multiple of 8 and >= 16', slotSize);
  }
  if (!Number.isInteger(frameUnits) || frameUnits < 1 || frameUnits > 4096) reject('frame units from 1 to 4096', frameUnits);
  if (frameUnits > 1 && slotSize !== PACKED_UNIT) reject(`a packed ring (frame units > 1) has ${PACKED_UNIT}-byte slots`, slotSize);
  if (frameUnits > 1 && capacity <= frameUnits) reject(`a packed ring's capacity exceeds its frame units (${frameUnits})`, capacity);
  const end = base + nativeRingBytes(capacity, slotSize, frameUnits);
  if (end > buffer.byteLength) reject(`ring inside memory (${buffer.byteLength} bytes)`, `end ${end}`);
  for (const [name, bell] of [['consumer bell', consumerBell], ['producer bell', producerBell]] as const) {
    if (!Number.isInteger(bell) || bell < 0 || bell % 4 !== 0 || bell + 4 > buffer.byteLength) {
      reject(`${name} is 0 or a 4-aligned word inside memory`, bell);
    }
  }
}

/** The producer's (CURSOR_PRODUCER) or consumer's geometry of the ring at `base`. */
function sideGeometry(buffer: SharedArrayBuffer, base: number, side: number, info: NativeRingInfo, batch: number, relaxed: boolean): RingGeometry {
  const producer = side === CURSOR_PRODUCER;
  return {
    buffer,
    slotsAddr: base + NR_SLOTS,
    pubIndexAddr: base + (producer ? NR_PROD_INDEX : NR_CONS_INDEX),
    peerIndexAddr: base + (producer ? NR_CONS_INDEX : NR_PROD_INDEX),
    capacity: info.capacity,
    stride: info.slotSize,
    idx16: false,
    // Each side wakes the other: the producer rings the consumer's bell and vice versa.
    wakeAddr: producer ? info.consumerBell : info.producerBell,
    batch,
    relaxed,
    maxUnits: info.frameUnits,
  };
}

/**
 * Lay out an empty ring at `base`: the same bytes as the AS nativeRingInit (header zeroed,
 * fields, both WASM cursors), magic stored last so a reader never sees half a header.
 */
export function initNativeRing(buffer: SharedArrayBuffer, base: number, opts: NativeRingOptions): void {
  const info: NativeRingInfo = {
    capacity: opts.capacity,
    slotSize: opts.slotSize ?? ((opts.frameUnits ?? 1) > 1 ? PACKED_UNIT : DEFAULT_NATIVE_SLOT_SIZE),
    frameUnits: opts.frameUnits ?? 1,
    consumerBell: opts.consumerBell ?? 0,
    producerBell: opts.producerBell ?? 0,
  };
  const batch = opts.batch ?? DEFAULT_NATIVE_BATCH;
  const relaxed = opts.relaxed ?? relaxedPublish();
  checkShape(buffer, base, info.capacity, info.slotSize, info.frameUnits, info.consumerBell, info.producerBell);
  if (!Number.isInteger(batch) || batch < 1 || batch > 0xffffffff) reject('batch >= 1', batch);
  new Uint8Array(buffer, base, NR_HEADER_SIZE).fill(0);
  const dv = new DataView(buffer, base, NR_HEADER_SIZE);
  dv.setUint16(NR_VERSION, NR_VERSION_VALUE, true);
  dv.setUint32(NR_CAPACITY, info.capacity, true);
  dv.setUint32(NR_SLOT_SIZE, info.slotSize, true);
  dv.setUint32(NR_CONS_BELL, info.consumerBell, true);
  dv.setUint32(NR_PROD_BELL, info.producerBell, true);
  dv.setUint32(NR_FRAME_UNITS, info.frameUnits, true);
  writeCursor(sideGeometry(buffer, base, CURSOR_PRODUCER, info, batch, relaxed), base + NR_PROD_CURSOR);
  writeCursor(sideGeometry(buffer, base, CURSOR_CONSUMER, info, batch, relaxed), base + NR_CONS_CURSOR);
  Atomics.store(new Uint32Array(buffer), (base + NR_MAGIC) >>> 2, NR_MAGIC_VALUE);
}

/**
 * Validate the header at `base` (magic, version, flags, capacity, slot size, bounds, bells,
 * both indices below capacity). Throws an Error naming the rule and the bad value.
 */
export function checkNativeRing(buffer: SharedArrayBuffer, base: number): NativeRingInfo {
  if (!Number.isInteger(base) || base < 0 || base + NR_HEADER_SIZE > buffer.byteLength) reject('header inside memory', base);
  const magic = Atomics.load(new Uint32Array(buffer), (base + NR_MAGIC) >>> 2); // acquire: fields were written before it
  if (magic !== NR_MAGIC_VALUE) reject(`magic is 0x${NR_MAGIC_VALUE.toString(16)}`, `0x${magic.toString(16)}`);
  const dv = new DataView(buffer, base, NR_HEADER_SIZE);
  const version = dv.getUint16(NR_VERSION, true);
  if (version !== NR_VERSION_VALUE) reject(`version is ${NR_VERSION_VALUE}`, version);
  const flags = dv.getUint16(NR_FLAGS, true);
  if (flags !== 0) reject('flags are 0', flags);
  const info: NativeRingInfo = {
    capacity: dv.getUint32(NR_CAPACITY, true),
    slotSize: dv.getUint32(NR_SLOT_SIZE, true),
    frameUnits: dv.getUint32(NR_FRAME_UNITS, true),
    consumerBell: dv.getUint32(NR_CONS_BELL, true),
    producerBell: dv.getUint32(NR_PROD_BELL, true),
  };
  checkShape(buffer, base, info.capacity, info.slotSize, info.frameUnits, info.consumerBell, info.producerBell);
  for (const [name, at] of [['producer index', NR_PROD_INDEX], ['consumer index', NR_CONS_INDEX]] as const) {
    const v = dv.getUint32(at, true);
    if (v >= info.capacity) reject(`${name} < capacity ${info.capacity}`, v);
  }
  return info;
}

/** Publication batch written into the WASM cursor at init (each side's default). */
function initBatch(buffer: SharedArrayBuffer, cursor: number): number {
  return new DataView(buffer).getUint32(cursor + CUR_BATCH, true);
}

/** Whether the ring was made to publish relaxed (the flag init wrote into the side's WASM cursor). */
function initRelaxed(buffer: SharedArrayBuffer, cursor: number): boolean {
  return (new DataView(buffer).getUint32(cursor + CUR_FLAGS, true) & CURF_RELAXED) !== 0;
}

/** Cursor flags for nativeRingInit (the WASM init): CURF_RELAXED when this process publishes relaxed. */
export function nativeCursorFlags(): number {
  return relaxedPublish() ? CURF_RELAXED : 0;
}

/** A JS producer for the native ring at `base` (validated first). `batch` defaults to the one given at init. */
export function nativeProducer(buffer: SharedArrayBuffer, base: number, opts: { batch?: number } = {}): RingProducer {
  const info = checkNativeRing(buffer, base);
  const batch = opts.batch ?? initBatch(buffer, base + NR_PROD_CURSOR);
  return new RingProducer(sideGeometry(buffer, base, CURSOR_PRODUCER, info, batch, initRelaxed(buffer, base + NR_PROD_CURSOR)));
}

/** A JS consumer for the native ring at `base` (validated first). `batch` defaults to the one given at init. */
export function nativeConsumer(buffer: SharedArrayBuffer, base: number, opts: { batch?: number } = {}): RingConsumer {
  const info = checkNativeRing(buffer, base);
  const batch = opts.batch ?? initBatch(buffer, base + NR_CONS_CURSOR);
  return new RingConsumer(sideGeometry(buffer, base, CURSOR_CONSUMER, info, batch, initRelaxed(buffer, base + NR_CONS_CURSOR)));
}
