// A raw driver channel over the stream bus (the FrameChannel `vmsg bench --target unix:|tcp:...`
// drives): one connection, no router in this process, no reconnect — a drop ends the channel.
import type { FrameChannel, LinkDown } from './bus-link.js';
import { StreamConnection, newCounters, type StreamCounters } from './stream-connection.js';
import { STREAM_VERSION, TRANSPORT_REVISION, ROLE_DRIVER, HELLO_F_FAILURE_EVENTS } from './stream-hello.js';
import { streamOptions, connectSocket, listenSockets, describeTarget, describePeer, parseStreamUri } from './stream-socket.js';
import { LinkUriError } from './uri.js';
import { MSG_SIZE_LIMIT } from '../protocol/constants.js';
import { frameSize } from '../protocol/header.js';

/** send() says "no room" once this much is queued for the socket (it drains as the peer reads). */
const HIGH_WATER_BYTES = 1 << 20;

export class StreamChannel implements FrameChannel {
  readonly counters: StreamCounters;
  /** Settles when the connection ends (never rejects). */
  readonly down: Promise<LinkDown>;
  private wake: (() => void) | undefined;
  private closedBy: string | undefined;

  constructor(private readonly conn: StreamConnection, counters: StreamCounters) {
    this.counters = counters;
    conn.onReadable = () => this.wake?.();
    this.down = conn.closed.then((detail) => {
      this.wake?.();
      return { cause: this.closedBy !== undefined ? 'closed' : 'peer-dead', detail } as LinkDown;
    });
  }

  /** Frames arrive through socket events on this thread. */
  readonly eventDriven = true;

  get maxMessageSize(): number {
    return this.conn.maxMessageSize;
  }

  /** Who the peer said it is (STREAM_HELLO name). */
  get peerName(): string {
    return this.conn.peer.name;
  }

  send(frame: Uint8Array): boolean {
    if (this.conn.isClosed) throw new Error(`stream channel is closed: ${this.closedBy ?? 'peer gone'}`);
    const size = frameSize(frame);
    if (size < 8 || size > frame.length) throw new RangeError(`frame msg_size ${size} must be 8..${frame.length} (the buffer's length)`);
    if (size > this.conn.maxMessageSize) throw new RangeError(`frame msg_size ${size} exceeds the link's maximum of ${this.conn.maxMessageSize}`);
    if (!this.conn.writable || this.conn.writer.length >= HIGH_WATER_BYTES) return false;
    this.conn.writer.append(frame.subarray(0, size));
    return true;
  }

  flush(): void {
    this.conn.flush();
  }

  recv(): Uint8Array | null {
    const f = this.conn.next();
    return f === null ? null : f.slice();
  }

  wait(timeoutMs: number): Promise<boolean> {
    if (this.conn.reader.hasFrame()) return Promise.resolve(true);
    if (this.conn.isClosed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, timeoutMs);
      this.wake = () => {
        if (!this.conn.reader.hasFrame() && !this.conn.isClosed) return;
        clearTimeout(t);
        this.wake = undefined;
        resolve(this.conn.reader.hasFrame());
      };
    });
  }

  async close(): Promise<void> {
    this.closedBy ??= 'closed by this side';
    this.conn.end(this.closedBy);
    await this.down;
  }
}

/**
 * Open a raw driver channel: `unix:PATH` / `tcp:HOST:PORT` connect; `unix-listen:` /
 * `tcp-listen:` wait for the first device-side peer (and then stop listening). Options as for
 * links, plus `failure_events=1` (the peer reports requests that end without a response with
 * VMSG_EVT_REQUEST_FAILED); `max=` defaults to 65535, so the peer's maximum applies.
 */
export async function openStreamChannel(uriText: string): Promise<StreamChannel> {
  const uri = parseStreamUri(uriText);
  const opts = streamOptions(uri, ['failure_events']);
  const fe = opts.extra.get('failure_events');
  if (fe !== undefined && fe !== '0' && fe !== '1') throw new LinkUriError(`link URI "${uriText}": failure_events= must be 0 or 1, got "${fe}"`);
  const hello = {
    streamVersion: STREAM_VERSION,
    transportRevision: TRANSPORT_REVISION,
    maxMessageSize: opts.max ?? MSG_SIZE_LIMIT,
    role: ROLE_DRIVER,
    flags: fe === '1' ? HELLO_F_FAILURE_EVENTS : 0,
    status: 0,
    name: opts.name,
  } as const;
  const counters = newCounters();
  if (uri.scheme === 'unix' || uri.scheme === 'tcp') {
    const s = await connectSocket(uri, opts);
    return new StreamChannel(await StreamConnection.establish(s, hello, true, counters, describeTarget(uri)), counters);
  }
  let resolveChannel!: (c: StreamChannel) => void;
  const channel = new Promise<StreamChannel>((r) => (resolveChannel = r));
  let taken = false;
  const server = await listenSockets(uri, opts, (s) => {
    if (taken) {
      s.destroy();
      return;
    }
    StreamConnection.establish(s, hello, false, counters, describePeer(s, uri)).then((conn) => {
      if (taken) {
        conn.end('channel already connected');
        return;
      }
      taken = true;
      server.close();
      resolveChannel(new StreamChannel(conn, counters));
    }, () => { /* counted in handshakeFailures; keep waiting for a proper peer */ });
  }, () => {
    counters.handshakeFailures++;
  });
  return channel;
}
