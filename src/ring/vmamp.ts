// vmamp shared-memory window (docs/BUSES.md §2.1 layout, §2.2 build and handshake), laid out by
// assembly/ring/vmamp.ts (offsets from the generated descriptor; the device-side build and the
// cursor fill run there): the driver-side parse with the kernel validator's rules, the queue
// bring-up state machine, and cursors for either role and direction (src/ring/cursor.ts).
import { CURSOR_CONSUMER, CURSOR_PRODUCER, CUR_SIZE, CursorConsumer, CursorProducer, resumeCursor, type CursorSide } from './cursor.js';
import type { SharedMemory } from '../memory/shared-memory.js';
// Layout constants: written once in assembly/, generated into src/wasm/layout.ts.
import {
  VMAMP_LAYOUT_MAGIC_VALUE, VMAMP_LAYOUT_VERSION_VALUE, VMAMP_FEATURE_MASKED_NOTIF,
  VMAMP_NUM_NOTIF_MAX, VMAMP_LAYOUT_MAGIC, VMAMP_LAYOUT_LENGTH, VMAMP_LAYOUT_VERSION,
  VMAMP_LAYOUT_FEATURES, VMAMP_LAYOUT_NUM_NOTIF, VMAMP_LAYOUT_NUM_VQ_NOTIF_PER_DEVICE,
  VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS, VMAMP_LAYOUT_SIZE_QUEUE_ELEMENTS, VMAMP_LAYOUT_RESERVED,
  VMAMP_LAYOUT_DEV_NOTIF_OFFSET, VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET,
  VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET, VMAMP_LAYOUT_DRV_NOTIF_OFFSET,
  VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET, VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET, VMAMP_LAYOUT_SIZE,
  VMAMP_QH_MAGIC_VALUE, VMAMP_QH_MAGIC, VMAMP_QH_STATUS, VMAMP_QH_TAIL, VMAMP_QH_HEAD,
  VMAMP_QH_SIZE, VMAMP_QH_ALIGN, VMAMP_NOTIF_ALIGN, VMAMP_STATE_MASK, VMAMP_STATE_INIT,
  VMAMP_STATE_READY, VMAMP_STATE_RUN, VMAMP_STATE_SHUTDOWN, VMAMP_STATE_PEER_DEAD, VMAMP_FLAG_MASK,
  VMAMP_FLAG_DEBUGGABLE, VMAMP_DEV_QH_AT, VMAMP_DRV_QH_AT, VMAMP_ELEMENTS_AT, VMAMP_ELEMENT_SIZE,
  VMAMP_MAX_ELEMENTS, VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER,
} from '../wasm/layout.js';
export {
  VMAMP_LAYOUT_MAGIC_VALUE, VMAMP_LAYOUT_VERSION_VALUE, VMAMP_FEATURE_MASKED_NOTIF,
  VMAMP_NUM_NOTIF_MAX, VMAMP_LAYOUT_MAGIC, VMAMP_LAYOUT_LENGTH, VMAMP_LAYOUT_VERSION,
  VMAMP_LAYOUT_FEATURES, VMAMP_LAYOUT_NUM_NOTIF, VMAMP_LAYOUT_NUM_VQ_NOTIF_PER_DEVICE,
  VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS, VMAMP_LAYOUT_SIZE_QUEUE_ELEMENTS, VMAMP_LAYOUT_RESERVED,
  VMAMP_LAYOUT_DEV_NOTIF_OFFSET, VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET,
  VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET, VMAMP_LAYOUT_DRV_NOTIF_OFFSET,
  VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET, VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET, VMAMP_LAYOUT_SIZE,
  VMAMP_QH_MAGIC_VALUE, VMAMP_QH_MAGIC, VMAMP_QH_STATUS, VMAMP_QH_TAIL, VMAMP_QH_HEAD,
  VMAMP_QH_SIZE, VMAMP_QH_ALIGN, VMAMP_NOTIF_ALIGN, VMAMP_STATE_MASK, VMAMP_STATE_INIT,
  VMAMP_STATE_READY, VMAMP_STATE_RUN, VMAMP_STATE_SHUTDOWN, VMAMP_STATE_PEER_DEAD, VMAMP_FLAG_MASK,
  VMAMP_FLAG_DEBUGGABLE, VMAMP_DEV_QH_AT, VMAMP_DRV_QH_AT, VMAMP_ELEMENTS_AT, VMAMP_ELEMENT_SIZE,
  VMAMP_MAX_ELEMENTS, VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER,
};

// ---------------------------------------------------------------- layout descriptor @ window+0

// ---------------------------------------------------------------- queue head (8 bytes, one per side)

// ---------------------------------------------------------------- the device-side build (QEMU)

export type VmampRole = typeof VMAMP_ROLE_DEVICE | typeof VMAMP_ROLE_DRIVER;

/** num_vq_notif_per_device values the validator accepts (when num_notif != 0). */
const VQ_NOTIF_COUNTS = [1, 2, 4, 8, 16];

/** The 64-byte descriptor as stored. Offsets are bigint: a u64 from the peer may be anything. */
export interface VmampDescriptor {
  magic: number;
  length: number;
  version: number;
  features: number;
  numNotif: number;
  numVqNotifPerDevice: number;
  numQueueElements: number;
  sizeQueueElements: number;
  reserved: number;
  devNotifOffset: bigint;
  devQueueHeadOffset: bigint;
  devQueueElementsOffset: bigint;
  drvNotifOffset: bigint;
  drvQueueHeadOffset: bigint;
  drvQueueElementsOffset: bigint;
}

/** A validated layout. Offsets are from the window start; `base` is the window's byte address. */
export interface VmampLayout {
  base: number;
  windowSize: number;
  numQueueElements: number;
  sizeQueueElements: number;
  features: number;
  numNotif: number;
  numVqNotifPerDevice: number;
  /** Bytes of each notification area (tx, rx and with MASKED_NOTIF mask, num_notif u64 each). */
  notifBytes: number;
  devNotifOffset: number;
  devQueueHeadOffset: number;
  devQueueElementsOffset: number;
  drvNotifOffset: number;
  drvQueueHeadOffset: number;
  drvQueueElementsOffset: number;
}

/** A layout the validator rejected: `rule` names the rule, `field` and `value` what broke it. */
export class VmampLayoutError extends Error {
  constructor(readonly rule: string, readonly field: string, readonly value: string, why: string) {
    super(`vmamp layout rejected by rule "${rule}": ${field} = ${value} (${why})`);
    this.name = 'VmampLayoutError';
  }
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** N for a window of `windowSize` bytes built the QEMU way, or 0 when it cannot hold N >= 2. */
export function vmampElementCount(windowSize: number): number {
  if (windowSize < VMAMP_ELEMENTS_AT) return 0;
  const n = Math.floor((windowSize - VMAMP_ELEMENTS_AT) / (2 * VMAMP_ELEMENT_SIZE));
  return n < 2 || n > VMAMP_MAX_ELEMENTS ? 0 : n;
}

function checkWindow(buffer: SharedArrayBuffer, base: number, windowSize: number): void {
  if (!Number.isInteger(base) || base < 0 || base % 8 !== 0) throw new RangeError(`vmamp window base must be an 8-aligned offset, got ${base}`);
  if (!Number.isInteger(windowSize) || windowSize < 0 || base + windowSize > buffer.byteLength) {
    throw new RangeError(`vmamp window [${base}, ${base}+${windowSize}) must lie inside the ${buffer.byteLength}-byte memory`);
  }
}

/**
 * Build the layout as the device side does (assembly/ring/vmamp.ts vmampDeviceInit, after QEMU
 * vmamp_shmem_dev_init): descriptor at 0, queue heads at 64/72, device elements at 80, driver
 * elements after them, no notification areas, the device's own elements zeroed, magic withdrawn
 * first and stored last. Queue heads are left to each side's bring-up (VmampBringUp).
 */
export function vmampDeviceInit(mem: SharedMemory, base: number, windowSize: number): VmampLayout {
  checkWindow(mem.buffer, base, windowSize);
  if (mem.wasm.vmampDeviceInit(base, windowSize) === 0) {
    throw new RangeError(`vmamp window of ${windowSize} bytes holds no 2 elements per direction (needs >= ${VMAMP_ELEMENTS_AT + 4 * VMAMP_ELEMENT_SIZE})`);
  }
  return checkVmampDescriptor(readVmampDescriptor(mem.buffer, base), windowSize, base);
}

/** The descriptor at `base` as stored (magic acquire-loaded first, as a driver must). */
export function readVmampDescriptor(buffer: SharedArrayBuffer, base: number): VmampDescriptor {
  const magic = Atomics.load(new Uint16Array(buffer), (base + VMAMP_LAYOUT_MAGIC) >>> 1);
  const dv = new DataView(buffer, base, VMAMP_LAYOUT_SIZE);
  return {
    magic,
    length: dv.getUint16(VMAMP_LAYOUT_LENGTH, true),
    version: dv.getUint16(VMAMP_LAYOUT_VERSION, true),
    features: dv.getUint16(VMAMP_LAYOUT_FEATURES, true),
    numNotif: dv.getUint8(VMAMP_LAYOUT_NUM_NOTIF),
    numVqNotifPerDevice: dv.getUint8(VMAMP_LAYOUT_NUM_VQ_NOTIF_PER_DEVICE),
    numQueueElements: dv.getUint16(VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS, true),
    sizeQueueElements: dv.getUint16(VMAMP_LAYOUT_SIZE_QUEUE_ELEMENTS, true),
    reserved: dv.getUint16(VMAMP_LAYOUT_RESERVED, true),
    devNotifOffset: dv.getBigUint64(VMAMP_LAYOUT_DEV_NOTIF_OFFSET, true),
    devQueueHeadOffset: dv.getBigUint64(VMAMP_LAYOUT_DEV_QUEUE_HEAD_OFFSET, true),
    devQueueElementsOffset: dv.getBigUint64(VMAMP_LAYOUT_DEV_QUEUE_ELEMENTS_OFFSET, true),
    drvNotifOffset: dv.getBigUint64(VMAMP_LAYOUT_DRV_NOTIF_OFFSET, true),
    drvQueueHeadOffset: dv.getBigUint64(VMAMP_LAYOUT_DRV_QUEUE_HEAD_OFFSET, true),
    drvQueueElementsOffset: dv.getBigUint64(VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET, true),
  };
}

interface Region {
  name: string;
  offset: bigint;
  bytes: bigint;
}

/**
 * Validate a descriptor for a window of `windowSize` bytes with the kernel validator's rules
 * (vmamp_shmem_drv_init): magic, length, version, features, reserved, num_notif,
 * num_vq_notif_per_device, element size and count; every used region at a non-zero, aligned
 * offset inside the window; no two regions (descriptor, queue heads, element arrays,
 * notification areas) overlapping. Throws VmampLayoutError; returns the layout at `base`.
 */
export function checkVmampDescriptor(d: VmampDescriptor, windowSize: number, base = 0): VmampLayout {
  // Counts print in decimal; offsets, magic numbers and bit sets in hex.
  const fail = (rule: string, field: string, value: number | bigint, why: string): never => {
    throw new VmampLayoutError(rule, field, typeof value === 'bigint' ? hex(value) : String(value), why);
  };
  if (windowSize < VMAMP_LAYOUT_SIZE) fail('window size', 'window size', windowSize, `must hold the ${VMAMP_LAYOUT_SIZE}-byte descriptor`);
  if (d.magic !== VMAMP_LAYOUT_MAGIC_VALUE) fail('magic', 'magic', BigInt(d.magic), `must be ${hex(VMAMP_LAYOUT_MAGIC_VALUE)}`);
  if (d.length !== VMAMP_LAYOUT_SIZE) fail('length', 'length', d.length, `must be ${VMAMP_LAYOUT_SIZE}, the descriptor size`);
  if (d.version !== VMAMP_LAYOUT_VERSION_VALUE) fail('version', 'version', d.version, `must be ${VMAMP_LAYOUT_VERSION_VALUE}`);
  if ((d.features & ~VMAMP_FEATURE_MASKED_NOTIF) !== 0) fail('features', 'features', BigInt(d.features), 'only bit 0 (MASKED_NOTIF) is defined');
  if (d.reserved !== 0) fail('reserved', 'reserved', d.reserved, 'must be 0');
  if (d.numNotif > VMAMP_NUM_NOTIF_MAX) fail('num_notif', 'num_notif', d.numNotif, `must be <= ${VMAMP_NUM_NOTIF_MAX}`);
  if (d.numNotif !== 0 && !VQ_NOTIF_COUNTS.includes(d.numVqNotifPerDevice)) {
    fail('num_vq_notif_per_device', 'num_vq_notif_per_device', d.numVqNotifPerDevice, 'must be 1, 2, 4, 8 or 16 when num_notif != 0');
  }
  if (d.sizeQueueElements < 1) fail('size_queue_elements', 'size_queue_elements', d.sizeQueueElements, 'must be >= 1');
  if (d.numQueueElements < 2) fail('num_queue_elements', 'num_queue_elements', d.numQueueElements, 'must be >= 2');

  const masked = (d.features & VMAMP_FEATURE_MASKED_NOTIF) !== 0;
  const notifBytes = d.numNotif * 8 * (masked ? 3 : 2);
  const queueBytes = BigInt(d.numQueueElements * d.sizeQueueElements);
  const size = BigInt(windowSize);
  const regions: Region[] = [{ name: 'descriptor', offset: 0n, bytes: BigInt(VMAMP_LAYOUT_SIZE) }];
  const use = (name: string, offset: bigint, bytes: number | bigint, align: number): void => {
    const len = BigInt(bytes);
    if (offset === 0n) fail('offset non-zero', name, offset, 'a used region cannot start at the descriptor');
    if (offset % BigInt(align) !== 0n) fail('alignment', name, offset, `must be ${align}-aligned`);
    if (offset > size || len > size - offset) fail('inside window', name, offset, `${len} bytes from there run past the ${windowSize}-byte window`);
    regions.push({ name, offset, bytes: len });
  };
  use('dev_queue_head_offset', d.devQueueHeadOffset, VMAMP_QH_SIZE, VMAMP_QH_ALIGN);
  use('drv_queue_head_offset', d.drvQueueHeadOffset, VMAMP_QH_SIZE, VMAMP_QH_ALIGN);
  use('dev_queue_elements_offset', d.devQueueElementsOffset, queueBytes, 1);
  use('drv_queue_elements_offset', d.drvQueueElementsOffset, queueBytes, 1);
  if (d.numNotif !== 0) {
    use('dev_notif_offset', d.devNotifOffset, notifBytes, VMAMP_NOTIF_ALIGN);
    use('drv_notif_offset', d.drvNotifOffset, notifBytes, VMAMP_NOTIF_ALIGN);
  }
  for (let i = 0; i < regions.length; i++) {
    for (let j = i + 1; j < regions.length; j++) {
      const a = regions[i]!;
      const b = regions[j]!;
      if (a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes) {
        fail('no overlap', b.name, b.offset, `its ${b.bytes} bytes overlap ${a.name} [${hex(a.offset)}, +${a.bytes})`);
      }
    }
  }
  return {
    base,
    windowSize,
    numQueueElements: d.numQueueElements,
    sizeQueueElements: d.sizeQueueElements,
    features: d.features,
    numNotif: d.numNotif,
    numVqNotifPerDevice: d.numNotif === 0 ? 0 : d.numVqNotifPerDevice,
    notifBytes,
    devNotifOffset: d.numNotif === 0 ? 0 : Number(d.devNotifOffset),
    devQueueHeadOffset: Number(d.devQueueHeadOffset),
    devQueueElementsOffset: Number(d.devQueueElementsOffset),
    drvNotifOffset: d.numNotif === 0 ? 0 : Number(d.drvNotifOffset),
    drvQueueHeadOffset: Number(d.drvQueueHeadOffset),
    drvQueueElementsOffset: Number(d.drvQueueElementsOffset),
  };
}

/**
 * The driver side's parse (kernel vmamp_shmem_init): null while the magic is absent (EAGAIN:
 * call again later), else validate (throws VmampLayoutError) and zero the driver's own element
 * array and notification area.
 */
export function vmampDriverInit(buffer: SharedArrayBuffer, base: number, windowSize: number): VmampLayout | null {
  checkWindow(buffer, base, windowSize);
  if (windowSize < VMAMP_LAYOUT_SIZE) {
    throw new VmampLayoutError('window size', 'window size', String(windowSize), `must hold the ${VMAMP_LAYOUT_SIZE}-byte descriptor`);
  }
  if (Atomics.load(new Uint16Array(buffer), (base + VMAMP_LAYOUT_MAGIC) >>> 1) !== VMAMP_LAYOUT_MAGIC_VALUE) return null;
  const layout = checkVmampDescriptor(readVmampDescriptor(buffer, base), windowSize, base);
  const u8 = new Uint8Array(buffer);
  const at = base + layout.drvQueueElementsOffset;
  u8.fill(0, at, at + layout.numQueueElements * layout.sizeQueueElements);
  if (layout.numNotif !== 0) u8.fill(0, base + layout.drvNotifOffset, base + layout.drvNotifOffset + layout.notifBytes);
  return layout;
}

// ---------------------------------------------------------------- cursors

/** Queue-head and element-array addresses of one role: its own, and its peer's. */
function sides(layout: VmampLayout, role: VmampRole): { myQh: number; peerQh: number; myElements: number; peerElements: number } {
  const b = layout.base;
  const dev = { qh: b + layout.devQueueHeadOffset, el: b + layout.devQueueElementsOffset };
  const drv = { qh: b + layout.drvQueueHeadOffset, el: b + layout.drvQueueElementsOffset };
  const [me, peer] = role === VMAMP_ROLE_DEVICE ? [dev, drv] : [drv, dev];
  return { myQh: me.qh, peerQh: peer.qh, myElements: me.el, peerElements: peer.el };
}

export interface VmampCursorOptions {
  /** Publish the own index every `batch` steps. Default 1: external peers poll per message. */
  batch?: number;
  /** The peer's doorbell word in our memory (in-process peers only); 0 = none. */
  wakeAddr?: number;
}

/**
 * Fill the WASM cursor at `cur` for one direction of the window for `role` (vmampCursorInit:
 * CURSOR_PRODUCER sends into my own elements, publishing my tail @myqh+4 and reading the peer's
 * head @peerqh+6; CURSOR_CONSUMER reads the peer's elements, publishing my head @myqh+6 and
 * reading the peer's tail @peerqh+4; u16 indices), started where my published index is. The
 * fill reads the descriptor again and re-checks its bounds: an Error if they no longer hold.
 */
export function vmampCursorAt(mem: SharedMemory, cur: number, layout: VmampLayout, role: VmampRole, side: CursorSide, opts: VmampCursorOptions = {}): void {
  if (!mem.wasm.vmampCursorInit(cur, layout.base, layout.windowSize, role, side, opts.batch ?? 1, opts.wakeAddr ?? 0)) {
    throw new Error(`vmamp window at ${layout.base}: the descriptor no longer describes queues inside the ${layout.windowSize}-byte window`);
  }
  resumeCursor(mem, cur, side);
}

/** Sender for `role` (create it once bring-up says 'running': READY zeroes the indices). */
export function vmampProducer(mem: SharedMemory, layout: VmampLayout, role: VmampRole, opts: VmampCursorOptions = {}): CursorProducer {
  const cur = mem.alloc(CUR_SIZE);
  vmampCursorAt(mem, cur, layout, role, CURSOR_PRODUCER, opts);
  return new CursorProducer(mem, cur);
}

/** Receiver for `role` (create it once bring-up says 'running'). */
export function vmampConsumer(mem: SharedMemory, layout: VmampLayout, role: VmampRole, opts: VmampCursorOptions = {}): CursorConsumer {
  const cur = mem.alloc(CUR_SIZE);
  vmampCursorAt(mem, cur, layout, role, CURSOR_CONSUMER, opts);
  return new CursorConsumer(mem, cur);
}

// ---------------------------------------------------------------- queue bring-up (§2.2)

/** What the owner should do after step(). */
export type VmampLinkState =
  | 'waiting' //   handshake in progress: call step() again later
  | 'running' //   both sides RUN (or about to be): frames may flow
  | 'shutdown' //  no more frames, treat all devices as reset; clean up, then restart()
  | 'peer-dead'; // this side declared the peer dead; waits for the peer to come back READY

/**
 * One side's queue bring-up and liveness, non-blocking: call step() from a timer or poll loop.
 *   1. write my status INIT, then my queue-head magic;
 *   2. wait for the peer's magic;
 *   3. zero my head and tail, status READY;
 *   4. wait for the peer's status READY or RUN, then RUN.
 * While RUN: the peer going SHUTDOWN/PEER_DEAD, losing its magic, or dropping back to INIT (or
 * to READY after it had been RUN) means it restarted or gave up: I go SHUTDOWN.
 * Deliberate difference from QEMU's try_init: while bringing up, a peer in SHUTDOWN is waited
 * for (it will restart) and a peer in PEER_DEAD is what my READY answers, instead of sending
 * me to SHUTDOWN too: otherwise two sides recovering from a SHUTDOWN keep knocking each other
 * back unless they restart at the same instant.
 */
export class VmampBringUp {
  private readonly u16: Uint16Array;
  private readonly my: number; //   u16 index of my queue head
  private readonly peer: number; // u16 index of the peer's queue head
  private readonly flags: number;
  private peerWasRunning = false;

  constructor(buffer: SharedArrayBuffer, layout: VmampLayout, readonly role: VmampRole, opts: { debuggable?: boolean } = {}) {
    this.u16 = new Uint16Array(buffer);
    const s = sides(layout, role);
    this.my = s.myQh >>> 1;
    this.peer = s.peerQh >>> 1;
    this.flags = opts.debuggable ? VMAMP_FLAG_DEBUGGABLE : 0;
  }

  /** My state (status bits 0..4). */
  get myState(): number {
    return Atomics.load(this.u16, this.my + VMAMP_QH_STATUS / 2) & VMAMP_STATE_MASK;
  }

  /** The peer's state, or -1 while its queue head has no magic. */
  get peerState(): number {
    if (Atomics.load(this.u16, this.peer + VMAMP_QH_MAGIC / 2) !== VMAMP_QH_MAGIC_VALUE) return -1;
    return Atomics.load(this.u16, this.peer + VMAMP_QH_STATUS / 2) & VMAMP_STATE_MASK;
  }

  private setState(state: number): void {
    Atomics.store(this.u16, this.my + VMAMP_QH_STATUS / 2, this.flags | state);
  }

  /** Advance the handshake / check the peer once. */
  step(): VmampLinkState {
    let mine = this.myState;
    if (mine === VMAMP_STATE_SHUTDOWN) return 'shutdown';
    if (mine === VMAMP_STATE_PEER_DEAD) {
      if (this.peerState !== VMAMP_STATE_READY) return 'peer-dead';
      this.restart(); // the peer came back: bring the queues up again
      mine = VMAMP_STATE_INIT;
    }
    // 1. Status before magic: a peer that sees the magic must see a meaningful status.
    if (Atomics.load(this.u16, this.my + VMAMP_QH_MAGIC / 2) !== VMAMP_QH_MAGIC_VALUE) {
      this.setState(VMAMP_STATE_INIT);
      Atomics.store(this.u16, this.my + VMAMP_QH_MAGIC / 2, VMAMP_QH_MAGIC_VALUE);
      mine = VMAMP_STATE_INIT;
    }
    const peer = this.peerState;
    if (mine === VMAMP_STATE_RUN) {
      if (peer === VMAMP_STATE_RUN) this.peerWasRunning = true;
      const restarted = peer < 0 || peer === VMAMP_STATE_INIT || (peer === VMAMP_STATE_READY && this.peerWasRunning);
      if (restarted || peer > VMAMP_STATE_RUN) return this.shutdown();
      return 'running';
    }
    // 2.
    if (peer < 0) return 'waiting';
    // 3. Indices first, then READY (release): the peer reads them only after seeing READY.
    if (mine === VMAMP_STATE_INIT) {
      Atomics.store(this.u16, this.my + VMAMP_QH_HEAD / 2, 0);
      Atomics.store(this.u16, this.my + VMAMP_QH_TAIL / 2, 0);
      this.setState(VMAMP_STATE_READY);
    }
    // 4.
    if (peer !== VMAMP_STATE_READY && peer !== VMAMP_STATE_RUN) return 'waiting';
    this.setState(VMAMP_STATE_RUN);
    if (peer === VMAMP_STATE_RUN) this.peerWasRunning = true;
    return 'running';
  }

  /** Abortive stop (also what step() does when the peer restarted or stopped): status SHUTDOWN. */
  shutdown(): 'shutdown' {
    this.setState(VMAMP_STATE_SHUTDOWN);
    return 'shutdown';
  }

  /** Declare the peer unresponsive: status PEER_DEAD until the peer shows READY again. */
  markPeerDead(): void {
    this.setState(VMAMP_STATE_PEER_DEAD);
  }

  /** After cleaning up from SHUTDOWN: status INIT, so step() brings the queues up again. */
  restart(): void {
    this.peerWasRunning = false;
    this.setState(VMAMP_STATE_INIT);
  }
}
