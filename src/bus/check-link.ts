// Checking a link URI for `vmsg route` without opening anything, and our role on a
// shared-memory bus: which side of the router the external program sits on fixes it. Kept
// apart from open.ts so that the start-up checks load no bus adapter.
import { LinkUriError, parseLinkUri, splitModelParam, type LinkRole, type ShmLinkUri } from './uri.js';
import { shmLinkOptions, type ShmLinkOptions } from './shm-options.js';
import { parseStreamUri, streamOptions, STREAM_DEVICE_PARAMS } from './stream-socket.js';
import { legacyOptions } from './legacy/options.js';

/** Where a model= on a link URI applies today. */
export const MODEL_WHERE = 'model= applies to a driver\'s channel (vmsg bench --target) and to in-process links (ModelLink, vmsg stress --model); a route link to an external program does not take it';

/** Our options on a shared-memory bus, refusing a role= that contradicts the link's side. */
export function shmOptionsFor(uri: ShmLinkUri, ourRole: LinkRole, what: string): ShmLinkOptions {
  const o = shmLinkOptions(uri, ourRole);
  if (o.role !== ourRole) {
    throw new LinkUriError(`link URI "${uri.text}": ${what}, so our role on that bus is ${ourRole} (role=${ourRole}); got role=${o.role}`);
  }
  return o;
}

/**
 * Check `uriText` for a link on `side` without opening anything (the CLI checks every link
 * before starting): throws LinkUriError naming the problem (TLS files are read here, so a
 * missing one is found too). Returns the warnings to print at start-up (an insecure listener).
 */
export function checkLinkUri(uriText: string, side: 'driver' | 'device'): string[] {
  if (splitModelParam(uriText).model !== undefined) throw new LinkUriError(`link URI "${uriText}": ${MODEL_WHERE}`);
  const uri = parseLinkUri(uriText);
  if (uri.scheme === 'vmamp' || uri.scheme === 'spsc') {
    if (side === 'driver') shmOptionsFor(uri, 'device', '--driver-link attaches an external driver');
    else shmOptionsFor(uri, 'driver', '--device-link attaches an external device side');
    return [];
  }
  if (uri.scheme === 'qemu-v0' || uri.scheme === 'openamp') {
    legacyOptions(uri);
    if (side === 'driver') throw new LinkUriError(`link URI "${uriText}": ${uri.scheme} is a legacy device side: use it with --device-link (or --target)`);
    return [];
  }
  const w = streamOptions(parseStreamUri(uriText), side === 'device' ? STREAM_DEVICE_PARAMS : []).insecureWarning;
  return w === undefined ? [] : [w];
}

