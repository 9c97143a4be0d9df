// Out-of-band notifications for one device (docs/PROTOCOL.md §7 rules 22–23, 2026 "notifications"): EVENT_AVAIL
// and EVENT_USED as counters in shared memory plus a doorbell ring, instead of in-band messages.
// The receiving side re-synthesises the event, so its transport sees one event per signal seen
// (several signals before it looks merge into one, as the router merges queued EVENT_AVAILs).
//
// Layout (all little-endian, in the router's shared memory, 64-byte aligned):
//   @0  u32 OOB_MAGIC        0x424f4f56 ("VOOB"), stored last by init
//   @4  u16 OOB_VERSION      1
//   @6  u16 OOB_QUEUES       virtqueues covered, 1..OOB_MAX_QUEUES
//   @8  u32 OOB_DEVICE_BELL  address of the device endpoint's doorbell word
//   @12 u32 OOB_DRIVER_BELL  address of the driver endpoint's doorbell word
//   @64 u32[queues]          OOB_AVAIL_SEQ: bumped by the driver per EVENT_AVAIL (own cache line)
//   @128 u32[queues]         OOB_USED_SEQ: bumped by the device per EVENT_USED (own cache line)
// Each counter has one writer. Signal = bump the counter (sequentially consistent), then ring
// the peer's doorbell; the peer polls the counters in its idle check after announcing sleep,
// so the doorbell argument of docs/ARCHITECTURE.md applies unchanged: no signal is lost.
import { ringDoorbell } from '../wait/doorbell.js';

export const OOB_MAGIC = 0;
export const OOB_VERSION = 4;
export const OOB_QUEUES = 6;
export const OOB_DEVICE_BELL = 8;
export const OOB_DRIVER_BELL = 12;
export const OOB_AVAIL_SEQ = 64;
export const OOB_USED_SEQ = 128;
export const OOB_MAGIC_VALUE = 0x424f4f56;
export const OOB_VERSION_VALUE = 1;
/** One cache line of u32 counters per direction. */
export const OOB_MAX_QUEUES = 16;
export const OOB_AREA_BYTES = 192;
export const OOB_ALIGN = 64;

export type OobSide = 'device' | 'driver';

/** Write an area at `addr` of `buffer` for `queues` virtqueues between two endpoints' doorbells. */
export function initOobDoorbells(buffer: SharedArrayBuffer, addr: number, queues: number, deviceBell: number, driverBell: number): void {
  if (!Number.isInteger(addr) || addr <= 0 || addr % OOB_ALIGN !== 0 || addr + OOB_AREA_BYTES > buffer.byteLength) {
    throw new RangeError(`oob doorbell area must be ${OOB_ALIGN}-aligned and inside the memory, got address ${addr}`);
  }
  if (!Number.isInteger(queues) || queues < 1 || queues > OOB_MAX_QUEUES) {
    throw new RangeError(`oob doorbells cover 1 to ${OOB_MAX_QUEUES} virtqueues, got ${queues}`);
  }
  const dv = new DataView(buffer, addr, OOB_AREA_BYTES);
  new Uint8Array(buffer, addr, OOB_AREA_BYTES).fill(0);
  dv.setUint16(OOB_VERSION, OOB_VERSION_VALUE, true);
  dv.setUint16(OOB_QUEUES, queues, true);
  dv.setUint32(OOB_DEVICE_BELL, deviceBell, true);
  dv.setUint32(OOB_DRIVER_BELL, driverBell, true);
  Atomics.store(new Uint32Array(buffer), (addr + OOB_MAGIC) >>> 2, OOB_MAGIC_VALUE);
}

/** One side's view of an area: signal the peer, and see the peer's signals. */
export class OobDoorbell {
  readonly queues: number;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  /** Word index of my counters, of the peer's counters, and of the peer's doorbell. */
  private readonly mine: number;
  private readonly theirs: number;
  private readonly peerBell: number;
  /** The peer's counters as last seen. */
  private readonly seen: Uint32Array;

  constructor(buffer: SharedArrayBuffer, readonly addr: number, readonly side: OobSide) {
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    const dv = new DataView(buffer);
    if (addr <= 0 || addr % OOB_ALIGN !== 0 || addr + OOB_AREA_BYTES > buffer.byteLength || Atomics.load(this.u32, addr >>> 2) !== OOB_MAGIC_VALUE) {
      throw new RangeError(`no oob doorbell area at ${addr} (rule: magic 0x${OOB_MAGIC_VALUE.toString(16)} at a ${OOB_ALIGN}-aligned address; create it with initOobDoorbells)`);
    }
    const version = dv.getUint16(addr + OOB_VERSION, true);
    if (version !== OOB_VERSION_VALUE) throw new RangeError(`oob doorbell area version ${version}, expected ${OOB_VERSION_VALUE}`);
    this.queues = dv.getUint16(addr + OOB_QUEUES, true);
    const avail = (addr + OOB_AVAIL_SEQ) >>> 2;
    const used = (addr + OOB_USED_SEQ) >>> 2;
    this.mine = side === 'driver' ? avail : used;
    this.theirs = side === 'driver' ? used : avail;
    this.peerBell = dv.getUint32(addr + (side === 'driver' ? OOB_DEVICE_BELL : OOB_DRIVER_BELL), true) >>> 2;
    this.seen = new Uint32Array(this.queues);
    for (let q = 0; q < this.queues; q++) this.seen[q] = Atomics.load(this.u32, this.theirs + q);
  }

  /** Notify the peer about virtqueue `q` (EVENT_AVAIL from a driver, EVENT_USED from a device). */
  signal(q: number): void {
    if (!(q >= 0 && q < this.queues)) throw new RangeError(`oob signal: virtqueue ${q} is outside the area's ${this.queues}`);
    Atomics.add(this.u32, this.mine + q, 1);
    ringDoorbell(this.i32, this.peerBell);
  }

  /** True when the peer signalled since the last take(). */
  pending(): boolean {
    for (let q = 0; q < this.queues; q++) if (Atomics.load(this.u32, this.theirs + q) !== this.seen[q]) return true;
    return false;
  }

  /** Call `onEvent(q)` once for each queue the peer signalled since the last call. Returns how many. */
  take(onEvent: (q: number) => void): number {
    let n = 0;
    for (let q = 0; q < this.queues; q++) {
      const now = Atomics.load(this.u32, this.theirs + q);
      if (now === this.seen[q]) continue;
      this.seen[q] = now;
      n++;
      onEvent(q);
    }
    return n;
  }
}
