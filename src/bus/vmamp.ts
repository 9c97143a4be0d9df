// The vmamp bus (docs/BUSES.md §2, byte-compatible with the Linux kernel / QEMU "virtio-msg-amp
// shmem" format) as a router link and as a driver's frame channel. Both roles:
//   role=device  we build the window (QEMU's layout: whole window zeroed, descriptor, magic
//                last); the external program is the driver (`vmsg route --driver-link`);
//   role=driver  we validate the layout an external device side built (the kernel validator's
//                rules; a bad one is refused naming the rule) and drive its devices
//                (`--device-link`, `vmsg bench --target`).
// Then both sides run the queue bring-up INIT → READY → RUN (src/ring/vmamp.ts VmampBringUp),
// never waiting for the doorbell socket (it is adopted whenever it arrives, src/bus/shm-link.ts),
// and while RUN the peer's state is watched: SHUTDOWN, PEER_DEAD, a lost magic or a restart
// (INIT) takes the link down. The element size (64) is the link's largest frame.
import type { Router } from '../router/router.js';
import { SharedMemory } from '../memory/shared-memory.js';
import {
  vmampDeviceInit, vmampDriverInit, VmampBringUp, vmampProducer, vmampConsumer, vmampCursorAt, VmampLayoutError,
  VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER, VMAMP_STATE_SHUTDOWN, type VmampLayout, type VmampRole,
} from '../ring/vmamp.js';
import { CURSOR_CONSUMER, CURSOR_PRODUCER } from '../ring/cursor.js';
import type { FrameChannel, LinkDown } from './bus-link.js';
import type { ShmLinkOptions } from './shm-options.js';
import { openWindow, type OpenedWindow } from './shm-open.js';
import { ShmBusLink, type WindowSide } from './shm-link.js';
import { ShmFrameChannel } from './shm-channel.js';
import { waitUntil, type OpenDeadline } from './open-deadline.js';
import type { ShmWindow } from './shm-window.js';
import type { BusModel } from '../model/bus-model.js';

const STATE_NAMES = ['INIT', 'READY', 'RUN', 'SHUTDOWN', 'PEER_DEAD'];
const stateName = (s: number): string => (s < 0 ? 'no queue-head magic' : (STATE_NAMES[s] ?? `state ${s}`));

/** Our side of a vmamp window: the layout built or validated, the queue bring-up done. */
async function openVmamp(mem: SharedMemory, o: ShmLinkOptions, deadline: OpenDeadline, log?: (line: string) => void): Promise<OpenedWindow<{ layout: VmampLayout; bringUp: VmampBringUp; role: VmampRole }>> {
  const role: VmampRole = o.role === 'device' ? VMAMP_ROLE_DEVICE : VMAMP_ROLE_DRIVER;
  const prepare = async (w: ShmWindow): Promise<{ layout: VmampLayout; bringUp: VmampBringUp; role: VmampRole }> => {
    let layout: VmampLayout;
    if (role === VMAMP_ROLE_DEVICE) {
      // The device side owns the window: a fresh build from zero, so no queue head of an earlier
      // peer can pass for a live one.
      mem.u8.fill(0, w.base, w.base + w.size);
      try {
        layout = vmampDeviceInit(mem, w.base, w.size);
      } catch (e) {
        throw new RangeError(`${o.uri.text}: ${(e as Error).message}`);
      }
    } else {
      let found: VmampLayout | null = null;
      try {
        await waitUntil(deadline, `the vmamp layout in ${o.path} (the device side writes its magic last)`, () => (found = vmampDriverInit(mem.buffer, w.base, w.size)) !== null);
      } catch (e) {
        if (e instanceof VmampLayoutError) e.message = `${o.uri.text}: ${e.message}`;
        throw e;
      }
      layout = found!;
    }
    return { layout, bringUp: new VmampBringUp(mem.buffer, layout, role), role };
  };
  const opened = await openWindow(mem, o, deadline, prepare, log);
  try {
    // The queue heads come up whether or not the doorbell socket has arrived: a peer may wait
    // for our READY before it connects (or accepts).
    const { bringUp } = opened.prepared;
    await waitUntil(deadline, `the vmamp peer on ${o.path} to reach RUN`, () => bringUp.step() === 'running', 1);
  } catch (e) {
    opened.prepared.bringUp.shutdown();
    await opened.release();
    throw e;
  }
  return opened;
}

/** Why the window says the peer is gone (null while it runs). Steps the state machine. */
function peerLeft(bringUp: VmampBringUp): LinkDown | null {
  const before = bringUp.peerState;
  if (bringUp.step() === 'running') return null;
  const peer = before;
  return { cause: peer === VMAMP_STATE_SHUTDOWN ? 'peer-shutdown' : 'peer-dead', detail: `the peer's vmamp queue head says ${stateName(peer)}` };
}

function markStopped(bringUp: VmampBringUp, cause: LinkDown['cause']): void {
  if (cause === 'peer-dead') bringUp.markPeerDead();
  else bringUp.shutdown();
}

/**
 * Open a vmamp window as a router link: side 'driver' = an external driver (we are role=device),
 * side 'device' = an external device side (we are role=driver; its devices are discovered).
 */
export async function openVmampLink(
  router: Router, o: ShmLinkOptions, side: 'driver' | 'device', deadline: OpenDeadline, log?: (line: string) => void, model?: BusModel,
): Promise<ShmBusLink> {
  const opened = await openVmamp(router.mem, o, deadline, log);
  const { layout, bringUp, role } = opened.prepared;
  const { mem } = router;
  const batch = router.options.ringBatch;
  const win: WindowSide = {
    window: opened.window,
    maxMessageSize: Math.min(layout.sizeQueueElements, router.options.busMaxSize),
    peerPresent: true,
    initCursors(inCursor, outCursor, outWake) {
      vmampCursorAt(mem, inCursor, layout, role, CURSOR_CONSUMER, { batch });
      vmampCursorAt(mem, outCursor, layout, role, CURSOR_PRODUCER, { batch, wakeAddr: outWake });
    },
    peerLeft: () => peerLeft(bringUp),
    markStopped: (cause) => markStopped(bringUp, cause),
  };
  if (win.maxMessageSize < 12) {
    await opened.release();
    throw new RangeError(`${o.uri.text}: elements of ${layout.sizeQueueElements} bytes cannot carry a 12-byte bus message`);
  }
  return ShmBusLink.start(router, o.uri.text, side, win, opened.doorbell, { pingMs: o.pingMs, remapBase: o.remapBase, deadline, model, ...(log ? { log } : {}) });
}

/** Open a vmamp window as a driver's raw frame channel (what `vmsg bench --target` drives). */
export async function openVmampChannel(o: ShmLinkOptions, deadline: OpenDeadline): Promise<FrameChannel> {
  const mem = new SharedMemory({ bytes: channelMemoryBytes(o.size ?? 1 << 20) });
  const opened = await openVmamp(mem, o, deadline);
  const { layout, bringUp, role } = opened.prepared;
  // Our index is published on flush() (or when a ring looks full/empty): one doorbell per batch.
  const tx = vmampProducer(mem, layout, role, { batch: layout.numQueueElements });
  const rx = vmampConsumer(mem, layout, role, { batch: Math.max(1, layout.numQueueElements >> 2) });
  return new ShmFrameChannel(tx, rx, opened.doorbell, layout.sizeQueueElements, async () => {
    bringUp.shutdown();
    await opened.release();
  });
}

/**
 * A private memory big enough for a channel's window (the module's statics, then the mapping)
 * and the load engine's state (src/driver/frame-engine.ts: 16 bytes per frame in flight, up to
 * 65535 of them, and a 30 KiB histogram).
 */
export function channelMemoryBytes(windowSize: number): number {
  return Math.ceil(windowSize / 65536) * 65536 + (3 << 20);
}
