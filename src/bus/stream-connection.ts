// One stream bus connection (docs/ARCHITECTURE.md "Stream bus and gateway"): a connected socket
// (Unix, TCP or TLS) after the STREAM_HELLO exchange, with its frame reader and batching writer.
// What a link does with the frames (bridge to a router endpoint, gateway, raw channel) is not
// this file's business.
import type { Socket } from 'node:net';
import { FrameReader, FrameWriter, type FramingFault } from './stream-framing.js';
import {
  encodeHello, decodeHello, checkHello, negotiatedMax, statusName, HelloStatus, HELLO_MAX_SIZE,
  type Hello, type HelloStatusCode,
} from './stream-hello.js';

/** Counters of a link, summed over its connections (a link may reconnect many times). */
export interface StreamCounters {
  /** Handshakes completed. */
  connects: number;
  /** Handshakes that failed (refused by either side, no hello in time, socket lost meanwhile). */
  handshakeFailures: number;
  /** Established connections that ended. */
  disconnects: number;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Socket writes: framesOut / writes is the batching factor. */
  writes: number;
  /** Connections whose frames the router shard moved itself (plain sockets: src/bus/shard-bridge.ts); the others went through the main thread. */
  shardConnections: number;
  /** Frames dropped or connections closed, by reason (reason names of src/protocol/reasons.ts where one fits). */
  drops: Record<string, number>;
}

export function newCounters(): StreamCounters {
  return { connects: 0, handshakeFailures: 0, disconnects: 0, framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, writes: 0, shardConnections: 0, drops: {} };
}

/** Counts kept elsewhere (a shard serving the connection) that fold into a counters object when it is read. */
const counterSources = new WeakMap<StreamCounters, Set<() => void>>();

/** `fold` adds what it counted since its last call to `c`; syncCounters(c) calls it. Returns the way to stop. */
export function addCounterSource(c: StreamCounters, fold: () => void): () => void {
  let set = counterSources.get(c);
  if (set === undefined) counterSources.set(c, (set = new Set()));
  set.add(fold);
  return () => void set.delete(fold);
}

/** Bring `c` up to date with its sources (before reading it). */
export function syncCounters(c: StreamCounters): void {
  const set = counterSources.get(c);
  if (set !== undefined) for (const f of set) f();
}

export function countDrop(c: StreamCounters, reason: string, n = 1): void {
  c.drops[reason] = (c.drops[reason] ?? 0) + n;
}

/** The handshake failed: `status` says which rule (HelloStatus), the message says who and why. */
export class StreamHandshakeError extends Error {
  override name = 'StreamHandshakeError';
  constructor(message: string, readonly status: HelloStatusCode | undefined) {
    super(message);
  }
}

/** A hello with no answer is given up after this long (a peer that is not a stream bus, or hung). */
export const HELLO_TIMEOUT_MS = 5000;

/** The token of our STREAM_HELLO request (bus messages carry a bus-chosen token). */
const HELLO_TOKEN = 1;

export class StreamConnection {
  readonly reader = new FrameReader(HELLO_MAX_SIZE);
  readonly writer = new FrameWriter();
  /** The peer's hello. */
  peer!: Hello;
  /** The link's maximum message size (the smaller of the two sides'). */
  maxMessageSize = 0;
  /** False while the socket's buffer is full: stop producing until onWritable. */
  writable = true;
  /** Called when new bytes arrived (frames may be ready for next()). */
  onReadable: () => void = () => {};
  /** Called when the socket can take more after a full buffer. */
  onWritable: () => void = () => {};
  /**
   * Set while another thread writes the socket (src/bus/shard-bridge.ts): flush() hands the bytes
   * to it, in order with its own frames, and it counts them.
   */
  sendVia: ((bytes: Uint8Array) => boolean) | undefined;
  /** Settles once, with the reason, when the connection is gone. */
  readonly closed: Promise<string>;
  private closeReason: string | undefined;
  private settleClosed!: (reason: string) => void;

  private constructor(readonly socket: Socket, private readonly counters: StreamCounters, readonly remote: string) {
    this.closed = new Promise((r) => (this.settleClosed = r));
    socket.setNoDelay?.(true); // we batch ourselves; Nagle would only add latency
    socket.setKeepAlive?.(true, 10_000); // a silently vanished TCP peer is noticed eventually
    socket.on('data', (chunk: Buffer) => {
      counters.bytesIn += chunk.length;
      this.reader.push(chunk);
      this.onReadable();
    });
    socket.on('drain', () => {
      this.writable = true;
      this.onWritable();
    });
    socket.on('error', (err) => this.end(`socket error: ${err.message.trim()}`));
    socket.on('close', () => this.end('peer closed the connection'));
  }

  /**
   * Run the STREAM_HELLO exchange on a connected socket: as `initiator` (we connected) send our
   * hello and wait for the answer; otherwise wait for the peer's and answer it. Resolves with the
   * open connection; frames that followed the hello are already in its reader.
   */
  static establish(socket: Socket, ours: Hello, initiator: boolean, counters: StreamCounters, remote: string): Promise<StreamConnection> {
    const c = new StreamConnection(socket, counters, remote);
    return new Promise<StreamConnection>((resolve, reject) => {
      let done = false;
      const fail = (err: StreamHandshakeError, answer?: Uint8Array): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        counters.handshakeFailures++;
        c.onReadable = () => {};
        if (answer !== undefined) {
          c.closeReason = err.message;
          socket.end(answer); // the refusal reaches the peer before the FIN
          setTimeout(() => socket.destroy(), 1000).unref();
        } else {
          c.end(err.message);
        }
        reject(err);
      };
      const timer = setTimeout(() => fail(new StreamHandshakeError(`${remote}: no STREAM_HELLO within ${HELLO_TIMEOUT_MS} ms (is the peer a vmsg stream bus?)`, undefined)), HELLO_TIMEOUT_MS);
      void c.closed.then((why) => fail(new StreamHandshakeError(`${remote}: connection lost during the handshake (${why})`, undefined)));
      c.onReadable = () => {
        if (done) return;
        const f = c.reader.next();
        if (f === null) {
          if (c.reader.fault !== undefined) {
            countDrop(counters, c.reader.fault);
            fail(new StreamHandshakeError(`${remote}: the first frame is not a STREAM_HELLO (msg_size ${c.reader.faultSize}); is the peer a vmsg stream bus?`, HelloStatus.MALFORMED));
          }
          return;
        }
        const got = decodeHello(f, initiator);
        if (!got.ok) {
          const answer = initiator ? undefined : encodeHello({ ...ours, status: got.status }, true, 0);
          fail(new StreamHandshakeError(`${remote}: ${got.detail}`, got.status), answer);
          return;
        }
        const peer = got.hello;
        if (initiator && peer.status !== HelloStatus.ACCEPTED) {
          fail(new StreamHandshakeError(`${remote} refused the stream handshake: ${statusName(peer.status)} (this side: stream version ${ours.streamVersion}, transport revision ${ours.transportRevision}, max message size ${ours.maxMessageSize}, role ${ours.role === 1 ? 'driver' : 'device'})`, peer.status as HelloStatusCode));
          return;
        }
        const check = checkHello(ours, peer);
        if (check.status !== HelloStatus.ACCEPTED) {
          const answer = initiator ? undefined : encodeHello({ ...ours, status: check.status }, true, got.token);
          fail(new StreamHandshakeError(`${remote}: stream handshake refused (${statusName(check.status)}): ${check.detail}`, check.status), answer);
          return;
        }
        if (!initiator) {
          socket.write(encodeHello({ ...ours, status: HelloStatus.ACCEPTED }, true, got.token));
        }
        done = true;
        clearTimeout(timer);
        c.peer = peer;
        c.maxMessageSize = negotiatedMax(ours, peer);
        c.reader.maxSize = c.maxMessageSize;
        c.onReadable = () => {};
        counters.connects++;
        void c.closed.then(() => counters.disconnects++);
        resolve(c);
      };
      if (initiator) socket.write(encodeHello({ ...ours, status: 0 }, false, HELLO_TOKEN));
      c.onReadable(); // bytes may have arrived before we were constructed (none normally)
    });
  }

  /**
   * The next received frame (a view valid until the next call), or null. A frame with an
   * impossible msg_size closes the connection (a stream cannot resync) with the reason counted.
   */
  next(): Uint8Array | null {
    const f = this.reader.next();
    if (f !== null) {
      this.counters.framesIn++;
      return f;
    }
    if (this.reader.fault !== undefined && this.closeReason === undefined) {
      const fault: FramingFault = this.reader.fault;
      countDrop(this.counters, fault);
      this.end(`${fault}: msg_size ${this.reader.faultSize} (link maximum ${this.maxMessageSize}); a stream cannot resync, connection closed`);
    }
    return null;
  }

  /** Send everything the writer holds in one socket write. False when the socket is full (wait for onWritable). */
  flush(): boolean {
    const frames = this.writer.frames;
    const out = this.writer.take();
    if (out === null || this.closeReason !== undefined) return this.writable;
    if (this.sendVia !== undefined) return this.sendVia(out);
    this.counters.framesOut += frames;
    this.counters.bytesOut += out.length;
    this.counters.writes++;
    if (!this.socket.write(out)) this.writable = false;
    return this.writable;
  }

  get isClosed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Close now (buffered output is dropped) with `reason`. */
  end(reason: string): void {
    if (this.closeReason !== undefined) {
      if (this.socket.destroyed) this.settleClosed(this.closeReason);
      return;
    }
    this.closeReason = reason;
    this.writable = false;
    this.socket.destroy();
    this.settleClosed(reason);
  }
}
