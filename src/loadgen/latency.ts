// Latency recording in HdrHistogram form (hdr-histogram-js): values in nanoseconds, three
// significant digits (every value within 0.1 %), from 1 ns up to one hour, reported in µs.
import * as hdr from 'hdr-histogram-js';

/** Histogram settings, in one place (docs/BENCHMARKS.md "Load tool" quotes them). */
export const HDR_SETTINGS = {
  lowestDiscernibleValue: 1, // ns
  highestTrackableValue: 3_600_000_000_000, // 1 h in ns
  numberOfSignificantValueDigits: 3,
  bitBucketSize: 32,
  autoResize: true,
} as const;

/** Percentiles of the latency curve (HdrHistogram's classic plot: x spaced by 1/(1 − p)). */
export const CURVE_PERCENTILES = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100] as const;

export interface LatencySummary {
  count: number;
  mean_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

export function newHistogram(): hdr.Histogram {
  return hdr.build({ ...HDR_SETTINGS });
}

/** Record one latency given in milliseconds (performance.now() differences). */
export function recordMs(h: hdr.Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1e6)));
}

const us = (ns: number): number => Math.round(ns / 10) / 100; // µs with 2 decimals

/**
 * Value at percentile `p`, µs. HdrHistogram answers with the top of the value's bucket (up to
 * 0.1 % above it), which may exceed the exact maximum: capped there so p99 ≤ max always holds.
 */
function valueAt(h: hdr.Histogram, p: number): number {
  return us(Math.min(h.getValueAtPercentile(p), h.maxValue));
}

/**
 * p50 and p99 only, µs, as summarize gives them (0 for an empty histogram): a timeline
 * interval's figures, without the mean's walk over every bucket, so closing an interval
 * holds a running load up less.
 */
export function p50p99(h: hdr.Histogram): { p50_us: number; p99_us: number } {
  if (h.totalCount === 0) return { p50_us: 0, p99_us: 0 };
  return { p50_us: valueAt(h, 50), p99_us: valueAt(h, 99) };
}

export function summarize(h: hdr.Histogram): LatencySummary {
  const n = h.totalCount;
  if (n === 0) return { count: 0, mean_us: 0, p50_us: 0, p90_us: 0, p99_us: 0, p999_us: 0, max_us: 0 };
  return {
    count: n,
    mean_us: us(h.mean),
    p50_us: valueAt(h, 50),
    p90_us: valueAt(h, 90),
    p99_us: valueAt(h, 99),
    p999_us: valueAt(h, 99.9),
    max_us: us(h.maxValue),
  };
}

/** [percentile, µs] points for the latency curve. */
export function percentileCurve(h: hdr.Histogram): [number, number][] {
  if (h.totalCount === 0) return [];
  return CURVE_PERCENTILES.map((p) => [p, p === 100 ? us(h.maxValue) : valueAt(h, p)]);
}

/** The whole histogram, compressed (HdrHistogram's interchange form: any HdrHistogram library reads it). */
export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(text: string): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(text);
}
