// The packed native ring (assembly/ring/cursor.ts): frames in ceil(msg_size / 16) consecutive
// 16-byte units, a frame never wraps (slack after the last unit), the producer reserves only with
// room for the largest frame. For every mix of views (TS cursor classes and the WASM cursor
// code): frames arrive in order and intact across wrap-around whatever their sizes and the
// publication batches; every address lies in the ring's memory; full exactly when the largest
// frame no longer fits; a frame whose msg_size is rewritten after publishing never makes the
// consumer pass what the producer published.
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { CUR_BATCH, CUR_PEEK_UNITS, PACKED_UNIT, frameUnits } from '../../src/ring/cursor.js';
import { initNativeRing, nativeConsumer, nativeProducer, nativeRingBytes, NR_CONS_CURSOR, NR_CONS_INDEX, NR_PROD_CURSOR, NR_PROD_INDEX, NR_SLOTS } from '../../src/ring/native.js';
import { frameFor, type View } from './helpers.js';

const mem = new SharedMemory({ bytes: 16 * 1024 * 1024 });
const w = mem.wasm;

interface Side {
  reserve(): number;
  commit(): void;
  flush(): void;
  peek(): number;
  /** Units the consumer will release for the frame it peeked. */
  peekUnits(): number;
  release(): void;
}

function fixture(capacity: number, units: number) {
  const base = mem.alloc(nativeRingBytes(capacity, PACKED_UNIT, units));
  const end = base + nativeRingBytes(capacity, PACKED_UNIT, units);
  const sides = (pv: View, cv: View, pBatch: number, cBatch: number): { p: Side; c: Side } => {
    initNativeRing(mem, base, { capacity, frameUnits: units, batch: 1 });
    mem.u32[(base + NR_PROD_CURSOR + CUR_BATCH) >>> 2] = pBatch;
    mem.u32[(base + NR_CONS_CURSOR + CUR_BATCH) >>> 2] = cBatch;
    const tp = pv === 'ts' ? nativeProducer(mem, base, { batch: pBatch }) : null;
    const tc = cv === 'ts' ? nativeConsumer(mem, base, { batch: cBatch }) : null;
    const pc = base + NR_PROD_CURSOR;
    const cc = base + NR_CONS_CURSOR;
    return {
      p: {
        reserve: () => (tp ? tp.reserve() : w.ringReserve(pc) || -1),
        commit: () => (tp ? tp.commit() : w.ringCommit(pc)),
        flush: () => (tp ? tp.flush() : w.cursorFlush(pc)),
        peek: () => -1, peekUnits: () => 0, release: () => undefined,
      },
      c: {
        reserve: () => -1, commit: () => undefined,
        flush: () => (tc ? tc.flush() : w.cursorFlush(cc)),
        peek: () => (tc ? tc.peek() : w.ringPeek(cc) || -1),
        // Both views drive the same cursor: the count is in it.
        peekUnits: () => mem.u32[(cc + CUR_PEEK_UNITS) >>> 2]!,
        release: () => (tc ? tc.release() : w.ringRelease(cc)),
      },
    };
  };
  return { base, end, capacity, units, sides };
}

const view = fc.constantFrom<View>('ts', 'wasm');
const SHAPES: [number, number][] = [[5, 4], [12, 4], [35, 17], [64, 4], [257, 17], [1024, 2]];

describe.each(SHAPES)('packed ring of %i units, frames up to %i units', (capacity, units) => {
  const r = fixture(capacity, units);
  const maxBytes = units * PACKED_UNIT;

  test('random pushes and pops of mixed sizes keep order and content; full exactly when the largest frame does not fit', () => {
    const op = fc.record({ op: fc.constantFrom('push', 'pop', 'flushP', 'flushC', 'fill'), n: fc.integer({ min: 1, max: 40 }) });
    fc.assert(fc.property(view, view, fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.array(op, { maxLength: 40 }), fc.nat(),
      (pv, cv, pb, cb, ops, seed) => {
        const { p, c } = r.sides(pv, cv, pb, cb);
        const inFlight: Uint8Array[] = [];
        let seq = seed;
        const inMemory = (at: number, bytes: number): void => {
          expect(at).toBeGreaterThanOrEqual(r.base + NR_SLOTS);
          expect((at - r.base - NR_SLOTS) % PACKED_UNIT).toBe(0);
          expect(at + bytes).toBeLessThanOrEqual(r.end);
        };
        const push = (): boolean => {
          const f = frameFor(seq, maxBytes); // 8 .. maxBytes bytes
          const at = p.reserve();
          if (at < 0) return false;
          inMemory(at, maxBytes);
          mem.u8.set(f, at);
          p.commit();
          inFlight.push(f);
          seq++;
          return true;
        };
        const pop = (): boolean => {
          const at = c.peek();
          if (at < 0) return false;
          const want = inFlight.shift();
          expect(want).toBeDefined();
          expect(c.peekUnits()).toBe(frameUnits(want!.length, units));
          inMemory(at, want!.length);
          expect(Buffer.from(mem.u8.subarray(at, at + want!.length)).toString('hex')).toBe(Buffer.from(want!).toString('hex'));
          c.release();
          return true;
        };
        const used = (): number => inFlight.reduce((s, f) => s + frameUnits(f.length, units), 0);
        for (const { op: o, n } of ops) {
          if (o === 'push') for (let k = 0; k < n && push(); k++);
          else if (o === 'pop') for (let k = 0; k < n && pop(); k++);
          else if (o === 'flushP') p.flush();
          else if (o === 'flushC') c.flush();
          else {
            // With every free published, reserve fails exactly when the largest frame no longer fits.
            c.flush();
            while (push());
            expect(capacity - 1 - used()).toBeLessThan(units);
          }
        }
        p.flush();
        while (pop());
        expect(inFlight).toHaveLength(0);
        // Drained and published: exactly capacity - units one-unit frames fit (one unit stays
        // empty, and each reserve wants room for the largest frame).
        c.flush();
        let fitted = 0;
        for (let at = p.reserve(); at >= 0 && fitted < capacity; at = p.reserve()) {
          mem.u8.set(frameFor(0, 9), at); // 8 bytes: one unit
          p.commit();
          fitted++;
        }
        expect(fitted).toBe(capacity - units);
      }), { numRuns: capacity > 500 ? 15 : 50 });
  });

  test('a msg_size rewritten after publishing never takes the consumer past the producer index', () => {
    fc.assert(fc.property(view, fc.integer({ min: 0, max: capacity - 1 }), fc.integer({ min: 0, max: 0xffff }), (cv, lead, bogus) => {
      const { p, c } = r.sides('ts', cv, 1, 1);
      // Move both sides to `lead` with one-unit frames, so the frame under test may sit at the end.
      for (let k = 0; k < lead; k++) {
        const at = p.reserve();
        if (at < 0) break;
        mem.u8.set(frameFor(k, 9), at);
        p.commit();
        expect(c.peek()).toBeGreaterThanOrEqual(0);
        c.release();
      }
      const f = frameFor(lead, maxBytes);
      const at = p.reserve();
      expect(at).toBeGreaterThan(0);
      mem.u8.set(f, at);
      p.commit();
      const published = Atomics.load(mem.u32, (r.base + NR_PROD_INDEX) >>> 2);
      mem.u8[at + 6] = bogus & 0xff; // the producer tears its own header after publishing
      mem.u8[at + 7] = bogus >>> 8;
      expect(c.peek()).toBe(at);
      expect(c.peekUnits()).toBeLessThanOrEqual(frameUnits(f.length, units));
      c.release();
      c.flush();
      // Whatever it read, the consumer stops after the frame's first unit and at or before the
      // published index; when the torn size covers the whole frame it is exactly there.
      const start = (at - r.base - NR_SLOTS) / PACKED_UNIT;
      const cons = Atomics.load(mem.u32, (r.base + NR_CONS_INDEX) >>> 2);
      const dist = (from: number, to: number): number => (to - from + capacity) % capacity;
      expect(dist(start, cons)).toBeGreaterThanOrEqual(1);
      expect(dist(start, cons)).toBeLessThanOrEqual(dist(start, published));
      if (frameUnits(bogus, units) >= frameUnits(f.length, units)) {
        expect(cons).toBe(published);
        // In step again: the next frame is read where it was written.
        const next = p.reserve();
        mem.u8.set(frameFor(lead + 1, maxBytes), next);
        p.commit();
        expect(c.peek()).toBe(next);
      }
    }), { numRuns: 40 });
  });
});
