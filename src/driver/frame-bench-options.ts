// What `vmsg bench` in its frame mode (src/driver/frame-bench.ts, the JS loop, and
// src/driver/frame-engine.ts, the WebAssembly loop) is asked to do and what it reports: shared by
// both loops without either importing the other.
export const BENCH_MODES = ['init', 'ping', 'avail'] as const;
export type BenchMode = (typeof BENCH_MODES)[number];

export interface FrameBenchOptions {
  mode: BenchMode;
  dev: number;
  count: number;
  outstanding: number;
  /** Give up on frames in flight after this long without any answer. Default 5000 ms. */
  idleMs?: number;
  /** Stop sending after this long (then collect what is in flight): time-bounded benchmarks. */
  stopSendingAfterMs?: number;
  /**
   * 'wasm' (default where the channel allows it: shared-memory windows): the per-frame work in
   * WASM over the mapped window (src/driver/frame-engine.ts); 'js': this file's loop, through
   * recv()/send() copies (any channel; kept as the reference the engine is tested against).
   */
  engine?: 'wasm' | 'js';
}

/** The result object of the CLI contract (keys and order are part of it). */
export interface FrameBenchResult {
  mode: BenchMode;
  sent: number;
  received: number;
  errors: number;
  order_violations: number;
  seconds: number;
  round_trips_per_s: number;
  p50_us: number;
  p99_us: number;
}
