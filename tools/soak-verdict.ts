// The soak's memory verdict. Resident memory is not one number that only a leak moves: every
// worker thread is a V8 isolate whose young generation V8 sizes by that thread's allocation rate
// (1 MiB semi-spaces below about 1 MB/s, larger above it, and smaller again once the rate falls),
// so the process settles at a level that follows the load the machine lets it reach. A level
// change is not a leak; a leak is RSS that keeps rising. So drift is judged on the trend: the
// least-squares slope of RSS over the second half of the samples after warm-up, extrapolated
// over the whole time after warm-up, as a share of that half's median. A steady leak reads the
// same as the first fifth against the last fifth would; a level reached in the first half
// (the peak rate arriving late) reads as what it is, flat.

export interface RssSample {
  /** Seconds since the soak started. */
  t: number;
  rssMiB: number;
}

export interface RssVerdict {
  /** Median RSS of the first and last fifth of the samples after warm-up (at least 3 each): the level change, reported. */
  baseline: number;
  final: number;
  growthPct: number;
  /** Least-squares slope over the second half after warm-up, MiB per minute. */
  slopeMiBPerMin: number;
  /** That slope over the whole time after warm-up, as a percentage of the second half's median: judged against the limit. */
  driftPct: number;
  /** Samples in the second half the slope was fitted to. */
  trendSamples: number;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Least-squares slope of y over x (0 for fewer than two distinct x). */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += xs[i]!; my += ys[i]!; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) { sxy += (xs[i]! - mx) * (ys[i]! - my); sxx += (xs[i]! - mx) ** 2; }
  return sxx === 0 ? 0 : sxy / sxx;
}

/** The verdict's figures for the samples taken at or after `warmupS` (at least 6 are expected). */
export function rssVerdict(samples: RssSample[], warmupS: number): RssVerdict {
  const after = samples.filter((s) => s.t >= warmupS);
  // First and last fifth, so one garbage-collection swing decides nothing.
  const k = Math.min(Math.max(3, Math.floor(after.length / 5)), Math.floor(after.length / 2));
  const baseline = median(after.slice(0, k).map((s) => s.rssMiB));
  const final = median(after.slice(-k).map((s) => s.rssMiB));
  const half = after.slice(Math.floor(after.length / 2));
  const perS = slope(half.map((s) => s.t), half.map((s) => s.rssMiB));
  const span = after.length > 1 ? after[after.length - 1]!.t - after[0]!.t : 0;
  const level = median(half.map((s) => s.rssMiB));
  return {
    baseline, final, growthPct: (final / baseline - 1) * 100,
    slopeMiBPerMin: perS * 60,
    driftPct: level > 0 ? ((perS * span) / level) * 100 : NaN,
    trendSamples: half.length,
  };
}
