// Opening a link URI (src/bus/uri.ts) as a driver's FrameChannel: what `vmsg bench/conform/
// replay --target URI` use. TEMPORARY STUB: the external buses (issue 7: vmamp, SPSC, unix/tcp
// streams) bring the real implementation, which replaces this file.
import type { FrameChannel } from './bus-link.js';

/** Open `uri` as a frame channel to a device-side bus. This build has no external bus. */
export async function openFrameChannel(uri: string): Promise<FrameChannel> {
  throw new Error(`cannot open "${uri}": external buses are not available in this build`);
}
