// A single-producer, single-consumer queue of variable-size records in shared memory, for the
// few frames a router shard and the main thread hand each other beside a stream link's fast path
// (src/router/stream-pumps.ts: bus frames, remapped device numbers, the control plane's own
// requests). Not a hot path: either side may be JS in any thread; nobody sleeps on the queue
// itself (the producer wakes the consumer through its own doorbell).
//   u32 @0   head: bytes consumed so far (consumer writes), free-running
//   u32 @64  tail: bytes produced so far (producer writes), free-running (own cache line)
//   @128     data, `cap` bytes (a power of two)
// Record at data + (pos % cap): u16 length of the payload, u16 kind, payload, padding to 4.
// A record never wraps: when it would not fit before the end, the producer writes a
// WRAP marker (length 0xffff) there and starts at the beginning.
const Q_HEAD = 0;
const Q_TAIL = 64;
const Q_DATA = 128;
const WRAP = 0xffff;

/** Bytes to allocate for a queue with `cap` data bytes. */
export function recordQueueBytes(cap: number): number {
  return Q_DATA + cap;
}

/** Data bytes of a queue that holds at least `records` records of up to `maxPayload` bytes. */
export function recordQueueCapacity(maxPayload: number, records: number): number {
  let cap = 1024;
  while (cap < records * (maxPayload + 8)) cap *= 2;
  return cap;
}

export class RecordQueue {
  private readonly head: number;
  private readonly tail: number;
  private readonly data: number;

  /** `at`: the queue's address (zeroed memory is an empty queue); `cap`: its data bytes, a power of two ≥ 1024. */
  constructor(private readonly u8: Uint8Array, private readonly u32: Uint32Array, readonly at: number, readonly cap: number) {
    if ((cap & (cap - 1)) !== 0 || cap < 1024) throw new RangeError(`record queue: capacity must be a power of two >= 1024, got ${cap}`);
    if (at % 64 !== 0) throw new RangeError(`record queue: address must be 64-aligned, got ${at}`);
    this.head = (at + Q_HEAD) >>> 2;
    this.tail = (at + Q_TAIL) >>> 2;
    this.data = at + Q_DATA;
  }

  get empty(): boolean {
    return Atomics.load(this.u32, this.head) === Atomics.load(this.u32, this.tail);
  }

  /** Producer: append bytes[off, off + len) as one record of `kind`; false when there is no room. */
  push(kind: number, bytes: Uint8Array, off: number, len: number): boolean {
    if (len >= WRAP) throw new RangeError(`record queue: payload of ${len} bytes is too large`);
    const { cap, u8 } = this;
    const tail = this.u32[this.tail]!;
    const used = (tail - Atomics.load(this.u32, this.head)) >>> 0;
    const rec = (4 + len + 3) & ~3;
    const at = tail & (cap - 1);
    const pad = at + rec > cap ? cap - at : 0;
    if (used + pad + rec > cap) return false;
    let pos = tail;
    if (pad !== 0) {
      u8[this.data + at] = WRAP & 0xff;
      u8[this.data + at + 1] = WRAP >>> 8;
      pos = (pos + pad) >>> 0;
    }
    const w = this.data + (pos & (cap - 1));
    u8[w] = len & 0xff;
    u8[w + 1] = len >>> 8;
    u8[w + 2] = kind & 0xff;
    u8[w + 3] = (kind >>> 8) & 0xff;
    // The shard's pumps hand over bytes of the same shared buffer: copied in place, no view made per record.
    if (bytes.buffer === u8.buffer && bytes.byteOffset === 0) u8.copyWithin(w + 4, off, off + len);
    else u8.set(bytes.subarray(off, off + len), w + 4);
    Atomics.store(this.u32, this.tail, (pos + rec) >>> 0);
    return true;
  }

  /**
   * Consumer: the next record as [kind, payload address, length] in `out`, or false when empty.
   * The payload stays valid until pop().
   */
  peek(out: Int32Array): boolean {
    const { cap, u8 } = this;
    let head = this.u32[this.head]!;
    const tail = Atomics.load(this.u32, this.tail);
    for (;;) {
      if (head === tail) return false;
      const r = this.data + (head & (cap - 1));
      const len = u8[r]! | (u8[r + 1]! << 8);
      if (len === WRAP) {
        head = (head + cap - (head & (cap - 1))) >>> 0;
        Atomics.store(this.u32, this.head, head);
        continue;
      }
      out[0] = u8[r + 2]! | (u8[r + 3]! << 8);
      out[1] = r + 4;
      out[2] = len;
      return true;
    }
  }

  /** Consumer: done with the record peek() returned. */
  pop(): void {
    const head = this.u32[this.head]!;
    const r = this.data + (head & (this.cap - 1));
    const len = this.u8[r]! | (this.u8[r + 1]! << 8);
    Atomics.store(this.u32, this.head, (head + ((4 + len + 3) & ~3)) >>> 0);
  }
}
