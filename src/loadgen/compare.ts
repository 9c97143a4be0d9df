// Comparing two load results (`vmsg bench --compare baseline.json`): the change per metric and
// a verdict that only calls a change "better" or "worse" when it is beyond noise.
//
// The noise rule (docs/BENCHMARKS.md "Comparing runs"): each run is bootstrapped over its own
// timeline intervals (noise.ts: whole intervals drawn with replacement, their histograms merged),
// which gives how far each figure would move were the run made again. A figure's band is how far
// the difference current − baseline reaches in 99 % of the paired draws of both bootstraps
// (the change counts when that interval leaves out zero). Every latency figure is read from merged histograms the same way,
// p50 to max; throughput and the queue-full and stall rates from the intervals' counts. A change
// counts only beyond its band and beyond `minEffectPct` (default 10 %, the drift between two
// runs that no single run's intervals can show; as criterion's noise threshold). A run with too few intervals, or without per-interval histograms (an earlier
// version's result), leaves its figures "n/a".
// Correctness counters (errors, order violations, timeouts) have no band: going from zero to
// non-zero is "worse", from non-zero to zero "better"; between two non-zero counts the rate per
// million operations must change by more than half.
import type { LoadResult } from './result.js';
import { RESULT_FORMAT, RESULT_VERSION } from './result.js';
import { bootstrap, bootstrapProblem, differenceBand, eventRate, DEFAULT_RESAMPLES, type Bootstrap, type BootFigure } from './noise.js';

export type Verdict = 'better' | 'worse' | 'same' | 'n/a';

export interface MetricChange {
  metric: string;
  unit: string;
  baseline: number;
  current: number;
  /** (current − baseline) / baseline × 100; null when the baseline is 0. */
  change_pct: number | null;
  /** Noise band used on the side the change went, percent of the baseline. */
  band_pct: number;
  verdict: Verdict;
  why: string;
  /**
   * Whether `--fail-on worse` counts this row. Queue-full and stall rates do not: a stall is a
   * 100 ms gap, already in the latency tail and the throughput, and a count rising from zero
   * follows other load on the machine more than the code under test; they stay in the table.
   */
  gates: boolean;
}

export interface Comparison {
  /** Setup differences that make the comparison doubtful (different profile, loop, …). */
  notes: string[];
  rows: MetricChange[];
  better: number;
  worse: number;
  same: number;
  /** Rows that gate (`gates`) and are worse: what `--fail-on worse` fails on. */
  regressions: string[];
  /** How the bands were made. */
  method: { confidence: number; resamples: number; min_effect_pct: number };
}

export interface CompareOptions {
  /** Share of bootstrap draws the band covers. Default 0.99. */
  confidence?: number;
  /** Default 2000. */
  resamples?: number;
  /**
   * Changes smaller than this percentage are "same" even when beyond noise. Default 10: two runs
   * on one machine drift apart by a few percent that neither run's own intervals can show (other
   * load, caches, frequency), so a smaller change is not called a regression unless asked.
   */
  minEffectPct?: number;
}

const ERRORS_BAND_PCT = 50;
export const DEFAULT_MIN_EFFECT_PCT = 10;

const pct = (base: number, cur: number): number | null => (base === 0 ? null : ((cur - base) / base) * 100);
const round2 = (v: number): number => Number(v.toFixed(2));

function judgeBand(metric: string, unit: string, base: number, cur: number, band: { below: number; above: number }, minEffect: number, higherIsBetter: boolean): MetricChange {
  const change = pct(base, cur);
  const diff = cur - base;
  // The change is real when the difference's interval [median − below, median + above] leaves
  // out zero: for a rise that is the stretch below the median, for a fall the one above.
  const side = diff >= 0 ? band.below : band.above;
  const bandPct = base === 0 ? 0 : (side / Math.abs(base)) * 100;
  const row = { metric, unit, baseline: base, current: cur, change_pct: change === null ? null : round2(change), band_pct: round2(bandPct), gates: true };
  if (diff === 0) return { ...row, verdict: 'same', why: 'no change' };
  if (Math.abs(diff) <= side) return { ...row, verdict: 'same', why: `within ${diff > 0 ? '+' : '−'}${bandPct.toFixed(1)} % noise` };
  if (change !== null && Math.abs(change) < minEffect) return { ...row, verdict: 'same', why: `beyond noise (${bandPct.toFixed(1)} %) but under --min-effect ${minEffect} %` };
  return { ...row, verdict: (diff > 0) === higherIsBetter ? 'better' : 'worse', why: `beyond ${diff > 0 ? '+' : '−'}${bandPct.toFixed(1)} % noise` };
}

function correctness(metric: string, base: number, baseOps: number, cur: number, curOps: number): MetricChange {
  const change = pct(base, cur);
  const row: MetricChange = { metric, unit: 'count', baseline: base, current: cur, change_pct: change === null ? null : round2(change), band_pct: 0, verdict: 'same', why: 'both zero', gates: true };
  if (base === 0 && cur > 0) return { ...row, verdict: 'worse', why: 'was zero' };
  if (base > 0 && cur === 0) return { ...row, verdict: 'better', why: 'now zero' };
  if (base === 0 && cur === 0) return row;
  const rate = (n: number, ops: number): number => (n / Math.max(1, ops)) * 1e6;
  const rb = rate(base, baseOps), rc = rate(cur, curOps);
  const rc_pct = ((rc - rb) / rb) * 100;
  if (Math.abs(rc_pct) <= ERRORS_BAND_PCT) return { ...row, band_pct: ERRORS_BAND_PCT, why: `within ±${ERRORS_BAND_PCT} % (per million operations)` };
  return { ...row, band_pct: ERRORS_BAND_PCT, verdict: rc > rb ? 'worse' : 'better', why: `beyond ±${ERRORS_BAND_PCT} % (per million operations)` };
}

export function compare(baseline: LoadResult, current: LoadResult, opts: CompareOptions = {}): Comparison {
  const confidence = opts.confidence ?? 0.99;
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  const minEffect = opts.minEffectPct ?? DEFAULT_MIN_EFFECT_PCT;
  const notes: string[] = [];
  const same = (what: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) notes.push(`${what} differs: baseline ${JSON.stringify(a)}, current ${JSON.stringify(b)}`);
  };
  same('profile', baseline.mode, current.mode);
  same('loop', baseline.loop, current.loop);
  same('outstanding', baseline.outstanding, current.outstanding);
  same('rate', baseline.rate, current.rate);
  same('number of devices', baseline.devices.length, current.devices.length);
  if (baseline.machine.cpus !== current.machine.cpus || baseline.machine.model !== current.machine.model) notes.push('the runs were made on different machines');

  const problem = [['baseline', bootstrapProblem(baseline)], ['current run', bootstrapProblem(current)]].filter(([, p]) => p !== undefined).map(([w, p]) => `the ${w} ${p}`);
  // Different seeds: two identical results must not get identical draws (their difference would have no spread).
  let boots: [Bootstrap, Bootstrap] | undefined;
  if (problem.length === 0) boots = [bootstrap(baseline, resamples, 1), bootstrap(current, resamples, 2)];
  else notes.push(`no noise estimate: ${problem.join('; ')}`);
  const rows: MetricChange[] = [];
  const banded = (metric: string, unit: string, fig: BootFigure, base: number, cur: number, higherIsBetter: boolean): void => {
    if (boots === undefined) {
      const change = pct(base, cur);
      rows.push({ metric, unit, baseline: base, current: cur, change_pct: change === null ? null : round2(change), band_pct: 0, verdict: 'n/a', why: 'no noise estimate', gates: true });
      return;
    }
    rows.push(judgeBand(metric, unit, base, cur, differenceBand(boots[0][fig], boots[1][fig], confidence), minEffect, higherIsBetter));
  };
  banded('throughput', 'ops/s', 'throughput', baseline.ops_per_s, current.ops_per_s, true);
  banded('latency p50', 'µs', 'p50', baseline.p50_us, current.p50_us, false);
  banded('latency p90', 'µs', 'p90', baseline.p90_us, current.p90_us, false);
  banded('latency p99', 'µs', 'p99', baseline.p99_us, current.p99_us, false);
  banded('latency p99.9', 'µs', 'p99.9', baseline.p999_us, current.p999_us, false);
  banded('latency max', 'µs', 'max', baseline.max_us, current.max_us, false);
  // Event rates over the measured timeline (what the bootstrap draws from; the probe's and warm-up's events are not in it).
  const perS = (r: LoadResult, kind: 'queue_full' | 'stalls'): number => Number(eventRate(r, kind).toFixed(3));
  banded('queue full', 'per s', 'queue_full', perS(baseline, 'queue_full'), perS(current, 'queue_full'), false);
  banded('stalls', 'per s', 'stalls', perS(baseline, 'stalls'), perS(current, 'stalls'), false);
  for (const r of rows.slice(-2)) r.gates = false;
  rows.push(correctness('errors', baseline.errors, baseline.completed, current.errors, current.completed));
  rows.push(correctness('order violations', baseline.order_violations, baseline.completed, current.order_violations, current.completed));
  rows.push(correctness('timeouts', baseline.timeouts, baseline.completed, current.timeouts, current.completed));
  return {
    notes,
    rows,
    better: rows.filter((r) => r.verdict === 'better').length,
    worse: rows.filter((r) => r.verdict === 'worse').length,
    same: rows.filter((r) => r.verdict === 'same').length,
    regressions: rows.filter((r) => r.gates && r.verdict === 'worse').map((r) => r.metric),
    method: { confidence, resamples, min_effect_pct: minEffect },
  };
}

const num = (v: number): string => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(4))));

export function formatComparison(c: Comparison): string {
  const lines = ['vmsg bench --compare: baseline → current'];
  for (const n of c.notes) lines.push(`  note: ${n}`);
  const w = Math.max(...c.rows.map((r) => r.metric.length));
  for (const r of c.rows) {
    const change = r.change_pct === null ? '' : `${r.change_pct >= 0 ? '+' : ''}${r.change_pct.toFixed(1)} %`;
    lines.push(`  ${r.metric.padEnd(w)}  ${`${num(r.baseline)} → ${num(r.current)} ${r.unit}`.padEnd(30)} ${change.padStart(9)}  ${r.verdict.toUpperCase().padEnd(6)} ${r.why}${r.gates ? '' : ' (information: not gated)'}`);
  }
  lines.push(`  ${c.better} better, ${c.worse} worse, ${c.same} within noise (bands: ${Math.round(c.method.confidence * 100)} % of ${c.method.resamples} bootstrap draws over the runs' intervals)`);
  return lines.join('\n') + '\n';
}

/** Check that a parsed document is a load result this version reads; errors say what it is instead. */
export function asLoadResult(v: unknown, source: string): LoadResult {
  const o = v as Partial<LoadResult> | null;
  if (o === null || typeof o !== 'object' || o.format !== RESULT_FORMAT) {
    throw new Error(`${source} is not a vmsg bench result (needs "format": "${RESULT_FORMAT}"; write one with vmsg bench --json or --report)`);
  }
  if (o.version !== RESULT_VERSION) throw new Error(`${source}: result version ${String(o.version)} is not supported (this tool reads version ${RESULT_VERSION})`);
  for (const k of ['ops_per_s', 'p50_us', 'p99_us', 'seconds', 'completed', 'errors'] as const) {
    if (typeof o[k] !== 'number') throw new Error(`${source}: field ${k} is missing or not a number`);
  }
  if (o.timeline === undefined || !Array.isArray(o.timeline.ops)) throw new Error(`${source}: field timeline is missing`);
  return o as LoadResult;
}
