// Our in-process ring (docs/ARCHITECTURE.md "Native ring"), laid out by assembly/ring/native.ts:
// its offsets (from the generated descriptor), the init called with checked arguments, a
// checker for a header someone else wrote, and JS views of either side (the WASM cursors in
// the header, src/ring/cursor.ts).
import { CURF_FREES, CURF_RELAXED, CUR_BATCH, CursorConsumer, CursorProducer, PACKED_UNIT } from './cursor.js';
import { relaxedPublish } from '../wait/fence.js';
import type { SharedMemory } from '../memory/shared-memory.js';
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
  /**
   * The consumer rings a sleeping producer after every publish, not only when it freed room the
   * producer lacked (CURF_FREES). For a producer that sleeps waiting for something other than
   * room that the consumer's progress brings. Default false.
   */
  wakeOnEveryRelease?: boolean;
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

/**
 * Lay out an empty ring at `base` (assembly/ring/native.ts nativeRingInit: header zeroed, fields,
 * both WASM cursors, magic stored last so a reader never sees half a header), after checking
 * the shape; a bad one is an Error naming the rule and the value.
 */
export function initNativeRing(mem: SharedMemory, base: number, opts: NativeRingOptions): void {
  const frameUnits = opts.frameUnits ?? 1;
  const slotSize = opts.slotSize ?? (frameUnits > 1 ? PACKED_UNIT : DEFAULT_NATIVE_SLOT_SIZE);
  const consumerBell = opts.consumerBell ?? 0;
  const producerBell = opts.producerBell ?? 0;
  const batch = opts.batch ?? DEFAULT_NATIVE_BATCH;
  checkShape(mem.buffer, base, opts.capacity, slotSize, frameUnits, consumerBell, producerBell);
  if (!Number.isInteger(batch) || batch < 1 || batch > 0xffffffff) reject('batch >= 1', batch);
  const flags = nativeCursorFlags(opts.wakeOnEveryRelease === true, opts.relaxed ?? relaxedPublish());
  mem.wasm.nativeRingInit(base, opts.capacity, slotSize, batch, consumerBell, producerBell, flags, frameUnits);
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

/**
 * Cursor flags for nativeRingInit (the WASM init): CURF_RELAXED when `relaxed` (by default, when
 * this process publishes relaxed); CURF_FREES unless `wakeOnEveryRelease` (NativeRingOptions).
 */
export function nativeCursorFlags(wakeOnEveryRelease = false, relaxed = relaxedPublish()): number {
  return (relaxed ? CURF_RELAXED : 0) | (wakeOnEveryRelease ? 0 : CURF_FREES);
}

/** The WASM cursor of one side of the ring at `base` (validated first), with its batch changed if asked. */
function sideCursor(mem: SharedMemory, base: number, cursor: number, batch: number | undefined): number {
  checkNativeRing(mem.buffer, base);
  const cur = base + cursor;
  if (batch !== undefined) {
    if (!Number.isInteger(batch) || batch < 1) reject('batch >= 1', batch);
    mem.u32[(cur + CUR_BATCH) >>> 2] = batch;
  }
  return cur;
}

/** The producer of the native ring at `base` (its cursor in the header). `batch` defaults to the one given at init. */
export function nativeProducer(mem: SharedMemory, base: number, opts: { batch?: number } = {}): CursorProducer {
  return new CursorProducer(mem, sideCursor(mem, base, NR_PROD_CURSOR, opts.batch));
}

/** The consumer of the native ring at `base` (its cursor in the header). `batch` defaults to the one given at init. */
export function nativeConsumer(mem: SharedMemory, base: number, opts: { batch?: number } = {}): CursorConsumer {
  return new CursorConsumer(mem, sideCursor(mem, base, NR_CONS_CURSOR, opts.batch));
}
