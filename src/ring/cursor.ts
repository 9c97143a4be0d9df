// One side of a ring from JavaScript, driven by the one ring implementation: the WASM cursor
// (assembly/ring/cursor.ts) over its cursor struct (CUR_SIZE bytes) in the shared memory. The producer or
// consumer of our native ring, a vmamp window direction (docs/BUSES.md §2.1) or an SPSC v1 ring
// (§3.1): the layouts' cursor fills (src/ring/native.ts, vmamp.ts, spsc.ts) say where the
// indices and slots are; these classes only add frame copies in and out and name the results.
import type { SharedMemory } from '../memory/shared-memory.js';
import type { WasmExports } from '../wasm/module.js';
// Layout constants: written once in assembly/, generated into src/wasm/layout.ts.
import {
  CUR_SLOTS, CUR_PUB, CUR_PEER, CUR_CAP, CUR_STRIDE, CUR_LOCAL, CUR_CACHED, CUR_PENDING, CUR_BATCH,
  CUR_FLAGS, CUR_WAKE, CUR_FAULTS, CUR_MAX_UNITS, CUR_PEEK_UNITS,
  CUR_SIZE, PACKED_UNIT, CURF_IDX16, CURF_RELAXED, CURF_FREES, CURSOR_PRODUCER, CURSOR_CONSUMER,
} from '../wasm/layout.js';
import { frameSize } from '../protocol/header.js';
export {
  CUR_SLOTS, CUR_PUB, CUR_PEER, CUR_CAP, CUR_STRIDE, CUR_LOCAL, CUR_CACHED, CUR_PENDING, CUR_BATCH,
  CUR_FLAGS, CUR_WAKE, CUR_FAULTS, CUR_MAX_UNITS, CUR_PEEK_UNITS,
  CUR_SIZE, PACKED_UNIT, CURF_IDX16, CURF_RELAXED, CURF_FREES, CURSOR_PRODUCER, CURSOR_CONSUMER,
};

/** Units of a frame of `size` bytes in a packed ring of at most `maxUnits` per frame (at least 1). */
export function frameUnits(size: number, maxUnits: number): number {
  const u = (size + PACKED_UNIT - 1) >>> 4;
  return u === 0 ? 1 : u > maxUnits ? maxUnits : u;
}

export type CursorSide = typeof CURSOR_PRODUCER | typeof CURSOR_CONSUMER;

/**
 * Start the freshly filled cursor at `cur` where its side's published index is (a ring that
 * already holds frames when we attach, or a side another cursor drove and flushed), with a
 * cached peer index that makes the first step load the real one.
 */
export function resumeCursor(mem: SharedMemory, cur: number, side: CursorSide): void {
  const u32 = mem.u32;
  const w = cur >>> 2;
  const pub = u32[w + CUR_PUB / 4]!;
  const cap = u32[w + CUR_CAP / 4]!;
  const own = (u32[w + CUR_FLAGS / 4]! & CURF_IDX16) !== 0 ? Atomics.load(mem.u16, pub >>> 1) : Atomics.load(u32, pub >>> 2);
  if (own >= cap) throw new RangeError(`ring: own published index ${own} is not below capacity ${cap}; initialise the ring first`);
  u32[w + CUR_LOCAL / 4] = own;
  u32[w + CUR_CACHED / 4] = side === CURSOR_PRODUCER ? (own + 1 === cap ? 0 : own + 1) : own;
  u32[w + CUR_PENDING / 4] = 0;
}

/** What producer and consumer share: the cursor, its counters, its geometry. */
abstract class CursorSideView {
  protected readonly wasm: WasmExports;
  protected readonly u8: Uint8Array;
  protected readonly u32: Uint32Array;
  protected readonly at: number;

  constructor(readonly mem: SharedMemory, readonly cur: number) {
    if (!Number.isInteger(cur) || cur <= 0 || cur % 4 !== 0 || cur + CUR_SIZE > mem.buffer.byteLength) {
      throw new RangeError(`ring cursor address must be a 4-aligned non-zero offset with ${CUR_SIZE} bytes inside the memory, got ${cur}`);
    }
    this.wasm = mem.wasm;
    this.u8 = mem.u8;
    this.u32 = mem.u32;
    this.at = cur >>> 2;
  }

  get capacity(): number {
    return this.u32[this.at + CUR_CAP / 4]!;
  }

  /** Bytes from one slot to the next. */
  get stride(): number {
    return this.u32[this.at + CUR_STRIDE / 4]!;
  }

  /** Most slots a frame takes (> 1: packed ring). */
  get maxUnits(): number {
    return Math.max(1, this.u32[this.at + CUR_MAX_UNITS / 4]!);
  }

  /** Steps taken but not yet published. */
  get pending(): number {
    return this.u32[this.at + CUR_PENDING / 4]!;
  }

  /** Peer index loads that were >= capacity (hostile or torn peer); each counted as no progress. */
  get faults(): number {
    return this.u32[this.at + CUR_FAULTS / 4]!;
  }

  /** Publish whatever this side has done but not yet published (and wake the peer). */
  flush(): void {
    this.wasm.cursorFlush(this.cur);
  }
}

/** The producer side: fill slots in order, publish the producer index. */
export class CursorProducer extends CursorSideView {
  /** Byte address of the slot to fill next, or -1 when the ring is full (pending work is published first). */
  reserve(): number {
    const slot = this.wasm.ringReserve(this.cur);
    return slot === 0 ? -1 : slot;
  }

  /** Hand the frame written at reserve()'s address to the consumer (published with the batch, or by flush()). */
  commit(): void {
    this.wasm.ringCommit(this.cur);
  }

  /**
   * Copy `frame` (its first msg_size bytes) into the next slot and commit it. False when the
   * ring is full. Throws when msg_size is below the 8-byte header, beyond the buffer or the slot.
   */
  tryPush(frame: Uint8Array): boolean {
    const n = frameSize(frame);
    const room = this.stride * this.maxUnits;
    if (n < 8 || n > frame.length || n > room) {
      throw new RangeError(`tryPush: msg_size ${n} must be from 8 to min(frame length ${frame.length}, slot size ${room})`);
    }
    const slot = this.wasm.ringReserve(this.cur);
    if (slot === 0) return false;
    this.u8.set(frame.subarray(0, n), slot);
    this.wasm.ringCommit(this.cur);
    return true;
  }

  /** Free slots (units, in a packed ring) as last seen (a lower bound: the consumer may have freed more). */
  freeHint(): number {
    return this.wasm.produceFreeHint(this.cur);
  }
}

/** The consumer side: read slots in order, publish the consumer index. */
export class CursorConsumer extends CursorSideView {
  /** Byte address of the next slot to read, or -1 when the ring is empty (pending frees are published first). */
  peek(): number {
    const slot = this.wasm.ringPeek(this.cur);
    return slot === 0 ? -1 : slot;
  }

  /** Give the frame from peek() back to the producer (published with the batch, or by flush()). */
  release(): void {
    this.wasm.ringRelease(this.cur);
  }

  /**
   * Copy the next frame out and release its slot; null when the ring is empty. Copies msg_size
   * bytes, but never fewer than the 8-byte header nor more than the slot (a bad msg_size is the
   * caller's to reject). With `into`, the frame is copied into it and `into` itself is returned
   * (no allocation; its msg_size field gives the length); otherwise a new exact-size array.
   */
  tryPop(into?: Uint8Array): Uint8Array | null {
    const slot = this.wasm.ringPeek(this.cur);
    if (slot === 0) return null;
    const u8 = this.u8;
    const size = u8[slot + 6]! | (u8[slot + 7]! << 8);
    const units = this.maxUnits === 1 ? 1 : this.u32[this.at + CUR_PEEK_UNITS / 4]!;
    const n = Math.min(Math.max(size, 8), this.stride * units);
    let out: Uint8Array;
    if (into === undefined) out = u8.slice(slot, slot + n);
    else {
      if (into.length < n) throw new RangeError(`tryPop: buffer of ${into.length} bytes cannot hold a ${n}-byte frame`);
      into.set(u8.subarray(slot, slot + n));
      out = into;
    }
    this.wasm.ringRelease(this.cur);
    return out;
  }

  /** Frames (units, in a packed ring) readable as last seen (a lower bound). */
  availableHint(): number {
    return this.wasm.consumeAvailableHint(this.cur);
  }
}
