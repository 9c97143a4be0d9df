// Doorbells of the shared-memory buses (README "External buses", sock=): an optional Unix stream socket per
// window. The device side listens, the driver side connects, in either order relative to the
// window's own bring-up (src/bus/doorbell-arrival.ts). After publishing frames a side
// writes ONE byte; a woken side drains every pending byte, then the ring. The bytes carry no
// meaning: they only wake the peer, so many publishes may share one byte.
//
// The router side is bridged to the WASM hot path without a syscall per frame (bridgeWakeups):
// the router's producer cursor over the window rings an i32 "proxy" word in the shared memory
// (CUR_WAKE) which this thread keeps at ASLEEP and relays (Doorbell.relay, src/wait/doorbell.ts):
// the word is re-armed FIRST and only then the byte written, so a frame published after the
// re-arm rings again and one published before it is visible to the peer when our byte arrives
// (no lost wake-up). Publishes that land while the wake-up is still on its way do not notify
// again: a burst of frames costs one byte.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { closeSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { listenUnix } from '../native/mmap.js';
import { unixSocketListening } from './unix-socket-table.js';
import { Doorbell } from '../wait/doorbell.js';

const ONE_BYTE = Buffer.of(1);

export class DoorbellSocket {
  private ringListener: (() => void) | null = null;
  private waiter: (() => void) | null = null;
  private rang = false;
  private ended = false;
  private endWhy = '';
  private readonly endListeners: ((why: string) => void)[] = [];
  /** Bytes written (one per wake-up of the peer) and read bursts handled. */
  rung = 0;
  heard = 0;

  private constructor(private readonly socket: Socket, private readonly server: BoundServer | null, readonly path: string) {
    socket.setNoDelay?.(true);
    socket.on('data', () => {
      // Every byte the kernel had is in this chunk: one wake-up for all of them.
      this.heard++;
      this.rang = true;
      this.ringListener?.();
      const w = this.waiter;
      this.waiter = null;
      w?.();
    });
    const end = (why: string): void => {
      if (this.ended) return;
      this.ended = true;
      this.endWhy = why;
      const w = this.waiter;
      this.waiter = null;
      w?.();
      for (const l of this.endListeners) l(why);
    };
    socket.on('end', () => end('the peer closed the doorbell socket'));
    socket.on('close', () => end('the doorbell socket closed'));
    // A write that meets a peer already gone (EPIPE, ECONNRESET) says what 'end' would have
    // said a moment later: which one comes first is a race with our next ring.
    socket.on('error', (e: NodeJS.ErrnoException) => end(e.code === 'EPIPE' || e.code === 'ECONNRESET' ? 'the peer closed the doorbell socket' : `doorbell socket error: ${e.message}`));
  }

  /**
   * The device side: listen at `path` (a stale socket file is replaced). The first connection,
   * whenever it comes, is the peer (DoorbellListener.onPeer).
   */
  static async listen(path: string): Promise<DoorbellListener> {
    // Only a socket is replaced: a file of the user's at a mistyped path must not be deleted
    // (listening then fails with EADDRINUSE, naming the path).
    if (statSync(path, { throwIfNoEntry: false })?.isSocket() === true) {
      // A live one is another program's (a router started at the same moment on another window
      // with the same sock=, past its start-up check): never replaced.
      if (unixSocketListening(path) !== null) throw new Error(`doorbell socket ${path}: cannot listen (a running program listens there; stop it or choose another path)`);
      try {
        unlinkSync(path);
      } catch {
        // gone meanwhile
      }
    }
    // Bound by the addon and handed over as a descriptor: closing the server then leaves the
    // path to us, and we remove it only while it is still the socket we bound (ino).
    let fd: number;
    try {
      fd = listenUnix(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      throw new Error(`doorbell socket ${path}: cannot listen (${code === 'EADDRINUSE' ? 'something that is not a socket is there' : (e as Error).message})`);
    }
    const ino = lstatSync(path, { throwIfNoEntry: false })?.ino ?? -1;
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e) => reject(new Error(`doorbell socket ${path}: cannot listen (${e.message})`)));
        server.listen({ fd }, () => resolve());
      });
    } catch (e) {
      if (!server.listening) closeSync(fd);
      unlinkIfOurs(path, ino);
      throw e;
    }
    const listener = { server, path, ino };
    return new DoorbellListener(listener, (socket) => new DoorbellSocket(socket, listener, path));
  }

  /**
   * The driver side: one attempt to connect to `path`. Rejects with the system error (its
   * `code`: ENOENT / ECONNREFUSED while nobody listens yet); src/bus/doorbell-arrival.ts retries.
   */
  static async tryConnect(path: string): Promise<DoorbellSocket> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    socket.removeAllListeners('error');
    return new DoorbellSocket(socket, null, path);
  }

  /**
   * The socket's file descriptor, for a thread that waits and rings with system calls itself
   * (src/native/bell.ts, while hold(true)); -1 when Node does not expose one.
   */
  get fd(): number {
    const fd = (this.socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    return typeof fd === 'number' ? fd : -1;
  }

  /** Stop reading in the event loop while another reader drains the socket (true), or read again (false). */
  hold(on: boolean): void {
    if (on) this.socket.pause();
    else this.socket.resume();
  }

  /**
   * Hand reading over to another thread for good (a router shard polls the socket itself:
   * src/router/socket-bells.ts): no more 'data' here, and no byte read here that the other
   * reader should have seen. Pausing the stream alone is not enough (Node keeps reading up to
   * its high-water mark), so the handle stops reading too. A peer closing the socket is then
   * not seen here either: the other reader reports it. False when the handle cannot stop
   * (keep reading here).
   */
  stopReading(): boolean {
    const handle = (this.socket as unknown as { _handle?: { readStop?: () => number; reading?: boolean } })._handle;
    if (handle?.readStop === undefined) return false;
    this.socket.pause();
    handle.reading = false;
    if (handle.readStop() === 0) return true;
    this.socket.resume();
    return false;
  }

  /** Wake the peer: one byte. */
  ring(): void {
    if (this.ended) return;
    this.rung++;
    this.socket.write(ONE_BYTE);
  }

  /** Call `l` whenever the peer rings (once per burst of bytes). */
  onRing(l: (() => void) | null): void {
    this.ringListener = l;
  }

  /** Call `l` once when the socket ends (peer closed, error, or close()); at once if it has already. */
  onEnd(l: (why: string) => void): void {
    if (this.ended) l(this.endWhy || 'the doorbell socket closed');
    else this.endListeners.push(l);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Resolves true when the peer rang since the last call (or rings within `ms`), false otherwise. */
  async nextRing(ms: number): Promise<boolean> {
    if (this.rang || this.ended) {
      const r = this.rang;
      this.rang = false;
      return r;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve();
      }, ms);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const r = this.rang;
    this.rang = false;
    return r;
  }

  /**
   * Bridge the WASM side: keep the i32 word at byte `wordAddr` of `i32`'s buffer armed
   * (ASLEEP) and write one byte each time a producer cursor flips it to AWAKE. Returns stop().
   */
  bridgeWakeups(i32: Int32Array, wordAddr: number): () => void {
    const stop = new Doorbell(i32.buffer as SharedArrayBuffer, wordAddr).relay(() => {
      if (!this.ended) this.ring();
    });
    this.onEnd(() => stop());
    return stop;
  }

  /** Close the socket (and the listener, removing its file). */
  async close(): Promise<void> {
    this.ended = true;
    this.socket.destroy();
    if (this.server !== null) await closeServer(this.server);
  }
}

/** A listening doorbell socket waiting for its one peer. */
export class DoorbellListener {
  readonly path: string;

  constructor(private readonly bound: BoundServer, private readonly wrap: (s: Socket) => DoorbellSocket) {
    this.path = bound.path;
  }

  /**
   * Hand the first connection to `l` whenever it arrives (later ones are refused: one peer per
   * window). Nothing waits for it: the window's handshake goes on meanwhile.
   */
  onPeer(l: (socket: DoorbellSocket) => void): void {
    const { server } = this.bound;
    server.once('connection', (s) => {
      server.on('connection', (later) => later.destroy());
      l(this.wrap(s));
    });
  }

  /** Stop listening and remove the socket file (when no peer was accepted). */
  async close(): Promise<void> {
    await closeServer(this.bound);
  }
}

/** A listening server and the socket file it bound (its inode, to know the path is still ours). */
interface BoundServer {
  server: Server;
  path: string;
  ino: number;
}

async function closeServer(b: BoundServer): Promise<void> {
  await new Promise<void>((r) => b.server.close(() => r()));
  unlinkIfOurs(b.path, b.ino);
}

/** Remove the socket file at `path` only if it is still the one we bound (another router may have put its own there since). */
function unlinkIfOurs(path: string, ino: number): void {
  if (ino < 0 || lstatSync(path, { throwIfNoEntry: false })?.ino !== ino) return;
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
