// The ring layouts byte by byte (the constants themselves: test/layout/descriptor.test.ts): the TS and AS initialisers and
// cursor fills write identical bytes; the vmamp window matches the bytes verified against a real
// descriptor (docs/BUSES.md §2.2) and the validator applies each kernel rule; SPSC capacities match
// the worked sizes of docs/BUSES.md §3.1.
import { beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { CURF_FREES, CURF_RELAXED, CURSOR_CONSUMER, CURSOR_PRODUCER, CUR_CACHED, CUR_PEEK_UNITS, CUR_SIZE, type CursorSide } from '../../src/ring/cursor.js';
import { NR_CONS_CURSOR, NR_PROD_CURSOR, NR_SLOTS, NR_FRAME_UNITS, checkNativeRing, nativeCursorFlags, initNativeRing, nativeRingBytes, NR_CAPACITY, NR_FLAGS, NR_MAGIC, NR_PROD_INDEX, NR_SLOT_SIZE, NR_VERSION } from '../../src/ring/native.js';
import { checkSpscRing, initSpscRing, spscCapacity, spscRegionBytes, spscCursorAt, SPSC_TAIL } from '../../src/ring/spsc.js';
import {
  checkVmampDescriptor, readVmampDescriptor, vmampDeviceInit, vmampDriverInit, vmampElementCount, vmampCursorAt,
  VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS, VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET, VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER,
  VmampLayoutError, type VmampDescriptor, type VmampLayout, type VmampRole,
} from '../../src/ring/vmamp.js';

let mem: SharedMemory;
let scratch: number; // 1 MiB to lay rings out in
const SCRATCH = 1 << 20;

beforeAll(() => {
  mem = new SharedMemory({ bytes: 16 * 1024 * 1024 });
  scratch = mem.alloc(SCRATCH, 4096);
});

/** Fill [at, at+len) with the same pseudo-random garbage every call. */
function garbage(at: number, len: number): void {
  let x = 0x9e3779b9;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    mem.u8[at + i] = x & 0xff;
  }
}

/** Bytes [at, at+len) after `write` ran over the same garbage. */
function after(at: number, len: number, write: () => void): string {
  garbage(at, len);
  write();
  return Buffer.from(mem.u8.subarray(at, at + len)).toString('hex');
}

/**
 * A cursor's bytes (hex) with its cached peer index as a fresh cursor of that side has it after
 * being started at the published index 0 (resumeCursor): producer 1 (the first reserve loads the
 * consumer's index), consumer 0. Everything else must be what the WASM fill wrote.
 */
function startedAt(hexBytes: string, side: CursorSide): string {
  const b = Buffer.from(hexBytes, 'hex');
  b.writeUInt32LE(side === CURSOR_PRODUCER ? 1 : 0, CUR_CACHED);
  return b.toString('hex');
}

// The TS entry points call the WASM inits with checked arguments: the same bytes as calling them directly.
describe('TS entry points write what the WASM inits write', () => {
  test('native ring init (header, both cursors, magic) for several shapes', () => {
    for (const [capacity, slotSize, batch, consumerBell, producerBell] of [
      [2, 16, 1, 0, 0], [3, 64, 16, 4096, 4100], [63, 272, 7, 0, 8], [4096, 64, 32, 12, 0], [1000, 24, 1, 0, 0],
    ] as const) {
      for (const relaxed of [false, true]) {
        const len = nativeRingBytes(capacity, slotSize);
        const a = after(scratch, len, () => mem.wasm.nativeRingInit(scratch, capacity, slotSize, batch, consumerBell, producerBell, (relaxed ? CURF_RELAXED : 0) | CURF_FREES, 1));
        const b = after(scratch, len, () => initNativeRing(mem, scratch, { capacity, slotSize, batch, consumerBell, producerBell, relaxed }));
        expect(b).toBe(a);
      }
    }
    for (const [capacity, frameUnits] of [[8, 2], [1024, 17], [35, 17], [4096, 4]] as const) {
      const len = nativeRingBytes(capacity, 16, frameUnits);
      expect(mem.wasm.nativeRingBytes(capacity, 16, frameUnits)).toBe(len);
      const a = after(scratch, len, () => mem.wasm.nativeRingInit(scratch, capacity, 16, 16, 4096, 0, CURF_RELAXED | CURF_FREES, frameUnits));
      const b = after(scratch, len, () => initNativeRing(mem, scratch, { capacity, frameUnits, batch: 16, consumerBell: 4096, relaxed: true }));
      expect(b).toBe(a);
    }
    // Without the option the TS init follows the process's publication mode, as the router's rings do.
    const len = nativeRingBytes(8, 64);
    const a = after(scratch, len, () => mem.wasm.nativeRingInit(scratch, 8, 64, 4, 0, 0, nativeCursorFlags(), 1));
    const b = after(scratch, len, () => initNativeRing(mem, scratch, { capacity: 8, slotSize: 64, batch: 4 }));
    expect(b).toBe(a);
  });

  test('vmamp device-side build for several window sizes', () => {
    for (const size of [464, 496, 576, 4096, 8192, 8144 + 127, 80 + 128 * 4096]) {
      const a = after(scratch, size, () => expect(mem.wasm.vmampDeviceInit(scratch, size)).toBe(vmampElementCount(size)));
      const b = after(scratch, size, () => vmampDeviceInit(mem, scratch, size));
      expect(b).toBe(a);
    }
  });

  test('vmamp cursor fill for both roles and both directions', () => {
    const size = 8192;
    const win = scratch + 4096;
    const cur = scratch;
    vmampDeviceInit(mem, win, size);
    const layout = vmampDriverInit(mem.buffer, win, size)!;
    for (const role of [VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER] as VmampRole[]) {
      for (const side of [CURSOR_PRODUCER, CURSOR_CONSUMER] as CursorSide[]) {
        const a = after(cur, 64, () => expect(mem.wasm.vmampCursorInit(cur, win, size, role, side, 5, 1024)).toBe(1));
        const b = after(cur, 64, () => vmampCursorAt(mem, cur, layout, role, side, { batch: 5, wakeAddr: 1024 }));
        expect(startedAt(b, side)).toBe(startedAt(a, side));
      }
    }
  });

  test('SPSC init and cursor fill', () => {
    for (const bytes of [256, 1024, 4096, 8192, 262272]) {
      const a = after(scratch, bytes, () => expect(mem.wasm.spscInit(scratch, bytes)).toBe(spscCapacity(bytes)));
      const b = after(scratch, bytes, () => initSpscRing(mem, scratch, bytes));
      expect(b).toBe(a);
    }
    const region = scratch + 4096;
    initSpscRing(mem, region, 4096); // the TS fill starts at the published index: it must be a ring
    for (const side of [CURSOR_PRODUCER, CURSOR_CONSUMER] as CursorSide[]) {
      const a = after(scratch, 64, () => expect(mem.wasm.spscCursorInit(scratch, region, 4096, side, 3, 2048)).toBe(1));
      const b = after(scratch, 64, () => spscCursorAt(mem, scratch, region, 4096, side, { batch: 3, wakeAddr: 2048 }));
      expect(startedAt(b, side)).toBe(startedAt(a, side));
    }
  });
});

describe('vmamp window (docs/BUSES.md §2.1, §2.2)', () => {
  test('an 8 KiB window gives the verified descriptor bytes (N = 63)', () => {
    const want = '4f4c400001000000' + '00003f0040000000' +
      [0, 0x40, 0x50, 0, 0x48, 0x1010].map((o) => Buffer.from(new BigUint64Array([BigInt(o)]).buffer).toString('hex')).join('');
    for (const build of [() => mem.wasm.vmampDeviceInit(scratch, 8192), () => vmampDeviceInit(mem, scratch, 8192)]) {
      garbage(scratch, 8192);
      build();
      expect(Buffer.from(mem.u8.subarray(scratch, scratch + 64)).toString('hex')).toBe(want);
    }
  });

  test('geometries: 496 B -> N 3 (2 in flight), 576 B -> 3, 4 KiB -> 31, 8 KiB -> 63, 160 B -> none', () => {
    for (const [size, n] of [[496, 3], [576, 3], [4096, 31], [8192, 63], [160, 0]] as const) {
      expect(vmampElementCount(size)).toBe(n);
      expect(mem.wasm.vmampElementCount(size)).toBe(n);
    }
    const layout = vmampDeviceInit(mem, scratch, 496);
    expect(layout.numQueueElements).toBe(3);
    expect(layout.drvQueueElementsOffset).toBe(80 + 3 * 64);
    expect(() => vmampDeviceInit(mem, scratch, 160)).toThrow(/holds no 2 elements/);
    expect(mem.wasm.vmampDeviceInit(scratch, 160)).toBe(0);
  });

  test('the driver waits (null) until the magic appears, then zeroes its own elements', () => {
    mem.u8.fill(0, scratch, scratch + 8192);
    expect(vmampDriverInit(mem.buffer, scratch, 8192)).toBeNull();
    vmampDeviceInit(mem, scratch, 8192);
    mem.u8.fill(0xee, scratch + 0x1010, scratch + 0x1010 + 63 * 64);
    const layout = vmampDriverInit(mem.buffer, scratch, 8192)!;
    expect(layout.drvQueueElementsOffset).toBe(0x1010);
    expect(mem.u8.subarray(scratch + 0x1010, scratch + 0x1010 + 63 * 64).every((b) => b === 0)).toBe(true);
  });

  test('the WASM cursor fill refuses a descriptor that points outside the window', () => {
    vmampDeviceInit(mem, scratch, 8192);
    expect(mem.wasm.vmampCursorInit(scratch + 8192, scratch, 8192, VMAMP_ROLE_DRIVER, CURSOR_PRODUCER, 1, 0)).toBe(1);
    mem.dv.setBigUint64(scratch + VMAMP_LAYOUT_DRV_QUEUE_ELEMENTS_OFFSET, 0x1041n, true); // 63*64 bytes from there pass 8192
    expect(mem.wasm.vmampCursorInit(scratch + 8192, scratch, 8192, VMAMP_ROLE_DRIVER, CURSOR_PRODUCER, 1, 0)).toBe(0);
    mem.dv.setUint16(scratch + VMAMP_LAYOUT_NUM_QUEUE_ELEMENTS, 1, true);
    expect(mem.wasm.vmampCursorInit(scratch + 8192, scratch, 8192, VMAMP_ROLE_DEVICE, CURSOR_CONSUMER, 1, 0)).toBe(0);
    mem.u16[scratch >>> 1] = 0;
    expect(mem.wasm.vmampCursorInit(scratch + 8192, scratch, 8192, VMAMP_ROLE_DEVICE, CURSOR_CONSUMER, 1, 0)).toBe(0);
  });

  describe('the validator rejects each bad layout, naming the rule and the value', () => {
    let good: VmampDescriptor;
    beforeAll(() => {
      vmampDeviceInit(mem, scratch, 8192);
      good = readVmampDescriptor(mem.buffer, scratch);
    });
    const check = (patch: Partial<VmampDescriptor>, size = 8192): VmampLayout => checkVmampDescriptor({ ...good, ...patch }, size);

    test('the QEMU-built layout passes, and so does one with notification areas', () => {
      expect(check({}).numQueueElements).toBe(63);
      // 48 bytes free after the driver elements (8144..8192): two 16-byte areas (tx, rx; 1 word).
      const l = check({ numNotif: 1, numVqNotifPerDevice: 4, devNotifOffset: 8144n, drvNotifOffset: 8160n });
      expect(l.notifBytes).toBe(16);
      expect(check({ numNotif: 0, numVqNotifPerDevice: 3 }).numVqNotifPerDevice).toBe(0); // unchecked without notif
    });
    const cases: [string, Partial<VmampDescriptor>, RegExp, number?][] = [
      ['window size', {}, /rule "window size": window size = 32/, 32],
      ['magic', { magic: 0x4c4e }, /rule "magic": magic = 0x4c4e/],
      ['length', { length: 48 }, /rule "length": length = 48/],
      ['version', { version: 2 }, /rule "version": version = 2/],
      ['features', { features: 0x2 }, /rule "features": features = 0x2/],
      ['reserved', { reserved: 1 }, /rule "reserved": reserved = 1/],
      ['num_notif', { numNotif: 65, numVqNotifPerDevice: 1 }, /rule "num_notif": num_notif = 65/],
      ['num_vq_notif_per_device', { numNotif: 1, numVqNotifPerDevice: 3, devNotifOffset: 8144n, drvNotifOffset: 8160n }, /rule "num_vq_notif_per_device": num_vq_notif_per_device = 3/],
      ['size_queue_elements', { sizeQueueElements: 0 }, /rule "size_queue_elements": size_queue_elements = 0/],
      ['num_queue_elements', { numQueueElements: 1 }, /rule "num_queue_elements": num_queue_elements = 1/],
      ['offset non-zero', { devQueueHeadOffset: 0n }, /rule "offset non-zero": dev_queue_head_offset = 0x0/],
      ['alignment (queue head 2-aligned)', { drvQueueHeadOffset: 0x49n }, /rule "alignment": drv_queue_head_offset = 0x49/],
      ['alignment (notification area 8-aligned)', { numNotif: 1, numVqNotifPerDevice: 1, devNotifOffset: 8148n, drvNotifOffset: 8160n }, /rule "alignment": dev_notif_offset = 0x1fd4/],
      ['inside window (elements)', { drvQueueElementsOffset: 0x1041n }, /rule "inside window": drv_queue_elements_offset = 0x1041/],
      ['inside window (huge offset)', { devQueueElementsOffset: 1n << 63n }, /rule "inside window": dev_queue_elements_offset = 0x8000000000000000/],
      ['inside window (notification area)', { numNotif: 2, numVqNotifPerDevice: 1, devNotifOffset: 8144n, drvNotifOffset: 8176n }, /rule "inside window": drv_notif_offset = 0x1ff0/],
      ['no overlap (two queue heads)', { drvQueueHeadOffset: 0x44n }, /rule "no overlap": drv_queue_head_offset = 0x44/],
      ['no overlap (queue head inside the descriptor)', { devQueueHeadOffset: 0x3en }, /rule "no overlap": dev_queue_head_offset = 0x3e .*descriptor/],
      ['no overlap (element arrays)', { drvQueueElementsOffset: 0x1000n }, /rule "no overlap": drv_queue_elements_offset = 0x1000 .*dev_queue_elements_offset/],
      ['no overlap (notification area over elements)', { numNotif: 1, numVqNotifPerDevice: 1, devNotifOffset: 8136n, drvNotifOffset: 8160n }, /rule "no overlap": dev_notif_offset = 0x1fc8/],
    ];
    test.each(cases)('rule %s', (_name, patch, message, size) => {
      expect(() => check(patch, size)).toThrow(message);
      expect(() => check(patch, size)).toThrow(VmampLayoutError);
    });
  });
});

describe('SPSC v1 ring (docs/BUSES.md §3.1)', () => {
  test('capacity C = floor((region - 192) / 64) + 1 for the worked sizes', () => {
    for (const [bytes, cap] of [[1024, 14], [4096, 62], [8192, 126], [262272, 4096], [256, 2], [255, 0]] as const) {
      expect(spscCapacity(bytes)).toBe(cap);
      expect(mem.wasm.spscCapacity(bytes)).toBe(cap);
    }
    expect(spscRegionBytes(4096)).toBe(262272);
    expect(mem.wasm.spscRegionBytes(62)).toBe(4096);
  });

  test('checkSpscRing names the rule and the bad value', () => {
    initSpscRing(mem, scratch, 4096);
    expect(checkSpscRing(mem.buffer, scratch, 4096)).toBe(62);
    expect(() => checkSpscRing(mem.buffer, scratch, 200)).toThrow(/rule "region holds >= 2 slots.*got 200/);
    expect(() => checkSpscRing(mem.buffer, scratch + 2, 4096)).toThrow(/rule "base is 4-aligned".*got \d+/);
    expect(() => checkSpscRing(mem.buffer, mem.buffer.byteLength - 1024, 4096)).toThrow(/rule "region inside memory/);
    mem.i32[(scratch + SPSC_TAIL) >>> 2] = -1;
    expect(() => checkSpscRing(mem.buffer, scratch, 4096)).toThrow(/rule "tail \(consumer index\) < capacity 62": got 4294967295/);
  });
});

describe('native ring header', () => {
  test('each cursor has a cache line of its own, and the cursor is ring state only (its last field ends it)', () => {
    expect(CUR_PEEK_UNITS + 4).toBe(CUR_SIZE);
    expect(CUR_SIZE).toBeLessThanOrEqual(64);
    expect(NR_PROD_CURSOR % 64).toBe(0);
    expect(NR_CONS_CURSOR - NR_PROD_CURSOR).toBe(64);
    expect(NR_SLOTS - NR_CONS_CURSOR).toBe(64);
  });

  test('checkNativeRing accepts an initialised ring and names each broken rule', () => {
    const init = (): void => initNativeRing(mem, scratch, { capacity: 63, slotSize: 272 });
    init();
    expect(checkNativeRing(mem.buffer, scratch)).toEqual({ capacity: 63, slotSize: 272, frameUnits: 1, consumerBell: 0, producerBell: 0 });
    const broken: [() => void, RegExp][] = [
      [() => mem.dv.setUint32(scratch + NR_MAGIC, 0x12345678, true), /rule "magic is 0x47524d56": got 0x12345678/],
      [() => mem.dv.setUint16(scratch + NR_VERSION, 1, true), /rule "version is 2": got 1/],
      [() => mem.dv.setUint32(scratch + NR_FRAME_UNITS, 0, true), /rule "frame units from 1 to 4096": got 0/],
      [() => mem.dv.setUint32(scratch + NR_FRAME_UNITS, 4, true), /rule "a packed ring \(frame units > 1\) has 16-byte slots": got 272/],
      [() => mem.dv.setUint16(scratch + NR_FLAGS, 1, true), /rule "flags are 0": got 1/],
      [() => mem.dv.setUint32(scratch + NR_CAPACITY, 1, true), /rule "capacity >= 2": got 1/],
      [() => mem.dv.setUint32(scratch + NR_SLOT_SIZE, 20, true), /rule "slot size is a multiple of 8 and >= 16": got 20/],
      [() => mem.dv.setUint32(scratch + NR_SLOT_SIZE, 8, true), /rule "slot size is a multiple of 8 and >= 16": got 8/],
      [() => mem.dv.setUint32(scratch + NR_CAPACITY, 1 << 30, true), /rule "ring inside memory/],
      [() => mem.dv.setUint32(scratch + NR_PROD_INDEX, 63, true), /rule "producer index < capacity 63": got 63/],
    ];
    for (const [breakIt, message] of broken) {
      init();
      breakIt();
      expect(() => checkNativeRing(mem.buffer, scratch)).toThrow(message);
    }
    expect(() => initNativeRing(mem, scratch + 8, { capacity: 4 })).toThrow(/rule "base is 64-byte aligned": got/);
    expect(() => initNativeRing(mem, scratch, { capacity: 4, slotSize: 12 })).toThrow(/slot size/);
    // A packed ring: 16-byte units, frameUnits - 1 units of slack, capacity above frameUnits.
    initNativeRing(mem, scratch, { capacity: 64, frameUnits: 17 });
    expect(checkNativeRing(mem.buffer, scratch)).toEqual({ capacity: 64, slotSize: 16, frameUnits: 17, consumerBell: 0, producerBell: 0 });
    expect(nativeRingBytes(64, 16, 17)).toBe(320 + (64 + 16) * 16);
    expect(() => initNativeRing(mem, scratch, { capacity: 17, frameUnits: 17 })).toThrow(/rule "a packed ring's capacity exceeds its frame units \(17\)": got 17/);
  });
});
