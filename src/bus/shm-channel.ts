// A driver's raw frame channel over one side of a shared-memory window (vmamp or SPSC): what
// `vmsg bench --target` drives. The rings are driven by the WASM cursor (src/ring/cursor.ts); the
// own index is published on flush(), which also rings the doorbell socket once if frames went
// out. Without a socket (none configured, or not connected yet), wait() polls the ring with the
// nap strategy (src/wait/idle-strategy.ts: a few thousand looks, a ~50 µs nap, a turn of the
// event loop); with one it sleeps until the peer rings.
// A socket that connects later is used from then on, announced with one byte so the peer
// looks at what we published while it could not be rung.
import type { CursorConsumer, CursorProducer } from '../ring/cursor.js';
import type { SharedMemory } from '../memory/shared-memory.js';
import type { FrameChannel } from './bus-link.js';
import type { DoorbellSocket } from './doorbell-socket.js';
import type { DoorbellArrival } from './doorbell-arrival.js';
import { Doorbell } from '../wait/doorbell.js';
import { Nap } from '../wait/idle-strategy.js';
import { frameSize } from '../protocol/header.js';

/** Looks between two naps while polling. */
const POLLS_PER_NAP = 4096;
/**
 * Nap this long between rounds of looks: a spinning JS thread cannot yield its CPU otherwise,
 * and on a machine with fewer free cores than spinners the peer it waits for may be the one
 * it keeps off the CPU.
 */
const POLL_NAP_MS = 0.05;

/**
 * What the load engine (src/driver/frame-engine.ts) needs to drive a channel's rings itself,
 * in WASM over the mapped window: the memory, the channel's own WASM cursors (flushed first;
 * the engine steps them and the channel goes on from where it left them), the doorbell socket
 * as it is now.
 */
export interface ChannelRings {
  readonly mem: SharedMemory;
  /** Address in `mem` of the producer cursor of the ring towards the peer. */
  readonly txCursor: number;
  /** Address in `mem` of the consumer cursor of the ring from the peer. */
  readonly rxCursor: number;
  /** The connected doorbell socket, or null (none configured, or not connected yet: poll). */
  doorbell(): DoorbellSocket | null;
  /** The engine is done and published everything: the JS sides continue from there. */
  resume(): void;
  /** True when the peer wakes the channel's wait() without a doorbell socket (in-process links). */
  readonly peerWakes?: boolean;
}

export class ShmFrameChannel implements FrameChannel {
  private closed = false;
  private readonly polling = new Nap(POLLS_PER_NAP, POLL_NAP_MS);
  /** Nobody rings it: sleeping on it is the nap. */
  private readonly pillow = Doorbell.private();
  /** A frame to read, the doorbell socket arrived, or closed: stop polling. */
  private readonly pollLook = (): boolean => this.rx.peek() >= 0 || this.closed || this.doorbell !== null;

  constructor(
    private readonly tx: CursorProducer,
    private readonly rx: CursorConsumer,
    private readonly arrival: DoorbellArrival | null,
    readonly maxMessageSize: number,
    private readonly release: () => Promise<void>,
  ) {
    arrival?.onArrival((s) => s.ring());
  }

  /** Hand the rings to the load engine (see ChannelRings). */
  rings(): ChannelRings {
    this.tx.flush();
    this.rx.flush();
    return {
      mem: this.tx.mem,
      txCursor: this.tx.cur,
      rxCursor: this.rx.cur,
      doorbell: () => this.doorbell,
      // The cursors are the channel's own: it continues where the engine left them.
      resume: () => {},
    };
  }

  /** The connected doorbell socket, or null (none configured, or not connected yet: poll). */
  private get doorbell(): DoorbellSocket | null {
    return this.arrival?.socket ?? null;
  }

  send(frame: Uint8Array): boolean {
    const size = frameSize(frame);
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
      await this.polling.waitForAsync(this.pillow, this.pollLook, left);
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
