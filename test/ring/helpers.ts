// Ring fixtures for the ring tests: each layout (native, vmamp in either direction, SPSC v1) set
// up empty in one shared memory, with a producer and a consumer that are either the TS classes
// over the WASM cursor (src/ring/cursor.ts, made by the layouts' factories) or the raw WASM
// exports (ringReserve/ringCommit/ringPeek/ringRelease on a cursor struct filled here).
import type { SharedMemory } from '../../src/memory/shared-memory.js';
import {
  CURSOR_CONSUMER, CURSOR_PRODUCER, CUR_BATCH, CUR_FAULTS, CUR_PENDING, type CursorConsumer, type CursorProducer,
} from '../../src/ring/cursor.js';
import { initNativeRing, nativeConsumer, nativeProducer, nativeRingBytes, NR_CONS_CURSOR, NR_CONS_INDEX, NR_PROD_CURSOR, NR_PROD_INDEX, NR_SLOTS } from '../../src/ring/native.js';
import { initSpscRing, spscConsumer, spscProducer, spscRegionBytes, SPSC_HEAD, SPSC_SLOTS, SPSC_SLOT_SIZE, SPSC_TAIL } from '../../src/ring/spsc.js';
import {
  VmampBringUp, vmampConsumer, vmampDeviceInit, vmampDriverInit, vmampProducer, VMAMP_ELEMENTS_AT, VMAMP_ELEMENT_SIZE,
  VMAMP_QH_HEAD, VMAMP_QH_TAIL, VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER, type VmampLayout, type VmampRole,
} from '../../src/ring/vmamp.js';

/** 'ts': the TS classes over the WASM cursor; 'wasm': the raw exports. */
export type View = 'ts' | 'wasm';

/** One producer, whichever view drives it. reserve() returns -1 when full. */
export interface ProducerView {
  reserve(): number;
  commit(): void;
  push(frame: Uint8Array): boolean;
  flush(): void;
  pending(): number;
  faults(): number;
}

/** One consumer, whichever view drives it. peek() returns -1 when empty. */
export interface ConsumerView {
  peek(): number;
  release(): void;
  pop(): Uint8Array | null;
  flush(): void;
  pending(): number;
  faults(): number;
}

export interface RingUnderTest {
  readonly name: string;
  readonly capacity: number;
  readonly stride: number;
  readonly slotsAddr: number;
  readonly idx16: boolean;
  /** The index word the producer loads from its peer, and the one the consumer loads. */
  readonly producerReadsAt: number;
  readonly consumerReadsAt: number;
  /** Make the ring empty again (both indices 0); views made before are stale afterwards. */
  reset(): void;
  producer(view: View, batch: number): ProducerView;
  consumer(view: View, batch: number): ConsumerView;
}

function tsProducer(p: CursorProducer): ProducerView {
  return {
    reserve: () => p.reserve(),
    commit: () => p.commit(),
    push: (f) => p.tryPush(f),
    flush: () => p.flush(),
    pending: () => p.pending,
    faults: () => p.faults,
  };
}

function tsConsumer(c: CursorConsumer): ConsumerView {
  return {
    peek: () => c.peek(),
    release: () => c.release(),
    pop: () => c.tryPop(),
    flush: () => c.flush(),
    pending: () => c.pending,
    faults: () => c.faults,
  };
}

function wasmProducer(mem: SharedMemory, cur: number, stride: number): ProducerView {
  const w = mem.wasm;
  const reserve = (): number => {
    const s = w.ringReserve(cur);
    return s === 0 ? -1 : s;
  };
  return {
    reserve,
    commit: () => w.ringCommit(cur),
    push(f) {
      const n = f[6]! | (f[7]! << 8);
      if (n > stride) throw new RangeError('frame larger than the slot');
      const s = reserve();
      if (s < 0) return false;
      mem.u8.set(f.subarray(0, n), s);
      w.ringCommit(cur);
      return true;
    },
    flush: () => w.cursorFlush(cur),
    pending: () => mem.u32[(cur + CUR_PENDING) >>> 2]!,
    faults: () => mem.u32[(cur + CUR_FAULTS) >>> 2]!,
  };
}

function wasmConsumer(mem: SharedMemory, cur: number, stride: number): ConsumerView {
  const w = mem.wasm;
  const peek = (): number => {
    const s = w.ringPeek(cur);
    return s === 0 ? -1 : s;
  };
  return {
    peek,
    release: () => w.ringRelease(cur),
    pop() {
      const s = peek();
      if (s < 0) return null;
      const size = mem.u8[s + 6]! | (mem.u8[s + 7]! << 8);
      const out = mem.u8.slice(s, s + Math.min(Math.max(size, 8), stride));
      w.ringRelease(cur);
      return out;
    },
    flush: () => w.cursorFlush(cur),
    pending: () => mem.u32[(cur + CUR_PENDING) >>> 2]!,
    faults: () => mem.u32[(cur + CUR_FAULTS) >>> 2]!,
  };
}

/** Our native ring with `capacity` slots of `slotSize` bytes. */
export function nativeFixture(mem: SharedMemory, capacity: number, slotSize = 64): RingUnderTest {
  const base = mem.alloc(nativeRingBytes(capacity, slotSize));
  const buf = mem.buffer;
  const setBatch = (cur: number, batch: number): void => {
    mem.u32[(cur + CUR_BATCH) >>> 2] = batch;
  };
  return {
    name: `native(${capacity}x${slotSize})`,
    capacity,
    stride: slotSize,
    slotsAddr: base + NR_SLOTS,
    idx16: false,
    producerReadsAt: base + NR_CONS_INDEX,
    consumerReadsAt: base + NR_PROD_INDEX,
    reset: () => initNativeRing(mem, base, { capacity, slotSize, batch: 1 }),
    producer(view, batch) {
      if (view === 'ts') return tsProducer(nativeProducer(mem, base, { batch }));
      setBatch(base + NR_PROD_CURSOR, batch);
      return wasmProducer(mem, base + NR_PROD_CURSOR, slotSize);
    },
    consumer(view, batch) {
      if (view === 'ts') return tsConsumer(nativeConsumer(mem, base, { batch }));
      setBatch(base + NR_CONS_CURSOR, batch);
      return wasmConsumer(mem, base + NR_CONS_CURSOR, slotSize);
    },
  };
}

/** Window size giving N elements per direction with the QEMU build. */
export const vmampWindowFor = (n: number): number => VMAMP_ELEMENTS_AT + 2 * n * VMAMP_ELEMENT_SIZE;

/** Step both sides' bring-up until both say 'running'. */
export function bringUp(buf: SharedArrayBuffer, layout: VmampLayout): void {
  const dev = new VmampBringUp(buf, layout, VMAMP_ROLE_DEVICE);
  const drv = new VmampBringUp(buf, layout, VMAMP_ROLE_DRIVER);
  for (let i = 0; i < 10; i++) {
    const a = dev.step();
    const b = drv.step();
    if (a === 'running' && b === 'running') return;
  }
  throw new Error('vmamp bring-up did not reach RUN');
}

/** A vmamp window with N elements per direction; `sender` is the role whose queue is tested. */
export function vmampFixture(mem: SharedMemory, n: number, sender: VmampRole): RingUnderTest {
  const size = vmampWindowFor(n);
  const base = mem.alloc(size);
  const curP = mem.alloc(64);
  const curC = mem.alloc(64);
  const buf = mem.buffer;
  const receiver: VmampRole = sender === VMAMP_ROLE_DEVICE ? VMAMP_ROLE_DRIVER : VMAMP_ROLE_DEVICE;
  let layout: VmampLayout | undefined;
  const current = (): VmampLayout => {
    if (layout === undefined) throw new Error('reset() first');
    return layout;
  };
  const qh = (l: VmampLayout, role: VmampRole): number => l.base + (role === VMAMP_ROLE_DEVICE ? l.devQueueHeadOffset : l.drvQueueHeadOffset);
  // Addresses are fixed by the QEMU build; computed once from a first build.
  mem.u8.fill(0, base, base + size);
  const first = vmampDeviceInit(mem, base, size);
  return {
    name: `vmamp(N=${n}, ${sender === VMAMP_ROLE_DEVICE ? 'device->driver' : 'driver->device'})`,
    capacity: n,
    stride: VMAMP_ELEMENT_SIZE,
    slotsAddr: base + (sender === VMAMP_ROLE_DEVICE ? first.devQueueElementsOffset : first.drvQueueElementsOffset),
    idx16: true,
    producerReadsAt: qh(first, receiver) + VMAMP_QH_HEAD,
    consumerReadsAt: qh(first, sender) + VMAMP_QH_TAIL,
    reset() {
      mem.u8.fill(0, base, base + size);
      vmampDeviceInit(mem, base, size);
      layout = vmampDriverInit(buf, base, size) ?? undefined;
      bringUp(buf, current());
    },
    producer(view, batch) {
      if (view === 'ts') return tsProducer(vmampProducer(mem, current(), sender, { batch }));
      if (!mem.wasm.vmampCursorInit(curP, base, size, sender, CURSOR_PRODUCER, batch, 0)) throw new Error('vmampCursorInit refused');
      return wasmProducer(mem, curP, VMAMP_ELEMENT_SIZE);
    },
    consumer(view, batch) {
      if (view === 'ts') return tsConsumer(vmampConsumer(mem, current(), receiver, { batch }));
      if (!mem.wasm.vmampCursorInit(curC, base, size, receiver, CURSOR_CONSUMER, batch, 0)) throw new Error('vmampCursorInit refused');
      return wasmConsumer(mem, curC, VMAMP_ELEMENT_SIZE);
    },
  };
}

/** An SPSC v1 ring of capacity C (region = 128 + 64 C bytes). */
export function spscFixture(mem: SharedMemory, capacity: number): RingUnderTest {
  const bytes = spscRegionBytes(capacity);
  const base = mem.alloc(bytes);
  const curP = mem.alloc(64);
  const curC = mem.alloc(64);
  const buf = mem.buffer;
  return {
    name: `spsc(C=${capacity})`,
    capacity,
    stride: SPSC_SLOT_SIZE,
    slotsAddr: base + SPSC_SLOTS,
    idx16: false,
    producerReadsAt: base + SPSC_TAIL,
    consumerReadsAt: base + SPSC_HEAD,
    reset: () => void initSpscRing(mem, base, bytes),
    producer(view, batch) {
      if (view === 'ts') return tsProducer(spscProducer(mem, base, bytes, { batch }));
      if (!mem.wasm.spscCursorInit(curP, base, bytes, CURSOR_PRODUCER, batch, 0)) throw new Error('spscCursorInit refused');
      return wasmProducer(mem, curP, SPSC_SLOT_SIZE);
    },
    consumer(view, batch) {
      if (view === 'ts') return tsConsumer(spscConsumer(mem, base, bytes, { batch }));
      if (!mem.wasm.spscCursorInit(curC, base, bytes, CURSOR_CONSUMER, batch, 0)) throw new Error('spscCursorInit refused');
      return wasmConsumer(mem, curC, SPSC_SLOT_SIZE);
    },
  };
}

/**
 * The test frame for sequence number `seq`: msg_size varies over [8, stride], the header carries
 * seq bits, the payload a seq-dependent pattern (so stale bytes past msg_size would show).
 */
export function frameFor(seq: number, stride: number): Uint8Array {
  const size = 8 + ((seq * 2654435761) >>> 0) % (stride - 7);
  const f = new Uint8Array(size);
  f[0] = seq & 0xff;
  f[1] = (seq >>> 8) & 0xff;
  f[2] = (seq >>> 16) & 0xff;
  f[3] = seq >>> 24;
  f[4] = 0x5a;
  f[5] = 0xa5;
  f[6] = size & 0xff;
  f[7] = size >>> 8;
  for (let i = 8; i < size; i++) f[i] = (seq * 131 + i * 7) & 0xff;
  return f;
}
