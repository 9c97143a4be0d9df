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
import { checkSpscRing, initSpscRing, spscCapacity, spscGeometry, spscRegionBytes, writeSpscCursor, SPSC_SLOT_SIZE, SPSC_HEAD, SPSC_TAIL } from '../ring/spsc.js';
import { CURSOR_CONSUMER, CURSOR_PRODUCER, CUR_CACHED, CUR_LOCAL, type CursorSide } from '../ring/cursor.js';
import type { FrameChannel } from './bus-link.js';
import type { ShmLinkOptions } from './shm-options.js';
import { openWindow, type OpenedWindow } from './shm-open.js';
import { ShmBusLink, type WindowSide } from './shm-link.js';
import { ShmFrameChannel } from './shm-channel.js';
import { channelMemoryBytes } from './vmamp.js';
import type { OpenDeadline } from './open-deadline.js';

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
      initSpscRing(mem.buffer, d2v, region);
      initSpscRing(mem.buffer, v2d, region);
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

/**
 * Fill a WASM cursor for one side and start it where that side's published index is (a ring the
 * device side created may already hold frames for us when we attach as the driver).
 */
function writeResumedCursor(mem: SharedMemory, cur: number, base: number, region: number, side: CursorSide, batch: number, bell: number): void {
  writeSpscCursor(mem.buffer, cur, base, region, side, batch, bell);
  const own = Atomics.load(mem.u32, (base + (side === CURSOR_PRODUCER ? SPSC_HEAD : SPSC_TAIL)) >>> 2);
  const cap = spscCapacity(region);
  mem.u32[(cur + CUR_LOCAL) >>> 2] = own;
  // A cached peer index that makes the first step load the real one (full for a producer, empty for a consumer).
  mem.u32[(cur + CUR_CACHED) >>> 2] = side === CURSOR_PRODUCER ? (own + 1) % cap : own;
}

/** Open an SPSC window as a router link (see openVmampLink for the sides). */
export async function openSpscLink(
  router: Router, o: ShmLinkOptions, side: 'driver' | 'device', deadline: OpenDeadline, log?: (line: string) => void,
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
      writeResumedCursor(mem, inCursor, rxBase, region, CURSOR_CONSUMER, batch, 0);
      writeResumedCursor(mem, outCursor, txBase, region, CURSOR_PRODUCER, batch, outWake);
    },
    peerLeft: () => null,
    markStopped: () => {},
  };
  return ShmBusLink.start(router, o.uri.text, side, win, opened.doorbell, { pingMs: o.pingMs, remapBase: o.remapBase, deadline, ...(log ? { log } : {}) });
}

/** Open an SPSC window as a driver's raw frame channel. */
export async function openSpscChannel(o: ShmLinkOptions, deadline: OpenDeadline): Promise<FrameChannel> {
  const mem = new SharedMemory({ bytes: channelMemoryBytes(o.size ?? 1 << 20) });
  const opened = await openSpsc(mem, o, deadline);
  const { region, txBase, rxBase } = opened.prepared;
  const cap = spscCapacity(region);
  const tx = spscGeometry(mem.buffer, txBase, region, CURSOR_PRODUCER, { batch: cap });
  const rx = spscGeometry(mem.buffer, rxBase, region, CURSOR_CONSUMER, { batch: Math.max(1, cap >> 2) });
  return new ShmFrameChannel(mem, tx, rx, opened.doorbell, SPSC_SLOT_SIZE, () => opened.release());
}
