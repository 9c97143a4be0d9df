// Checking a link URI for `vmsg route` without opening anything, and our role on a
// shared-memory bus: which side of the router the external program sits on fixes it. Kept
// apart from open.ts so that the start-up checks load no bus adapter.
import { LinkUriError, parseLinkUri, splitModelParam, type LinkRole, type ShmLinkUri } from './uri.js';
import { shmLinkOptions, type ShmLinkOptions } from './shm-options.js';
import { parseStreamUri, streamOptions, STREAM_DEVICE_PARAMS } from './stream-socket.js';
import { legacyOptions } from './legacy/options.js';
import { loadBusModel, type BusModel } from '../model/bus-model.js';
import { SPSC_MIN_CAPACITY, SPSC_SLOTS, SPSC_SLOT_SIZE, VMAMP_ELEMENTS_AT, VMAMP_ELEMENT_SIZE, VMAMP_MAX_ELEMENTS } from '../wasm/layout.js';

/**
 * A route link's bus model (`model=NAME|FILE` on the URI, or `given` by the API; not both),
 * checked: the URI without it and the parsed model.
 */
export function routeLinkModel(uriText: string, given?: string | BusModel): { text: string; model: BusModel | undefined } {
  const { text, model: named } = splitModelParam(uriText);
  if (named !== undefined && given !== undefined) throw new LinkUriError(`link URI "${uriText}": a model is given both as model= and as an option`);
  const model = named ?? given;
  if (model === undefined) return { text, model: undefined };
  if (typeof model !== 'string') return { text, model };
  try {
    return { text, model: loadBusModel(model) };
  } catch (e) {
    throw new LinkUriError(`link URI "${uriText}": model=${model}: ${(e as Error).message}`);
  }
}

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
  uriText = routeLinkModel(uriText).text;
  const uri = parseLinkUri(uriText);
  if (uri.scheme === 'vmamp' || uri.scheme === 'spsc') {
    const o = side === 'driver' ? shmOptionsFor(uri, 'device', '--driver-link attaches an external driver')
      : shmOptionsFor(uri, 'driver', '--device-link attaches an external device side');
    if (o.role === 'device') checkWindowSize(uri.scheme, uri.text, o.size!);
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


/**
 * The windows we can build: two elements per direction at least (vmamp: the 80-byte header,
 * then 64-byte elements; SPSC: two rings of two slots each), and on vmamp at most 65535 per
 * direction (its element count is a u16). Other sizes fail only once the router runs, so the
 * start-up checks refuse them here.
 */
function checkWindowSize(scheme: 'vmamp' | 'spsc', text: string, size: number): void {
  const min = scheme === 'vmamp' ? VMAMP_ELEMENTS_AT + 4 * VMAMP_ELEMENT_SIZE : 2 * (SPSC_SLOTS + SPSC_MIN_CAPACITY * SPSC_SLOT_SIZE);
  if (size < min) throw new LinkUriError(`link URI "${text}": size=${size} is too small: a ${scheme} window needs at least ${min} bytes (2 frames per direction; e.g. size=8192)`);
  const max = VMAMP_ELEMENTS_AT + (VMAMP_MAX_ELEMENTS + 1) * 2 * VMAMP_ELEMENT_SIZE - 1;
  if (scheme === 'vmamp' && size > max) {
    throw new LinkUriError(`link URI "${text}": size=${size} is too large: a vmamp window holds at most ${VMAMP_MAX_ELEMENTS} frames per direction, so at most ${max} bytes`);
  }
}
