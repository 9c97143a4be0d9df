// Guest memory as virtio 1.2 §2.7 split queues address it (guest-physical): a window over a shared buffer, every access bounds-checked.
//
// The window is `length` bytes of a SharedArrayBuffer (or a shared WebAssembly.Memory's buffer)
// starting at byte `offset`, seen by the guest at address `base`. Addresses come from the other
// side of a trust boundary (descriptors, SET_VQUEUE), so translation never throws on a bad
// address: it returns a GuestAddressError the caller turns into a device error.

/** A guest-physical address: a number below 2^53, or a bigint as decoded from a u64 field. */
export type GuestAddress = number | bigint;

/** Plain data that rebuilds the same window in another worker (postMessage-able). */
export interface GuestMemoryDescriptor {
  buffer: SharedArrayBuffer;
  /** Byte offset of the window in `buffer`; a multiple of GUEST_MEMORY_ALIGN. */
  offset: number;
  /** Window size in bytes. */
  length: number;
  /** Guest-physical address of the window's first byte; a multiple of GUEST_MEMORY_ALIGN. */
  base: GuestAddress;
}

/**
 * `offset` and `base` are both multiples of the largest split-ring alignment (16, the descriptor
 * table's), so an address aligned in guest space is equally aligned in the buffer — which is what
 * lets the ring index fields be accessed with Atomics on a Uint16Array.
 */
export const GUEST_MEMORY_ALIGN = 16;

// virtio is little-endian; DataView calls say so explicitly, but Atomics on a Uint16Array use the
// host's byte order. Every platform Node runs on is little-endian; refuse to run silently wrong.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('vmsg-router virtqueues need a little-endian host (Atomics use host byte order)');
}

/** [gpa, gpa + length) is not inside the guest memory window. A value, not thrown on the device path. */
export class GuestAddressError extends Error {
  override readonly name = 'GuestAddressError';
  constructor(
    readonly gpa: GuestAddress,
    readonly length: number,
    windowBase: number,
    windowLength: number,
  ) {
    super(
      `guest range [0x${gpa.toString(16)}, +${length}) is outside guest memory ` +
        `[0x${windowBase.toString(16)}, 0x${(windowBase + windowLength).toString(16)})`,
    );
  }
}

export class GuestMemory {
  readonly buffer: SharedArrayBuffer;
  readonly offset: number;
  readonly length: number;
  readonly base: number;
  /** The window's bytes; index = gpa − base. */
  readonly bytes: Uint8Array;
  /** The window for little-endian field access; byte offset = gpa − base. */
  readonly data: DataView;
  /** The window as 16-bit words, only for the Atomics on ring index and event fields. */
  private readonly halfwords: Uint16Array;
  /** Next free window offset of the driver-side bump allocator (this thread's instance only). */
  private allocNext = 0;

  constructor(descriptor: GuestMemoryDescriptor) {
    const { buffer, offset, length } = descriptor;
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('guest memory buffer must be a SharedArrayBuffer (both sides of a virtqueue share it)');
    }
    if (!Number.isInteger(offset) || offset < 0 || offset % GUEST_MEMORY_ALIGN !== 0) {
      throw new RangeError(`guest memory offset must be a non-negative multiple of ${GUEST_MEMORY_ALIGN}, got ${offset}`);
    }
    if (!Number.isInteger(length) || length <= 0 || offset + length > buffer.byteLength) {
      throw new RangeError(`guest memory length must be positive and end inside the ${buffer.byteLength}-byte buffer, got offset ${offset} length ${length}`);
    }
    const base = Number(descriptor.base);
    if (!Number.isSafeInteger(base) || base < 0 || base % GUEST_MEMORY_ALIGN !== 0 || !Number.isSafeInteger(base + length)) {
      throw new RangeError(`guest memory base must be a multiple of ${GUEST_MEMORY_ALIGN} with base + length < 2^53, got ${descriptor.base}`);
    }
    this.buffer = buffer;
    this.offset = offset;
    this.length = length;
    this.base = base;
    this.bytes = new Uint8Array(buffer, offset, length);
    this.data = new DataView(buffer, offset, length);
    this.halfwords = new Uint16Array(buffer, offset, length >>> 1);
  }

  /** The plain data to hand this window to another worker. */
  describe(): GuestMemoryDescriptor {
    return { buffer: this.buffer, offset: this.offset, length: this.length, base: this.base };
  }

  /** One past the last guest-physical address of the window. */
  get end(): number {
    return this.base + this.length;
  }

  /** Window byte offset of [gpa, gpa + length), or the error when any byte lies outside. */
  offsetOf(gpa: GuestAddress, length: number): number | GuestAddressError {
    // Compare as numbers only once gpa is known to be a safe integer: a u64 near 2^64 must not
    // round to something that looks inside.
    const address = typeof gpa === 'bigint' ? (gpa <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(gpa) : -1) : gpa;
    if (
      !Number.isSafeInteger(address) || address < this.base ||
      !Number.isInteger(length) || length < 0 || address + length > this.end
    ) {
      return new GuestAddressError(gpa, length, this.base, this.length);
    }
    return address - this.base;
  }

  /** The bytes [gpa, gpa + length) (a view, not a copy), or the error when outside the window. */
  view(gpa: GuestAddress, length: number): Uint8Array | GuestAddressError {
    const at = this.offsetOf(gpa, length);
    return typeof at === 'number' ? this.bytes.subarray(at, at + length) : at;
  }

  /**
   * Reserve `bytes` of the window aligned to `align` (a power of two) and return the guest address.
   * For the driver that owns the window; the bytes are not cleared. Running out is a sizing
   * mistake of the caller, so it throws.
   */
  alloc(bytes: number, align: number): number {
    if (!Number.isInteger(bytes) || bytes <= 0) throw new RangeError(`alloc: bytes must be a positive integer, got ${bytes}`);
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
      throw new RangeError(`alloc: align must be a power of two, got ${align}`);
    }
    // base is a multiple of 16 but may not be of larger alignments: align the guest address.
    const at = Math.ceil((this.base + this.allocNext) / align) * align - this.base;
    if (at + bytes > this.length) {
      throw new RangeError(`guest memory exhausted: need ${bytes} bytes at window offset ${at}, window is ${this.length} bytes`);
    }
    this.allocNext = at + bytes;
    return this.base + at;
  }

  // JS Atomics are sequentially consistent: besides acquire/release they keep a store and a later
  // load in order, the full barrier virtio's notification suppression needs (publish idx, then
  // read the peer's flags or event index).

  /** Atomic load of the u16 at window offset `at` (even): reads the peer's index before the entries it covers. */
  loadAcquireU16(at: number): number {
    return Atomics.load(this.halfwords, at >>> 1);
  }

  /** Atomic store of the u16 at window offset `at` (even): publishes every plain write made before it. */
  storeReleaseU16(at: number, value: number): void {
    Atomics.store(this.halfwords, at >>> 1, value);
  }
}
