// How much a run's figures would move if it were made again: a bootstrap over the run's own
// timeline intervals. Each resample draws as many intervals as the run had, with replacement,
// merges their latency histograms and reads every percentile (max included) and the mean rates
// from the merge. Drawing whole intervals, not single samples, keeps what happens together
// together (a GC pause slows a burst of operations, not one), so the spread reflects both the
// sample count and the run's wobble over time. The comparison (compare.ts) judges every figure
// by the spread of the difference between two such bootstraps.
import type { JsHistogram } from 'hdr-histogram-js';
import { decodeHistogram } from './latency.js';
import type { LoadResult } from './result.js';

/** Latency figures the bootstrap reads, as percentiles (100 = max). */
export const BOOT_PERCENTILES = [50, 90, 99, 99.9, 100] as const;
export type BootFigure = 'p50' | 'p90' | 'p99' | 'p99.9' | 'max' | 'throughput' | 'queue_full' | 'stalls';
const FIGURE_OF: Record<(typeof BOOT_PERCENTILES)[number], BootFigure> = { 50: 'p50', 90: 'p90', 99: 'p99', 99.9: 'p99.9', 100: 'max' };

/** Fewer intervals than this with operations in them and the spread cannot be estimated. */
export const MIN_INTERVALS = 8;
export const DEFAULT_RESAMPLES = 2000;

/** Bootstrap draws per figure, µs for latencies and per second for rates. */
export type Bootstrap = Record<BootFigure, Float64Array>;

/** Deterministic generator (mulberry32): the same two results give the same verdicts every time. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SparseInterval {
  /** Indexes into the value table and their counts. */
  idx: Uint32Array;
  count: Float64Array;
  ops: number;
  queueFull: number;
  stalls: number;
  /** Seconds the interval lasted. */
  seconds: number;
  /** Whether the interval ran its whole length (the last one is the drain after the load). */
  full: boolean;
}

/** Queue-full events or stalls per second over the timeline (the figure the bootstrap resamples). */
export function eventRate(r: LoadResult, kind: 'queue_full' | 'stalls'): number {
  const tl = r.timeline;
  const n = tl[kind].reduce((a, b) => a + b, 0);
  const span = tl.t_s.length === 0 ? 0 : tl.t_s[tl.t_s.length - 1]!;
  return span > 0 ? n / span : 0;
}

/** Why a result cannot be bootstrapped, or undefined when it can. */
export function bootstrapProblem(r: LoadResult): string | undefined {
  const hdr = r.timeline.hdr;
  if (hdr === undefined || hdr.length !== r.timeline.t_s.length) return 'has no per-interval histograms (made by an earlier vmsg bench; run it again)';
  const busy = r.timeline.ops.filter((n) => n > 0).length;
  if (busy < MIN_INTERVALS) return `has ${busy} intervals with operations (needs ${MIN_INTERVALS}; run longer)`;
  return undefined;
}

function sparseIntervals(r: LoadResult, values: Map<number, number>): SparseInterval[] {
  const tl = r.timeline;
  return tl.hdr!.map((text, i) => {
    const h = decodeHistogram(text) as JsHistogram;
    const idx: number[] = [], count: number[] = [];
    // Straight over the count array (the library's iterator is several times slower).
    const top = h.maxValue;
    for (let j = 0, seen = 0, total = h.totalCount; j < h.countsArrayLength && seen < total; j++) {
      const c = h.getCountAtIndex(j);
      if (c === 0) continue;
      seen += c;
      // The bucket's value as HdrHistogram reports it, capped at the true maximum (as summarize() does).
      const ns = Math.min(h.highestEquivalentValue(h.valueFromIndex(j)), top);
      let k = values.get(ns);
      if (k === undefined) values.set(ns, (k = values.size));
      idx.push(k);
      count.push(c);
    }
    const dt = i > 0 ? tl.t_s[i]! - tl.t_s[i - 1]! : tl.interval_s;
    return { idx: Uint32Array.from(idx), count: Float64Array.from(count), ops: tl.ops[i] ?? 0, queueFull: tl.queue_full[i] ?? 0, stalls: tl.stalls[i] ?? 0, seconds: dt, full: dt >= tl.interval_s * 0.999 };
  });
}

/**
 * `resamples` bootstrap draws of every figure of a run. Call bootstrapProblem() first. `seed`
 * fixes the draws: two calls with the same result and seed agree.
 */
export function bootstrap(r: LoadResult, resamples = DEFAULT_RESAMPLES, seed = 1): Bootstrap {
  const valueIndex = new Map<number, number>();
  const all = sparseIntervals(r, valueIndex);
  // Latency from intervals that completed something; rates from intervals that ran their whole length.
  const busy = all.filter((s) => s.ops > 0 || s.count.length > 0);
  const full = all.filter((s) => s.full);
  // Value table sorted once; a resample's merge is a dense count array over it.
  const order = [...valueIndex.entries()].sort((a, b) => a[0] - b[0]);
  const rank = new Uint32Array(order.length);
  const valueAtRank = new Float64Array(order.length);
  order.forEach(([ns, k], i) => {
    rank[k] = i;
    valueAtRank[i] = ns;
  });
  for (const s of all) for (let j = 0; j < s.idx.length; j++) s.idx[j] = rank[s.idx[j]!]!;

  const out = Object.fromEntries((['p50', 'p90', 'p99', 'p99.9', 'max', 'throughput', 'queue_full', 'stalls'] as BootFigure[]).map((f) => [f, new Float64Array(resamples)])) as Bootstrap;
  const merged = new Float64Array(order.length);
  const rnd = prng(seed);
  const seconds = r.timeline.interval_s;
  for (let b = 0; b < resamples; b++) {
    merged.fill(0);
    let total = 0;
    for (let n = 0; n < busy.length; n++) {
      const s = busy[Math.floor(rnd() * busy.length)]!;
      for (let j = 0; j < s.idx.length; j++) {
        merged[s.idx[j]!]! += s.count[j]!;
        total += s.count[j]!;
      }
    }
    // Every percentile in one walk up the merged counts (HdrHistogram's rule: the value whose
    // cumulative count first reaches ceil(p × total)).
    let cum = 0, next = 0;
    const targets = BOOT_PERCENTILES.map((p) => Math.max(1, Math.ceil((p / 100) * total)));
    for (let i = 0; i < merged.length && next < targets.length; i++) {
      cum += merged[i]!;
      while (next < targets.length && cum >= targets[next]!) {
        out[FIGURE_OF[BOOT_PERCENTILES[next]!]][b] = valueAtRank[i]! / 1000;
        next++;
      }
    }
    let ops = 0;
    for (let n = 0; n < full.length; n++) ops += full[Math.floor(rnd() * full.length)]!.ops;
    out.throughput[b] = ops / (Math.max(1, full.length) * seconds);
    // Events from every interval, the drain included (a stall there is as real), over the time drawn.
    let qf = 0, st = 0, span = 0;
    for (let n = 0; n < all.length; n++) {
      const s = all[Math.floor(rnd() * all.length)]!;
      qf += s.queueFull;
      st += s.stalls;
      span += s.seconds;
    }
    out.queue_full[b] = qf / Math.max(1e-9, span);
    out.stalls[b] = st / Math.max(1e-9, span);
  }
  return out;
}

/** The q-quantile (0..1) of draws, sorted in place. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = Math.min(sorted.length - 1, Math.max(0, q * (sorted.length - 1)));
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * The spread of (current − baseline) under both bootstraps: how far the difference reaches
 * below and above its median in `confidence` of the paired draws. A change counts only beyond it.
 */
export function differenceBand(base: Float64Array, cur: Float64Array, confidence: number): { below: number; above: number } {
  const d = new Float64Array(Math.min(base.length, cur.length));
  for (let i = 0; i < d.length; i++) d[i] = cur[i]! - base[i]!;
  d.sort();
  const med = quantile(d, 0.5);
  const tail = (1 - confidence) / 2;
  return { below: med - quantile(d, tail), above: quantile(d, 1 - tail) - med };
}
