// Fuzzing the shared-memory layout validators (the "decoders" of a peer's window): whatever
// bytes a peer leaves in a vmamp descriptor, a native ring header or an SPSC region, the
// validator either rejects them with its own error naming the rule, or accepts a layout that
// lies wholly inside the window with no two regions overlapping — so nothing built on an
// accepted layout can address memory outside it.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  vmampDeviceInit, vmampDriverInit, VmampLayoutError, VMAMP_LAYOUT_SIZE, VMAMP_QH_SIZE, type VmampLayout,
} from '../../src/ring/vmamp.js';
import { checkNativeRing, initNativeRing, NR_HEADER_SIZE, NR_PROD_INDEX, NR_CONS_INDEX } from '../../src/ring/native.js';
import { checkSpscRing, initSpscRing, SPSC_HEAD, SPSC_TAIL } from '../../src/ring/spsc.js';
import { SharedMemory } from '../../src/memory/shared-memory.js';

const RUNS = 300;

// The layouts are built by the WASM inits in the module's memory, then copied into a private
// buffer of exactly the window's size at offset 0, as a peer's window would be.
const mem = new SharedMemory({ bytes: 4 << 20 });
const scratch = mem.alloc(1 << 20, 4096);
function built(bytes: number, build: (base: number) => unknown): SharedArrayBuffer {
  mem.u8.fill(0, scratch, scratch + bytes);
  build(scratch);
  const buffer = new SharedArrayBuffer(bytes);
  new Uint8Array(buffer).set(mem.u8.subarray(scratch, scratch + bytes));
  return buffer;
}
const SEED = 0x1a70;

/** Byte edits a hostile peer might make: [offset, value] pairs. */
const edits = (span: number): fc.Arbitrary<[number, number][]> =>
  fc.array(fc.tuple(fc.integer({ min: 0, max: span - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 });

function regionsOf(l: VmampLayout): [string, number, number][] {
  const q = l.numQueueElements * l.sizeQueueElements;
  const r: [string, number, number][] = [
    ['descriptor', 0, VMAMP_LAYOUT_SIZE],
    ['dev qh', l.devQueueHeadOffset, VMAMP_QH_SIZE], ['drv qh', l.drvQueueHeadOffset, VMAMP_QH_SIZE],
    ['dev elements', l.devQueueElementsOffset, q], ['drv elements', l.drvQueueElementsOffset, q],
  ];
  if (l.numNotif !== 0) r.push(['dev notif', l.devNotifOffset, l.notifBytes], ['drv notif', l.drvNotifOffset, l.notifBytes]);
  return r;
}

/** Independent re-check of an accepted layout: in the window, no overlap, at least 2 elements. */
function expectContained(l: VmampLayout, windowSize: number): void {
  expect(l.numQueueElements).toBeGreaterThanOrEqual(2);
  const rs = regionsOf(l);
  for (const [name, off, len] of rs) expect({ name, inside: off >= 0 && off + len <= windowSize }).toEqual({ name, inside: true });
  for (let i = 0; i < rs.length; i++) {
    for (let j = i + 1; j < rs.length; j++) {
      const [a, ao, al] = rs[i]!, [b, bo, bl] = rs[j]!;
      expect({ a, b, overlap: ao < bo + bl && bo < ao + al }).toEqual({ a, b, overlap: false });
    }
  }
}

describe('vmamp descriptor validator under hostile bytes', () => {
  it('a device-built window with bytes of its descriptor rewritten: rejected by rule, or still contained', () => {
    fc.assert(fc.property(fc.integer({ min: 496, max: 16384 }).map((n) => n & ~7), edits(VMAMP_LAYOUT_SIZE), (windowSize, ed) => {
      const buffer = built(windowSize, (base) => vmampDeviceInit(mem, base, windowSize));
      const u8 = new Uint8Array(buffer);
      for (const [at, v] of ed) u8[at] = v;
      let layout: VmampLayout | null;
      try {
        layout = vmampDriverInit(buffer, 0, windowSize);
      } catch (e) {
        expect(e).toBeInstanceOf(VmampLayoutError);
        return;
      }
      if (layout !== null) expectContained(layout, windowSize);
    }), { seed: SEED, numRuns: RUNS });
  });

  it('a descriptor of random fields in a random window: rejected by rule, or contained', () => {
    const off = fc.oneof(fc.integer({ min: 0, max: 20000 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b) => Number(b & 0xffffn)));
    fc.assert(fc.property(
      fc.integer({ min: 64, max: 8192 }).map((n) => n & ~7),
      fc.record({ numNotif: fc.integer({ min: 0, max: 80 }), perDev: fc.constantFrom(0, 1, 2, 3, 4, 16, 32), n: fc.integer({ min: 0, max: 300 }), size: fc.constantFrom(0, 1, 8, 64, 65), features: fc.constantFrom(0, 1, 2) }),
      fc.array(off, { minLength: 6, maxLength: 6 }),
      (windowSize, f, offs) => {
        const buffer = new SharedArrayBuffer(windowSize);
        const dv = new DataView(buffer);
        dv.setUint16(2, VMAMP_LAYOUT_SIZE, true);
        dv.setUint16(4, 1, true);
        dv.setUint16(6, f.features, true);
        dv.setUint8(8, f.numNotif);
        dv.setUint8(9, f.perDev);
        dv.setUint16(10, f.n, true);
        dv.setUint16(12, f.size, true);
        offs.forEach((o, i) => dv.setBigUint64(16 + 8 * i, BigInt(o), true));
        dv.setUint16(0, 0x4c4f, true); // magic last
        try {
          const layout = vmampDriverInit(buffer, 0, windowSize);
          expect(layout).not.toBeNull();
          expectContained(layout!, windowSize);
        } catch (e) {
          expect(e).toBeInstanceOf(VmampLayoutError);
        }
      },
    ), { seed: SEED + 1, numRuns: RUNS });
  });
});

describe('native ring and SPSC validators under hostile bytes', () => {
  it('a native ring header with bytes rewritten: rejected naming the rule, or a ring inside the memory with both indices in range', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 64 }), fc.constantFrom(16, 64, 272), edits(NR_HEADER_SIZE), fc.integer({ min: 0, max: 4096 }), (cap, slot, ed, slack) => {
      const bytes = NR_HEADER_SIZE + cap * slot + slack;
      const buffer = built(bytes + (64 - (bytes % 64)), (base) => initNativeRing(mem, base, { capacity: cap, slotSize: slot }));
      const u8 = new Uint8Array(buffer);
      for (const [at, v] of ed) u8[at] = v;
      try {
        const info = checkNativeRing(buffer, 0);
        expect(info.capacity).toBeGreaterThanOrEqual(2);
        expect(info.slotSize % 8).toBe(0);
        expect(NR_HEADER_SIZE + info.capacity * info.slotSize).toBeLessThanOrEqual(buffer.byteLength);
        const dv = new DataView(buffer);
        expect(dv.getUint32(NR_PROD_INDEX, true)).toBeLessThan(info.capacity);
        expect(dv.getUint32(NR_CONS_INDEX, true)).toBeLessThan(info.capacity);
      } catch (e) {
        expect((e as Error).message).toMatch(/^native ring rejected by rule "/);
      }
    }), { seed: SEED + 2, numRuns: RUNS });
  });

  it('an SPSC region with its indices overwritten (negative, huge, in range): rejected naming the rule, or both indices below the capacity', () => {
    const idx = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: -0x80000000, max: 0x7fffffff }));
    fc.assert(fc.property(fc.integer({ min: 256, max: 16384 }).map((n) => n & ~3), idx, idx, (region, head, tail) => {
      let cap = 0;
      let buffer: SharedArrayBuffer;
      try {
        buffer = built(region, (base) => (cap = initSpscRing(mem, base, region)));
      } catch (e) {
        expect((e as Error).message).toMatch(/rejected/);
        return;
      }
      const i32 = new Int32Array(buffer);
      i32[SPSC_HEAD / 4] = head;
      i32[SPSC_TAIL / 4] = tail;
      try {
        expect(checkSpscRing(buffer, 0, region)).toBe(cap);
        expect(head >= 0 && head < cap && tail >= 0 && tail < cap).toBe(true);
      } catch (e) {
        expect((e as Error).message).toMatch(/rejected/);
        expect(head >= 0 && head < cap && tail >= 0 && tail < cap).toBe(false);
      }
    }), { seed: SEED + 3, numRuns: RUNS });
  });
});
