// Moves frames between a shared-memory window (the peer's two rings, through the link's own
// cursors) and an in-process router endpoint, on the main thread. A window link with a bus model
// needs it: the model's adapter (src/bus/model/model-link.ts) gives the router an in-process link
// instead of letting the shard read the window in place, so every frame is copied once each way
// (the throughput a modelled link gives up).
// Wake-ups: peer → router on the doorbell socket's rings, or, without one (none configured or not
// connected yet), by polling the window with naps as a frame channel does; router → peer on the
// endpoint's doorbell (the model's adapter rings it when it publishes or frees room). A frame
// that finds the other side full waits in the bridge: for the endpoint until its doorbell rings,
// for the window until the peer took something (looked at again every RETRY_MS, since a peer
// need not ring when it consumes).
import type { EndpointPort } from '../endpoint/port.js';
import type { CursorConsumer, CursorProducer } from '../ring/cursor.js';
import type { DoorbellSocket } from './doorbell-socket.js';
import { HDR_MSG_SIZE, HDR_SIZE } from '../protocol/constants.js';
import { Doorbell } from '../wait/doorbell.js';
import { Nap } from '../wait/idle-strategy.js';

/** Frames per direction per pass before the event loop gets a turn. */
const BUDGET = 256;
/** How soon a full window is looked at again. */
const RETRY_MS = 1;
/** Polling without a doorbell socket: looks between naps, and the nap (as src/bus/shm-channel.ts). */
const POLLS_PER_NAP = 4096;
const POLL_NAP_MS = 0.05;

export interface WindowBridgeCounters {
  /** Frames moved each way. */
  fromPeer: number;
  toPeer: number;
  /** Frames from the peer larger than the modelled link carries: dropped (the bus could not carry them). */
  tooLarge: number;
}

export class WindowBridge {
  readonly counters: WindowBridgeCounters = { fromPeer: 0, toPeer: 0, tooLarge: 0 };
  private stopped = false;
  private scheduled = false;
  private armed = false;
  private retry: NodeJS.Timeout | null = null;
  private socket: DoorbellSocket | null = null;
  /** A frame from the peer that found the endpoint ring full / from the router that found the window full. */
  private towardRouter: Uint8Array | null = null;
  private towardPeer: Uint8Array | null = null;
  private readonly u8: Uint8Array;
  private readonly polling = new Nap(POLLS_PER_NAP, POLL_NAP_MS);
  /** Nobody rings it: sleeping on it is the nap. */
  private readonly pillow = Doorbell.private();

  constructor(
    private readonly port: EndpointPort,
    /** The link's cursors over the window: what the peer sends, and toward the peer. */
    private readonly rx: CursorConsumer,
    private readonly tx: CursorProducer,
  ) {
    this.u8 = new Uint8Array(port.link.memory.buffer);
    void this.poll();
    this.schedule();
  }

  /** The doorbell socket connected: its rings wake us, and we ring it after publishing. Rung once now, for what we published before. */
  useSocket(s: DoorbellSocket): void {
    if (this.stopped) return;
    this.socket = s;
    s.onRing(() => this.schedule());
    s.ring();
    this.schedule();
  }

  /** Stop moving frames; what is in the rings stays there. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.socket?.onRing(null);
    if (this.retry !== null) clearTimeout(this.retry);
    this.port.bell.wake(); // settles our sleepAsync
    this.pillow.wake();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.service();
    });
  }

  /** Without a doorbell socket, look at the window until one connects or we stop. */
  private async poll(): Promise<void> {
    const look = (): boolean => this.stopped || this.socket !== null || (this.towardRouter === null && this.rx.peek() >= 0);
    while (!this.stopped && this.socket === null) {
      if (await this.polling.waitForAsync(this.pillow, look, 1000)) {
        if (this.stopped || this.socket !== null) return;
        this.service();
        // A frame stalled toward the router: the endpoint's doorbell resumes it, not polling.
        while (this.towardRouter !== null && !this.stopped) await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private service(): void {
    if (this.stopped) return;
    const a = this.peerToRouter();
    const b = this.routerToPeer();
    if (a || b) this.schedule();
    this.arm();
  }

  /** Sleep on the endpoint's doorbell until the router has frames for the peer or room for a stalled frame. */
  private arm(): void {
    if (this.armed || this.stopped) return;
    this.armed = true;
    const look = (): boolean => (this.towardPeer === null && this.port.peek() !== 0) || (this.towardRouter !== null && this.port.reserve() !== 0);
    void this.port.bell.sleepAsync(look, 1000).then(() => {
      this.armed = false;
      this.service();
    });
  }

  private toRouter(f: Uint8Array): boolean {
    if (!this.port.send(f)) {
      this.towardRouter = f;
      return false;
    }
    this.counters.fromPeer++;
    return true;
  }

  /** Peer → router. True when more may be waiting. */
  private peerToRouter(): boolean {
    const max = this.port.link.maxMessageSize;
    let n = 0;
    if (this.towardRouter !== null) {
      const f = this.towardRouter;
      this.towardRouter = null;
      if (!this.toRouter(f)) return false;
      n++;
    }
    for (; n < BUDGET; n++) {
      const f = this.rx.tryPop();
      if (f === null) break;
      const size = f[HDR_MSG_SIZE]! | (f[HDR_MSG_SIZE + 1]! << 8);
      if (size > max) {
        this.counters.tooLarge++;
        continue;
      }
      if (!this.toRouter(size < HDR_SIZE ? f : f.subarray(0, size))) break;
    }
    this.rx.flush();
    if (n > 0) this.port.flush();
    return n === BUDGET;
  }

  /** Router → peer. True when more may be waiting. */
  private routerToPeer(): boolean {
    const { port, tx, u8 } = this;
    let n = 0;
    let full = false;
    for (; n < BUDGET; n++) {
      let f = this.towardPeer;
      if (f === null) {
        const at = port.peek();
        if (at === 0) break;
        const size = u8[at + HDR_MSG_SIZE]! | (u8[at + HDR_MSG_SIZE + 1]! << 8);
        f = u8.slice(at, at + Math.max(HDR_SIZE, size));
        port.release();
      }
      if (!tx.tryPush(f)) {
        this.towardPeer = f;
        full = true;
        break;
      }
      this.towardPeer = null;
      this.counters.toPeer++;
    }
    port.flushReceived();
    if (n > 0) {
      tx.flush();
      this.socket?.ring();
    }
    if (full && this.retry === null) {
      this.retry = setTimeout(() => {
        this.retry = null;
        this.service();
      }, RETRY_MS);
    }
    return n === BUDGET;
  }
}
