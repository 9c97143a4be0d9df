// Ring invariants for every layout (native, vmamp both directions, SPSC v1) and every mix of views
// (TS cursor classes and the WASM cursor code): frames arrive in order and intact across
// wrap-around whatever the publication batches; never more than capacity-1 in flight; "full" and
// "empty" are reported exactly when the published indices say so; a hostile peer index is counted
// and never yields a slot address outside the ring.
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { SharedMemory } from '../../src/memory/shared-memory.js';
import { VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER } from '../../src/ring/vmamp.js';
import { frameFor, nativeFixture, spscFixture, vmampFixture, type RingUnderTest, type View } from './helpers.js';

const mem = new SharedMemory({ bytes: 64 * 1024 * 1024 });

const CAPACITIES = [3, 62, 63, 4096];
const fixtures: RingUnderTest[] = [];
for (const cap of CAPACITIES) {
  fixtures.push(nativeFixture(mem, cap));
  fixtures.push(nativeFixture(mem, cap, 272)); // 264-byte messages fit
  fixtures.push(vmampFixture(mem, cap, VMAMP_ROLE_DEVICE));
  fixtures.push(vmampFixture(mem, cap, VMAMP_ROLE_DRIVER));
  fixtures.push(spscFixture(mem, cap));
}

const view = fc.constantFrom<View>('ts', 'wasm');

function inRing(ring: RingUnderTest, addr: number): boolean {
  const i = (addr - ring.slotsAddr) / ring.stride;
  return Number.isInteger(i) && i >= 0 && i < ring.capacity;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

describe.each(fixtures)('$name', (ring) => {
  const cap = ring.capacity;
  const big = cap > 1000;
  const runs = big ? 12 : 60;

  test('random push/pop/flush sequences keep order and content; full and empty exactly as published', () => {
    const op = fc.record({
      op: fc.constantFrom('push', 'pop', 'flushProducer', 'flushConsumer'),
      n: fc.integer({ min: 1, max: cap + 2 }),
    });
    fc.assert(
      fc.property(view, view, fc.integer({ min: 1, max: Math.min(cap + 2, 80) }), fc.integer({ min: 1, max: Math.min(cap + 2, 80) }),
        fc.array(op, { maxLength: big ? 12 : 40 }), (pv, cv, pBatch, cBatch, ops) => {
          ring.reset();
          const p = ring.producer(pv, pBatch);
          const c = ring.consumer(cv, cBatch);
          const inFlight: Uint8Array[] = [];
          let nextSeq = 0;
          const pushSome = (n: number): void => {
            for (let k = 0; k < n; k++) {
              const f = frameFor(nextSeq, ring.stride);
              const at = p.reserve();
              if (at < 0) {
                // Full exactly when frames not yet freed-and-published fill capacity-1 slots;
                // a producer that finds the ring full has published everything it committed.
                expect(inFlight.length + c.pending()).toBe(cap - 1);
                expect(p.pending()).toBe(0);
                return;
              }
              expect(inRing(ring, at)).toBe(true);
              expect(p.push(f)).toBe(true);
              inFlight.push(f);
              nextSeq++;
              expect(inFlight.length).toBeLessThanOrEqual(cap - 1);
            }
          };
          const popSome = (n: number): void => {
            for (let k = 0; k < n; k++) {
              const at = c.peek();
              if (at < 0) {
                // Empty exactly when everything in flight is still unpublished by the producer;
                // a consumer that finds the ring empty has published all its frees.
                expect(inFlight.length).toBe(p.pending());
                expect(c.pending()).toBe(0);
                return;
              }
              expect(inRing(ring, at)).toBe(true);
              const got = c.pop();
              const want = inFlight.shift();
              expect(got).not.toBeNull();
              expect(want).toBeDefined();
              if (!same(got!, want!)) expect(Buffer.from(got!).toString('hex')).toBe(Buffer.from(want!).toString('hex'));
            }
          };
          for (const { op: o, n } of ops) {
            if (o === 'push') pushSome(n);
            else if (o === 'pop') popSome(n);
            else if (o === 'flushProducer') p.flush();
            else c.flush();
          }
          p.flush();
          popSome(cap + 1);
          expect(inFlight).toHaveLength(0);
          // After everything is freed and published, exactly capacity-1 slots fit again.
          c.flush();
          let fitted = 0;
          while (p.reserve() >= 0 && fitted < cap) {
            p.commit();
            fitted++;
          }
          expect(fitted).toBe(cap - 1);
          expect(p.faults() + c.faults()).toBe(0);
        }),
      { numRuns: runs },
    );
  });

  test('a hostile peer index (>= capacity) is counted as a fault and never yields an out-of-ring slot', () => {
    const maxIndex = ring.idx16 ? 0xffff : 0xffffffff;
    fc.assert(
      fc.property(view, fc.constantFrom('producer', 'consumer'), fc.integer({ min: cap, max: maxIndex }),
        fc.integer({ min: 0, max: cap - 1 }), fc.integer({ min: 0, max: cap - 1 }), fc.integer({ min: 1, max: 40 }),
        (v, side, hostile, pushes, popsWanted, batch) => {
          ring.reset();
          const p = ring.producer(side === 'producer' ? v : 'ts', batch);
          const c = ring.consumer(side === 'consumer' ? v : 'ts', batch);
          for (let i = 0; i < pushes; i++) expect(p.push(frameFor(i, ring.stride))).toBe(true);
          p.flush();
          const pops = Math.min(popsWanted, pushes);
          for (let i = 0; i < pops; i++) expect(c.pop()).not.toBeNull();
          c.flush();
          const at = side === 'producer' ? ring.producerReadsAt : ring.consumerReadsAt;
          if (ring.idx16) Atomics.store(mem.u16, at >>> 1, hostile);
          else Atomics.store(mem.u32, at >>> 2, hostile);
          let steps = 0;
          for (;;) {
            const slot = side === 'producer' ? p.reserve() : c.peek();
            if (slot < 0) break;
            expect(inRing(ring, slot)).toBe(true);
            if (side === 'producer') p.commit();
            else c.release();
            steps++;
            expect(steps).toBeLessThan(cap);
          }
          const faults = side === 'producer' ? p.faults() : c.faults();
          expect(faults).toBeGreaterThanOrEqual(1);
          // The consumer can only have read what was published before the corruption.
          if (side === 'consumer') expect(steps).toBeLessThanOrEqual(pushes - pops);
        }),
      { numRuns: big ? 20 : 60 },
    );
  });
});
