// Stream bus over Unix and TCP sockets (docs/ARCHITECTURE.md "Stream bus and
// gateway"): frames back to back framed by msg_size (stream-framing.ts), a STREAM_HELLO
// handshake (stream-hello.ts), optional TLS for TCP, reconnect with backoff on the connecting
// side. A link joins one router to the far end: side 'driver' = the far end is an external
// driver (each connection gets its own driver endpoint of the router); side 'device' = the far
// end is a device-side bus, e.g. another router (gateway.ts).
import { EventEmitter } from 'node:events';
import type { Server, Socket, AddressInfo } from 'node:net';
import type { Router } from '../router/router.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { EndpointPort } from '../endpoint/port.js';
import type { BusLink, LinkDown } from './bus-link.js';
import { LinkUriError, type StreamLinkUri } from './uri.js';
import { StreamConnection, StreamHandshakeError, newCounters, syncCounters, type StreamCounters } from './stream-connection.js';
import { STREAM_VERSION, TRANSPORT_REVISION, ROLE_DEVICE, ROLE_DRIVER, HELLO_F_FAILURE_EVENTS, type Hello } from './stream-hello.js';
import { STREAM_DEVICE_PARAMS, streamOptions, connectSocket, listenSockets, describeTarget, describePeer, intParam, parseStreamUri, Backoff, type StreamOptions } from './stream-socket.js';
import { openBridge, type FrameBridge } from './shard-bridge.js';
import { GatewaySession, type DeviceDirectory } from './gateway.js';
import type { PeerHandler, DeviceMapping } from './peer-handler.js';
import type { BusModel } from '../model/bus-model.js';

export { StreamChannel, openStreamChannel } from './stream-channel.js';

/** An external driver on the far end: one router driver endpoint per connection. */
class DriverSession implements PeerHandler {
  private desc: LinkDescriptor | undefined;
  private bridge: FrameBridge | undefined;
  private closed = false;
  readonly devices: readonly number[] = [];

  constructor(private readonly router: Router, private readonly counters: StreamCounters, private readonly label: string, private readonly model?: BusModel) {}

  deviceMap(): DeviceMapping[] {
    return [];
  }

  async up(conn: StreamConnection): Promise<void> {
    if (this.closed) {
      conn.end('link closed');
      return;
    }
    this.desc = await this.router.attachDriver({
      maxMessageSize: conn.maxMessageSize,
      // Wire drivers hear VMSG_EVT_REQUEST_FAILED only when their hello asks for it.
      failureEvents: (conn.peer.flags & HELLO_F_FAILURE_EVENTS) !== 0,
      label: this.label,
      model: this.model,
    });
    if (conn.isClosed || this.closed) return; // down() follows and detaches
    // On the endpoint's shard when the socket allows (src/bus/shard-bridge.ts): every frame is forwarded as it is.
    this.bridge = openBridge(this.router, this.desc, new EndpointPort(this.desc, { spinBeforeSleep: 0 }), conn, this.counters);
  }

  async down(): Promise<void> {
    const stopped = this.bridge?.stop();
    this.bridge = undefined;
    await stopped;
    const d = this.desc;
    this.desc = undefined;
    if (d !== undefined) await this.router.detach(d);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.down();
  }
}

/**
 * A stream link between a router and one far end (connecting side) or any number of far ends
 * (listening side). Events: 'up' (peer: string, hello), 'drop' (peer, reason), 'refused'
 * (Error: a handshake that failed), 'remap' (RemapEvent, gateway links), 'warning' (string).
 */
export class StreamLink extends EventEmitter implements BusLink {
  private readonly counts: StreamCounters = newCounters();
  /** The link's counters, up to date (connections served by a shard count there: src/bus/shard-bridge.ts). */
  get counters(): StreamCounters {
    syncCounters(this.counts);
    return this.counts;
  }
  readonly down: Promise<LinkDown>;
  private settleDown!: (d: LinkDown) => void;
  private readonly handlers = new Set<PeerHandler>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private closing = false;
  private wakeBackoff: (() => void) | undefined;
  private readonly hello: Hello;
  private readonly remapBase: number | undefined;
  private readonly pingMs: number | undefined;

  constructor(
    private readonly router: Router, readonly uriParsed: StreamLinkUri, readonly side: 'driver' | 'device', private readonly opts: StreamOptions,
    private readonly gateway: StreamGatewayOptions = {},
  ) {
    super();
    this.down = new Promise((r) => (this.settleDown = r));
    const busMax = router.options.busMaxSize;
    if (opts.max !== undefined && opts.max > busMax) {
      throw new LinkUriError(`link URI "${uriParsed.text}": max=${opts.max} is above the router's busMaxSize ${busMax}; lower max= or raise busMaxSize`);
    }
    this.remapBase = side === 'device' ? intParam(uriParsed, 'remap_base', 0, 65535) : undefined;
    this.pingMs = side === 'device' ? intParam(uriParsed, 'ping', 0, 3_600_000) : undefined;
    this.hello = {
      streamVersion: STREAM_VERSION,
      transportRevision: TRANSPORT_REVISION,
      // A bus model's frame limit is the link's: the far end is told so.
      maxMessageSize: Math.min(opts.max ?? busMax, gateway.model?.maxFrame ?? busMax),
      // Our role on the wire is the opposite of the far end's.
      role: side === 'driver' ? ROLE_DEVICE : ROLE_DRIVER,
      flags: 0,
      status: 0,
      name: opts.name,
    };
  }

  get uri(): string {
    return this.uriParsed.text;
  }

  get listening(): boolean {
    return this.uriParsed.scheme === 'tcp-listen' || this.uriParsed.scheme === 'unix-listen';
  }

  /** Listening side: the bound address (the port chosen for `tcp-listen:0`), or the socket path. */
  get address(): AddressInfo | string | undefined {
    return this.server?.address() ?? undefined;
  }

  /** Local device numbers reachable through the link now (gateway links). */
  get devices(): number[] {
    return [...this.handlers].flatMap((h) => [...h.devices]);
  }

  /** Remote → local device numbers now (gateway links; print it when `remote !== local`). */
  deviceMap(): DeviceMapping[] {
    return [...this.handlers].flatMap((h) => h.deviceMap());
  }

  /** Far ends connected now. */
  get peers(): number {
    return this.sockets.size;
  }

  private newHandler(): PeerHandler {
    const model = this.gateway.model;
    return this.side === 'driver' ? new DriverSession(this.router, this.counters, this.uri, model) : new GatewaySession(this.router, this.counters, this, this.remapBase, this.pingMs, this.gateway.linkKey ?? `stream ${this.uri}`, this.uri, this.gateway.directory, model, this.gateway.deviceWindow);
  }

  /** Connect (first attempt must succeed) or start listening. */
  async start(): Promise<void> {
    if (this.listening) {
      this.server = await listenSockets(this.uriParsed, this.opts, (s) => this.accept(s), (err) => {
        this.counters.handshakeFailures++;
        this.emit('refused', err);
      });
      this.server.on('error', (err) => void this.finish({ cause: 'error', detail: `listener: ${err.message}` }));
      return;
    }
    const handler = this.newHandler();
    this.handlers.add(handler);
    let conn: StreamConnection;
    try {
      conn = await this.connectOnce();
    } catch (e) {
      this.handlers.delete(handler);
      await handler.close();
      throw e;
    }
    let firstUp!: (err: Error | undefined) => void;
    const up = new Promise<Error | undefined>((r) => (firstUp = r));
    void this.runClient(handler, conn, firstUp);
    const err = await up;
    if (err !== undefined) {
      await this.finish({ cause: 'error', detail: err.message });
      throw err;
    }
  }

  private async connectOnce(): Promise<StreamConnection> {
    const s = await connectSocket(this.uriParsed, this.opts);
    if (this.closing) {
      s.destroy();
      throw new Error('link closed');
    }
    this.track(s);
    try {
      return await StreamConnection.establish(s, this.hello, true, this.counters, describeTarget(this.uriParsed));
    } catch (e) {
      if (e instanceof StreamHandshakeError && e.status === undefined && this.opts.tls !== undefined) {
        // TLS 1.3 tells a client that its certificate was refused only by closing after the handshake.
        throw new StreamHandshakeError(`${e.message}; a TLS listener with ca= closes clients without a client certificate it trusts (cert=, key=)`, undefined);
      }
      throw e;
    }
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  /** Connecting side: serve the connection, and after a drop reconnect with backoff until closed. */
  private async runClient(handler: PeerHandler, first: StreamConnection, firstUp: (err: Error | undefined) => void): Promise<void> {
    const backoff = new Backoff(this.opts.backoffMinMs, this.opts.backoffMaxMs);
    let conn: StreamConnection | undefined = first;
    while (conn !== undefined) {
      this.emit('up', conn.remote, conn.peer);
      try {
        await handler.up(conn);
        firstUp(undefined);
      } catch (e) {
        // The router refused the endpoint or device (closed, full): nothing to bridge to.
        conn.end(`router attach failed: ${(e as Error).message}`);
        firstUp(e as Error);
      }
      const reason = await conn.closed;
      await handler.down(reason).catch((e: unknown) => this.emit('warning', `stream link ${this.uri}: ${(e as Error).message}`));
      if (this.closing) return;
      this.emit('drop', conn.remote, reason);
      if (!this.opts.reconnect) {
        await this.finish({ cause: 'peer-dead', detail: reason });
        return;
      }
      conn = undefined;
      backoff.reset();
      while (conn === undefined && !this.closing) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoff.next());
          this.wakeBackoff = () => {
            clearTimeout(t);
            r();
          };
        });
        if (this.closing) return;
        try {
          conn = await this.connectOnce();
        } catch (e) {
          if (e instanceof StreamHandshakeError && e.status !== undefined) {
            // The peer is there but incompatible: retrying cannot help.
            this.emit('refused', e);
            await this.finish({ cause: 'error', detail: e.message });
            return;
          }
        }
      }
    }
  }

  /** Listening side: a far end connected. */
  private accept(s: Socket): void {
    if (this.closing) {
      s.destroy();
      return;
    }
    this.track(s);
    const remote = describePeer(s, this.uriParsed);
    StreamConnection.establish(s, this.hello, false, this.counters, remote).then(
      async (conn) => {
        const handler = this.newHandler();
        this.handlers.add(handler);
        this.emit('up', conn.remote, conn.peer);
        try {
          await handler.up(conn);
        } catch (e) {
          conn.end(`router attach failed: ${(e as Error).message}`);
        }
        const reason = await conn.closed;
        try {
          await handler.close();
        } finally {
          this.handlers.delete(handler);
        }
        if (!this.closing) this.emit('drop', conn.remote, reason);
      },
      (err: Error) => this.emit('refused', err),
    ).catch((err: unknown) => this.emit('warning', `stream link ${this.uri}: ${(err as Error).message}`));
  }

  private async finish(d: LinkDown): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wakeBackoff?.();
    this.server?.close();
    for (const s of this.sockets) s.destroy();
    for (const h of this.handlers) await h.close().catch(() => {});
    this.handlers.clear();
    this.settleDown(d);
  }

  /** Close the link: connections end, remote devices are removed, endpoints detached. */
  async close(): Promise<void> {
    await this.finish({ cause: 'closed', detail: 'closed by this side' });
    await this.down;
  }

  /** Counters of the link (summed over its connections). */
  stats(): StreamCounters & { peers: number; devices: number[] } {
    return { ...this.counters, drops: { ...this.counters.drops }, peers: this.peers, devices: this.devices };
  }
}

/** Side 'device' only: how the gateway learns its devices and keeps their numbers. */
export interface StreamGatewayOptions {
  /** Which remote devices to attach, instead of GET_DEVICES and the far end's hotplug events. */
  directory?: DeviceDirectory;
  /** Name under which the remap remembers numbers across re-opens (default: the URI). */
  linkKey?: string;
  /** A bus model between the router and every connection of this link (`model=` on the URI). */
  model?: BusModel;
  /** Correlation window of each device attached (Router.addDevice); default the router's. */
  deviceWindow?: number;
}

/**
 * Open a stream link between `router` and the far end of `uriText` (unix:PATH, unix-listen:PATH,
 * tcp:HOST:PORT, tcp-listen:[HOST:]PORT, options in README "Stream links"). `side` 'driver': the
 * far end is an external driver that talks to our devices; 'device': the far end is a
 * device-side bus whose devices we attach under local numbers. A connecting link resolves once
 * the first connection is up (and, for 'device', its devices attached) and rejects when that
 * first attempt fails; later drops reconnect with backoff. A listening link resolves once it
 * listens.
 */
export async function openStreamLink(router: Router, uriText: string, side: 'driver' | 'device', gateway: StreamGatewayOptions = {}): Promise<StreamLink> {
  if (side !== 'driver' && side !== 'device') throw new TypeError(`side must be 'driver' or 'device', got ${String(side)}`);
  const uri = parseStreamUri(uriText);
  const opts = streamOptions(uri, side === 'device' ? STREAM_DEVICE_PARAMS : []);
  if (side === 'driver' && (gateway.directory !== undefined || gateway.linkKey !== undefined || gateway.deviceWindow !== undefined)) throw new TypeError('directory, linkKey and deviceWindow are for side \'device\'');
  const link = new StreamLink(router, uri, side, opts, gateway);
  await link.start();
  return link;
}
