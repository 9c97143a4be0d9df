// Frames a hostile or buggy endpoint might send, as fast-check arbitraries: arbitrary bytes,
// plausible headers with random payloads, and the wire vectors (test/fixtures/
// wire-vectors.json) aimed at the fuzzed router's devices and then mutated (bit flips, byte
// stores, truncation, extension, msg_size rewrites).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { packageRoot } from '../../src/util/paths.js';

/** The wire vectors of the checkout, or none (an installed package ships no test/ folder). */
export function loadVectorFrames(): Uint8Array[] {
  const path = join(packageRoot(), 'test', 'fixtures', 'wire-vectors.json');
  if (!existsSync(path)) return [];
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { vectors: { hex: string }[] };
  return doc.vectors.map((v) => new Uint8Array(Buffer.from(v.hex, 'hex'))).filter((f) => f.length > 0);
}

const u16 = fc.integer({ min: 0, max: 0xffff });

/** Set msg_size (bytes 6–7) of `f` in place. */
function setSize(f: Uint8Array, size: number): void {
  if (f.length >= 8) {
    f[6] = size & 0xff;
    f[7] = size >> 8;
  }
}

/** msg_ids worth trying: every standard id and its event/impl neighbours, plus any byte. */
const msgId = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x00, max: 0x0f }) },
  { weight: 3, arbitrary: fc.integer({ min: 0x40, max: 0x43 }) },
  { weight: 2, arbitrary: fc.constantFrom(0x80, 0x81, 0xc0, 0xc1, 0xff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }) },
);

/** type byte: the four legal kinds mostly, reserved bits sometimes. */
const typeByte = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }) },
);

export interface FrameShape {
  /** Device numbers of the fuzzed router: headers aim at them most of the time. */
  devices: readonly number[];
  /** Largest frame a link may carry (the port refuses bigger ones: they never reach a ring). */
  maxSize: number;
}

/** Anything at all that fits the link: raw bytes, msg_size as it falls. */
export function rawFrame(s: FrameShape): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ minLength: 0, maxLength: s.maxSize });
}

/** A plausible header (known device, legal type, interesting msg_id) with a random payload. */
export function headerFrame(s: FrameShape): fc.Arbitrary<Uint8Array> {
  const dev = s.devices.length > 0 ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...s.devices) }, { weight: 1, arbitrary: u16 }) : u16;
  return fc
    .record({
      type: typeByte,
      id: msgId,
      dev,
      token: u16,
      payload: fc.uint8Array({ minLength: 0, maxLength: s.maxSize - 8 }),
      size: fc.option(u16, { freq: 6, nil: undefined }),
    })
    .map(({ type, id, dev, token, payload, size }) => {
      const f = new Uint8Array(8 + payload.length);
      f.set([type, id, dev & 0xff, dev >> 8, token & 0xff, token >> 8], 0);
      f.set(payload, 8);
      setSize(f, size ?? f.length); // mostly consistent, sometimes a lie
      return f;
    });
}

type Mutation = (f: Uint8Array) => Uint8Array;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((bit): Mutation => (f) => {
    if (f.length > 0) f[(bit >> 3) % f.length]! ^= 1 << (bit & 7);
    return f;
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xff })).map(([at, v]): Mutation => (f) => {
    if (f.length > 0) f[at % f.length] = v;
    return f;
  }),
  fc.nat().map((cut): Mutation => (f) => f.slice(0, f.length === 0 ? 0 : cut % f.length)),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail): Mutation => (f) => {
    const g = new Uint8Array(f.length + tail.length);
    g.set(f);
    g.set(tail, f.length);
    return g;
  }),
  u16.map((size): Mutation => (f) => {
    setSize(f, size);
    return f;
  }),
);

/** A wire vector, aimed at one of the devices half the time, with 0–3 mutations. */
export function mutatedVector(s: FrameShape, vectors: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  if (vectors.length === 0) return headerFrame(s);
  return fc
    .tuple(fc.constantFrom(...vectors), fc.option(fc.constantFrom(...(s.devices.length > 0 ? s.devices : [0])), { nil: undefined }), fc.array(mutation, { maxLength: 3 }))
    .map(([v, dev, muts]) => {
      let f: Uint8Array = v.slice();
      // Bus messages keep dev_num 0 (so they get past that check), transport ones get a real device.
      if (dev !== undefined && f.length >= 4 && (f[0]! & 2) === 0) {
        f[2] = dev & 0xff;
        f[3] = dev >> 8;
      }
      for (const m of muts) f = m(f);
      return f.length > s.maxSize ? f.slice(0, s.maxSize) : f;
    });
}

/** Every kind above, weighted towards frames that get past the header checks. */
export function fuzzFrame(s: FrameShape, vectors: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: rawFrame(s) },
    { weight: 3, arbitrary: headerFrame(s) },
    { weight: 3, arbitrary: mutatedVector(s, vectors) },
  );
}
