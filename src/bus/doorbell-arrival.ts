// A window's doorbell socket as something that arrives whenever the peer gets to it, never as a
// step the bring-up waits for. Independent peers connect in every order: a driver may connect
// before the layout exists, after its queue head is READY, or never (it polls); a device side
// may accept before it builds the window, after its bring-up, or never. So:
//   device side (we listen): listening starts before the window exists; the first connection,
//                whenever it comes, is the doorbell;
//   driver side (we connect): connecting starts before we even look for the window and is
//                retried (backing off) until it succeeds or the link closes.
// Until the socket is there the link polls the rings (src/bus/shm-link.ts, shm-channel.ts);
// once it is, the link adopts it (onArrival) and sleeps on it.
import { DoorbellSocket, type DoorbellListener } from './doorbell-socket.js';

/** First retry of a refused connect, doubled per refusal up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 5;
/** A peer that connects late is adopted within this; one that never listens costs 5 attempts a second. */
const RETRY_MAX_MS = 200;
/** Refusals that only mean "nobody listens (yet)" or "listener busy": retried without a word. */
const NOT_YET = new Set(['ENOENT', 'ECONNREFUSED', 'EAGAIN']);

export class DoorbellArrival {
  private sock: DoorbellSocket | null = null;
  private arrivalListener: ((s: DoorbellSocket) => void) | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;

  private constructor(readonly path: string, private readonly listener: DoorbellListener | null) {}

  /** The device side: listen at `path` now (owner-only); the first connection is the doorbell. */
  static async listen(path: string): Promise<DoorbellArrival> {
    const listener = await DoorbellSocket.listen(path);
    const a = new DoorbellArrival(path, listener);
    listener.onPeer((s) => a.arrive(s));
    return a;
  }

  /**
   * The driver side: start connecting to `path` in the background. A refusal other than "nobody
   * listens yet" (permissions, not a socket) is told once through `log`, and retried all the same.
   */
  static connect(path: string, log: (line: string) => void = () => {}): DoorbellArrival {
    const a = new DoorbellArrival(path, null);
    a.attempt(RETRY_FIRST_MS, log, new Set());
    return a;
  }

  private attempt(delay: number, log: (line: string) => void, told: Set<string>): void {
    DoorbellSocket.tryConnect(this.path).then(
      (s) => {
        if (this.closed) void s.close();
        else this.arrive(s);
      },
      (e: NodeJS.ErrnoException) => {
        if (this.closed) return;
        const code = e.code ?? e.message;
        if (!NOT_YET.has(code) && !told.has(code)) {
          told.add(code);
          log(`doorbell socket ${this.path}: cannot connect (${e.message}); retrying, polling the window meanwhile`);
        }
        this.timer = setTimeout(() => this.attempt(Math.min(delay * 2, RETRY_MAX_MS), log, told), delay);
        this.timer.unref(); // a peer that never listens must not keep the process alive
      },
    );
  }

  private arrive(s: DoorbellSocket): void {
    if (this.closed) {
      void s.close();
      return;
    }
    this.sock = s;
    this.arrivalListener?.(s);
  }

  /** The connected socket, or null while it has not arrived. */
  get socket(): DoorbellSocket | null {
    return this.sock;
  }

  /** Call `l` once the socket is connected: at once if it is already. One listener. */
  onArrival(l: (s: DoorbellSocket) => void): void {
    this.arrivalListener = l;
    if (this.sock !== null) l(this.sock);
  }

  /** Stop waiting, close the socket and the listener (removing its file). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.arrivalListener = null;
    if (this.timer !== null) clearTimeout(this.timer);
    // An accepted socket owns the listener (closing it closes both).
    if (this.sock !== null) await this.sock.close();
    else await this.listener?.close();
  }
}
