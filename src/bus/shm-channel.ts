// A driver's raw frame channel over one side of a shared-memory window (vmamp or SPSC): what
// `vmsg bench --target` drives. The rings are driven from JavaScript (src/ring/cursor.ts); the
// own index is published on flush(), which also rings the doorbell socket once if frames went
// out. Without a socket (none configured, or not connected yet), wait() polls the ring
// (busy-poll, yielding to the event loop now and then); with one it sleeps until the peer rings.
// A socket that connects later is used from then on, announced with one byte so the peer
// looks at what we published while it could not be rung.
import { RingConsumer, RingProducer, type RingGeometry } from '../ring/cursor.js';
import type { SharedMemory } from '../memory/shared-memory.js';
import type { FrameChannel } from './bus-link.js';
import type { DoorbellSocket } from './doorbell-socket.js';
import type { DoorbellArrival } from './doorbell-arrival.js';

/** Polls between two yields to the event loop in busy-poll wait(). */
const POLLS_PER_YIELD = 4096;
/**
 * After that many empty polls, nap this long before the next round (an Atomics.wait nobody
 * notifies): a spinning JS thread cannot yield its CPU otherwise, and on a machine with fewer
 * free cores than spinners the peer it waits for may be the one it keeps off the CPU.
 */
const POLL_NAP_MS = 0.05;
const napWord = new Int32Array(new SharedArrayBuffer(4));

/**
 * What the load engine (src/driver/frame-engine.ts) needs to drive a channel's rings itself,
 * in WASM over the mapped window: the memory, both ring geometries (the JS sides are flushed
 * first, so the published indices are where to start), the doorbell socket as it is now.
 */
export interface ChannelRings {
  readonly mem: SharedMemory;
  readonly tx: RingGeometry;
  readonly rx: RingGeometry;
  /** The connected doorbell socket, or null (none configured, or not connected yet: poll). */
  doorbell(): DoorbellSocket | null;
  /** The engine is done and published everything: the JS sides continue from there. */
  resume(): void;
}

export class ShmFrameChannel implements FrameChannel {
  private closed = false;
  private tx: RingProducer;
  private rx: RingConsumer;

  constructor(
    private readonly mem: SharedMemory,
    private readonly txGeometry: RingGeometry,
    private readonly rxGeometry: RingGeometry,
    private readonly arrival: DoorbellArrival | null,
    readonly maxMessageSize: number,
    private readonly release: () => Promise<void>,
  ) {
    this.tx = new RingProducer(txGeometry);
    this.rx = new RingConsumer(rxGeometry);
    arrival?.onArrival((s) => s.ring());
  }

  /** Hand the rings to the load engine (see ChannelRings). */
  rings(): ChannelRings {
    this.tx.flush();
    this.rx.flush();
    return {
      mem: this.mem,
      tx: this.txGeometry,
      rx: this.rxGeometry,
      doorbell: () => this.doorbell,
      resume: () => {
        // Fresh JS sides start at the indices the engine published.
        this.tx = new RingProducer(this.txGeometry);
        this.rx = new RingConsumer(this.rxGeometry);
      },
    };
  }

  /** The connected doorbell socket, or null (none configured, or not connected yet: poll). */
  private get doorbell(): DoorbellSocket | null {
    return this.arrival?.socket ?? null;
  }

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
      const bell = this.doorbell;
      if (bell !== null) {
        if (bell.isEnded) return false;
        await bell.nextRing(left);
        continue;
      }
      for (let i = 0; i < POLLS_PER_YIELD; i++) if (this.rx.peek() >= 0) return true;
      Atomics.wait(napWord, 0, 0, POLL_NAP_MS);
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
