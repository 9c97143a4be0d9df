// `vmsg bench` on a shared-memory window, with the per-frame work in WASM
// (assembly/loadgen/driver.ts): this side sets the engine up over the channel's rings, calls it
// in passes, and between passes only rings the doorbell socket, sleeps on it, or yields the CPU
// (busy-poll) — the system calls a C driver makes (src/native/bell.ts), without going through
// the event loop. It returns to the event loop every SLICE_MS, so a doorbell socket that
// connects late, a signal or a timer still get their turn.
import type { ChannelRings } from '../bus/shm-channel.js';
import { instantiate, type WasmExports } from '../wasm/module.js';
import { bellAddon } from '../native/bell.js';
import { engineLayout, type EngineLayout } from '../loadgen/engine-layout.js';
import { histogramCounts, histogramPercentile } from '../loadgen/engine-histogram.js';
import type { BenchMode, FrameBenchOptions, FrameBenchResult } from './frame-bench-options.js';

/** Passes per engine call when nothing makes it return earlier. */
const PASS_BUDGET = 4096;
/** How long the engine keeps the thread before the event loop runs once. */
const SLICE_MS = 20;
/**
 * Doorbell sleeps are bounded like the C peer's: a side whose send ring is full is not rung
 * when room appears (only published frames ring), so it looks again after this.
 */
const BELL_TIMEOUT_MS = 2;
/**
 * Empty polls before yielding the CPU (busy-poll; about 20-40 µs here) or sleeping on the
 * doorbell. Yielding after 1024 (the C peer's count: its polls are slower) put the median
 * round trip at 22 µs on the loaded 2-vCPU VM: each yield handed the core to another process.
 */
export const BUSY_POLL_SPINS = 8192;
export const DOORBELL_SPINS = 0;

export interface EngineOptions extends FrameBenchOptions {
  /** Empty polls before sleeping on the doorbell (default DOORBELL_SPINS). */
  doorbellSpins?: number;
}

const instances = new WeakMap<WebAssembly.Memory, WasmExports>();

function wasmFor(memory: WebAssembly.Memory): WasmExports {
  let w = instances.get(memory);
  if (w === undefined) instances.set(memory, (w = instantiate(memory)));
  return w;
}

const MODE: Record<BenchMode, keyof EngineLayout> = { init: 'LG_MODE_INIT', ping: 'LG_MODE_PING', avail: 'LG_MODE_AVAIL' };

/** Run one `vmsg bench` measurement on the channel's rings (result: the CLI contract's object). */
export async function runFrameEngine(rings: ChannelRings, o: EngineOptions): Promise<FrameBenchResult> {
  const L = engineLayout();
  const { mem } = rings;
  const wasm = wasmFor(mem.memory);
  const bell = bellAddon();
  const idleMs = o.idleMs ?? 5000;
  const fifoBytes = Math.max(64, o.outstanding * L.LG_ENTRY_SIZE);
  const histBytes = L.HIST_BUCKETS * 8;
  const st = mem.alloc(L.LG_STATE_SIZE);
  const fifo = mem.alloc(fifoBytes);
  const hist = mem.alloc(histBytes);
  const dv = new DataView(mem.buffer);
  const u32 = (off: number, v: number): void => dv.setUint32(st + off, v, true);
  const num = (off: number): number => Number(dv.getBigUint64(st + off, true));
  let socket = rings.doorbell();
  try {
    u32(L.LG_MODE, L[MODE[o.mode]]);
    u32(L.LG_DEV, o.dev);
    // The channel's own cursors: the engine steps them, the channel goes on from there.
    u32(L.LG_TX, rings.txCursor);
    u32(L.LG_RX, rings.rxCursor);
    u32(L.LG_OUTSTANDING, o.outstanding);
    u32(L.LG_FIFO, fifo);
    u32(L.LG_HIST, hist);
    dv.setBigUint64(st + L.LG_COUNT, BigInt(o.count), true);
    wasm.lgSetup(st);
    const t0 = performance.now();
    if (o.stopSendingAfterMs !== undefined) dv.setFloat64(st + L.LG_STOP_AT, t0 + o.stopSendingAfterMs, true);
    let peerGone = false;
    let fd = -1;
    for (let done = false; !done && !peerGone;) {
      // The doorbell socket may have connected since the last slice: from now on, sleep on it.
      socket = rings.doorbell();
      fd = socket !== null && !socket.isEnded ? socket.fd : -1;
      if (fd >= 0) socket!.hold(true);
      u32(L.LG_FLAGS, fd >= 0 ? L.LGF_RETURN_ON_SEND : 0);
      u32(L.LG_SPINS, fd >= 0 ? (o as EngineOptions).doorbellSpins ?? DOORBELL_SPINS : BUSY_POLL_SPINS);
      if (fd >= 0) bell.ring(fd); // we may have published while it could not ring
      const sliceEnd = performance.now() + SLICE_MS;
      for (;;) {
        const r = wasm.lgRun(st, PASS_BUDGET);
        if (r === L.LG_DONE) {
          done = true;
          break;
        }
        if (r === L.LG_SENT_NOW) {
          if (bell.ring(fd) < 0) peerGone = true;
        } else if (r === L.LG_IDLE) {
          if (performance.now() - dv.getFloat64(st + L.LG_LAST, true) > idleMs) {
            done = true; // frames in flight never answered: counted as errors below
            break;
          }
          if (fd >= 0) {
            if (bell.wait(fd, BELL_TIMEOUT_MS) < 0) peerGone = true;
          } else {
            bell.yield();
          }
        }
        if (peerGone || performance.now() >= sliceEnd) break;
      }
      if (fd >= 0) socket!.hold(false);
      if (!done && !peerGone) await new Promise((r) => setImmediate(r));
    }
    const seconds = (performance.now() - t0) / 1000;
    wasm.cursorFlush(rings.txCursor);
    wasm.cursorFlush(rings.rxCursor);
    const received = num(L.LG_RECEIVED);
    const counts = histogramCounts(mem.buffer, hist);
    const us = (ns: number): number => Number((ns / 1000).toFixed(2));
    return {
      mode: o.mode,
      sent: num(L.LG_SENT),
      received,
      errors: num(L.LG_ERRORS) + dv.getUint32(st + L.LG_FIFO_N, true), // never answered
      order_violations: num(L.LG_ORDER),
      seconds: Number(seconds.toFixed(6)),
      round_trips_per_s: seconds > 0 ? Math.round(received / seconds) : 0,
      p50_us: us(histogramPercentile(counts, 50)),
      p99_us: us(histogramPercentile(counts, 99)),
    };
  } finally {
    rings.resume();
    mem.free(hist, histBytes);
    mem.free(fifo, fifoBytes);
    mem.free(st, L.LG_STATE_SIZE);
  }
}
