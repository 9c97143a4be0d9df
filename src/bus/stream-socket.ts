// Sockets of the stream bus: the URI options a stream link understands, connecting (Unix, TCP,
// TCP + TLS) and listening (with optional client-certificate checks), and the reconnect backoff.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { chmodSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { LinkUriError, checkParams, parseLinkUri, type StreamLinkUri } from './uri.js';
import { BUS_MAX_MIN_ADVERTISED, MSG_SIZE_LIMIT } from '../protocol/constants.js';
import { HELLO_NAME_MAX } from './stream-hello.js';

/** Parameters a device-side stream link (`--device-link`, a gateway) adds to the common ones. */
export const STREAM_DEVICE_PARAMS = ['remap_base', 'ping'] as const;

/** Parameters every stream link understands. */
const COMMON_PARAMS = ['name', 'max', 'tls', 'cert', 'key', 'ca', 'reconnect', 'backoff_min_ms', 'backoff_max_ms', 'insecure'] as const;

/**
 * Where `tcp-listen:PORT` binds when no host is named: this host only. A listener accepts any
 * peer as a driver or a remote router, so reaching it from other hosts has to be asked for.
 */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';

/** The address a tcp-listen URI binds. */
export function listenHost(uri: StreamLinkUri): string {
  return uri.host ?? DEFAULT_LISTEN_HOST;
}

/** Only this host can reach `host`: 127.0.0.0/8, ::1 (also IPv4-mapped), or the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return h === 'localhost' || h === '::1' || (net.isIPv4(v4) && v4.startsWith('127.'));
}

export interface StreamOptions {
  /** Name sent in STREAM_HELLO (`name=`), for the peer's logs. */
  name: string;
  /** Largest frame this side sends and accepts (`max=`); undefined = the caller's default. */
  max: number | undefined;
  /** TLS material (`tls=1`, `cert=`, `key=`, `ca=`), undefined for plain sockets. */
  tls: { cert?: Buffer; key?: Buffer; ca?: Buffer } | undefined;
  /** Connecting side: reconnect after a drop (`reconnect=`, default 1). */
  reconnect: boolean;
  /** Reconnect delays: first, then doubling up to the last (`backoff_min_ms=`, `backoff_max_ms=`). */
  backoffMinMs: number;
  backoffMaxMs: number;
  /** Parameters a particular kind of link adds (checked by it), as given. */
  extra: Map<string, string>;
  /**
   * A tcp-listen link that other hosts reach without TLS client authentication, allowed by
   * `insecure=1`: the warning to print at start-up. Undefined otherwise.
   */
  insecureWarning: string | undefined;
}

/** Parse `text` and insist on a stream scheme. */
export function parseStreamUri(text: string): StreamLinkUri {
  const uri = parseLinkUri(text);
  if (uri.scheme !== 'unix' && uri.scheme !== 'unix-listen' && uri.scheme !== 'tcp' && uri.scheme !== 'tcp-listen') {
    throw new LinkUriError(`link URI "${text}": not a stream link (unix:, unix-listen:, tcp:, tcp-listen:)`);
  }
  return uri;
}

function bad(uri: StreamLinkUri, why: string): never {
  throw new LinkUriError(`link URI "${uri.text}": ${why}`);
}

/** Integer parameter `key` in [min, max], or undefined when absent. */
export function intParam(uri: StreamLinkUri, key: string, min: number, max: number): number | undefined {
  const v = uri.params.get(key);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) bad(uri, `${key}= must be an integer from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

function flagParam(uri: StreamLinkUri, key: string, dflt: boolean): boolean {
  const v = uri.params.get(key);
  if (v === undefined) return dflt;
  if (v !== '0' && v !== '1') bad(uri, `${key}= must be 0 or 1, got "${v}"`);
  return v === '1';
}

function fileParam(uri: StreamLinkUri, key: string): Buffer | undefined {
  const path = uri.params.get(key);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    bad(uri, `${key}=${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); give a PEM file`);
  }
}

/** Check and resolve the options of a stream URI; `extra` lists the parameters the caller handles itself. */
export function streamOptions(uri: StreamLinkUri, extra: readonly string[] = []): StreamOptions {
  checkParams(uri, [...COMMON_PARAMS, ...extra]);
  const name = uri.params.get('name') ?? 'vmsg-router';
  if (Buffer.byteLength(name) > HELLO_NAME_MAX) bad(uri, `name= is at most ${HELLO_NAME_MAX} bytes of UTF-8, got ${Buffer.byteLength(name)}`);
  const max = intParam(uri, 'max', BUS_MAX_MIN_ADVERTISED, MSG_SIZE_LIMIT);
  const useTls = flagParam(uri, 'tls', false);
  const listening = uri.scheme === 'tcp-listen' || uri.scheme === 'unix-listen';
  let tlsOpts: StreamOptions['tls'];
  if (useTls) {
    if (uri.scheme === 'unix' || uri.scheme === 'unix-listen') bad(uri, 'tls=1 is for tcp: and tcp-listen: links (a Unix socket never leaves the host)');
    tlsOpts = { cert: fileParam(uri, 'cert'), key: fileParam(uri, 'key'), ca: fileParam(uri, 'ca') };
    if (listening && (tlsOpts.cert === undefined || tlsOpts.key === undefined)) bad(uri, 'a TLS listener needs its certificate: add cert=PEM&key=PEM (and ca=PEM to require client certificates)');
    if ((tlsOpts.cert === undefined) !== (tlsOpts.key === undefined)) bad(uri, 'cert= and key= go together');
  } else {
    for (const k of ['cert', 'key', 'ca']) if (uri.params.has(k)) bad(uri, `${k}= needs tls=1`);
  }
  const insecureWarning = exposure(uri, tlsOpts?.ca !== undefined);
  const reconnect = flagParam(uri, 'reconnect', true);
  if (listening && uri.params.has('reconnect')) bad(uri, 'reconnect= is for the connecting side (unix:, tcp:); a listener waits for its peer to come back');
  const backoffMinMs = intParam(uri, 'backoff_min_ms', 1, 3_600_000) ?? 100;
  const backoffMaxMs = intParam(uri, 'backoff_max_ms', 1, 3_600_000) ?? 5000;
  if (backoffMaxMs < backoffMinMs) bad(uri, `backoff_max_ms=${backoffMaxMs} is below backoff_min_ms=${backoffMinMs}`);
  const extraMap = new Map<string, string>();
  for (const k of extra) {
    const v = uri.params.get(k);
    if (v !== undefined) extraMap.set(k, v);
  }
  return { name, max, tls: tlsOpts, reconnect, backoffMinMs, backoffMaxMs, extra: extraMap, insecureWarning };
}

/**
 * Safe network default: a tcp-listen link reachable from other hosts must authenticate its
 * peers (TLS with ca=, so every client shows a certificate from that CA) or say `insecure=1`;
 * anyone who can connect becomes a driver or a remote router. Returns the start-up warning
 * for an allowed insecure listener.
 */
function exposure(uri: StreamLinkUri, clientCertificates: boolean): string | undefined {
  const insecure = flagParam(uri, 'insecure', false);
  if (uri.params.has('insecure') && uri.scheme !== 'tcp-listen') bad(uri, 'insecure= is for tcp-listen: links (the only listener other hosts can reach)');
  if (uri.scheme !== 'tcp-listen' || clientCertificates || isLoopbackHost(listenHost(uri))) return undefined;
  const where = `${listenHost(uri)}:${uri.port ?? 0}`;
  if (!insecure) {
    bad(uri, `listening on ${where} lets other hosts connect without authentication; require client certificates (tls=1&cert=PEM&key=PEM&ca=PEM), listen on 127.0.0.1, or accept any peer with insecure=1`);
  }
  return `warning: ${uri.text} accepts any peer that reaches ${where}, unauthenticated (insecure=1)`;
}

/** "tcp 127.0.0.1:7000" / "unix /run/x.sock", for messages. */
export function describeTarget(uri: StreamLinkUri): string {
  return uri.path !== undefined ? `unix ${uri.path}` : `${uri.params.get('tls') === '1' ? 'tls' : 'tcp'} ${uri.scheme === 'tcp-listen' ? listenHost(uri) : uri.host}:${uri.port ?? 0}`;
}

/** Connect to `uri` (unix: or tcp:); rejects with an error naming the target. */
export function connectSocket(uri: StreamLinkUri, opts: StreamOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let s: net.Socket;
    if (opts.tls !== undefined) {
      s = tls.connect({ host: uri.host, port: uri.port, ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key });
    } else {
      s = uri.path !== undefined ? net.connect({ path: uri.path }) : net.connect({ host: uri.host, port: uri.port! });
    }
    const onError = (e: Error): void => {
      s.destroy();
      reject(new Error(`cannot connect to ${describeTarget(uri)}: ${e.message.trim()}`));
    };
    s.once('error', onError);
    s.once(opts.tls !== undefined ? 'secureConnect' : 'connect', () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

/** Who is at the other end of an accepted socket, for messages. */
export function describePeer(s: net.Socket, uri: StreamLinkUri): string {
  return s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort}` : `unix ${uri.path}`;
}

/**
 * Listen on `uri` (unix-listen: or tcp-listen:). Accepted sockets go to `onSocket` (for TLS,
 * once the TLS handshake — and the client-certificate check when `ca=` is given — passed);
 * failed TLS handshakes go to `onRefused`. A Unix socket file left by a dead process is
 * replaced; one that a live process listens on is not.
 */
export async function listenSockets(uri: StreamLinkUri, opts: StreamOptions, onSocket: (s: net.Socket) => void, onRefused: (err: Error) => void): Promise<net.Server> {
  const server: net.Server = opts.tls !== undefined
    ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: opts.tls.ca !== undefined, rejectUnauthorized: opts.tls.ca !== undefined }, onSocket)
    : net.createServer(onSocket);
  server.on('tlsClientError', onRefused);
  const listen = (): Promise<void> => new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (uri.path !== undefined) server.listen(uri.path, done);
    else server.listen(uri.port, listenHost(uri), done);
  });
  try {
    await listen();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' && uri.path !== undefined && statSync(uri.path, { throwIfNoEntry: false })?.isSocket() && !(await someoneListens(uri.path))) {
      unlinkSync(uri.path);
      await listen();
    } else {
      throw new Error(`cannot listen on ${describeTarget(uri)}: ${(e as Error).message}`);
    }
  }
  // Owner-only, whatever the umask: connecting to a Unix socket needs write permission on it.
  if (uri.path !== undefined) chmodSync(uri.path, 0o600);
  return server;
}

function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Reconnect delays: min, 2·min, 4·min … up to max, each ±20 % so that many clients spread out. */
export class Backoff {
  private current: number;
  constructor(private readonly minMs: number, private readonly maxMs: number) {
    this.current = minMs;
  }

  next(): number {
    const d = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    return Math.round(d * (0.8 + 0.4 * Math.random()));
  }

  reset(): void {
    this.current = this.minMs;
  }
}
