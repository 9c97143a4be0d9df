// A driver's raw frame channel over one side of a shared-memory window (vmamp or SPSC): what
// `vmsg bench --target` drives. The rings are driven from JavaScript (src/ring/cursor.ts); the
// own index is published on flush(), which also rings the doorbell socket once if frames went
// out. Without a socket, wait() polls the ring (busy-poll, yielding to the event loop now and
// then); with one it sleeps until the peer rings.
import type { RingConsumer, RingProducer } from '../ring/cursor.js';
import type { FrameChannel } from './bus-link.js';
import type { DoorbellSocket } from './doorbell-socket.js';

/** Polls between two yields to the event loop in busy-poll wait(). */
const POLLS_PER_YIELD = 4096;

export class ShmFrameChannel implements FrameChannel {
  private closed = false;

  constructor(
    private readonly tx: RingProducer,
    private readonly rx: RingConsumer,
    private readonly doorbell: DoorbellSocket | null,
    readonly maxMessageSize: number,
    private readonly release: () => Promise<void>,
  ) {}

  send(frame: Uint8Array): boolean {
    const size = frame.length >= 8 ? frame[6]! | (frame[7]! << 8) : 0;
    if (size < 8 || size > frame.length || size > this.maxMessageSize) {
      throw new RangeError(`frame msg_size ${size} must be from 8 to this bus's maximum of ${this.maxMessageSize} (and within the ${frame.length} bytes given)`);
    }
    return this.tx.tryPush(frame);
  }

  flush(): void {
    const sent = this.tx.pending !== 0;
    this.tx.flush();
    this.rx.flush();
    if (sent) this.doorbell?.ring();
  }

  recv(): Uint8Array | null {
    return this.rx.tryPop();
  }

  async wait(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.rx.peek() >= 0) return true;
      if (this.closed) return false;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      if (this.doorbell !== null) {
        if (this.doorbell.isEnded) return false;
        await this.doorbell.nextRing(left);
        continue;
      }
      for (let i = 0; i < POLLS_PER_YIELD; i++) if (this.rx.peek() >= 0) return true;
      await new Promise((r) => setImmediate(r));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tx.flush();
    this.rx.flush();
    await this.release();
  }
}
