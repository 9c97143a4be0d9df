// OpenAMP's legacy bus "amp_static_queue" from the driver side (docs/LEGACY.md "OpenAMP
// amp_static_queue"). One shared file: the message region first (the device side's 56-byte
// queue definition at 0, two queue heads, two data areas), the rest memory for virtqueues. The
// device side starts first and builds it; we validate it, then mark our head READY with
// w_idx = dev.r_idx, r_idx = dev.w_idx. Both sides poll (no doorbell).
//
// The stride quirk defines the wire: slot k of a queue is at data + k × num_elts, not
// k × elt_size, so 40-byte frames overlap. Hence one frame in flight per direction: we write
// one only once the device took the previous (its r_idx caught up), and a device frame is
// whole only while it is the single unread one — an older one under a newer is dropped
// (RING_CORRUPT; the driver's safety poll of its used rings covers a lost EVENT_USED).
import { statSync } from 'node:fs';
import { SharedMemory } from '../../memory/shared-memory.js';
import { ShmWindow } from '../shm-window.js';
import { waitUntil, type OpenDeadline } from '../open-deadline.js';
import { V0_FRAME_SIZE } from './v0-frame.js';
import type { OpenampOptions } from './options.js';
import type { LegacyWire } from './wire.js';

// Queue definition (offsets in the message region).
export const QDEF_MAGIC_VALUE = 0x1a2b3c4d;
export const QDEF_VERSION_VALUE = 1;
export const QDEF_MAGIC = 0;
export const QDEF_VERSION = 4;
export const QDEF_DRV_ELT_SIZE = 16;
export const QDEF_DRV_NUM_ELTS = 18;
export const QDEF_DEV_ELT_SIZE = 20;
export const QDEF_DEV_NUM_ELTS = 22;
export const QDEF_DRV_HEAD = 24;
export const QDEF_DRV_DATA = 32;
export const QDEF_DEV_HEAD = 40;
export const QDEF_DEV_DATA = 48;
export const QDEF_SIZE = 56;
// Queue head: status u16 @0 (bit 0 READY), reserved u16 @2, w_idx u16 @4 (own producer index), r_idx u16 @6 (consumer of the peer's).
export const QHEAD_STATUS = 0;
export const QHEAD_W_IDX = 4;
export const QHEAD_R_IDX = 6;
export const QHEAD_SIZE = 8;
export const QHEAD_READY = 1;

/** Room for the mapping beyond the file itself (allocator slack). */
const MEMORY_SLACK = 1024 * 1024;

interface Queue {
  head: number;
  data: number;
  n: number;
}

class OpenampWire implements LegacyWire {
  readonly dialect = 'openamp' as const;
  readonly signalled = false;
  onSignal: () => void = () => {};
  readonly down: Promise<string>;
  private settleDown!: (why: string) => void;
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  /** Our indices (we own them; published to our head). */
  private wIdx: number;
  private rIdx: number;
  private closed = false;
  /** Device frames dropped because a newer one overlapped them (stride quirk). */
  overlapped = 0;

  constructor(
    private readonly window: ShmWindow,
    private readonly drv: Queue,
    private readonly dev: Queue,
    readonly memory: { base: number; size: number },
  ) {
    const buf = window.mem.memory.buffer as unknown as SharedArrayBuffer;
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u32 = new Uint32Array(buf);
    this.down = new Promise((r) => (this.settleDown = r));
    // Our head: producer index where the device reads next, consumer index where it writes next; READY last.
    this.wIdx = this.load16(dev.head + QHEAD_R_IDX);
    this.rIdx = this.load16(dev.head + QHEAD_W_IDX);
    this.store16(drv.head + QHEAD_W_IDX, this.wIdx);
    this.store16(drv.head + QHEAD_R_IDX, this.rIdx);
    this.store16(drv.head + QHEAD_STATUS, QHEAD_READY);
  }

  private load16(at: number): number {
    return Atomics.load(this.u16, at >>> 1);
  }

  private store16(at: number, v: number): void {
    Atomics.store(this.u16, at >>> 1, v);
  }

  private alive(): boolean {
    if (this.closed) return false;
    if (Atomics.load(this.u32, (this.window.base + QDEF_MAGIC) >>> 2) !== QDEF_MAGIC_VALUE) {
      // A file truncated under us reads as zero pages (src/native/vmsg_mmap.c): no magic either.
      this.settleDown(this.window.lost() ? 'the shared file shrank under us (truncated by the device side)' : 'the device side removed its queue definition (restarted or stopped)');
      return false;
    }
    return true;
  }

  send(frame: Uint8Array): boolean {
    // One frame in flight: only once the device took the previous one.
    if (!this.alive() || !this.taken()) return false;
    const at = this.drv.data + this.wIdx * this.drv.n; // the stride quirk
    this.u8.set(frame.subarray(0, V0_FRAME_SIZE), at);
    this.wIdx = (this.wIdx + 1) % this.drv.n;
    this.store16(this.drv.head + QHEAD_W_IDX, this.wIdx);
    return true;
  }

  taken(): boolean {
    return this.load16(this.dev.head + QHEAD_R_IDX) === this.wIdx;
  }

  recv(): Uint8Array | null {
    if (!this.alive()) return null;
    const n = this.dev.n;
    for (;;) {
      const peerW = this.load16(this.dev.head + QHEAD_W_IDX);
      if (peerW >= n) return null; // torn or hostile index: nothing readable
      if (peerW === this.rIdx) return null;
      const at = this.dev.data + this.rIdx * n;
      const f = this.u8.slice(at, at + V0_FRAME_SIZE);
      this.rIdx = (this.rIdx + 1) % n;
      this.store16(this.drv.head + QHEAD_R_IDX, this.rIdx);
      // A newer frame was written before we read this one: it overwrote all but our first 4 bytes.
      if (this.load16(this.dev.head + QHEAD_W_IDX) !== this.rIdx && n < V0_FRAME_SIZE) {
        this.overlapped++;
        continue;
      }
      return f;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Not READY any more: the device side stops reading our queue.
    this.store16(this.drv.head + QHEAD_STATUS, 0);
    this.window.close();
    this.settleDown('closed');
  }
}

function reject(path: string, rule: string, value: number | string): never {
  throw new Error(`OpenAMP queue definition in ${path} rejected by rule "${rule}": got ${value}`);
}

/** Wait for the device side's queue definition in `o.path`, validate it and join as the driver. */
export async function openOpenampWire(o: OpenampOptions, deadline: OpenDeadline): Promise<LegacyWire & { overlapped: number }> {
  if (o.msgSize % 16 !== 0) throw new Error(`openamp link: msg_size= must be a multiple of 16, got ${o.msgSize}`);
  let fileSize = 0;
  await waitUntil(deadline, `OpenAMP shared file ${o.path} (more than msg_size=${o.msgSize} bytes)`, () => {
    try {
      fileSize = statSync(o.path).size;
    } catch {
      return false;
    }
    return fileSize > o.msgSize;
  });
  const mem = new SharedMemory({ bytes: fileSize + MEMORY_SLACK });
  const w = await ShmWindow.attach(mem, o.path, fileSize, deadline);
  try {
    const buf = mem.memory.buffer as unknown as SharedArrayBuffer;
    const u32 = new Uint32Array(buf);
    const dv = new DataView(buf, w.base, o.msgSize);
    // The device side writes the definition, then its head READY: wait for both.
    await waitUntil(deadline, `the OpenAMP device side's queue definition in ${o.path}`, () => {
      if (Atomics.load(u32, (w.base + QDEF_MAGIC) >>> 2) !== QDEF_MAGIC_VALUE) return false;
      const head = dv.getBigUint64(QDEF_DEV_HEAD, true);
      if (head + BigInt(QHEAD_SIZE) > BigInt(o.msgSize)) return true; // validated (and refused) below
      return (dv.getUint16(Number(head) + QHEAD_STATUS, true) & QHEAD_READY) !== 0;
    });
    const version = dv.getUint32(QDEF_VERSION, true);
    if (version !== QDEF_VERSION_VALUE) reject(o.path, `version is ${QDEF_VERSION_VALUE}`, version);
    const queue = (side: 'drv' | 'dev'): Queue => {
      const eltSize = dv.getUint16(side === 'drv' ? QDEF_DRV_ELT_SIZE : QDEF_DEV_ELT_SIZE, true);
      const n = dv.getUint16(side === 'drv' ? QDEF_DRV_NUM_ELTS : QDEF_DEV_NUM_ELTS, true);
      const head = Number(dv.getBigUint64(side === 'drv' ? QDEF_DRV_HEAD : QDEF_DEV_HEAD, true));
      const data = Number(dv.getBigUint64(side === 'drv' ? QDEF_DRV_DATA : QDEF_DEV_DATA, true));
      if (eltSize < V0_FRAME_SIZE) reject(o.path, `${side}_elt_size >= ${V0_FRAME_SIZE}`, eltSize);
      if (n < 2 || n > 0xffff) reject(o.path, `${side}_num_elts >= 2`, n);
      if (head < QDEF_SIZE || head % 2 !== 0 || head + QHEAD_SIZE > o.msgSize) reject(o.path, `${side}_head is a 2-aligned offset inside the message region`, head);
      // Slots are num_elts bytes apart (the stride quirk), each frame 40 bytes long.
      const span = (n - 1) * n + V0_FRAME_SIZE;
      if (data < QDEF_SIZE || data + span > o.msgSize) reject(o.path, `${side}_data + (num_elts - 1) * num_elts + ${V0_FRAME_SIZE} inside msg_size=${o.msgSize}`, data);
      return { head: w.base + head, data: w.base + data, n };
    };
    const drv = queue('drv');
    const dev = queue('dev');
    return new OpenampWire(w, drv, dev, { base: o.base + o.msgSize, size: fileSize - o.msgSize });
  } catch (e) {
    w.close();
    throw e;
  }
}
