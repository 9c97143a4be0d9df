// Fixed-size buffers in guest memory for a driver's requests: placed once, handed out and taken
// back, with waiters in FIFO order when all are in use (so a queue never gets more requests
// than it has room for, and nothing is allocated per request).
import type { GuestMemory } from '../virtqueue/guest-memory.js';

export interface GuestBuffer {
  /** Guest-physical address of the buffer. */
  gpa: number;
  /** The buffer's bytes (a view into guest memory). */
  bytes: Uint8Array;
}

export class GuestBufferPool {
  private readonly free: GuestBuffer[] = [];
  private readonly waiters: ((b: GuestBuffer) => void)[] = [];

  constructor(memory: GuestMemory, readonly count: number, readonly size: number, align = 64) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`buffer pool: count must be a positive integer, got ${count}`);
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`buffer pool: size must be a positive integer, got ${size}`);
    for (let i = 0; i < count; i++) {
      const gpa = memory.alloc(size, align);
      this.free.push({ gpa, bytes: memory.view(gpa, size) as Uint8Array });
    }
  }

  /** A free buffer, now or as soon as one is released. */
  acquire(): Promise<GuestBuffer> {
    const b = this.free.pop();
    if (b !== undefined) return Promise.resolve(b);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(b: GuestBuffer): void {
    const next = this.waiters.shift();
    if (next !== undefined) next(b);
    else this.free.push(b);
  }
}
