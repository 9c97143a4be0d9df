// Frames for the in-process fuzzer, drawn from a seeded PRNG (fast: no fast-check per frame):
// structure-aware ones (well-formed requests, events and bus messages aimed at the topology's
// devices, with lies in one field at a time), and mutations of a corpus — the wire vectors,
// frames the router's capture tap recorded, and frames of earlier cases — by bit flips, byte
// stores, cuts, extensions and msg_size rewrites.
import { Prng } from '../prng.js';

/** A bounded reservoir of frames seen (sent, delivered, captured), kept across cases. */
export class Corpus {
  private readonly frames: Uint8Array[] = [];

  constructor(private readonly limit: number, seedFrames: readonly Uint8Array[] = []) {
    for (const f of seedFrames) this.frames.push(f);
  }

  /** A copy as it is now (a failing case is re-run from the corpus it started with). */
  clone(): Corpus {
    return new Corpus(this.limit, this.frames);
  }

  get size(): number {
    return this.frames.length;
  }

  add(f: Uint8Array, rng: Prng): void {
    if (this.frames.length < this.limit) this.frames.push(f);
    else this.frames[rng.int(this.limit)] = f;
  }

  pick(rng: Prng): Uint8Array | undefined {
    return this.frames.length === 0 ? undefined : this.frames[rng.int(this.frames.length)];
  }
}

const TRANSPORT_REQUESTS = [0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c];

export function header(type: number, id: number, dev: number, token: number, size: number, total = size): Uint8Array {
  const f = new Uint8Array(Math.max(8, total));
  f[0] = type;
  f[1] = id;
  f[2] = dev & 0xff;
  f[3] = (dev >> 8) & 0xff;
  f[4] = token & 0xff;
  f[5] = (token >> 8) & 0xff;
  f[6] = size & 0xff;
  f[7] = (size >> 8) & 0xff;
  return f;
}

function fillRandom(f: Uint8Array, from: number, rng: Prng): void {
  for (let i = from; i < f.length; i++) f[i] = rng.int(256);
}

export interface DriverShape {
  /** Device numbers to aim at (attached ones and some never attached). */
  devices: readonly number[];
  maxSize: number;
}

/** A frame a driver might send: mostly well-formed, sometimes lying in one field. */
export function driverFrame(rng: Prng, s: DriverShape, corpus: Corpus): Uint8Array {
  const p = rng.int(100);
  if (p < 45) {
    // A transport request; payload opaque to the router.
    const size = rng.chance(0.2) ? 8 : 8 + rng.int(Math.max(1, Math.min(s.maxSize, 64) - 7));
    const f = header(0, rng.pick(TRANSPORT_REQUESTS), rng.pick(s.devices), rng.int(0x10000), size);
    fillRandom(f, 8, rng);
    return lie(f, rng, s.maxSize, 0.1);
  }
  if (p < 55) {
    const f = header(0, 0x41, rng.pick(s.devices), 0, 16);
    f[8] = rng.int(4); // virtqueue: few, so EVENT_AVAIL merging is reached
    fillRandom(f, 12, rng);
    return lie(f, rng, s.maxSize, 0.1);
  }
  if (p < 62) {
    // GET_DEVICES {offset, count}: aligned mostly.
    const f = header(2, 0x02, 0, rng.int(0x10000), 12);
    const off = rng.chance(0.9) ? 8 * rng.int(4) : rng.int(64);
    const cnt = rng.chance(0.9) ? 8 * rng.int(40) : rng.int(400);
    f[8] = off & 0xff; f[9] = off >> 8; f[10] = cnt & 0xff; f[11] = cnt >> 8;
    return lie(f, rng, s.maxSize, 0.15);
  }
  if (p < 68) {
    const f = header(2, 0x03, 0, rng.int(0x10000), 12);
    fillRandom(f, 8, rng);
    return lie(f, rng, s.maxSize, 0.15);
  }
  if (p < 71) {
    // Implementation-defined bus message (the control plane's) or transport id.
    const bus = rng.chance(0.5);
    const f = header(bus ? 2 + rng.int(2) : rng.int(2), 0x80 + rng.int(0x80), bus ? 0 : rng.pick(s.devices), rng.int(0x10000), 8 + rng.int(24));
    fillRandom(f, 8, rng);
    return f;
  }
  if (p < 93) return mutate(rng, corpus.pick(rng) ?? header(0, 7, rng.pick(s.devices), 1, 8), s.maxSize);
  // Anything at all (msg_size as it falls).
  const f = new Uint8Array(rng.int(s.maxSize + 1));
  fillRandom(f, 0, rng);
  return f;
}

/** With probability `p`, change one header field to something else. */
export function lie(f: Uint8Array, rng: Prng, maxSize: number, p: number): Uint8Array {
  if (!rng.chance(p)) return f;
  switch (rng.int(6)) {
    case 0: f[0] = rng.chance(0.5) ? rng.int(4) : rng.int(256); break; // type
    case 1: f[1] = rng.int(256); break; // msg_id
    case 2: { const d = rng.int(0x10000); f[2] = d & 0xff; f[3] = d >> 8; break; }
    case 3: { const sz = rng.chance(0.5) ? rng.int(16) : rng.int(maxSize + 64); f[6] = sz & 0xff; f[7] = sz >> 8; break; }
    case 4: return f.slice(0, rng.int(f.length + 1));
    default: { const g = new Uint8Array(f.length + 1 + rng.int(32)); g.set(f); fillRandom(g, f.length, rng); return g; }
  }
  return f;
}

/** 1–3 mutations of `base` (a copy), cut to `maxSize` bytes. */
export function mutate(rng: Prng, base: Uint8Array, maxSize: number): Uint8Array {
  let f = base.slice();
  for (let n = 1 + rng.int(3); n > 0; n--) {
    switch (rng.int(6)) {
      case 0: if (f.length > 0) f[rng.int(f.length)]! ^= 1 << rng.int(8); break;
      case 1: if (f.length > 0) f[rng.int(f.length)] = rng.int(256); break;
      case 2: f = f.slice(0, rng.int(f.length + 1)); break;
      case 3: { const g = new Uint8Array(f.length + 1 + rng.int(32)); g.set(f); fillRandom(g, f.length, rng); f = g; break; }
      case 4: if (f.length >= 8) { const sz = rng.int(maxSize + 16); f[6] = sz & 0xff; f[7] = sz >> 8; } break;
      default: if (f.length >= 4) { f[2] = rng.int(8); f[3] = rng.chance(0.9) ? 0 : rng.int(256); } break;
    }
  }
  return f.length > maxSize ? f.slice(0, maxSize) : f;
}
