// The WASM drivers of the rtt and pipeline benchmarks (assembly/loadgen/round-trip.ts,
// closed-loop.ts) over real native rings in one thread: with the echo device answering every
// answer counts as good, and answers that are not the right ones (a request coming back, a token
// out of order) are counted as errors, never as responses — the benchmarks' verification.
import { describe, expect, it } from 'vitest';
import { instantiate } from '../../src/wasm/module.js';
import {
  CL_ERRORS, CL_RESPONSES, CL_SENT, CL_STATE_SIZE, CLD_SIZE, CURF_RELAXED, NR_CONS_CURSOR, NR_PROD_CURSOR,
  RTT_ERRORS, RTT_STATE_SIZE,
} from '../../src/wasm/layout.js';

const CAP = 256;

/** Two rings (driver → device as `a`, device → driver as `b`) and scratch space, in a fresh memory. */
function setup(): { w: ReturnType<typeof instantiate>; u32: Uint32Array; a: number; b: number; st: number; data: number } {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
  const w = instantiate(memory);
  const bytes = (w.nativeRingBytes(CAP, 64, 1) + 4095) & ~4095;
  const a = 1 << 16;
  const b = a + bytes;
  w.nativeRingInit(a, CAP, 64, 16, 0, 0, CURF_RELAXED, 1);
  w.nativeRingInit(b, CAP, 64, 16, 0, 0, CURF_RELAXED, 1);
  const st = b + bytes;
  return { w, u32: new Uint32Array(memory.buffer), a, b, st, data: st + 256 };
}

describe('rtt driver (rttRun)', () => {
  it('times every round trip with the echo device inline and counts no error', () => {
    const { w, u32, a, b, st, data } = setup();
    const done = w.rttRun(st, a + NR_PROD_CURSOR, b + NR_CONS_CURSOR, a + NR_CONS_CURSOR, b + NR_PROD_CURSOR, 3, 1000, data, 1000);
    expect(done).toBe(1000);
    expect(u32[(st + RTT_ERRORS) >>> 2]).toBe(0);
    const ns = u32.subarray(data >>> 2, (data >>> 2) + 1000);
    expect(ns.every((v) => v < 1e9)).toBe(true);
  });

  it('counts an answer that is not the response to its request as an error', () => {
    const { w, u32, a, st, data } = setup();
    expect(RTT_STATE_SIZE).toBeLessThanOrEqual(256);
    // Its own ring as the answer ring: each request comes back as a request.
    const done = w.rttRun(st, a + NR_PROD_CURSOR, a + NR_CONS_CURSOR, 0, 0, 3, 50, data, 1000);
    expect(done).toBe(50);
    expect(u32[(st + RTT_ERRORS) >>> 2]).toBe(50);
  });

  it('gives up on an answer that does not come, after maxPolls looks', () => {
    const { w, a, b, st, data } = setup();
    expect(w.rttRun(st, a + NR_PROD_CURSOR, b + NR_CONS_CURSOR, 0, 0, 3, 10, data, 100)).toBe(0);
  });
});

describe('pipeline driver (clRun)', () => {
  const N = 8;
  const counters = (u32: Uint32Array, st: number): number[] => [CL_SENT, CL_RESPONSES, CL_ERRORS].map((o) => u32[(st + o) >>> 2]!);

  it('keeps the requests in flight per device and checks every answer, the echo device inline', () => {
    const { w, u32, a, b, st, data } = setup();
    expect(CL_STATE_SIZE).toBeLessThanOrEqual(256);
    for (let k = 0; k < 200; k++) w.clRun(st, data, a + NR_PROD_CURSOR, b + NR_CONS_CURSOR, a + NR_CONS_CURSOR, b + NR_PROD_CURSOR, 10, N, 4, 16, 4);
    const [sent, good, errors] = counters(u32, st);
    expect(errors).toBe(0);
    expect(good).toBeGreaterThan(1000);
    // What is not answered yet is in flight: at most 4 per device.
    expect(sent! - good!).toBeLessThanOrEqual(N * 4);
    let inFlight = 0;
    for (let i = 0; i < N; i++) inFlight += u32[(data + i * CLD_SIZE + 4) >>> 2]!;
    expect(inFlight).toBe(sent! - good!);
  });

  it('fills and refills small packed rings without losing an answer, the echo device inline', () => {
    // 24 units of 16 bytes, frames up to 64 bytes: the driver's ring holds at most 20 requests
    // per look at the device's index, fewer than the 8 x 4 it may have in flight.
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
    const w = instantiate(memory);
    const u32 = new Uint32Array(memory.buffer);
    const bytes = (w.nativeRingBytes(24, 16, 4) + 4095) & ~4095;
    const a = 1 << 16;
    const b = a + bytes;
    w.nativeRingInit(a, 24, 16, 4, 0, 0, 0, 4);
    w.nativeRingInit(b, 24, 16, 4, 0, 0, 0, 4);
    const st = b + bytes;
    const data = st + 256;
    for (let k = 0; k < 500; k++) w.clRun(st, data, a + NR_PROD_CURSOR, b + NR_CONS_CURSOR, a + NR_CONS_CURSOR, b + NR_PROD_CURSOR, 10, N, 4, 64, 4);
    const [sent, good, errors] = counters(u32, st);
    expect(errors).toBe(0);
    expect(good).toBeGreaterThan(5000);
    let inFlight = 0;
    for (let i = 0; i < N; i++) inFlight += u32[(data + i * CLD_SIZE + 4) >>> 2]!;
    expect(inFlight).toBe(sent! - good!);
    expect(inFlight).toBeLessThanOrEqual(N * 4);
  });

  it('counts answers out of order, for unknown devices or of the wrong kind as errors', () => {
    const { w, u32, a, b, st, data } = setup();
    const tx = a + NR_PROD_CURSOR;
    const rx = b + NR_CONS_CURSOR;
    // One pass sends 2 requests to each of the 8 devices (tokens 0 and 1 each).
    w.clRun(st, data, tx, rx, 0, 0, 10, N, 2, 16, 1);
    expect(counters(u32, st)).toEqual([16, 0, 0]);
    // A device that answers device 10's two requests swapped, device 11's with a wrong msg_id,
    // and one for device 99, which the driver never asked.
    const devOut = b + NR_PROD_CURSOR;
    const answer = (dev: number, id: number, token: number): void => {
      const o = w.ringReserve(devOut);
      u32[o >>> 2] = 1 | (id << 8) | (dev << 16);
      u32[(o >>> 2) + 1] = token | (12 << 16);
      w.ringCommit(devOut);
    };
    answer(10, 0x07, 1);
    answer(10, 0x07, 0);
    answer(11, 0x08, 0);
    answer(11, 0x07, 1);
    answer(99, 0x07, 0);
    w.cursorFlush(devOut);
    w.clRun(st, data, tx, rx, 0, 0, 10, N, 2, 0, 1);
    // Device 10: token 1 first is out of order (error), and then 0 (expected 2: error); device
    // 11: the wrong msg_id is an error, its token 1 then is the one expected (good); device 99: error.
    expect(counters(u32, st)).toEqual([16, 1, 4]);
  });
});
