// Reading the load engine's latency histogram (bucketing in assembly/loadgen/histogram.ts:
// exact below HIST_LINEAR ns, then 2^HIST_SUB_BITS sub-buckets per power of two).
import { engineLayout } from './engine-layout.js';

/** Lowest value (ns) of bucket `b`, and its width. */
export function bucketRange(b: number): { low: number; width: number } {
  const { HIST_LINEAR, HIST_SUB_BITS } = engineLayout();
  if (b < HIST_LINEAR) return { low: b, width: 1 };
  const sub = 1 << HIST_SUB_BITS;
  const e = 7 + Math.floor((b - HIST_LINEAR) / sub);
  const width = 2 ** (e - HIST_SUB_BITS);
  return { low: (sub + ((b - HIST_LINEAR) % sub)) * width, width };
}

/**
 * The bucket of `ns` (a non-negative integer), exactly as assembly/loadgen/histogram.ts files it:
 * JS recorders (the soak's load drivers) share the engine's histogram form.
 */
export function histBucketOfNs(ns: number): number {
  const { HIST_LINEAR, HIST_SUB_BITS, HIST_BUCKETS } = engineLayout();
  if (ns < HIST_LINEAR) return ns < 0 ? 0 : ns;
  const hi = Math.floor(ns / 0x1_0000_0000);
  const e = hi === 0 ? 31 - Math.clz32(ns) : 63 - Math.clz32(hi);
  const b = HIST_LINEAR + ((e - 7) << HIST_SUB_BITS) + (Math.floor(ns / 2 ** (e - HIST_SUB_BITS)) & ((1 << HIST_SUB_BITS) - 1));
  return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/** A bucket's representative value in ns: its middle. */
export function bucketValue(b: number): number {
  const { low, width } = bucketRange(b);
  return width === 1 ? low : low + width / 2;
}

/** The engine histogram's counts as numbers. */
export function histogramCounts(buffer: SharedArrayBuffer, addr: number): Float64Array {
  const n = engineLayout().HIST_BUCKETS;
  // Read as u32 halves: a BigInt per bucket (thousands per call) held a running load up.
  const w = new Uint32Array(buffer, addr, 2 * n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const lo = w[2 * i]!, hi = w[2 * i + 1]!;
    if ((lo | hi) === 0) continue;
    // Exact below 2^53; above, as Number(BigInt) rounds it.
    out[i] = hi < 0x20_0000 ? lo + hi * 2 ** 32 : Number(new BigUint64Array(buffer, addr + 8 * i, 1)[0]!);
  }
  return out;
}

/** The value (ns) at percentile `p` (0..100): the bucket holding the ceil(p% × total)-th value. */
export function histogramPercentile(counts: Float64Array, p: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return bucketValue(i);
  }
  return bucketValue(counts.length - 1);
}
