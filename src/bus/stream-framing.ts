// Stream bus framing (docs/ARCHITECTURE.md "Stream bus and gateway"): virtio-msg frames back to
// back on a byte stream, each framed by its own header's msg_size (docs/PROTOCOL.md §3) — no length prefix,
// no padding. A msg_size below the 8-byte header or above the negotiated maximum cannot be
// skipped (the next frame's start is unknown), so the reader stops for good and the connection
// is closed with that reason counted.
import { HDR_SIZE, HDR_MSG_SIZE, MSG_SIZE_LIMIT } from '../protocol/constants.js';

/** Why a stream was given up: the reason names of src/protocol/reasons.ts. */
export type FramingFault = 'MSG_SIZE_LT_HEADER' | 'MSG_SIZE_GT_BUS_MAX';

/**
 * Cuts a byte stream into frames. Chunks go in with push(); next() hands out whole frames in
 * order. A frame that lies inside one chunk is a view of that chunk (no copy); one that spans
 * chunks is assembled in a carry buffer. Either view is valid until the next call of next().
 */
export class FrameReader {
  private readonly chunks: Uint8Array[] = [];
  /** Read position in chunks[0]. */
  private at = 0;
  private buffered = 0;
  private readonly carry = new Uint8Array(MSG_SIZE_LIMIT);
  /** Set once a frame had an impossible msg_size; next() returns null from then on. */
  fault: FramingFault | undefined;
  /** The msg_size that caused `fault`. */
  faultSize = 0;

  /** @param maxSize largest msg_size accepted; may be changed between frames (after the handshake). */
  constructor(public maxSize: number) {}

  /** Bytes received and not yet handed out as frames. */
  get pending(): number {
    return this.buffered;
  }

  /** Is a whole frame (or a fault) ready for next()? */
  hasFrame(): boolean {
    if (this.fault !== undefined || this.buffered < HDR_SIZE) return false;
    const size = this.byteAt(HDR_MSG_SIZE) | (this.byteAt(HDR_MSG_SIZE + 1) << 8);
    return size < HDR_SIZE || size > this.maxSize || this.buffered >= size;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.fault !== undefined) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame (exactly msg_size bytes), or null when it has not fully arrived (or after a fault). */
  next(): Uint8Array | null {
    if (this.fault !== undefined || this.buffered < HDR_SIZE) return null;
    const size = this.byteAt(HDR_MSG_SIZE) | (this.byteAt(HDR_MSG_SIZE + 1) << 8);
    if (size < HDR_SIZE || size > this.maxSize) {
      this.fault = size < HDR_SIZE ? 'MSG_SIZE_LT_HEADER' : 'MSG_SIZE_GT_BUS_MAX';
      this.faultSize = size;
      this.chunks.length = 0;
      this.buffered = 0;
      return null;
    }
    if (this.buffered < size) return null;
    const head = this.chunks[0]!;
    let frame: Uint8Array;
    if (head.length - this.at >= size) {
      frame = head.subarray(this.at, this.at + size);
      this.at += size;
      if (this.at === head.length) this.dropHead();
    } else {
      frame = this.carry.subarray(0, size);
      let filled = 0;
      while (filled < size) {
        const c = this.chunks[0]!;
        const take = Math.min(size - filled, c.length - this.at);
        frame.set(c.subarray(this.at, this.at + take), filled);
        filled += take;
        this.at += take;
        if (this.at === c.length) this.dropHead();
      }
    }
    this.buffered -= size;
    return frame;
  }

  /** Every byte received and not yet handed out, in order (a copy), and the reader emptied: another reader takes the stream over. */
  takeBytes(): Uint8Array {
    const out = new Uint8Array(this.buffered);
    let filled = 0;
    for (const c of this.chunks) {
      const part = filled === 0 ? c.subarray(this.at) : c;
      out.set(part, filled);
      filled += part.length;
    }
    this.chunks.length = 0;
    this.at = 0;
    this.buffered = 0;
    return out;
  }

  private dropHead(): void {
    this.chunks.shift();
    this.at = 0;
  }

  /** Byte `i` of the unread data (i < buffered). */
  private byteAt(i: number): number {
    let k = 0;
    let off = this.at + i;
    while (off >= this.chunks[k]!.length) {
      off -= this.chunks[k]!.length;
      k++;
    }
    return this.chunks[k]![off]!;
  }
}

/** Bytes of one write slab: many frames per socket write; a new slab once one is used up. */
const SLAB_BYTES = 64 * 1024;

/**
 * Collects outgoing frames back to back so that a whole batch leaves in one socket write.
 * take() hands out the bytes appended since the last take() and never reuses them (the socket
 * may hold them until written); appending continues after them in the same slab, or in a fresh
 * one when the slab cannot hold another largest frame.
 */
export class FrameWriter {
  private slab = new Uint8Array(SLAB_BYTES);
  private start = 0;
  private end = 0;

  /** Frames appended since the last take(). */
  frames = 0;

  /** Bytes waiting for take(). */
  get length(): number {
    return this.end - this.start;
  }

  /**
   * Room for a frame of up to `size` bytes: the offset in `this.buffer` to write it at. Call
   * commit(size) once it is written.
   */
  reserve(size: number): number {
    if (this.slab.length - this.end < size) {
      const keep = this.slab.subarray(this.start, this.end);
      this.slab = new Uint8Array(Math.max(SLAB_BYTES, size + keep.length));
      this.slab.set(keep);
      this.start = 0;
      this.end = keep.length;
    }
    return this.end;
  }

  /** The slab a reserve() offset refers to (only until the next reserve()). */
  get buffer(): Uint8Array {
    return this.slab;
  }

  commit(size: number): void {
    this.end += size;
    this.frames++;
  }

  /** Append a whole frame. */
  append(frame: Uint8Array): void {
    const at = this.reserve(frame.length);
    this.slab.set(frame, at);
    this.commit(frame.length);
  }

  /** The bytes appended since the last take() (a view the caller may keep), or null when none. */
  take(): Uint8Array | null {
    if (this.end === this.start) return null;
    const out = this.slab.subarray(this.start, this.end);
    this.start = this.end;
    this.frames = 0;
    return out;
  }
}
