// Worker thread: a peer that tears its writes. As the producer of one native ring (an
// endpoint → router ring) it publishes each slot's index right after the 8-byte header — before
// the payload — and then keeps overwriting random bytes of the slot it just published, header
// included, while the router may be reading it. Frames look like the peer's kind would send
// them (requests and events from a driver, responses and events from a device), so many get
// past the header checks. In a packed ring it advances by the units of the msg_size it wrote
// first; a torn msg_size then makes the router walk the ring differently from the writer, which
// it must survive too (it never reads past the published index). Posts { published } when done.
import { parentPort, workerData } from 'node:worker_threads';
import { NR_CAPACITY, NR_SLOT_SIZE, NR_CONS_BELL, NR_FRAME_UNITS, NR_PROD_INDEX, NR_CONS_INDEX, NR_SLOTS } from '../../src/ring/native.js';
import { frameUnits } from '../../src/ring/cursor.js';
import { Prng } from './prng.js';

export interface TornWriterData {
  memory: WebAssembly.Memory;
  /** Base of the native ring this worker produces into. */
  ring: number;
  kind: 'driver' | 'device';
  /** Device numbers to aim at (driver) or to answer for (device). */
  devices: number[];
  /** Largest msg_size to write (the link's maximum; bigger ones are tried too, rarely). */
  maxSize: number;
  frames: number;
  seed: number;
}

const DRIVER_IDS = [0x02, 0x05, 0x07, 0x09, 0x0c, 0x41, 0xc0, 0x00, 0x0e];
const DEVICE_IDS = [0x02, 0x05, 0x07, 0x09, 0x40, 0x42, 0xc0];

function main(d: TornWriterData): void {
  const buf = d.memory.buffer;
  const u8 = new Uint8Array(buf);
  const u32 = new Uint32Array(buf);
  const i32 = new Int32Array(buf);
  const cap = u32[(d.ring + NR_CAPACITY) >>> 2]!;
  const stride = u32[(d.ring + NR_SLOT_SIZE) >>> 2]!;
  const maxUnits = u32[(d.ring + NR_FRAME_UNITS) >>> 2]!;
  const room = stride * maxUnits;
  const bell = u32[(d.ring + NR_CONS_BELL) >>> 2]!;
  const prodAt = (d.ring + NR_PROD_INDEX) >>> 2;
  const consAt = (d.ring + NR_CONS_INDEX) >>> 2;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const rnd = new Prng(d.seed);
  let prod = Atomics.load(u32, prodAt);
  let published = 0;
  const deadline = Date.now() + 30_000;
  while (published < d.frames && Date.now() < deadline) {
    const cons = Atomics.load(u32, consAt);
    const used = prod >= cons ? prod - cons : prod + cap - cons;
    if (cap - 1 - used < maxUnits) {
      Atomics.wait(nap, 0, 0, 0.05); // ring full: a short nap while the router catches up
      continue;
    }
    const slot = d.ring + NR_SLOTS + prod * stride;
    const response = d.kind === 'device' && rnd.chance(0.7);
    const id = rnd.pick(d.kind === 'driver' ? DRIVER_IDS : DEVICE_IDS);
    const dev = rnd.chance(0.9) && d.devices.length > 0 ? rnd.pick(d.devices) : rnd.int(0x10000);
    const token = d.kind === 'driver' ? rnd.int(0x10000) : response ? 1 + rnd.int(64) : 0;
    const size = rnd.chance(0.95) ? 8 + rnd.int(Math.min(d.maxSize, room) - 7) : rnd.int(0x10000);
    const units = maxUnits > 1 ? frameUnits(size, maxUnits) : 1;
    const next = prod + units >= cap ? prod + units - cap : prod + units;
    u8.set([response ? 1 : 0, id, dev & 0xff, dev >> 8, token & 0xff, token >> 8, size & 0xff, size >> 8], slot);
    // Published with only the header written: the router may read the payload mid-write.
    Atomics.store(u32, prodAt, next);
    if (bell !== 0 && Atomics.compareExchange(i32, bell >>> 2, 1, 0) === 1) Atomics.notify(i32, bell >>> 2);
    const body = Math.min(Math.max(size, 8), units * stride) - 8;
    for (let i = 0; i < body; i++) u8[slot + 8 + i] = rnd.int(256);
    for (let k = rnd.int(4); k > 0; k--) u8[slot + rnd.int(units * stride)] = rnd.int(256);
    prod = next;
    published++;
  }
  parentPort?.postMessage({ published });
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'ring' in workerData) main(workerData as TornWriterData);
