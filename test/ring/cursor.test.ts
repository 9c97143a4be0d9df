// The TS ring cursor (src/ring/cursor.ts) at its edges: frame-copy conveniences honour msg_size and
// never read past a slot, geometry errors name the field, a JS view takes over a side the WASM
// cursor drove, and publishing rings a sleeping peer's doorbell exactly as the WASM cursor does.
import { beforeEach, describe, expect, test } from 'vitest';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { checkGeometry, RingConsumer, RingProducer, type RingGeometry } from '../../src/ring/cursor.js';
import { initNativeRing, nativeConsumer, nativeProducer, nativeRingBytes, NR_CONS_CURSOR, NR_PROD_CURSOR, NR_SLOTS } from '../../src/ring/native.js';
import { DOORBELL_ASLEEP, DOORBELL_AWAKE } from '../../src/wait/doorbell.js';
import { frameFor } from './helpers.js';

const mem = new SharedMemory({ bytes: 4 * 1024 * 1024 });
const CAP = 8;
const base = mem.alloc(nativeRingBytes(CAP, 64));
const bells = mem.alloc(64);
const consumerBell = bells;
const producerBell = bells + 4;

beforeEach(() => {
  mem.u8.fill(0, base, base + nativeRingBytes(CAP, 64));
  initNativeRing(mem.buffer, base, { capacity: CAP, slotSize: 64, batch: 1, consumerBell, producerBell });
  mem.i32[consumerBell >>> 2] = DOORBELL_AWAKE;
  mem.i32[producerBell >>> 2] = DOORBELL_AWAKE;
});

describe('frame copies', () => {
  test('tryPush copies msg_size bytes only; tryPop returns exactly msg_size bytes', () => {
    const p = nativeProducer(mem.buffer, base);
    const c = nativeConsumer(mem.buffer, base);
    mem.u8.fill(0xcc, base + NR_SLOTS, base + NR_SLOTS + 64);
    const f = new Uint8Array(40).fill(0x11);
    f[6] = 13; // msg_size 13 of a 40-byte buffer
    f[7] = 0;
    expect(p.tryPush(f)).toBe(true);
    expect(mem.u8[base + NR_SLOTS + 12]).toBe(0x11);
    expect(mem.u8[base + NR_SLOTS + 13]).toBe(0xcc); // untouched past msg_size
    const got = c.tryPop()!;
    expect(got.length).toBe(13);
    expect([...got]).toEqual([...f.subarray(0, 13)]);
  });

  test('tryPush rejects msg_size below the header, beyond the buffer or beyond the slot', () => {
    const p = nativeProducer(mem.buffer, base);
    const f = new Uint8Array(100);
    for (const [size, len] of [[7, 100], [50, 40], [65, 100]] as const) {
      const g = f.subarray(0, len);
      g[6] = size;
      expect(() => p.tryPush(g)).toThrow(new RegExp(`msg_size ${size} must be from 8`));
    }
    expect(() => p.tryPush(new Uint8Array(4))).toThrow(/msg_size 0/);
  });

  test('tryPop into a reused buffer returns that buffer; a bad msg_size in the slot never reads past it', () => {
    const p = nativeProducer(mem.buffer, base);
    const c = nativeConsumer(mem.buffer, base);
    const into = new Uint8Array(64).fill(0xee);
    expect(p.tryPush(frameFor(5, 64))).toBe(true);
    expect(c.tryPop(into)).toBe(into);
    const want = frameFor(5, 64);
    expect([...into.subarray(0, want.length)]).toEqual([...want]);
    // A peer wrote msg_size 1000 into a 64-byte slot, then 2: copies the slot, then the header.
    for (const size of [1000, 2]) {
      const at = p.reserve();
      mem.u8.fill(0x42, at, at + 64);
      mem.dv.setUint16(at + 6, size, true);
      mem.u8[at + 64] = 0x99; // next slot: must not leak in
      p.commit();
      const got = c.tryPop()!;
      expect(got.length).toBe(size === 2 ? 8 : 64);
      expect(got.includes(0x99)).toBe(false);
    }
    p.tryPush(frameFor(6, 64));
    expect(() => c.tryPop(new Uint8Array(4))).toThrow(/buffer of 4 bytes/);
  });
});

describe('geometry', () => {
  const good = (): RingGeometry => ({
    buffer: mem.buffer, slotsAddr: base + NR_SLOTS, pubIndexAddr: base + 64, peerIndexAddr: base + 128,
    capacity: CAP, stride: 64, idx16: false, wakeAddr: 0, batch: 1,
  });
  test.each([
    ['capacity', { capacity: 1 }],
    ['capacity', { capacity: 0x10001, idx16: true }],
    ['stride', { stride: 0 }],
    ['slotsAddr', { slotsAddr: mem.buffer.byteLength - 64 }],
    ['pubIndexAddr', { pubIndexAddr: base + 66 }],
    ['peerIndexAddr', { peerIndexAddr: base + 64 }],
    ['wakeAddr', { wakeAddr: 6 }],
    ['batch', { batch: 0 }],
  ] as [string, Partial<RingGeometry>][])('a bad %s is named', (field, patch) => {
    expect(() => checkGeometry({ ...good(), ...patch })).toThrow(new RegExp(`ring geometry: ${field} `));
  });
});

describe('taking over from the WASM cursor', () => {
  test('a JS producer continues where a flushed WASM producer stopped', () => {
    const w = mem.wasm;
    for (let i = 0; i < 5; i++) {
      const at = w.ringReserve(base + NR_PROD_CURSOR);
      mem.u8.set(frameFor(i, 64), at);
      w.ringCommit(base + NR_PROD_CURSOR);
    }
    w.cursorFlush(base + NR_PROD_CURSOR);
    const p = nativeProducer(mem.buffer, base);
    for (let i = 5; i < 12; i++) {
      if (i === 7) {
        // ring full (7 usable): drain it with the WASM consumer, publishing each free
        for (let k = 0; k < 7; k++) {
          const at = w.ringPeek(base + NR_CONS_CURSOR);
          expect(mem.u8.slice(at, at + frameFor(k, 64).length)).toEqual(frameFor(k, 64));
          w.ringRelease(base + NR_CONS_CURSOR);
        }
      }
      expect(p.tryPush(frameFor(i, 64))).toBe(true);
    }
    const c = nativeConsumer(mem.buffer, base);
    for (let i = 7; i < 12; i++) expect(c.tryPop()).toEqual(frameFor(i, 64));
    expect(c.tryPop()).toBeNull();
  });
});

describe('doorbell on publish (same protocol as the WASM cursor)', () => {
  for (const view of ['ts', 'wasm'] as const) {
    test(`${view}: a sleeping peer's bell goes back to AWAKE after a publish; an awake peer's bell is left alone`, () => {
      const produce = (): void => {
        if (view === 'ts') new RingProducer(nativeGeometry()).tryPush(frameFor(1, 64));
        else {
          mem.wasm.ringReserve(base + NR_PROD_CURSOR);
          mem.wasm.ringCommit(base + NR_PROD_CURSOR);
        }
      };
      Atomics.store(mem.i32, consumerBell >>> 2, DOORBELL_ASLEEP);
      produce();
      expect(Atomics.load(mem.i32, consumerBell >>> 2)).toBe(DOORBELL_AWAKE);
      Atomics.store(mem.i32, consumerBell >>> 2, 7); // not ASLEEP: the waker must not touch it
      produce();
      expect(Atomics.load(mem.i32, consumerBell >>> 2)).toBe(7);
    });
  }
  test('a consumer publishing frees rings the producer bell', () => {
    const p = nativeProducer(mem.buffer, base);
    const c = new RingConsumer({ ...nativeGeometry(), pubIndexAddr: base + 128, peerIndexAddr: base + 64, wakeAddr: producerBell });
    p.tryPush(frameFor(1, 64));
    Atomics.store(mem.i32, producerBell >>> 2, DOORBELL_ASLEEP);
    c.tryPop();
    expect(Atomics.load(mem.i32, producerBell >>> 2)).toBe(DOORBELL_AWAKE);
  });
});

function nativeGeometry(): RingGeometry {
  return {
    buffer: mem.buffer, slotsAddr: base + NR_SLOTS, pubIndexAddr: base + 64, peerIndexAddr: base + 128,
    capacity: CAP, stride: 64, idx16: false, wakeAddr: consumerBell, batch: 1,
  };
}
