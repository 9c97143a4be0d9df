// One side of an SPSC ring from JavaScript (TS twin of assembly/ring/cursor.ts): the producer or
// consumer of our native ring, a vmamp window direction (docs/BUSES.md §2.1) or an SPSC v1 ring
// (§3.1). The layouts differ only in where the two indices live, their width and where the
// slots are, which a RingGeometry says. Private state (own index, cached peer index, steps not
// yet published) lives in JS fields; the ring memory is touched only to move frames and to
// load/store the two indices with Atomics (sequentially consistent, which gives each layout's
// release-on-publish / acquire-on-peer-load pairing), or, for a `relaxed` geometry whose peer
// cannot be asleep, with a plain store (src/wait/fence.ts says when that is sound).
//
// This file also holds the 64-byte in-memory cursor layout the WASM side uses (CUR_*), and
// writeCursor, which builds the same bytes as the AS cursorInit for a given geometry.
import { DOORBELL_BUSY_POLL, ringDoorbell } from '../wait/doorbell.js';
import { copyFromSlot, copyIntoSlot, frameMsgSize } from './frame-copy.js';
// Layout constants: written once in assembly/, generated into src/wasm/layout.ts.
import {
  CUR_SLOTS, CUR_PUB, CUR_PEER, CUR_CAP, CUR_STRIDE, CUR_LOCAL, CUR_CACHED, CUR_PENDING, CUR_BATCH,
  CUR_FLAGS, CUR_WAKE, CUR_FAULTS, CUR_DIRTY, CUR_CAPTURED, CUR_MAX_UNITS, CUR_PEEK_UNITS,
  CUR_SIZE, PACKED_UNIT, CURF_IDX16, CURF_RELAXED, CURSOR_PRODUCER, CURSOR_CONSUMER,
} from '../wasm/layout.js';
export {
  CUR_SLOTS, CUR_PUB, CUR_PEER, CUR_CAP, CUR_STRIDE, CUR_LOCAL, CUR_CACHED, CUR_PENDING, CUR_BATCH,
  CUR_FLAGS, CUR_WAKE, CUR_FAULTS, CUR_DIRTY, CUR_CAPTURED, CUR_MAX_UNITS, CUR_PEEK_UNITS,
  CUR_SIZE, PACKED_UNIT, CURF_IDX16, CURF_RELAXED, CURSOR_PRODUCER, CURSOR_CONSUMER,
};

// ---------------------------------------------------------------- the WASM cursor (64 bytes)
/** Slot size of a packed ring (assembly/ring/cursor.ts explains the layout). */

/** Units of a frame of `size` bytes in a packed ring of at most `maxUnits` per frame (at least 1). */
export function frameUnits(size: number, maxUnits: number): number {
  const u = (size + PACKED_UNIT - 1) >>> 4;
  return u === 0 ? 1 : u > maxUnits ? maxUnits : u;
}

// Which side a cursor drives (argument of the layouts' cursor-fill functions).
export type CursorSide = typeof CURSOR_PRODUCER | typeof CURSOR_CONSUMER;

/** Where one side's ring lives and how it publishes. All addresses are byte offsets in `buffer`. */
export interface RingGeometry {
  buffer: SharedArrayBuffer;
  /** Slot 0. */
  slotsAddr: number;
  /** The index this side publishes (producer index for a producer, consumer index for a consumer). */
  pubIndexAddr: number;
  /** The index the peer publishes. */
  peerIndexAddr: number;
  /** Slots, >= 2; any value (compare-and-wrap), capacity - 1 usable. */
  capacity: number;
  /** Bytes from one slot to the next (times maxUnits: the largest frame). */
  stride: number;
  /**
   * Most slots one frame takes. 1 (the default): a frame per slot. > 1: a packed ring, stride
   * PACKED_UNIT, a frame in ceil(msg_size / 16) consecutive slots, maxUnits - 1 slots of slack
   * after the last one (our native ring only).
   */
  maxUnits?: number;
  /** Indices are u16 (vmamp) instead of u32/i32. */
  idx16: boolean;
  /** The peer's doorbell word (i32), rung after each publish; 0 = the peer never sleeps. */
  wakeAddr: number;
  /** Publish the own index every `batch` steps (and always when the ring looks full/empty). */
  batch: number;
  /**
   * Publish with a plain store instead of a seq-cst one while the peer cannot be asleep (no
   * doorbell, or its doorbell says DOORBELL_BUSY_POLL): only for rings whose both sides are
   * threads of this process, and only when src/wait/fence.ts says relaxedPublish(). Default false.
   */
  relaxed?: boolean;
}

/** Throw a RangeError naming the first geometry field that cannot describe a ring in its buffer. */
export function checkGeometry(g: RingGeometry): void {
  const size = g.buffer.byteLength;
  const bad = (field: string, rule: string, value: unknown): never => {
    throw new RangeError(`ring geometry: ${field} ${rule}, got ${String(value)}`);
  };
  const maxCap = g.idx16 ? 0x10000 : 0x80000000; // indices must fit the index word
  if (!Number.isInteger(g.capacity) || g.capacity < 2 || g.capacity > maxCap) bad('capacity', `must be an integer from 2 to ${maxCap}`, g.capacity);
  if (!Number.isInteger(g.stride) || g.stride < 1) bad('stride', 'must be a positive integer', g.stride);
  const maxUnits = g.maxUnits ?? 1;
  if (!Number.isInteger(maxUnits) || maxUnits < 1) bad('maxUnits', 'must be an integer >= 1', g.maxUnits);
  if (maxUnits > 1) {
    if (g.stride !== PACKED_UNIT) bad('stride', `of a packed ring (maxUnits > 1) must be ${PACKED_UNIT}`, g.stride);
    if (g.idx16) bad('idx16', 'must be false for a packed ring', g.idx16);
    if (g.capacity <= maxUnits) bad('capacity', `of a packed ring must exceed maxUnits (${maxUnits})`, g.capacity);
  }
  const span = (g.capacity + maxUnits - 1) * g.stride;
  if (!Number.isInteger(g.slotsAddr) || g.slotsAddr < 0 || g.slotsAddr + span > size) {
    bad('slotsAddr', `must put (capacity + maxUnits - 1) * stride = ${span} bytes inside the ${size}-byte buffer`, g.slotsAddr);
  }
  const width = g.idx16 ? 2 : 4;
  for (const [field, at] of [['pubIndexAddr', g.pubIndexAddr], ['peerIndexAddr', g.peerIndexAddr]] as const) {
    if (!Number.isInteger(at) || at < 0 || at % width !== 0 || at + width > size) bad(field, `must be a ${width}-aligned offset inside the buffer`, at);
  }
  if (g.pubIndexAddr === g.peerIndexAddr) bad('peerIndexAddr', 'must differ from pubIndexAddr', g.peerIndexAddr);
  if (!Number.isInteger(g.wakeAddr) || g.wakeAddr < 0 || g.wakeAddr % 4 !== 0 || g.wakeAddr + 4 > size) {
    bad('wakeAddr', 'must be 0 or a 4-aligned offset inside the buffer', g.wakeAddr);
  }
  if (!Number.isInteger(g.batch) || g.batch < 1) bad('batch', 'must be an integer >= 1', g.batch);
  if (g.relaxed === true && g.idx16) bad('relaxed', 'needs u32 indices (idx16 false)', g.relaxed);
}

/** Write the 64-byte WASM cursor for `g` at `cur`, byte for byte what the AS cursorInit writes. */
export function writeCursor(g: RingGeometry, cur: number): void {
  checkGeometry(g);
  if (cur % 4 !== 0 || cur + CUR_SIZE > g.buffer.byteLength) throw new RangeError(`cursor address must be 4-aligned with 64 bytes inside the buffer, got ${cur}`);
  new Uint8Array(g.buffer, cur, CUR_SIZE).fill(0);
  const dv = new DataView(g.buffer, cur, CUR_SIZE);
  dv.setUint32(CUR_SLOTS, g.slotsAddr, true);
  dv.setUint32(CUR_PUB, g.pubIndexAddr, true);
  dv.setUint32(CUR_PEER, g.peerIndexAddr, true);
  dv.setUint32(CUR_CAP, g.capacity, true);
  dv.setUint32(CUR_STRIDE, g.stride, true);
  dv.setUint32(CUR_BATCH, g.batch, true);
  dv.setUint32(CUR_FLAGS, (g.idx16 ? CURF_IDX16 : 0) | (g.relaxed === true ? CURF_RELAXED : 0), true);
  dv.setUint32(CUR_WAKE, g.wakeAddr, true);
  dv.setUint32(CUR_MAX_UNITS, g.maxUnits ?? 1, true);
}

/** The geometry a WASM cursor at `cur` describes (to drive the same ring side from JS). */
export function cursorGeometry(buffer: SharedArrayBuffer, cur: number): RingGeometry {
  const dv = new DataView(buffer, cur, CUR_SIZE);
  return {
    buffer,
    slotsAddr: dv.getUint32(CUR_SLOTS, true),
    pubIndexAddr: dv.getUint32(CUR_PUB, true),
    peerIndexAddr: dv.getUint32(CUR_PEER, true),
    capacity: dv.getUint32(CUR_CAP, true),
    stride: dv.getUint32(CUR_STRIDE, true),
    idx16: (dv.getUint32(CUR_FLAGS, true) & CURF_IDX16) !== 0,
    wakeAddr: dv.getUint32(CUR_WAKE, true),
    batch: dv.getUint32(CUR_BATCH, true),
    relaxed: (dv.getUint32(CUR_FLAGS, true) & CURF_RELAXED) !== 0,
    maxUnits: Math.max(1, dv.getUint32(CUR_MAX_UNITS, true)),
  };
}

/** What producer and consumer share: index access, batched publication, fault counting. */
abstract class RingSide {
  readonly capacity: number;
  readonly stride: number;
  /** Most slots a frame takes (> 1: packed ring). */
  readonly maxUnits: number;
  readonly slotsAddr: number;
  readonly batch: number;
  /** Peer index loads that were >= capacity (hostile or torn peer); each counted as no progress. */
  faults = 0;
  protected readonly u8: Uint8Array;
  protected readonly i32: Int32Array;
  private readonly index: Uint16Array | Uint32Array;
  private readonly pubAt: number;
  private readonly peerAt: number;
  private readonly bellAt: number; // -1: the peer never sleeps
  private readonly relaxed: boolean;
  /** This side's index: the next slot it writes (producer) or reads (consumer). */
  protected local: number;
  /** The peer's index as last loaded; re-read only when the ring looks full (empty). */
  protected cached: number;
  /** Steps taken since the last publish. */
  protected pendingSteps = 0;

  constructor(g: RingGeometry) {
    checkGeometry(g);
    this.capacity = g.capacity;
    this.stride = g.stride;
    this.maxUnits = g.maxUnits ?? 1;
    this.slotsAddr = g.slotsAddr;
    this.batch = g.batch;
    this.u8 = new Uint8Array(g.buffer);
    this.i32 = new Int32Array(g.buffer);
    this.index = g.idx16 ? new Uint16Array(g.buffer) : new Uint32Array(g.buffer);
    const shift = g.idx16 ? 1 : 2;
    this.pubAt = g.pubIndexAddr >>> shift;
    this.peerAt = g.peerIndexAddr >>> shift;
    this.bellAt = g.wakeAddr === 0 ? -1 : g.wakeAddr >>> 2;
    this.relaxed = g.relaxed === true;
    // Start where this side's published index says: 0 on a fresh ring, and the right place
    // when taking over a side that another view (e.g. the WASM cursor) drove and flushed.
    const own = Atomics.load(this.index, this.pubAt);
    if (own >= g.capacity) throw new RangeError(`ring: own published index ${own} is not below capacity ${g.capacity}; initialise the ring first`);
    this.local = own;
    this.cached = this.staleCache();
  }

  /** A cached peer index that makes the first operation load the real one. */
  protected abstract staleCache(): number;

  /** Steps taken but not yet published. */
  get pending(): number {
    return this.pendingSteps;
  }

  /** Publish whatever this side has done but not yet published (and wake the peer). */
  flush(): void {
    if (this.pendingSteps !== 0) this.publish();
  }

  protected next(i: number): number {
    const n = i + 1;
    return n === this.capacity ? 0 : n; // compare-and-wrap: capacities need not be powers of two
  }

  /** Load the peer's index; -1 (and a fault) when it is out of range. */
  protected loadPeer(): number {
    const v = Atomics.load(this.index, this.peerAt);
    if (v >= this.capacity) {
      this.faults++;
      return -1;
    }
    return v;
  }

  /** Count one step of `units` slots; publish when the batch is full. */
  protected step(units = 1): void {
    const n = this.local + units;
    this.local = n >= this.capacity ? n - this.capacity : n; // compare-and-wrap
    if (++this.pendingSteps >= this.batch) this.publish();
  }

  /** Units of the frame at byte address `slot`, from its msg_size (packed rings). */
  protected unitsAt(slot: number): number {
    return frameUnits(this.u8[slot + 6]! | (this.u8[slot + 7]! << 8), this.maxUnits);
  }

  /** Store the own index, then ring the peer's doorbell if it sleeps (after the store: see src/wait/doorbell.ts). */
  private publish(): void {
    this.pendingSteps = 0;
    if (this.relaxed) {
      // The same rule as the WASM cursor's publishIndex (assembly/ring/cursor.ts).
      if (this.bellAt < 0) {
        this.index[this.pubAt] = this.local; // plain store: a release store on x86-64
        return;
      }
      if (Atomics.load(this.i32, this.bellAt) === DOORBELL_BUSY_POLL) {
        this.index[this.pubAt] = this.local;
        if (Atomics.load(this.i32, this.bellAt) === DOORBELL_BUSY_POLL) return;
      }
    }
    Atomics.store(this.index, this.pubAt, this.local);
    if (this.bellAt >= 0) ringDoorbell(this.i32, this.bellAt);
  }
}

/** The producer side: fill slots in order, publish the producer index. */
export class RingProducer extends RingSide {
  protected staleCache(): number {
    return this.next(this.local);
  }

  /** Byte address of the slot to fill next, or -1 when the ring is full (pending work is published first). */
  reserve(): number {
    if (this.maxUnits === 1) {
      const next = this.next(this.local);
      if (next === this.cached) {
        const peer = this.loadPeer();
        if (peer < 0 || next === peer) {
          this.flush();
          return -1;
        }
        this.cached = peer;
      }
    } else if (this.freeUnits(this.cached) < this.maxUnits) {
      // A packed ring reserves room for the largest frame (its size is known only at commit).
      const peer = this.loadPeer();
      if (peer < 0 || this.freeUnits(peer) < this.maxUnits) {
        this.flush();
        return -1;
      }
      this.cached = peer;
    }
    return this.slotsAddr + this.local * this.stride;
  }

  private freeUnits(peer: number): number {
    return peer > this.local ? peer - this.local - 1 : peer + this.capacity - this.local - 1;
  }

  /** Hand the frame written at reserve()'s address to the consumer (published with the batch, or by flush()). */
  commit(): void {
    this.step(this.maxUnits === 1 ? 1 : this.unitsAt(this.slotsAddr + this.local * this.stride));
  }

  /**
   * Copy `frame` (its first msg_size bytes) into the next slot and commit it. False when the
   * ring is full. Throws when msg_size is below the 8-byte header, beyond the buffer or the slot.
   */
  tryPush(frame: Uint8Array): boolean {
    const n = frameMsgSize(frame);
    const room = this.stride * this.maxUnits;
    if (n < 8 || n > frame.length || n > room) {
      throw new RangeError(`tryPush: msg_size ${n} must be from 8 to min(frame length ${frame.length}, slot size ${room})`);
    }
    const slot = this.reserve();
    if (slot < 0) return false;
    copyIntoSlot(frame, this.u8, this.i32, slot, n);
    this.step(this.maxUnits === 1 ? 1 : frameUnits(n, this.maxUnits));
    return true;
  }

  /** Free slots (units, in a packed ring) as last seen (a lower bound: the consumer may have freed more). */
  freeHint(): number {
    const peer = this.cached;
    const used = this.local >= peer ? this.local - peer : this.local + this.capacity - peer;
    return this.capacity - 1 - used;
  }
}

/** The consumer side: read slots in order, publish the consumer index. */
export class RingConsumer extends RingSide {
  /** Packed ring: units of the frame the last peek() returned. */
  private peekUnits = 1;

  protected staleCache(): number {
    return this.local;
  }

  /** Byte address of the next slot to read, or -1 when the ring is empty (pending frees are published first). */
  peek(): number {
    const local = this.local;
    if (local === this.cached) {
      const peer = this.loadPeer();
      if (peer < 0 || local === peer) {
        this.flush();
        return -1;
      }
      this.cached = peer;
    }
    const slot = this.slotsAddr + local * this.stride;
    if (this.maxUnits > 1) {
      // As the WASM cursor: sized once here, never past what the producer published.
      const avail = this.cached > local ? this.cached - local : this.cached + this.capacity - local;
      this.peekUnits = Math.min(this.unitsAt(slot), avail);
    }
    return slot;
  }

  /** Give the frame from peek() back to the producer (published with the batch, or by flush()). */
  release(): void {
    this.step(this.maxUnits === 1 ? 1 : this.peekUnits);
  }

  /**
   * Copy the next frame out and release its slot; null when the ring is empty. Copies msg_size
   * bytes, but never fewer than the 8-byte header nor more than the slot (a bad msg_size is the
   * caller's to reject). With `into`, the frame is copied into it and `into` itself is returned
   * (no allocation; its msg_size field gives the length); otherwise a new exact-size array.
   */
  tryPop(into?: Uint8Array): Uint8Array | null {
    const slot = this.peek();
    if (slot < 0) return null;
    const u8 = this.u8;
    const size = u8[slot + 6]! | (u8[slot + 7]! << 8);
    const n = Math.min(Math.max(size, 8), this.stride * (this.maxUnits === 1 ? 1 : this.peekUnits));
    const dst = into ?? new Uint8Array(n);
    if (dst.length < n) throw new RangeError(`tryPop: buffer of ${dst.length} bytes cannot hold a ${n}-byte frame`);
    copyFromSlot(u8, this.i32, slot, dst, n);
    this.release();
    return dst;
  }

  /** Frames (units, in a packed ring) readable as last seen (a lower bound). */
  availableHint(): number {
    const peer = this.cached;
    return peer >= this.local ? peer - this.local : peer + this.capacity - this.local;
  }
}
