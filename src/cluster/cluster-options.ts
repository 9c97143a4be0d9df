// What `vmsg route --cluster nats://HOST:PORT --node NAME [--advertise tcp:HOST:PORT | tls:HOST:PORT?...]
// [--cluster-creds FILE] [--cluster-ca FILE] [--cluster-window N]` (and the config file's "cluster" object) says, checked with errors that
// name the option. The directory lives in NATS; the advertised address is where this router
// serves its devices to the other routers' gateways (README "Cluster").
import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { isLoopbackHost } from '../bus/stream-socket.js';

/** JetStream KV bucket of the directory unless the options say otherwise. */
export const DEFAULT_BUCKET = 'vmsg';

/** Largest correlation window of an imported device (the router's own limit). */
const REMOTE_WINDOW_MAX = 32768;

/** Node names are one NATS subject token: they are the first token of every key the node writes. */
const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const BUCKET_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface ClusterOptions {
  /** NATS server(s): `nats://HOST:PORT` (`tls://` for a TLS connection); user:password@ may precede the host. */
  url: string;
  /** This router's name in the directory; unique in the cluster. */
  node: string;
  /** Where other routers reach this one's devices (`tcp:HOST:PORT`, `tls:HOST:PORT?cert=&key=&ca=`); none = import only. */
  advertise?: string;
  /** NATS credentials file: a `.creds` file (user JWT + NKEY seed) or a file holding an NKEY user seed. */
  credsFile?: string;
  /** CA certificate(s) (PEM) that must have signed the NATS server's certificate; the connection is then TLS whatever the URL's scheme. */
  caFile?: string;
  /** JetStream KV bucket (created if absent). */
  bucket?: string;
  /**
   * Correlation window of each device imported from another node (requests in flight to it
   * through this router at once; more wait in order). A power of two; default the router's
   * window. The far router correlates the same requests again in its own window, so a smaller
   * one here costs only throughput beyond it and saves 16 B of router memory per entry.
   */
  remoteWindow?: number;
}

/** The advertised address, split: what is published and how to listen and connect. */
export interface Advertise {
  /** As published in the directory (no file names): `tcp:HOST:PORT` or `tls:HOST:PORT`. */
  address: string;
  host: string;
  port: number;
  tls: { cert: string; key: string; ca: string } | undefined;
  /** tcp: on an address other hosts can reach, accepted without authentication (`?insecure=1`). */
  insecure: boolean;
}

export class ClusterOptionError extends Error {
  override name = 'ClusterOptionError';
}

/** Check every field; throws ClusterOptionError naming the option (`--node`, `--advertise`, ...). */
export function checkClusterOptions(o: ClusterOptions): void {
  parseNatsUrl(o.url);
  if (!NODE_NAME.test(o.node)) throw new ClusterOptionError(`--node must be 1 to 64 letters, digits, '-' or '_' (it is a NATS subject token), got "${o.node}"`);
  if (o.bucket !== undefined && !BUCKET_NAME.test(o.bucket)) throw new ClusterOptionError(`cluster bucket must be 1 to 64 letters, digits, '-' or '_', got "${o.bucket}"`);
  if (o.advertise !== undefined) parseAdvertise(o.advertise);
  if (o.credsFile !== undefined && !existsSync(o.credsFile)) throw new ClusterOptionError(`--cluster-creds ${o.credsFile} does not exist`);
  if (o.caFile !== undefined && !existsSync(o.caFile)) throw new ClusterOptionError(`--cluster-ca ${o.caFile} does not exist`);
  const w = o.remoteWindow;
  if (w !== undefined && (!Number.isInteger(w) || w < 1 || w > REMOTE_WINDOW_MAX || (w & (w - 1)) !== 0)) {
    throw new ClusterOptionError(`--cluster-window must be a power of two from 1 to ${REMOTE_WINDOW_MAX}, got ${String(w)}`);
  }
}

/** `nats://HOST:PORT` or `tls://HOST:PORT` (comma-separated for several servers). */
export function parseNatsUrl(url: string): string[] {
  const servers = url.split(',');
  for (const s of servers) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new ClusterOptionError(`--cluster "${s}" is not a URL; give nats://HOST:PORT`);
    }
    if (u.protocol !== 'nats:' && u.protocol !== 'tls:') throw new ClusterOptionError(`--cluster "${s}": the scheme must be nats:// or tls://, got ${u.protocol}//`);
    if (u.hostname === '' || u.port === '') throw new ClusterOptionError(`--cluster "${s}": give the host and the port, nats://HOST:PORT`);
  }
  return servers;
}

/**
 * `tcp:HOST:PORT` or `tls:HOST:PORT?cert=PEM&key=PEM&ca=PEM`. With tls the router listens with
 * its certificate and requires client certificates signed by `ca`, and presents the same
 * certificate to the nodes it connects to (one cluster CA). HOST must be an address the other
 * routers can reach: not a wildcard. Port 0 picks a free port (the real one is published).
 */
export function parseAdvertise(text: string): Advertise {
  const m = /^(tcp|tls):(\[[0-9a-fA-F:.]+\]|[^:?[\]]+):(\d{1,5})(?:\?(.*))?$/.exec(text);
  if (m === null) throw new ClusterOptionError(`--advertise "${text}" is not tcp:HOST:PORT or tls:HOST:PORT?cert=PEM&key=PEM&ca=PEM`);
  const [, scheme, rawHost, portText, query] = m;
  const host = rawHost!.startsWith('[') ? rawHost!.slice(1, -1) : rawHost!;
  const port = Number(portText);
  if (port > 65535) throw new ClusterOptionError(`--advertise "${text}": port ${port} is above 65535`);
  if (host === '0.0.0.0' || host === '::') throw new ClusterOptionError(`--advertise "${text}": ${host} is not an address other routers can reach; give this host's address`);
  if (rawHost!.startsWith('[') && isIP(host) !== 6) throw new ClusterOptionError(`--advertise "${text}": [${host}] is not an IPv6 address`);
  const params = new Map<string, string>();
  for (const part of (query ?? '').split('&').filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ClusterOptionError(`--advertise "${text}": "${part}" is not key=value`);
    params.set(decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1)));
  }
  let tls: Advertise['tls'];
  if (scheme === 'tls') {
    for (const k of params.keys()) if (k !== 'cert' && k !== 'key' && k !== 'ca') throw new ClusterOptionError(`--advertise "${text}": unknown option "${k}" (cert, key, ca)`);
    const cert = params.get('cert');
    const key = params.get('key');
    const ca = params.get('ca');
    if (cert === undefined || key === undefined || ca === undefined) {
      throw new ClusterOptionError(`--advertise "${text}": tls: needs cert=PEM&key=PEM&ca=PEM (this router's certificate and the cluster CA; peers must present certificates it signed)`);
    }
    for (const [k, f] of [['cert', cert], ['key', key], ['ca', ca]] as const) {
      if (!existsSync(f)) throw new ClusterOptionError(`--advertise "${text}": ${k}=${f} does not exist`);
    }
    tls = { cert, key, ca };
  } else {
    for (const k of params.keys()) if (k !== 'insecure') throw new ClusterOptionError(`--advertise "${text}": tcp: takes only insecure=1 (use tls:HOST:PORT?cert=&key=&ca= for TLS)`);
  }
  const insecure = params.get('insecure') === '1';
  if (params.has('insecure') && !insecure) throw new ClusterOptionError(`--advertise "${text}": insecure= takes 1`);
  // The same rule as a tcp-listen: link (README "Network defaults"): other hosts only with client
  // certificates, or when the user says so.
  if (scheme === 'tcp' && !insecure && !isLoopbackHost(host)) {
    throw new ClusterOptionError(`--advertise "${text}" lets other hosts reach this router's devices without authentication; use tls:${host}:${port}?cert=PEM&key=PEM&ca=PEM, or accept any peer with tcp:${host}:${port}?insecure=1`);
  }
  const bracket = host.includes(':') ? `[${host}]` : host;
  return { address: `${scheme}:${bracket}:${port}`, host, port, tls, insecure };
}
