// A router's membership of a cluster (README "Cluster", docs/ARCHITECTURE.md "Cluster
// directory"): it serves its own devices on the advertised address (a listening stream link,
// side 'driver'), publishes one directory entry per device and a liveness entry every second,
// watches everyone's entries, and keeps one RemoteNode per other router, which attaches that
// router's devices here over a direct gateway stream. Frames never travel through NATS.
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Router } from '../router/router.js';
import { openStreamLink, type StreamLink } from '../bus/stream.js';
import { checkClusterOptions, parseAdvertise, DEFAULT_BUCKET, type Advertise, type ClusterOptions } from './cluster-options.js';
import { aliveKey, deviceKey, nodeKeys, parseKey, readAliveEntry, readDeviceEntry, type AliveEntry, type DeviceEntry } from './directory-entry.js';
import { NatsDirectory, type DirectoryChange } from './nats-directory.js';
import { Liveness, HEARTBEAT_MS, DEAD_AFTER_MS } from './liveness.js';
import { LocalDevices, type LocalDevice } from './local-devices.js';
import { RemoteNode } from './remote-node.js';

/** How often dead nodes are looked for (ms): a dead node is found at most this long after DEAD_AFTER_MS. */
const LIVENESS_CHECK_MS = 250;
/** Directory writes in flight at once when many entries change together. */
const WRITE_CONCURRENCY = 64;
/** On leaving, how long deleting our entries may take before we go anyway (ms). */
const LEAVE_TIMEOUT_MS = 2000;

export interface ClusterStats {
  node: string;
  /** The NATS server is reachable: the directory follows changes (false: frozen as last seen). */
  directoryUp: boolean;
  /** Times the directory was frozen since the start. */
  frozenTotal: number;
  nodesAlive: number;
  /** Devices of other nodes attached here now. */
  remoteDevices: number;
  /** Own devices in the directory (as last written). */
  publishedDevices: number;
  /** Directory entries ignored (malformed, or naming another node than their key). */
  ignoredEntries: number;
  /** Directory writes that failed (retried on the next heartbeat or reconnect). */
  writeFailures: number;
}

/**
 * Events: 'log' (line), 'frozen' (why), 'resumed', 'node-up' (name), 'node-dead' (name),
 * 'warning' (line).
 */
export class ClusterNode extends EventEmitter {
  private readonly nodes = new Map<string, RemoteNode>();
  private readonly liveness = new Liveness();
  private readonly desired = new Map<string, string>();
  /** Keys as last written (value), or '' for a key found in the bucket whose value we did not write. */
  private readonly written = new Map<string, string>();
  private syncing: Promise<void> | undefined;
  private resync = false;
  private beat = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private checker: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly counts = { frozenTotal: 0, ignoredEntries: 0, writeFailures: 0 };
  private readonly pendingChanges = new Set<RemoteNode>();
  private writeErrorSaid = false;

  private constructor(
    readonly router: Router, readonly options: Required<Pick<ClusterOptions, 'url' | 'node' | 'bucket'>> & ClusterOptions,
    private readonly own: Advertise | undefined, private readonly served: StreamLink | undefined,
    /** The advertised address as published (the real port when 0 was asked). */
    readonly address: string | null, private directory: NatsDirectory | undefined,
    /** Its own devices, learnt by a driver endpoint; none on an import-only node (nothing to publish). */
    private readonly local: LocalDevices | undefined,
  ) {
    super();
  }

  /**
   * Join the cluster: serve this router's devices on `advertise`, connect to NATS, publish,
   * watch. Rejects (after undoing what it did) when the listener, the NATS server or the
   * bucket cannot be had.
   */
  static async join(router: Router, opts: ClusterOptions, listeners: { log?(line: string): void; warning?(line: string): void } = {}): Promise<ClusterNode> {
    checkClusterOptions(opts);
    const options = { ...opts, bucket: opts.bucket ?? DEFAULT_BUCKET };
    const own = opts.advertise === undefined ? undefined : parseAdvertise(opts.advertise);
    let served: StreamLink | undefined;
    let address: string | null = null;
    if (own !== undefined) {
      const host = own.host.includes(':') ? `[${own.host}]` : own.host;
      const tls = own.tls !== undefined ? `?tls=1&cert=${encodeURIComponent(own.tls.cert)}&key=${encodeURIComponent(own.tls.key)}&ca=${encodeURIComponent(own.tls.ca)}` : own.insecure ? '?insecure=1' : '';
      served = await openStreamLink(router, `tcp-listen:${host}:${own.port}${tls}`, 'driver');
      const port = (served.address as AddressInfo).port;
      address = `${own.tls === undefined ? 'tcp' : 'tls'}:${host}:${port}`;
    }
    let directory: NatsDirectory | undefined;
    let nodeRef: ClusterNode | undefined;
    // An import-only node (no --advertise) publishes no devices: it needs no driver endpoint of
    // its own, which would also be one more source for its shard to poll under every frame.
    const local = own === undefined ? undefined : new LocalDevices(router, (dev) => nodeRef?.isImported(dev) ?? false);
    try {
      directory = await NatsDirectory.open({ url: options.url, bucket: options.bucket, credsFile: options.credsFile, caFile: options.caFile, name: `vmsg-${options.node}` });
      const node = new ClusterNode(router, options, own, served, address, directory, local);
      nodeRef = node;
      if (listeners.log !== undefined) node.on('log', listeners.log);
      if (listeners.warning !== undefined) node.on('warning', listeners.warning);
      await node.start();
      return node;
    } catch (e) {
      await local?.close().catch(() => {});
      await directory?.close();
      await served?.close();
      throw e;
    }
  }

  private say(line: string): void {
    this.emit('log', line);
  }

  private async start(): Promise<void> {
    const dir = this.directory!;
    const self = this.options.node;
    // What we left in the bucket last time (a restart): stale entries are deleted by the first sync.
    for (const k of await dir.keys(nodeKeys(self))) this.written.set(k, '');
    const local = this.local;
    if (local !== undefined) {
      local.on('change', (d: LocalDevice | { dev: number; removed: true }) => {
        if ('removed' in d) this.desired.delete(deviceKey(self, d.dev));
        else this.publishDevice(d);
        void this.sync();
      });
      local.on('warning', (w: string) => this.emit('warning', w));
      await local.start();
      for (const d of local.devices.values()) this.publishDevice(d);
    }
    this.desired.set(aliveKey(self), this.aliveValue());
    await this.sync();
    this.heartbeat = setInterval(() => this.onHeartbeat(), HEARTBEAT_MS);
    this.checker = setInterval(() => this.checkLiveness(), LIVENESS_CHECK_MS);
    dir.on('change', (c: DirectoryChange) => this.onChange(c));
    dir.on('warning', (w: string) => this.emit('warning', w));
    dir.on('frozen', (why: string) => {
      this.liveness.freeze();
      this.counts.frozenTotal++;
      this.say(`cluster directory frozen: ${why}; routing goes on (local devices and open gateway streams), remote devices stay as last seen until NATS is back`);
      this.emit('frozen', why);
    });
    dir.on('resumed', (server: string) => {
      this.liveness.thaw();
      // Anything written while away may be lost: write every entry again.
      for (const k of this.written.keys()) this.written.set(k, '');
      this.desired.set(aliveKey(self), this.aliveValue());
      void this.sync();
      this.say(`cluster directory resumed (NATS ${server})`);
      this.emit('resumed');
    });
    await dir.watch();
    const n = this.local?.devices.size ?? 0;
    this.say(`joined cluster ${this.options.url} bucket "${this.options.bucket}" as node ${self}${this.address === null ? ' (import only: no --advertise)' : `, serving ${n} device(s) on ${this.address}`}`);
  }

  private publishDevice(d: LocalDevice): void {
    if (this.address === null) return; // nobody could reach it
    const e: DeviceEntry = { node: this.options.node, dev: d.dev, device_id: d.deviceId, vendor_id: d.vendorId, addr: this.address };
    this.desired.set(deviceKey(this.options.node, d.dev), JSON.stringify(e));
  }

  private aliveValue(): string {
    return JSON.stringify({ node: this.options.node, addr: this.address, beat: ++this.beat } satisfies AliveEntry);
  }

  private onHeartbeat(): void {
    if (this.closed || !this.directory!.isConnected) return;
    this.desired.set(aliveKey(this.options.node), this.aliveValue());
    void this.sync();
  }

  /** Write what differs between `desired` and `written`; one pass at a time, again if asked meanwhile. */
  private sync(): Promise<void> {
    if (this.syncing !== undefined) {
      this.resync = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.resync = false;
        const ops: (() => Promise<void>)[] = [];
        const alive = aliveKey(this.options.node);
        for (const [k, v] of this.desired) {
          if (k !== alive && this.written.get(k) !== v) ops.push(async () => { await this.directory!.put(k, v); this.written.set(k, v); });
        }
        for (const k of this.written.keys()) {
          if (!this.desired.has(k)) ops.push(async () => { await this.directory!.delete(k); this.written.delete(k); });
        }
        let failed: Error | undefined;
        for (let i = 0; i < ops.length && failed === undefined; i += WRITE_CONCURRENCY) {
          const rs = await Promise.allSettled(ops.slice(i, i + WRITE_CONCURRENCY).map((op) => op()));
          for (const r of rs) if (r.status === 'rejected') failed ??= r.reason as Error;
        }
        // The liveness entry last, so a node is seen alive with its devices already listed.
        const v = this.desired.get(alive)!;
        if (failed === undefined && this.written.get(alive) !== v) {
          try {
            await this.directory!.put(alive, v);
            this.written.set(alive, v);
          } catch (e) {
            failed = e as Error;
          }
        }
        if (failed !== undefined) {
          this.counts.writeFailures++;
          // Said once per outage: the heartbeat retries every second.
          if (!this.writeErrorSaid && !this.closed) this.emit('warning', `cluster directory write failed: ${failed.message}; retrying`);
          this.writeErrorSaid = true;
          break;
        }
        this.writeErrorSaid = false;
      } while (this.resync && !this.closed);
    })().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private node(name: string): RemoteNode {
    let n = this.nodes.get(name);
    if (n === undefined) {
      n = new RemoteNode(name, this.router, this.options.node, this.own, {
        log: (line) => this.say(line),
        link: (node, up, detail) => this.say(`node ${node}: ${detail}`),
      }, this.options.remoteWindow);
      this.nodes.set(name, n);
    }
    return n;
  }

  /** Many entries arrive together (a node's 1 000 devices): the node reconciles once per turn. */
  private changed(n: RemoteNode): void {
    if (this.pendingChanges.size === 0) {
      setImmediate(() => {
        const ns = [...this.pendingChanges];
        this.pendingChanges.clear();
        if (!this.closed) for (const x of ns) x.changed();
      });
    }
    this.pendingChanges.add(n);
  }

  private ignore(key: string, why: string): void {
    this.counts.ignoredEntries++;
    this.emit('warning', `directory entry ${key} ignored: ${why}`);
  }

  private onChange(c: DirectoryChange): void {
    if (this.closed) return;
    const k = parseKey(c.key);
    if (k === null) return this.ignore(c.key, 'not a key of this directory');
    if (k.node === this.options.node) return;
    const n = this.node(k.node);
    if (k.kind === 'alive') {
      if (c.value === null) {
        // The node left the cluster (it deletes its liveness entry on the way out).
        if (n.alive) this.say(`node ${k.node} left the cluster; its devices are removed`);
        n.alive = false;
        this.liveness.forget(k.node);
        this.changed(n);
        return;
      }
      const e = readAliveEntry(k.node, c.value);
      if (typeof e === 'string') return this.ignore(c.key, e);
      // A value found by a (re)started watch may be old: aged by its server time stamp.
      const age = c.initial ? Date.now() - c.created.getTime() : 0;
      const addrChanged = n.addr !== e.addr;
      n.addr = e.addr;
      const cameUp = this.liveness.beat(k.node, age);
      if (cameUp) {
        n.alive = true;
        this.say(`node ${k.node} alive (${e.addr ?? 'import only'})`);
        this.emit('node-up', k.node);
      }
      if (cameUp || addrChanged) this.changed(n);
      return;
    }
    if (c.value === null) n.devices.delete(k.dev);
    else {
      const e = readDeviceEntry(k, c.value);
      if (typeof e === 'string') return this.ignore(c.key, e);
      n.devices.add(k.dev);
    }
    this.changed(n);
  }

  private checkLiveness(): void {
    for (const name of this.liveness.expire()) {
      const n = this.nodes.get(name);
      if (n === undefined || !n.alive) continue;
      n.alive = false;
      this.say(`node ${name} dead: its liveness entry is older than ${DEAD_AFTER_MS} ms; its devices are removed`);
      this.emit('node-dead', name);
      n.changed();
    }
  }

  /** Is local device `dev` one this router imported from another node? */
  isImported(dev: number): boolean {
    for (const n of this.nodes.values()) if (n.hasLocal(dev)) return true;
    return false;
  }

  /** Other nodes, as seen now. */
  peers(): { node: string; alive: boolean; addr: string | null; devices: number; linkUp: boolean; deviceMap: { remote: number; local: number }[] }[] {
    return [...this.nodes.values()].map((n) => ({ node: n.name, alive: n.alive, addr: n.addr, devices: n.devices.size, linkUp: n.linkUp, deviceMap: n.deviceMap() }));
  }

  stats(): ClusterStats {
    let remoteDevices = 0;
    for (const n of this.nodes.values()) remoteDevices += n.deviceMap().length;
    let publishedDevices = 0;
    for (const [k, v] of this.written) if (v !== '' && parseKey(k)?.kind === 'dev') publishedDevices++;
    return {
      node: this.options.node, directoryUp: this.directory?.isConnected ?? false, frozenTotal: this.counts.frozenTotal,
      nodesAlive: this.liveness.alive().length, remoteDevices, publishedDevices, ignoredEntries: this.counts.ignoredEntries, writeFailures: this.counts.writeFailures,
    };
  }

  /**
   * Leave: our entries are deleted (the others remove our devices at once instead of after
   * DEAD_AFTER_MS), remote devices are removed here, the listener closes.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearInterval(this.checker);
    const dir = this.directory;
    this.directory = undefined;
    if (dir !== undefined) {
      await this.syncing?.catch(() => {});
      if (dir.isConnected) {
        const keys = [...this.written.keys()];
        // Devices first, the liveness entry last.
        keys.sort((a, b) => Number(parseKey(a)?.kind === 'alive') - Number(parseKey(b)?.kind === 'alive'));
        const leave = (async () => {
          await Promise.allSettled(keys.filter((k) => parseKey(k)?.kind !== 'alive').map((k) => dir.delete(k)));
          await dir.delete(aliveKey(this.options.node)).catch(() => {});
        })();
        await Promise.race([leave, new Promise((r) => setTimeout(r, LEAVE_TIMEOUT_MS).unref())]);
      }
      await dir.close();
    }
    await Promise.allSettled([...this.nodes.values()].map((n) => n.close()));
    await this.local?.close().catch(() => {});
    await this.served?.close();
  }
}
