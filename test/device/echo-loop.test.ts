// The echo device's frame loop (assembly/device/echo.ts) over real native rings in one memory,
// slot rings and packed rings: it writes its answers as a run (its output index in a local,
// committed every publish batch), so what matters is that a full output ring stops it without
// losing or repeating a frame, that it carries on where it stopped, and that every answer it
// wrote is published when it returns.
import { describe, expect, it } from 'vitest';
import { instantiate } from '../../src/wasm/module.js';
import { NR_CONS_CURSOR, NR_PROD_CURSOR, NR_PROD_INDEX } from '../../src/wasm/layout.js';

const GET_DEVICE_STATUS = 0x07;
const EVENT_AVAIL = 0x41;
const EVENT_USED = 0x42;

interface Rings {
  w: ReturnType<typeof instantiate>;
  u32: Uint32Array;
  /** Router → device ring, device → router ring. */
  toDev: number;
  fromDev: number;
}

/** Two rings of `cap` units (packed: 16-byte units, frames up to 64 bytes; else 64-byte slots), publish batch `batch`. */
function rings(cap: number, packed: boolean, batch: number): Rings {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
  const w = instantiate(memory);
  const slot = packed ? 16 : 64;
  const units = packed ? 4 : 1;
  const bytes = (w.nativeRingBytes(cap, slot, units) + 4095) & ~4095;
  const toDev = 1 << 16;
  const fromDev = toDev + bytes;
  w.nativeRingInit(toDev, cap, slot, batch, 0, 0, 0, units);
  w.nativeRingInit(fromDev, cap, slot, batch, 0, 0, 0, units);
  return { w, u32: new Uint32Array(memory.buffer), toDev, fromDev };
}

/** Write one frame (header words; `extra` u32 after the header) into the router → device ring; false when full. */
function put(r: Rings, type: number, id: number, dev: number, token: number, size: number, extra = 0): boolean {
  const cur = r.toDev + NR_PROD_CURSOR;
  const o = r.w.ringReserve(cur);
  if (o === 0) return false;
  r.u32[o >>> 2] = type | (id << 8) | (dev << 16);
  r.u32[(o >>> 2) + 1] = token | (size << 16);
  if (size > 8) r.u32[(o >>> 2) + 2] = extra;
  r.w.ringCommit(cur);
  return true;
}

/** Every answer readable now: [type, msg_id, dev, token, size, word after the header]. */
function takeAnswers(r: Rings): number[][] {
  const cur = r.fromDev + NR_CONS_CURSOR;
  const out: number[][] = [];
  for (let f = r.w.ringPeek(cur); f !== 0; f = r.w.ringPeek(cur)) {
    const a = r.u32[f >>> 2]!;
    const b = r.u32[(f >>> 2) + 1]!;
    out.push([a & 0xff, (a >>> 8) & 0xff, a >>> 16, b & 0xffff, b >>> 16, r.u32[(f >>> 2) + 2]!]);
    r.w.ringRelease(cur);
  }
  r.w.cursorFlush(cur);
  return out;
}

const echo = (r: Rings, budget = 4096): number => r.w.echoSome(r.toDev + NR_CONS_CURSOR, r.fromDev + NR_PROD_CURSOR, budget);

describe('echo device loop (echoSome)', () => {
  for (const packed of [true, false]) {
    const shape = packed ? 'packed rings' : 'one frame per slot';

    it(`answers every request once, in order, across a full output ring (${shape})`, () => {
      // 40 slots / units: the answers of 100 requests need three rounds of the consumer.
      const r = rings(40, packed, 8);
      const answers: number[][] = [];
      let sent = 0;
      for (let round = 0; round < 200 && answers.length < 100; round++) {
        while (sent < 100 && put(r, 0, GET_DEVICE_STATUS, 1 + (sent % 3), sent, 8)) sent++;
        r.w.cursorFlush(r.toDev + NR_PROD_CURSOR);
        echo(r);
        answers.push(...takeAnswers(r));
      }
      expect(answers.length).toBe(100);
      answers.forEach((a, i) => expect(a.slice(0, 5)).toEqual([1, GET_DEVICE_STATUS, 1 + (i % 3), i, 12]));
      expect(answers.every((a) => a[5] === 0x0f)).toBe(true);
    });

    it(`stops at a full output ring and leaves the rest in its input (${shape})`, () => {
      const r = rings(16, packed, 4);
      for (let i = 0; i < 12; i++) expect(put(r, 0, GET_DEVICE_STATUS, 5, i, 8)).toBe(true);
      r.w.cursorFlush(r.toDev + NR_PROD_CURSOR);
      // Room for fewer answers than requests: a packed ring keeps room for its largest frame
      // (4 units) per reservation, a slot ring one slot empty.
      const first = echo(r);
      const room = packed ? 16 - 1 - 4 + 1 : 15;
      expect(first).toBe(Math.min(12, room));
      // Nothing read yet: a second call takes nothing more.
      expect(echo(r)).toBe(0);
      const a1 = takeAnswers(r);
      expect(a1.length).toBe(first);
      expect(echo(r)).toBe(12 - first);
      const a2 = takeAnswers(r);
      expect([...a1, ...a2].map((a) => a[3])).toEqual([...Array(12).keys()]);
    });

    it(`publishes every answer it wrote before it returns, whatever the budget (${shape})`, () => {
      const r = rings(256, packed, 8);
      for (let i = 0; i < 21; i++) put(r, 0, GET_DEVICE_STATUS, 2, i, 8);
      r.w.cursorFlush(r.toDev + NR_PROD_CURSOR);
      // A budget of 19 with a batch of 8: two batches, and 3 answers the batch rule leaves pending.
      expect(echo(r, 19)).toBe(19);
      expect(r.u32[(r.fromDev + NR_PROD_INDEX) >>> 2]).toBe(19);
      expect(echo(r)).toBe(2);
      expect(r.u32[(r.fromDev + NR_PROD_INDEX) >>> 2]).toBe(21);
      expect(takeAnswers(r).length).toBe(21);
    });
  }

  it('turns EVENT_AVAIL into EVENT_USED for the same queue and ignores what it does not answer', () => {
    const r = rings(64, true, 4);
    put(r, 0, EVENT_AVAIL, 9, 0, 12, 3); // queue 3
    put(r, 1, GET_DEVICE_STATUS, 9, 0, 12); // a response: not for a device
    put(r, 0, EVENT_USED, 9, 0, 12, 1); // an event other than EVENT_AVAIL
    put(r, 0, GET_DEVICE_STATUS, 9, 7, 8);
    r.w.cursorFlush(r.toDev + NR_PROD_CURSOR);
    expect(echo(r)).toBe(4);
    const a = takeAnswers(r);
    expect(a.map((x) => x.slice(0, 4))).toEqual([[0, EVENT_USED, 9, 0], [1, GET_DEVICE_STATUS, 9, 7]]);
    expect(a[0]![5]).toBe(3);
  });
});
