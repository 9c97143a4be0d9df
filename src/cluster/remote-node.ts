// One other router of the cluster as this router sees it: its directory entries, whether it is
// alive, and the gateway stream to it (src/bus/stream.ts side 'device' in directory mode). The
// stream is opened from the node's advertised address once the node is alive with at least one
// device, reused for all of them, re-opened with backoff when it cannot be opened, and closed
// when the node dies — which removes its devices here (REMOVED to drivers, in-flight requests
// fail once, DEVICE_REMOVED). Its devices keep their local numbers across all of that: the
// remap remembers them under the node's name.
import { openStreamLink, type StreamLink } from '../bus/stream.js';
import type { DeviceDirectory } from '../bus/gateway.js';
import type { Router } from '../router/router.js';
import type { DeviceMapping } from '../bus/peer-handler.js';
import type { Advertise } from './cluster-options.js';

/** Gateway stream settings: reconnect soon (a restarted node is back within a second or two). */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 1000;
/** How long a new stream waits for the old one to close (remove its devices) at most. */
const CLOSE_WAIT_MS = 10_000;

export interface RemoteNodeEvents {
  log(line: string): void;
  /** The gateway stream came up (true) or could not be opened / went down (false). */
  link(node: string, up: boolean, detail: string): void;
}

export class RemoteNode implements DeviceDirectory {
  /**
   * Its devices (its own numbers) listed in the directory. Only the numbers: the entries' other
   * fields are checked when read and not needed after (one number per remote device keeps
   * the per-device memory small).
   */
  readonly devices = new Set<number>();
  addr: string | null = null;
  alive = false;
  private link: StreamLink | undefined;
  /** The address `link` was opened to. */
  private linkAddr: string | null = null;
  private opening: Promise<void> | undefined;
  /**
   * A stream being closed: a new one opens only after it. Its session removes its devices one by
   * one and frees their numbers; a stream opened meanwhile would list those devices twice in
   * deviceMap() (the old number dead) and take new numbers for the ones still held.
   */
  private closing: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryMs = BACKOFF_MIN_MS;
  private readonly listeners = new Set<() => void>();
  /**
   * Its gateway stream, asked whether a local number is one of its devices (from just before it
   * is attached, so this router never serves it as its own) and for its remote → local
   * numbers: the gateway's per-frame table answers, no per-device set here. Bound when the
   * stream's gateway is made, before its first device is attached: `link` is only set once
   * the stream's first connection has attached them all, after drivers heard their READY.
   */
  private readonly sessions = new Set<{ owns(local: number): boolean; map(): DeviceMapping[] }>();
  private closed = false;

  constructor(
    readonly name: string, private readonly router: Router, private readonly self: string,
    private readonly own: Advertise | undefined, private readonly events: RemoteNodeEvents,
    /** Correlation window of each of its devices here (ClusterOptions.remoteWindow; undefined: the router's). */
    private readonly window: number | undefined,
  ) {}

  // ---------------------------------------------------------------- DeviceDirectory (the gateway reads it)

  current(): Iterable<number> {
    return this.alive ? this.devices : [];
  }

  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  bind(owns: (local: number) => boolean, map: () => DeviceMapping[]): () => void {
    const session = { owns, map };
    this.sessions.add(session);
    return () => this.sessions.delete(session);
  }

  // ---------------------------------------------------------------- directory changes

  /** Entries changed (device set, liveness, address): bring the stream and the devices in line. */
  changed(): void {
    for (const l of this.listeners) l();
    this.reconcile();
  }

  /**
   * Local numbers of its devices here now, each while this router lists it in GET_DEVICES:
   * from just before drivers hear its READY (a driver that heard READY finds it; a request sent
   * to it is routed) until just before they hear its REMOVED.
   */
  deviceMap(): DeviceMapping[] {
    return [...this.sessions].flatMap((s) => s.map()).filter((m) => this.router.isListed(m.local));
  }

  /** Is local device `dev` one of this node's, attached here (or being attached)? */
  hasLocal(dev: number): boolean {
    for (const s of this.sessions) if (s.owns(dev)) return true;
    return false;
  }

  get linkUp(): boolean {
    return this.link !== undefined && this.link.peers > 0;
  }

  private wanted(): boolean {
    return !this.closed && this.alive && this.addr !== null && this.devices.size > 0;
  }

  private reconcile(): void {
    if (this.link !== undefined && this.linkAddr !== this.addr) {
      // Restarted elsewhere (another port): the old stream leads nowhere.
      void this.closeLink(`moved to ${this.addr}`).then(() => this.reconcile());
      return;
    }
    if (this.wanted()) {
      if (this.link === undefined && this.opening === undefined && this.retry === undefined && this.closing === undefined) this.opening = this.open().finally(() => (this.opening = undefined));
    } else if (!this.alive || this.closed) {
      clearTimeout(this.retry);
      this.retry = undefined;
      void this.closeLink('node dead');
    }
  }

  /** The gateway URI to the node's advertised address, with our TLS identity for a tls: node. */
  private uri(addr: string): string {
    const m = /^(tcp|tls):(.*)$/.exec(addr)!;
    const q = [`name=${encodeURIComponent(`cluster:${this.self}`)}`, `backoff_min_ms=${BACKOFF_MIN_MS}`, `backoff_max_ms=${BACKOFF_MAX_MS}`];
    if (m[1] === 'tls') {
      if (this.own?.tls === undefined) throw new Error(`node ${this.name} serves TLS (${addr}): this router needs --advertise tls:HOST:PORT?cert=&key=&ca= for its client certificate`);
      const t = this.own.tls;
      q.push('tls=1', `cert=${encodeURIComponent(t.cert)}`, `key=${encodeURIComponent(t.key)}`, `ca=${encodeURIComponent(t.ca)}`);
    }
    return `tcp:${m[2]}?${q.join('&')}`;
  }

  private async open(): Promise<void> {
    const addr = this.addr!;
    let link: StreamLink;
    try {
      link = await openStreamLink(this.router, this.uri(addr), 'device', { directory: this, linkKey: `cluster ${this.name}`, deviceWindow: this.window });
    } catch (e) {
      this.events.link(this.name, false, `cannot open the gateway stream to ${addr}: ${(e as Error).message}`);
      if (this.wanted()) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.reconcile();
        }, this.retryMs);
        this.retryMs = Math.min(BACKOFF_MAX_MS, this.retryMs * 2);
      }
      return;
    }
    this.retryMs = BACKOFF_MIN_MS;
    if (!this.wanted() || this.addr !== addr) {
      await link.close();
      this.reconcile();
      return;
    }
    this.link = link;
    this.linkAddr = addr;
    link.on('drop', (_peer: string, why: string) => this.events.link(this.name, false, `gateway stream to ${addr} dropped (${why}); its devices are removed until it is back`));
    link.on('up', () => this.events.link(this.name, true, `gateway stream to ${addr} up`));
    link.on('warning', (w: string) => this.events.log(`node ${this.name}: ${w}`));
    this.events.link(this.name, true, `gateway stream to ${addr} up, devices [${link.devices.join(', ')}]`);
  }

  private async closeLink(why: string): Promise<void> {
    await this.opening;
    const link = this.link;
    this.link = undefined;
    if (link === undefined) return this.closing;
    this.closing = (async () => {
      // A close that hangs must not keep the node away for good: after CLOSE_WAIT_MS a new
      // stream may open (its devices then take new numbers for those still held).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_WAIT_MS)));
      try {
        const how = await Promise.race([link.close().then(() => 'closed' as const), late]);
        this.events.log(how === 'closed'
          ? `node ${this.name}: gateway stream closed (${why}), its devices removed`
          : `node ${this.name}: gateway stream still closing after ${CLOSE_WAIT_MS} ms (${why}); not waiting for it any longer`);
      } catch (e) {
        this.events.log(`node ${this.name}: closing the gateway stream failed (${why}): ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
        this.closing = undefined;
      }
    })();
    await this.closing;
    // Back (or moved) while this stream closed: open the new one now.
    if (this.wanted()) this.reconcile();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    await this.closeLink('leaving the cluster');
  }
}
