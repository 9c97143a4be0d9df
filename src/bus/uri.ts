// Link URIs (the CLI contract of `vmsg route` / `vmsg bench`, kept stable):
//   vmamp:PATH?size=BYTES&role=device|driver&sock=SOCKPATH   (no sock = busy-poll)
//   spsc:PATH?size=BYTES&role=device|driver&sock=SOCKPATH
//   unix:PATH   unix-listen:PATH   tcp:HOST:PORT   tcp-listen:[HOST:]PORT
//   qemu-v0:DIR?name=NAME&sock=SOCKPATH&mem=FILE&mem_base=ADDR[&dev=N]   (legacy v0 device sides,
//   openamp:PATH?base=ADDR[&msg_size=BYTES][&dev=N]                       src/bus/legacy/options.ts)
// Any of them may carry model=NAME|FILE (a bus model: splitModelParam).
// Parsing only: each bus checks the options it understands (parameters it does not know are
// refused there, with the list of known ones).

export type ShmScheme = 'vmamp' | 'spsc';
export type StreamScheme = 'unix' | 'unix-listen' | 'tcp' | 'tcp-listen';
export type LegacyScheme = 'qemu-v0' | 'openamp';
export type LinkRole = 'device' | 'driver';

interface UriBase {
  /** The URI as given. */
  text: string;
  /** Query parameters (`?a=1&b=2`), decoded; repeated keys are refused. */
  params: Map<string, string>;
}

export interface ShmLinkUri extends UriBase {
  scheme: ShmScheme;
  /** File of the shared window (e.g. under /dev/shm). */
  path: string;
  /** Window bytes (`size=`), undefined when not given. */
  size: number | undefined;
  /** Our role on that bus (`role=`): device = we build the window; driver = we attach to one. */
  role: LinkRole | undefined;
  /** Doorbell Unix socket (`sock=`); undefined = both sides busy-poll. */
  sock: string | undefined;
}

export interface StreamLinkUri extends UriBase {
  scheme: StreamScheme;
  /** unix / unix-listen: socket path. */
  path: string | undefined;
  /** tcp: host to connect to; tcp-listen: address to bind (undefined: 127.0.0.1, stream-socket.ts). */
  host: string | undefined;
  port: number | undefined;
}

export interface LegacyLinkUri extends UriBase {
  scheme: LegacyScheme;
  /** qemu-v0: QEMU's working directory (its queue files); openamp: the shared file. */
  path: string;
}

export type LinkUri = ShmLinkUri | StreamLinkUri | LegacyLinkUri;

export class LinkUriError extends Error {
  override name = 'LinkUriError';
}

const FORMS = 'vmamp:PATH?size=BYTES&role=device|driver&sock=SOCKPATH, spsc:PATH?..., unix:PATH, unix-listen:PATH, tcp:HOST:PORT, tcp-listen:[HOST:]PORT, ' +
  'qemu-v0:DIR?name=NAME&sock=SOCKPATH&mem=FILE&mem_base=ADDR[&dev=N], openamp:PATH?base=ADDR[&msg_size=BYTES][&dev=N]';

function fail(text: string, why: string): never {
  throw new LinkUriError(`link URI "${text}": ${why} (forms: ${FORMS})`);
}

function parsePort(text: string, s: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) fail(text, `port must be 0..65535, got "${s}"`);
  return Number(s);
}

function parseQuery(text: string, q: string): Map<string, string> {
  const params = new Map<string, string>();
  if (q === '') return params;
  for (const part of q.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) fail(text, `query parameter "${part}" is not key=value`);
    let key: string, value: string;
    try {
      key = decodeURIComponent(part.slice(0, eq));
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      fail(text, `query parameter "${part}" has a bad %-escape`);
    }
    if (params.has(key)) fail(text, `query parameter "${key}" given twice`);
    params.set(key, value);
  }
  return params;
}

/** Parse a link URI; a malformed one throws LinkUriError naming the problem and the accepted forms. */
export function parseLinkUri(text: string): LinkUri {
  if (typeof text !== 'string' || text === '') fail(String(text), 'empty');
  const colon = text.indexOf(':');
  if (colon <= 0) fail(text, 'no scheme');
  const scheme = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  const qAt = rest.indexOf('?');
  const body = qAt < 0 ? rest : rest.slice(0, qAt);
  const params = parseQuery(text, qAt < 0 ? '' : rest.slice(qAt + 1));
  switch (scheme) {
    case 'vmamp':
    case 'spsc': {
      if (body === '') fail(text, 'the window file path is missing');
      const sizeText = params.get('size');
      let size: number | undefined;
      if (sizeText !== undefined) {
        if (!/^\d+$/.test(sizeText)) fail(text, `size must be a byte count, got "${sizeText}"`);
        size = Number(sizeText);
      }
      const role = params.get('role');
      if (role !== undefined && role !== 'device' && role !== 'driver') fail(text, `role must be device or driver, got "${role}"`);
      const sock = params.get('sock');
      if (sock === '') fail(text, 'sock= needs a socket path');
      return { scheme, text, params, path: body, size, role, sock };
    }
    case 'qemu-v0':
    case 'openamp':
      if (body === '') fail(text, scheme === 'qemu-v0' ? "QEMU's working directory is missing" : 'the shared file path is missing');
      return { scheme, text, params, path: body };
    case 'unix':
    case 'unix-listen':
      if (body === '') fail(text, 'the socket path is missing');
      return { scheme, text, params, path: body, host: undefined, port: undefined };
    case 'tcp': {
      const at = body.lastIndexOf(':');
      if (at <= 0) fail(text, 'tcp needs HOST:PORT');
      let host = body.slice(0, at);
      if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1); // [::1]:port
      return { scheme, text, params, path: undefined, host, port: parsePort(text, body.slice(at + 1)) };
    }
    case 'tcp-listen': {
      const at = body.lastIndexOf(':');
      let host: string | undefined = at < 0 ? undefined : body.slice(0, at);
      if (host !== undefined && host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
      if (host === '') fail(text, 'empty host before the port');
      return { scheme, text, params, path: undefined, host, port: parsePort(text, at < 0 ? body : body.slice(at + 1)) };
    }
    default:
      fail(text, `unknown scheme "${scheme}"`);
  }
}

/**
 * Take `model=NAME|FILE` (a bus model, src/bus/model/) out of a link URI: it applies to any
 * scheme and is handled before the bus sees the URI. Returns the URI without it, and the model.
 */
export function splitModelParam(text: string): { text: string; model: string | undefined } {
  const q = text.indexOf('?');
  if (q < 0) return { text, model: undefined };
  let model: string | undefined;
  const kept: string[] = [];
  for (const part of text.slice(q + 1).split('&')) {
    if (part.startsWith('model=')) {
      if (model !== undefined) fail(text, 'query parameter "model" given twice');
      try {
        model = decodeURIComponent(part.slice(6));
      } catch {
        fail(text, `query parameter "${part}" has a bad %-escape`);
      }
      if (model === '') fail(text, 'model= needs a bus model name or file');
    } else kept.push(part);
  }
  return { text: kept.length > 0 ? `${text.slice(0, q)}?${kept.join('&')}` : text.slice(0, q), model };
}

/** `text` with `model=NAME` added to its query (what `--model NAME` on a tool means). */
export function withModelParam(text: string, model: string): string {
  return `${text}${text.includes('?') ? '&' : '?'}model=${encodeURIComponent(model)}`;
}

/** Refuse parameters a bus does not understand (typos must not pass silently). */
export function checkParams(uri: LinkUri, known: readonly string[]): void {
  for (const k of uri.params.keys()) {
    if (!known.includes(k)) fail(uri.text, `unknown parameter "${k}" for ${uri.scheme} (known: ${known.join(', ') || 'none'})`);
  }
}
