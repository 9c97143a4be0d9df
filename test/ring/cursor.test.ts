// The TS face of the WASM cursor (src/ring/cursor.ts) at its edges: frame copies honour msg_size
// and never read past a slot, a bad cursor address is named, the JS view and the raw exports
// drive one and the same cursor, a cursor filled late starts where its side's published index
// is, and publishing rings a sleeping peer's doorbell (a consumer's only when it frees room the
// producer lacked).
import { beforeEach, describe, expect, test } from 'vitest';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { CursorProducer } from '../../src/ring/cursor.js';
import { initSpscRing, spscConsumer, spscProducer, spscRegionBytes } from '../../src/ring/spsc.js';
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
  initNativeRing(mem, base, { capacity: CAP, slotSize: 64, batch: 1, consumerBell, producerBell });
  mem.i32[consumerBell >>> 2] = DOORBELL_AWAKE;
  mem.i32[producerBell >>> 2] = DOORBELL_AWAKE;
});

describe('frame copies', () => {
  test('tryPush copies msg_size bytes only; tryPop returns exactly msg_size bytes', () => {
    const p = nativeProducer(mem, base);
    const c = nativeConsumer(mem, base);
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
    const p = nativeProducer(mem, base);
    const f = new Uint8Array(100);
    for (const [size, len] of [[7, 100], [50, 40], [65, 100]] as const) {
      const g = f.subarray(0, len);
      g[6] = size;
      expect(() => p.tryPush(g)).toThrow(new RegExp(`msg_size ${size} must be from 8`));
    }
    expect(() => p.tryPush(new Uint8Array(4))).toThrow(/msg_size 0/);
  });

  test('tryPop into a reused buffer returns that buffer; a bad msg_size in the slot never reads past it', () => {
    const p = nativeProducer(mem, base);
    const c = nativeConsumer(mem, base);
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

describe('cursor address', () => {
  test('a cursor outside the memory, unaligned or at 0 is named', () => {
    for (const at of [0, 6, mem.buffer.byteLength - 32]) {
      expect(() => new CursorProducer(mem, at)).toThrow(new RegExp(`ring cursor address must be a 4-aligned non-zero offset .* got ${at}`));
    }
  });
});

describe('a cursor filled for a ring that already holds frames', () => {
  test('an SPSC consumer made after the producer published starts at the published index and reads them', () => {
    const region = mem.alloc(spscRegionBytes(8));
    initSpscRing(mem, region, spscRegionBytes(8));
    const p = spscProducer(mem, region, spscRegionBytes(8), { batch: 1 });
    for (let i = 0; i < 3; i++) expect(p.tryPush(frameFor(i, 64))).toBe(true);
    const c1 = spscConsumer(mem, region, spscRegionBytes(8), { batch: 1 });
    expect(c1.tryPop()).toEqual(frameFor(0, 64));
    // A second consumer view (as after a restart) continues at the published consumer index.
    const c2 = spscConsumer(mem, region, spscRegionBytes(8), { batch: 1 });
    expect(c2.tryPop()).toEqual(frameFor(1, 64));
    expect(c2.tryPop()).toEqual(frameFor(2, 64));
    expect(c2.tryPop()).toBeNull();
  });
});

describe('the JS view and the raw exports drive one cursor', () => {
  test('a JS producer continues where the WASM exports stopped', () => {
    const w = mem.wasm;
    for (let i = 0; i < 5; i++) {
      const at = w.ringReserve(base + NR_PROD_CURSOR);
      mem.u8.set(frameFor(i, 64), at);
      w.ringCommit(base + NR_PROD_CURSOR);
    }
    w.cursorFlush(base + NR_PROD_CURSOR);
    const p = nativeProducer(mem, base);
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
    const c = nativeConsumer(mem, base);
    for (let i = 7; i < 12; i++) expect(c.tryPop()).toEqual(frameFor(i, 64));
    expect(c.tryPop()).toBeNull();
  });
});

describe('doorbell on publish (same protocol as the WASM cursor)', () => {
  for (const view of ['ts', 'wasm'] as const) {
    test(`${view}: a sleeping peer's bell goes back to AWAKE after a publish; an awake peer's bell is left alone`, () => {
      const produce = (): void => {
        if (view === 'ts') nativeProducer(mem, base).tryPush(frameFor(1, 64));
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
  test('a consumer publish rings a sleeping producer only when the ring was full before it', () => {
    const p = nativeProducer(mem, base);
    const c = nativeConsumer(mem, base);
    const prodBell = (): number => Atomics.load(mem.i32, producerBell >>> 2);
    // One frame in flight, the producer asleep waiting for an answer elsewhere: left asleep.
    p.tryPush(frameFor(1, 64));
    Atomics.store(mem.i32, producerBell >>> 2, DOORBELL_ASLEEP);
    c.tryPop();
    expect(prodBell()).toBe(DOORBELL_ASLEEP);
    // Full (CAP - 1 frames): the producer may be waiting for room; the first free wakes it.
    for (let i = 0; i < CAP - 1; i++) expect(p.tryPush(frameFor(i, 64))).toBe(true);
    expect(p.tryPush(frameFor(99, 64))).toBe(false);
    c.tryPop();
    expect(prodBell()).toBe(DOORBELL_AWAKE);
    // Asleep again with one slot free: the next free is not one it waits for.
    Atomics.store(mem.i32, producerBell >>> 2, DOORBELL_ASLEEP);
    c.tryPop();
    expect(prodBell()).toBe(DOORBELL_ASLEEP);
  });

  test('the consumer judges fullness by the producer index as published now, not by its cached copy', () => {
    const p = nativeProducer(mem, base);
    const c = nativeConsumer(mem, base);
    p.tryPush(frameFor(0, 64));
    p.tryPush(frameFor(1, 64));
    expect(c.tryPop()).toEqual(frameFor(0, 64)); // the consumer caches producer index 2
    // The producer fills the ring behind the consumer's cached view, finds it full, sleeps.
    for (let i = 2; i < CAP; i++) expect(p.tryPush(frameFor(i, 64))).toBe(true);
    expect(p.tryPush(frameFor(99, 64))).toBe(false);
    Atomics.store(mem.i32, producerBell >>> 2, DOORBELL_ASLEEP);
    expect(c.tryPop()).toEqual(frameFor(1, 64));
    expect(Atomics.load(mem.i32, producerBell >>> 2)).toBe(DOORBELL_AWAKE);
  });

  test('a packed ring rings when fewer units than the largest frame were free before the publish', () => {
    const cap = 12; // 16-byte units; frames of up to 4 units
    const pbase = mem.alloc(nativeRingBytes(cap, 16, 4));
    initNativeRing(mem, pbase, { capacity: cap, slotSize: 16, frameUnits: 4, batch: 1, consumerBell, producerBell });
    const p = nativeProducer(mem, pbase);
    const c = nativeConsumer(mem, pbase);
    const sized = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i === 6 ? n : i === 7 ? 0 : i));
    const small = sized(16); // 1 unit
    const big = sized(64); //   4 units
    // 8 units used, 3 free: short of a 4-unit frame, though a small one would still fit.
    expect(p.tryPush(big)).toBe(true);
    expect(p.tryPush(big)).toBe(true);
    expect(p.tryPush(small)).toBe(false); // reserve asks for 4 units
    Atomics.store(mem.i32, producerBell >>> 2, DOORBELL_ASLEEP);
    expect(c.tryPop()).toEqual(big);
    expect(Atomics.load(mem.i32, producerBell >>> 2)).toBe(DOORBELL_AWAKE);
    // 4 units used, 7 free: enough for any frame, so the next free leaves the sleeper alone.
    Atomics.store(mem.i32, producerBell >>> 2, DOORBELL_ASLEEP);
    expect(c.tryPop()).toEqual(big);
    expect(Atomics.load(mem.i32, producerBell >>> 2)).toBe(DOORBELL_ASLEEP);
  });

  test('a ring made with wakeOnEveryRelease rings a sleeping producer on every consumer publish', () => {
    const ebase = mem.alloc(nativeRingBytes(CAP, 64));
    initNativeRing(mem, ebase, { capacity: CAP, slotSize: 64, batch: 1, consumerBell, producerBell, wakeOnEveryRelease: true });
    const p = nativeProducer(mem, ebase);
    const c = nativeConsumer(mem, ebase);
    p.tryPush(frameFor(1, 64));
    Atomics.store(mem.i32, producerBell >>> 2, DOORBELL_ASLEEP);
    c.tryPop();
    expect(Atomics.load(mem.i32, producerBell >>> 2)).toBe(DOORBELL_AWAKE);
  });

  test('a producer publish rings a sleeping consumer whatever the room', () => {
    const p = nativeProducer(mem, base);
    for (let i = 0; i < CAP - 1; i++) {
      Atomics.store(mem.i32, consumerBell >>> 2, DOORBELL_ASLEEP);
      expect(p.tryPush(frameFor(i, 64))).toBe(true);
      expect(Atomics.load(mem.i32, consumerBell >>> 2)).toBe(DOORBELL_AWAKE);
    }
  });
});
