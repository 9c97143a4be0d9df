// The parameters of the shared-memory link URIs (vmamp:PATH?…, spsc:PATH?…), checked once for
// both buses: `size`, `role`, `sock` are the CLI contract; `ping`, `wait` and `remap_base` are
// this implementation's extensions (documented in README "External buses").
import { checkParams, LinkUriError, type LinkRole, type ShmLinkUri } from './uri.js';

export const SHM_PARAMS = ['size', 'role', 'sock', 'ping', 'wait', 'remap_base'] as const;

/** Keep-alive PING period when `ping=` is not given. */
export const DEFAULT_PING_MS = 250;

export interface ShmLinkOptions {
  uri: ShmLinkUri;
  path: string;
  /** Window bytes; undefined only on the driver side, where the file's size is used. */
  size: number | undefined;
  role: LinkRole;
  sock: string | undefined;
  /** Keep-alive period in ms; 0 = no PINGs (death then shows only in the window state or the socket). */
  pingMs: number;
  /** How long opening may wait for the peer, ms; 0 = forever (undefined = the caller's default). */
  waitMs: number | undefined;
  /** Where remap rule 3 starts on a link to a device side (src/bus/remap.ts); undefined = its default. */
  remapBase: number | undefined;
}

function intParam(uri: ShmLinkUri, name: string, max: number, unit = ' (ms)'): number | undefined {
  const v = uri.params.get(name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > max) throw new LinkUriError(`link URI "${uri.text}": ${name}= must be an integer from 0 to ${max}${unit}, got "${v}"`);
  return Number(v);
}

/**
 * Resolve the parameters for our role. `defaultRole` applies when `role=` is absent (the CLI:
 * device for --driver-link, driver for --device-link and for vmsg bench --target).
 */
export function shmLinkOptions(uri: ShmLinkUri, defaultRole: LinkRole): ShmLinkOptions {
  checkParams(uri, SHM_PARAMS);
  const role = uri.role ?? defaultRole;
  if (role === 'device' && uri.size === undefined) {
    throw new LinkUriError(`link URI "${uri.text}": role=device builds the window, so it needs size=BYTES (e.g. size=8192)`);
  }
  return {
    uri,
    path: uri.path,
    size: uri.size,
    role,
    sock: uri.sock,
    pingMs: intParam(uri, 'ping', 3_600_000) ?? DEFAULT_PING_MS,
    waitMs: intParam(uri, 'wait', 24 * 3_600_000),
    remapBase: intParam(uri, 'remap_base', 65535, ''),
  };
}
