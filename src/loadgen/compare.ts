// Comparing two load results (`vmsg bench --compare baseline.json`): the change per metric and
// a verdict that only calls a change "better" or "worse" when it is beyond noise.
//
// The noise rule (docs/BENCHMARKS.md "Comparing runs"): a metric's noise band is the larger of
//   * a floor for its kind: throughput 5 %, p50/p90 10 %, p99 20 %, p99.9 30 %, max 50 %,
//     event rates (queue full, stalls per second) 50 %;
//   * twice the larger coefficient of variation (stddev / mean) of the same figure across the
//     timeline intervals of either run (per-interval throughput for throughput, per-interval
//     p50 for p50/p90, per-interval p99 for the tail percentiles),
// so a run that wobbled a lot needs a larger change to count. A percentile needs at least 10
// samples beyond it in both runs (count × (1 − p) ≥ 10), otherwise its verdict is "n/a".
// Correctness counters (errors, order violations, timeouts) have no band: going from zero to
// non-zero is "worse", from non-zero to zero "better"; between two non-zero counts the rate per
// million operations must change by more than half.
import type { LoadResult } from './result.js';
import { RESULT_FORMAT, RESULT_VERSION } from './result.js';

export type Verdict = 'better' | 'worse' | 'same' | 'n/a';

export interface MetricChange {
  metric: string;
  unit: string;
  baseline: number;
  current: number;
  /** (current − baseline) / baseline × 100; null when the baseline is 0. */
  change_pct: number | null;
  /** Noise band used, percent. */
  band_pct: number;
  verdict: Verdict;
  why: string;
}

export interface Comparison {
  /** Setup differences that make the comparison doubtful (different profile, loop, …). */
  notes: string[];
  rows: MetricChange[];
  better: number;
  worse: number;
  same: number;
}

export const NOISE_FLOOR_PCT = { throughput: 5, p50: 10, p90: 10, p99: 20, p999: 30, max: 50, events: 50, errors: 50 } as const;
/** Samples a percentile needs beyond it in each run before it is judged. */
export const MIN_TAIL_SAMPLES = 10;

/** Coefficient of variation (stddev / mean) of the values, 0 for fewer than 3 values or a zero mean. */
export function coefficientOfVariation(values: number[]): number {
  if (values.length < 3) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (mean === 0) return 0;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1);
  return Math.sqrt(variance) / mean;
}

/** Full intervals of the timeline (the last one may be partial) with operations in them. */
function intervalSeries(r: LoadResult, pick: 'ops' | 'p50_us' | 'p99_us'): number[] {
  const tl = r.timeline;
  const n = Math.max(0, tl.t_s.length - 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if ((tl.ops[i] ?? 0) > 0) out.push(tl[pick][i]!);
  return out;
}

function pct(base: number, cur: number): number | null {
  return base === 0 ? null : ((cur - base) / base) * 100;
}

function judge(metric: string, unit: string, base: number, cur: number, band: number, higherIsBetter: boolean): MetricChange {
  const change = pct(base, cur);
  let verdict: Verdict;
  let why: string;
  if (change === null) {
    verdict = cur === 0 ? 'same' : higherIsBetter ? 'better' : 'worse';
    why = cur === 0 ? 'both zero' : 'from zero';
  } else if (Math.abs(change) <= band) {
    verdict = 'same';
    why = `within ±${band.toFixed(0)} % noise`;
  } else {
    verdict = (change > 0) === higherIsBetter ? 'better' : 'worse';
    why = `beyond ±${band.toFixed(0)} % noise`;
  }
  return { metric, unit, baseline: base, current: cur, change_pct: change === null ? null : Number(change.toFixed(2)), band_pct: Number(band.toFixed(2)), verdict, why };
}

function correctness(metric: string, base: number, baseOps: number, cur: number, curOps: number): MetricChange {
  const row: MetricChange = { metric, unit: 'count', baseline: base, current: cur, change_pct: pct(base, cur), band_pct: 0, verdict: 'same', why: 'both zero' };
  if (row.change_pct !== null) row.change_pct = Number(row.change_pct.toFixed(2));
  if (base === 0 && cur > 0) return { ...row, verdict: 'worse', why: 'was zero' };
  if (base > 0 && cur === 0) return { ...row, verdict: 'better', why: 'now zero' };
  if (base === 0 && cur === 0) return row;
  const rate = (n: number, ops: number): number => (n / Math.max(1, ops)) * 1e6;
  const r = judge(metric, 'count', rate(base, baseOps), rate(cur, curOps), NOISE_FLOOR_PCT.errors, false);
  return { ...r, baseline: base, current: cur, change_pct: row.change_pct, why: `${r.why} (per million operations)` };
}

export function compare(baseline: LoadResult, current: LoadResult): Comparison {
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

  const cv = (pick: 'ops' | 'p50_us' | 'p99_us'): number => 2 * 100 * Math.max(coefficientOfVariation(intervalSeries(baseline, pick)), coefficientOfVariation(intervalSeries(current, pick)));
  const rows: MetricChange[] = [];
  rows.push(judge('throughput', 'ops/s', baseline.ops_per_s, current.ops_per_s, Math.max(NOISE_FLOOR_PCT.throughput, cv('ops')), true));
  const percentiles = [
    ['p50', 'p50_us', 50, NOISE_FLOOR_PCT.p50, 'p50_us'],
    ['p90', 'p90_us', 90, NOISE_FLOOR_PCT.p90, 'p50_us'],
    ['p99', 'p99_us', 99, NOISE_FLOOR_PCT.p99, 'p99_us'],
    ['p99.9', 'p999_us', 99.9, NOISE_FLOOR_PCT.p999, 'p99_us'],
  ] as const;
  const nb = baseline.latency.count, nc = current.latency.count;
  for (const [name, key, p, floor, wobble] of percentiles) {
    const row = judge(`latency ${name}`, 'µs', baseline[key], current[key], Math.max(floor, cv(wobble)), false);
    const need = Math.ceil(MIN_TAIL_SAMPLES / (1 - p / 100));
    if (Math.min(nb, nc) < need) rows.push({ ...row, verdict: 'n/a', why: `too few samples (needs ${need} per run)` });
    else rows.push(row);
  }
  rows.push(judge('latency max', 'µs', baseline.max_us, current.max_us, NOISE_FLOOR_PCT.max, false));
  const perS = (n: number, r: LoadResult): number => Number((n / Math.max(1e-9, r.seconds)).toFixed(3));
  rows.push(judge('queue full', 'per s', perS(baseline.queue_full, baseline), perS(current.queue_full, current), NOISE_FLOOR_PCT.events, false));
  rows.push(judge('stalls', 'per s', perS(baseline.stalls, baseline), perS(current.stalls, current), NOISE_FLOOR_PCT.events, false));
  rows.push(correctness('errors', baseline.errors, baseline.completed, current.errors, current.completed));
  rows.push(correctness('order violations', baseline.order_violations, baseline.completed, current.order_violations, current.completed));
  rows.push(correctness('timeouts', baseline.timeouts, baseline.completed, current.timeouts, current.completed));
  return {
    notes,
    rows,
    better: rows.filter((r) => r.verdict === 'better').length,
    worse: rows.filter((r) => r.verdict === 'worse').length,
    same: rows.filter((r) => r.verdict === 'same').length,
  };
}

const num = (v: number): string => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(4))));

export function formatComparison(c: Comparison): string {
  const lines = ['vmsg bench --compare: baseline → current'];
  for (const n of c.notes) lines.push(`  note: ${n}`);
  const w = Math.max(...c.rows.map((r) => r.metric.length));
  for (const r of c.rows) {
    const change = r.change_pct === null ? '' : `${r.change_pct >= 0 ? '+' : ''}${r.change_pct.toFixed(1)} %`;
    lines.push(`  ${r.metric.padEnd(w)}  ${`${num(r.baseline)} → ${num(r.current)} ${r.unit}`.padEnd(30)} ${change.padStart(9)}  ${r.verdict.toUpperCase().padEnd(6)} ${r.why}`);
  }
  lines.push(`  ${c.better} better, ${c.worse} worse, ${c.same} within noise`);
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
