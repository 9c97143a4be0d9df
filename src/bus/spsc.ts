// The SPSC v1 bus (docs/BUSES.md §3, the QEMU AMP-PCI v1 / switchboard ring pair) as a router link
// and as a driver's frame channel. One window holds both rings: driver → device at offset 0,
// device → driver at offset R, R = half the window in whole 64-byte lines (an 8 KiB window is
// QEMU's two 4 KiB queues, 62 slots each). Capacity comes from R (never stored).
//   role=device  we create the window with both rings empty; the external program drives;
//   role=driver  we check both rings (size, indices in range) and drive the external device side.
// SPSC has no handshake and no state: the device side must create the window before the driver
// starts, and a peer's death shows only as a closed doorbell socket or unanswered PINGs.
import type { Router } from '../router/router.js';
import { SharedMemory } from '../memory/shared-memory.js';
import { checkSpscRing, initSpscRing, spscCapacity, spscConsumer, spscCursorAt, spscProducer, spscRegionBytes, SPSC_SLOT_SIZE } from '../ring/spsc.js';
import { CURSOR_CONSUMER, CURSOR_PRODUCER } from '../ring/cursor.js';
import type { FrameChannel } from './bus-link.js';
import type { ShmLinkOptions } from './shm-options.js';
import { openWindow, type OpenedWindow } from './shm-open.js';
import { ShmBusLink, type WindowSide } from './shm-link.js';
import { ShmFrameChannel } from './shm-channel.js';
import { channelMemoryBytes } from './vmamp.js';
import type { OpenDeadline } from './open-deadline.js';
import type { BusModel } from '../model/bus-model.js';

/** Where the two rings of a window of `size` bytes live: region bytes R, d2v at 0, v2d at R. */
export function spscPairLayout(size: number): { region: number; capacity: number } {
  const region = Math.floor(size / 2 / 64) * 64;
  return { region, capacity: spscCapacity(region) };
}

interface SpscRings {
  region: number;
  /** Byte addresses of the ring we produce into and the one we consume. */
  txBase: number;
  rxBase: number;
}

async function openSpsc(mem: SharedMemory, o: ShmLinkOptions, deadline: OpenDeadline, log?: (line: string) => void): Promise<OpenedWindow<SpscRings>> {
  const driver = o.role === 'driver';
  return openWindow(mem, o, deadline, (w) => {
    const { region, capacity } = spscPairLayout(w.size);
    if (capacity === 0) {
      throw new RangeError(`${o.uri.text}: an SPSC window of ${w.size} bytes leaves ${region} bytes per direction; each needs at least ` +
        `${spscRegionBytes(2)} (2 slots), so size >= ${2 * spscRegionBytes(2)} (3 slots: ${2 * spscRegionBytes(3)}, QEMU's 2 × 4 KiB: 8192)`);
    }
    const d2v = w.base;
    const v2d = w.base + region;
    if (!driver) {
      mem.u8.fill(0, w.base, w.base + w.size);
      initSpscRing(mem, d2v, region);
      initSpscRing(mem, v2d, region);
    } else {
      try {
        checkSpscRing(mem.buffer, d2v, region);
        checkSpscRing(mem.buffer, v2d, region);
      } catch (e) {
        throw new Error(`${o.uri.text}: refused, ${(e as Error).message}`);
      }
    }
    return { region, txBase: driver ? d2v : v2d, rxBase: driver ? v2d : d2v };
  }, log);
}

/** Open an SPSC window as a router link (see openVmampLink for the sides). */
export async function openSpscLink(
  router: Router, o: ShmLinkOptions, side: 'driver' | 'device', deadline: OpenDeadline, log?: (line: string) => void, model?: BusModel,
): Promise<ShmBusLink> {
  const opened = await openSpsc(router.mem, o, deadline, log);
  const { region, txBase, rxBase } = opened.prepared;
  const { mem } = router;
  const batch = router.options.ringBatch;
  const win: WindowSide = {
    window: opened.window,
    maxMessageSize: Math.min(SPSC_SLOT_SIZE, router.options.busMaxSize),
    peerPresent: false,
    initCursors(inCursor, outCursor, outWake) {
      // Each started where its side's index is: a ring the device side created may already hold frames for us.
      spscCursorAt(mem, inCursor, rxBase, region, CURSOR_CONSUMER, { batch });
      spscCursorAt(mem, outCursor, txBase, region, CURSOR_PRODUCER, { batch, wakeAddr: outWake });
    },
    peerLeft: () => null,
    markStopped: () => {},
  };
  return ShmBusLink.start(router, o.uri.text, side, win, opened.doorbell, { pingMs: o.pingMs, remapBase: o.remapBase, deadline, model, ...(log ? { log } : {}) });
}

/** Open an SPSC window as a driver's raw frame channel. */
export async function openSpscChannel(o: ShmLinkOptions, deadline: OpenDeadline): Promise<FrameChannel> {
  const mem = new SharedMemory({ bytes: channelMemoryBytes(o.size ?? 1 << 20) });
  const opened = await openSpsc(mem, o, deadline);
  const { region, txBase, rxBase } = opened.prepared;
  const cap = spscCapacity(region);
  const tx = spscProducer(mem, txBase, region, { batch: cap });
  const rx = spscConsumer(mem, rxBase, region, { batch: Math.max(1, cap >> 2) });
  return new ShmFrameChannel(tx, rx, opened.doorbell, SPSC_SLOT_SIZE, () => opened.release());
}
