// Opening a link URI (src/bus/uri.ts, the CLI contract) as a router link or as a driver's frame
// channel: dispatch by scheme to the bus adapter. Which side of the router the external program
// sits on fixes our role on a shared-memory bus: an external driver (`--driver-link`) means we
// are its bus's device side (role=device); an external device side (`--device-link`, `vmsg
// bench --target`) means we are the driver (role=driver).
import type { Router } from '../router/router.js';
import type { BusLink, FrameChannel } from './bus-link.js';
import { LinkUriError, parseLinkUri, splitModelParam } from './uri.js';
import { ModelChannel } from './model/model-channel.js';
import { loadBusModel, type BusModel } from './model/bus-model.js';
import { openVmampChannel, openVmampLink } from './vmamp.js';
import { openSpscChannel, openSpscLink } from './spsc.js';
import { deadlineIn } from './open-deadline.js';
import { openStreamLink, openStreamChannel } from './stream.js';
import { routeLinkModel, shmOptionsFor } from './check-link.js';

export { checkLinkUri } from './check-link.js';
import type { RemapEvent } from './gateway.js';
import { legacyOptions } from './legacy/options.js';
import { LegacyChannel, LegacyLink } from './legacy/link.js';

export interface OpenLinkOptions {
  /** How long to wait for the peer, ms (0 = forever). Default: `wait=` of the URI, else forever for links, 10 s for channels. */
  waitMs?: number;
  /** Cancels a pending open (e.g. on Ctrl-C). */
  signal?: AbortSignal;
  /** Notable link events (device remaps, hotplug; a link going down is told by `BusLink.down`), one line each. */
  log?: (line: string) => void;
  /** Frame channels: told once when opening has waited a second for the peer (what for, until when). */
  notice?: (line: string) => void;
  /** Drive the target (openFrameChannel) or put between the router and the link (openBusLink) this bus model (as `model=` on the URI; not both). */
  model?: string | BusModel;
}

/** Default wait of openFrameChannel: a benchmark should fail, not hang, when nothing is there. */
const CHANNEL_WAIT_MS = 10_000;

/**
 * Attach the external program behind `uriText` to `router`. side 'driver': it is a driver (we
 * serve it the router's devices); side 'device': it is a device-side bus (its devices join the
 * router's, discovered with GET_DEVICES). Resolves once the link runs.
 */
export async function openBusLink(router: Router, uriText: string, side: 'driver' | 'device', opts: OpenLinkOptions = {}): Promise<BusLink> {
  // A bus model sits between the router and the link: every endpoint the link attaches goes through it.
  const { text, model } = routeLinkModel(uriText, opts.model);
  uriText = text;
  const uri = parseLinkUri(uriText);
  switch (uri.scheme) {
    case 'vmamp':
    case 'spsc': {
      const o = side === 'driver'
        ? shmOptionsFor(uri, 'device', '--driver-link attaches an external driver')
        : shmOptionsFor(uri, 'driver', '--device-link attaches an external device side');
      const deadline = deadlineIn(opts.waitMs ?? o.waitMs ?? 0, opts.signal);
      return uri.scheme === 'vmamp' ? openVmampLink(router, o, side, deadline, opts.log) : openSpscLink(router, o, side, deadline, opts.log);
    }
    case 'qemu-v0':
    case 'openamp': {
      const o = legacyOptions(uri);
      if (side === 'driver') throw new LinkUriError(`link URI "${uriText}": ${uri.scheme} is a legacy device side: use it with --device-link (or --target)`);
      return LegacyLink.open(router, o, deadlineIn(opts.waitMs ?? o.waitMs ?? 0, opts.signal), opts.log, model);
    }
    default: {
      const link = await openStreamLink(router, uriText, side, { model });
      const log = opts.log;
      if (log !== undefined) {
        link.on('up', (remote: string) => log(`${uriText}: connected to ${remote}`));
        link.on('drop', (remote: string, reason: string) => log(`${uriText}: ${remote} dropped (${reason})`));
        link.on('refused', (e: Error) => log(`${uriText}: ${e.message}`));
        link.on('warning', (w: string) => log(w));
        link.on('remap', (r: RemapEvent) => log(`${uriText}: remote device ${r.remote} is local device ${r.local}`));
      }
      return link;
    }
  }
}

/**
 * Open `uriText` as a driver's raw frame channel to an external device-side bus; with a bus
 * model (`model=` on the URI or `opts.model`) the channel behaves like that bus (ModelChannel).
 */
export async function openFrameChannel(uriText: string, opts: OpenLinkOptions = {}): Promise<FrameChannel> {
  const split = splitModelParam(uriText);
  if (split.model !== undefined && opts.model !== undefined) throw new LinkUriError(`link URI "${uriText}": a model is given both as model= and as an option`);
  const model = split.model ?? opts.model;
  if (model !== undefined) {
    let m: BusModel;
    try {
      m = typeof model === 'string' ? loadBusModel(model) : model;
    } catch (e) {
      throw new LinkUriError(`link URI "${uriText}": model: ${(e as Error).message}`);
    }
    return new ModelChannel(await openFrameChannel(split.text, { ...opts, model: undefined }), m);
  }
  const uri = parseLinkUri(uriText);
  switch (uri.scheme) {
    case 'vmamp':
    case 'spsc': {
      const o = shmOptionsFor(uri, 'driver', 'a frame channel drives a device-side bus');
      const deadline = deadlineIn(opts.waitMs ?? o.waitMs ?? CHANNEL_WAIT_MS, opts.signal, opts.notice);
      return uri.scheme === 'vmamp' ? openVmampChannel(o, deadline) : openSpscChannel(o, deadline);
    }
    case 'qemu-v0':
    case 'openamp': {
      const o = legacyOptions(uri);
      return LegacyChannel.open(o, deadlineIn(opts.waitMs ?? o.waitMs ?? CHANNEL_WAIT_MS, opts.signal));
    }
    default:
      return openStreamChannel(uriText);
  }
}
