// Stream bus framing (src/bus/stream-framing.ts): frames back to back, framed by msg_size, come
// out exactly as they went in however the stream is cut; a msg_size that cannot be skipped
// stops the reader for good; the writer batches without ever reusing bytes it handed out.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameReader, FrameWriter } from '../../src/bus/stream-framing.js';

const MAX = 264;

/** A frame of `size` bytes (msg_size = size) with random content. */
const frame = (max: number): fc.Arbitrary<Uint8Array> =>
  fc.integer({ min: 8, max }).chain((size) =>
    fc.uint8Array({ minLength: size, maxLength: size }).map((b) => {
      b[6] = size & 0xff;
      b[7] = size >> 8;
      return b;
    }),
  );

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Cut `bytes` at the given (sorted, deduplicated) offsets. */
function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.slice(prev, p));
    prev = p;
  }
  return out;
}

describe('stream framing', () => {
  it('random frame sequences split at random byte boundaries reassemble exactly', () => {
    fc.assert(
      fc.property(fc.array(frame(MAX), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 60 }), fc.boolean(), (frames, cuts, drainEachChunk) => {
        const reader = new FrameReader(MAX);
        const got: Uint8Array[] = [];
        const drain = (): void => {
          for (let f = reader.next(); f !== null; f = reader.next()) got.push(f.slice());
        };
        for (const chunk of cut(concat(frames), cuts)) {
          reader.push(chunk);
          if (drainEachChunk) drain();
        }
        drain();
        expect(reader.fault).toBeUndefined();
        expect(reader.pending).toBe(0);
        expect(got).toEqual(frames);
      }),
      { numRuns: 300 },
    );
  });

  it('a frame is ready only once all of its msg_size bytes arrived', () => {
    const reader = new FrameReader(MAX);
    const f = Uint8Array.from([0, 7, 1, 0, 5, 0, 12, 0, 0x0f, 0, 0, 0]);
    for (let i = 0; i < f.length; i++) {
      expect(reader.hasFrame()).toBe(false);
      expect(reader.next()).toBeNull();
      reader.push(f.subarray(i, i + 1));
    }
    expect(reader.hasFrame()).toBe(true);
    expect(reader.next()).toEqual(f);
  });

  it.each([
    [7, 'MSG_SIZE_LT_HEADER'],
    [0, 'MSG_SIZE_LT_HEADER'],
    [MAX + 1, 'MSG_SIZE_GT_BUS_MAX'],
    [0xffff, 'MSG_SIZE_GT_BUS_MAX'],
  ])('msg_size %i cannot be skipped: the reader stops with %s', (size, fault) => {
    const reader = new FrameReader(MAX);
    const good = Uint8Array.from([0, 7, 1, 0, 1, 0, 8, 0]);
    const bad = Uint8Array.from([0, 7, 1, 0, 2, 0, size & 0xff, size >> 8]);
    reader.push(concat([good, bad, good]));
    expect(reader.next()).toEqual(good);
    expect(reader.next()).toBeNull();
    expect(reader.fault).toBe(fault);
    expect(reader.faultSize).toBe(size);
    reader.push(good);
    expect(reader.next()).toBeNull(); // nothing after the fault: the stream cannot resync
  });

  it('the maximum applies from the frame after it changed (handshake, then the negotiated size)', () => {
    const reader = new FrameReader(56);
    const big = new Uint8Array(100);
    big[6] = 100;
    reader.push(big);
    reader.maxSize = 264;
    expect(reader.next()?.length).toBe(100);
  });

  it('the writer hands out each batch once and never overwrites bytes it handed out', () => {
    fc.assert(
      fc.property(fc.array(fc.array(frame(2000), { maxLength: 50 }), { maxLength: 12 }), (batches) => {
        const writer = new FrameWriter();
        const taken: { view: Uint8Array; expect: Uint8Array }[] = [];
        for (const batch of batches) {
          for (const f of batch) writer.append(f);
          expect(writer.frames).toBe(batch.length);
          const out = writer.take();
          if (batch.length === 0) expect(out).toBeNull();
          else taken.push({ view: out!, expect: concat(batch) });
        }
        // Every view still holds what it held when taken (the socket may write it later).
        for (const t of taken) expect(t.view).toEqual(t.expect);
      }),
      { numRuns: 25 },
    );
  });
});
