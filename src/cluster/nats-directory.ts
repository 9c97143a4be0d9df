// The directory's store: one JetStream KV bucket on a NATS server, through the official client
// (@nats-io/transport-node, @nats-io/kv). It connects (credentials and TLS from the options),
// opens the bucket (creating it when absent and allowed), writes this node's keys, and watches
// every key. The client reconnects by itself with backoff; this class says when the directory
// is out of reach ('frozen') and back ('resumed'), and restarts the watch from the last
// revision seen so nothing written meanwhile is missed.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type Authenticator, type NatsConnection, type QueuedIterator } from '@nats-io/transport-node';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { parseNatsUrl } from './cluster-options.js';

export interface NatsDirectoryOptions {
  url: string;
  bucket: string;
  credsFile?: string;
  /** CA (PEM) the server's certificate must be signed by; implies TLS. */
  caFile?: string;
  /** Connection name the server shows (`vmsg-<node>`). */
  name: string;
  /** How long the first connection may take (ms). */
  connectTimeoutMs?: number;
}

/** A key's new value (PUT) or its removal (DEL, PURGE). */
export interface DirectoryChange {
  key: string;
  value: Uint8Array | null;
  revision: number;
  /** Server time the entry was written. */
  created: Date;
  /** Part of the values a (re)started watch delivers first: possibly old, unlike a change seen live. */
  initial: boolean;
}

/** Reconnect wait between attempts (ms); the client adds jitter. */
const RECONNECT_WAIT_MS = 250;

/** The credentials file: a NATS .creds file (JWT + seed), or a bare NKEY user seed. */
function authenticator(file: string): Authenticator {
  const text = readFileSync(file);
  if (text.includes('-----BEGIN NATS USER JWT-----')) return credsAuthenticator(new Uint8Array(text));
  const seed = text.toString('utf8').trim();
  if (/^SU[A-Z2-7]{56}$/.test(seed)) return nkeyAuthenticator(new TextEncoder().encode(seed));
  throw new Error(`--cluster-creds ${file}: neither a NATS .creds file nor an NKEY user seed (SU...)`);
}

export class NatsDirectory extends EventEmitter {
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private lastRevision = 0;
  private closing = false;
  private connected = true;

  private constructor(readonly nc: NatsConnection, readonly kv: KV, readonly bucket: string) {
    super();
    void this.followStatus();
  }

  /** Connect and open (or create) the bucket. Rejects with a message naming what failed. */
  static async open(o: NatsDirectoryOptions): Promise<NatsDirectory> {
    const servers = parseNatsUrl(o.url);
    // With a CA the connection is TLS even on a nats:// URL: a server that does not offer TLS is refused.
    const tls = o.caFile !== undefined ? { caFile: o.caFile } : servers.some((s) => s.startsWith('tls://')) ? {} : undefined;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: o.name,
        authenticator: o.credsFile === undefined ? undefined : authenticator(o.credsFile),
        tls,
        timeout: o.connectTimeoutMs ?? 5000,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_WAIT_MS,
        // Our own liveness rules decide about peers; the client only needs to notice a dead server soon.
        pingInterval: 2000,
        maxPingOut: 2,
      });
    } catch (e) {
      const why = (e as Error).message;
      const hint = /certificate|verify/i.test(why) ? ` (the server's certificate is not signed by ${o.caFile === undefined ? 'a CA this host trusts: give its CA with --cluster-ca FILE' : `the CA in ${o.caFile}`})` : '';
      throw new Error(`cannot connect to the NATS server ${o.url}: ${why}${hint}`);
    }
    try {
      const kvm = new Kvm(nc);
      let kv = await kvm.open(o.bucket);
      try {
        await kv.status();
      } catch (e) {
        if (!/stream not found/i.test((e as Error).message)) throw e;
        // History 1: the directory is the latest value of each key.
        kv = await kvm.create(o.bucket, { history: 1 });
      }
      return new NatsDirectory(nc, kv, o.bucket);
    } catch (e) {
      await nc.close().catch(() => {});
      const why = (e as Error).message;
      const hint = /permission/i.test(why) ? ' (the bucket may have to be created by an administrator: README "Cluster")' : /JetStream not enabled|jetstream.*not.*available|503/i.test(why) ? ' (start nats-server with -js)' : '';
      throw new Error(`NATS ${o.url}: cannot open the directory bucket "${o.bucket}": ${why}${hint}`);
    }
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Watch every key: the current values first, then changes, as 'change' events (DirectoryChange). */
  async watch(): Promise<void> {
    const w = await this.kv.watch({ key: '>', ...(this.lastRevision > 0 ? { resumeFromRevision: this.lastRevision + 1 } : {}) });
    this.watcher = w;
    void (async () => {
      try {
        for await (const e of w) {
          if (e.revision <= this.lastRevision) continue; // seen before a restart of the watch
          this.lastRevision = e.revision;
          this.emit('change', { key: e.key, value: e.operation === 'PUT' ? e.value : null, revision: e.revision, created: e.created, initial: !e.isUpdate } satisfies DirectoryChange);
        }
      } catch (e) {
        if (!this.closing) this.emit('warning', `directory watch ended: ${(e as Error).message}`);
      }
    })();
  }

  /** After a reconnect: watch again from the last revision seen (JetStream may need a moment after a server restart). */
  private async restartWatch(): Promise<void> {
    let said = false;
    while (this.connected && !this.closing) {
      try {
        await this.watch();
        return;
      } catch (e) {
        if (!said) this.emit('warning', `directory watch could not restart yet: ${(e as Error).message}; retrying`);
        said = true;
        await new Promise((r) => setTimeout(r, RECONNECT_WAIT_MS * 2));
      }
    }
  }

  async put(key: string, value: string): Promise<void> {
    await this.kv.put(key, value);
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  /** Keys present under `filter` (e.g. `node.>`). */
  async keys(filter: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys(filter)) out.push(k);
    return out;
  }

  /** Server connection events → 'frozen' (why) and 'resumed'; the watch restarts after a reconnect. */
  private async followStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closing) return;
      if (s.type === 'disconnect' && this.connected) {
        this.connected = false;
        this.emit('frozen', `lost the NATS server ${s.server}`);
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.watcher?.stop();
        this.watcher = undefined;
        // Not awaited: status events keep flowing while the watch restarts.
        void this.restartWatch().then(() => {
          if (this.connected && !this.closing) this.emit('resumed', s.server);
        });
      } else if (s.type === 'error') {
        this.emit('warning', `NATS: ${String((s as { error?: unknown }).error ?? 'error')}`);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.watcher?.stop();
    await this.nc.close().catch(() => {});
  }
}
