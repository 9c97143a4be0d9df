// Latency histogram bucket of a value in nanoseconds (layout in ./layout.ts; the TS side turns
// buckets back into values for the percentiles: src/loadgen/engine-histogram.ts).
import { HIST_LINEAR, HIST_SUB_BITS } from './layout';

@inline export function histBucket(ns: u64): u32 {
  if (ns < <u64>HIST_LINEAR) return <u32>ns;
  const e = 63 - <u32>clz(ns); // ≥ 7
  return HIST_LINEAR + ((e - 7) << HIST_SUB_BITS) + (<u32>(ns >> (e - HIST_SUB_BITS)) & ((1 << HIST_SUB_BITS) - 1));
}
