// One side (producer or consumer) of a ring under test, opened inside a worker thread from the
// compiled package over a cursor struct the main thread filled: the TS classes over the WASM
// cursor, or this thread's own instance of the hot path called directly. Uniform interface:
// reserve()/peek() return a slot address or -1; push()/pop() use the TS frame copies (TS view only).
import { instantiate } from '../../../dist/src/wasm/module.js';
import { CursorConsumer, CursorProducer } from '../../../dist/src/ring/cursor.js';

/** `d`: { memory, module, layout, view, side, base, size, vmampLayout, role, cursor, batch, wakeAddr } */
export function openRingSide(d) {
  const buffer = d.memory.buffer;
  const producer = d.side === 'producer';
  if (d.view === 'wasm') {
    const w = instantiate(d.memory, d.module);
    const cur = d.cursor;
    return producer
      ? { reserve: () => { const s = w.ringReserve(cur); return s === 0 ? -1 : s; }, commit: () => w.ringCommit(cur), flush: () => w.cursorFlush(cur) }
      : { peek: () => { const s = w.ringPeek(cur); return s === 0 ? -1 : s; }, release: () => w.ringRelease(cur), flush: () => w.cursorFlush(cur) };
  }
  // What the classes use of a SharedMemory: this thread's views and hot-path instance.
  const mem = { buffer, u8: new Uint8Array(buffer), u16: new Uint16Array(buffer), u32: new Uint32Array(buffer), wasm: instantiate(d.memory, d.module) };
  const r = producer ? new CursorProducer(mem, d.cursor) : new CursorConsumer(mem, d.cursor);
  return producer
    ? { reserve: () => r.reserve(), commit: () => r.commit(), flush: () => r.flush(), push: (f) => r.tryPush(f), faults: () => r.faults }
    : { peek: () => r.peek(), release: () => r.release(), flush: () => r.flush(), pop: (into) => r.tryPop(into), faults: () => r.faults };
}

// The message for sequence number `seq`: msg_size in [16, stride] varies with seq; seq u32 @8;
// checksum u32 @12 over the payload bytes @16..msg_size, which are a seq-dependent pattern.
export const sizeFor = (seq, stride) => 16 + ((seq * 7919) % (stride - 15));
export const payloadByte = (seq, i) => (seq * 13 + i) & 0xff;
export function checksum(seq, size) {
  let sum = 0;
  for (let i = 16; i < size; i++) sum = (Math.imul(sum, 31) + payloadByte(seq, i)) >>> 0;
  return sum;
}

/** Write message `seq` into `u8` at `at` (a slot, or a private frame buffer at 0). */
export function writeMessage(u8, at, seq, stride) {
  const size = sizeFor(seq, stride);
  u8[at] = 0; u8[at + 1] = 0x41; u8[at + 2] = 1; u8[at + 3] = 0; u8[at + 4] = 0; u8[at + 5] = 0;
  u8[at + 6] = size & 0xff; u8[at + 7] = size >>> 8;
  u8[at + 8] = seq & 0xff; u8[at + 9] = (seq >>> 8) & 0xff; u8[at + 10] = (seq >>> 16) & 0xff; u8[at + 11] = seq >>> 24;
  let sum = 0;
  for (let i = 16; i < size; i++) {
    const b = payloadByte(seq, i);
    u8[at + i] = b;
    sum = (Math.imul(sum, 31) + b) >>> 0;
  }
  u8[at + 12] = sum & 0xff; u8[at + 13] = (sum >>> 8) & 0xff; u8[at + 14] = (sum >>> 16) & 0xff; u8[at + 15] = sum >>> 24;
}

/** Check message `seq` at `at`; returns null or what is wrong. */
export function checkMessage(u8, at, seq, stride) {
  const size = u8[at + 6] | (u8[at + 7] << 8);
  if (size !== sizeFor(seq, stride)) return `seq ${seq}: msg_size ${size}, want ${sizeFor(seq, stride)}`;
  const got = (u8[at + 8] | (u8[at + 9] << 8) | (u8[at + 10] << 16) | (u8[at + 11] << 24)) >>> 0;
  if (got !== seq) return `expected seq ${seq}, got ${got}`;
  const stored = (u8[at + 12] | (u8[at + 13] << 8) | (u8[at + 14] << 16) | (u8[at + 15] << 24)) >>> 0;
  let sum = 0;
  for (let i = 16; i < size; i++) sum = (Math.imul(sum, 31) + u8[at + i]) >>> 0;
  if (sum !== stored || sum !== checksum(seq, size)) return `seq ${seq}: checksum ${sum}, stored ${stored}`;
  return null;
}
