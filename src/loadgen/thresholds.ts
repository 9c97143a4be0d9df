// Pass/fail thresholds on a load result, k6 style (`vmsg bench --threshold 'p99<2ms'
// --threshold 'errors==0' --threshold 'throughput>=50k'`): METRIC OPERATOR VALUE, every one
// checked after the run; any that does not hold makes the run fail (exit status 1).
import type { LoadResult } from './result.js';

export class ThresholdError extends Error {
  override name = 'ThresholdError';
}

type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';
type Kind = 'latency' | 'rate' | 'count' | 'ratio';

interface MetricDef {
  kind: Kind;
  read: (r: LoadResult) => number;
  help: string;
}

/** What a threshold may name. Latencies in µs inside; rates per second. */
export const THRESHOLD_METRICS: Record<string, MetricDef> = {
  p50: { kind: 'latency', read: (r) => r.p50_us, help: 'median latency' },
  p90: { kind: 'latency', read: (r) => r.p90_us, help: '90th percentile latency' },
  p99: { kind: 'latency', read: (r) => r.p99_us, help: '99th percentile latency' },
  'p99.9': { kind: 'latency', read: (r) => r.p999_us, help: '99.9th percentile latency' },
  max: { kind: 'latency', read: (r) => r.max_us, help: 'largest latency' },
  mean: { kind: 'latency', read: (r) => r.mean_us, help: 'mean latency' },
  throughput: { kind: 'rate', read: (r) => r.ops_per_s, help: 'operations completed per second' },
  errors: { kind: 'count', read: (r) => r.errors, help: 'verification failures of any kind' },
  order_violations: { kind: 'count', read: (r) => r.order_violations, help: 'answers that overtook an older request' },
  timeouts: { kind: 'count', read: (r) => r.timeouts, help: 'operations unanswered after --timeout' },
  queue_full: { kind: 'count', read: (r) => r.queue_full, help: 'times the bus refused a frame' },
  stalls: { kind: 'count', read: (r) => r.stalls, help: 'gaps with no answer while operations were in flight' },
  error_rate: { kind: 'ratio', read: (r) => r.errors / Math.max(1, r.completed + r.errors), help: 'errors / (completed + errors), 0..1' },
};
/** Other names accepted for a metric. */
const ALIASES: Record<string, string> = { p999: 'p99.9', rate: 'throughput', ops_per_s: 'throughput', rps: 'throughput', order: 'order_violations' };

const LATENCY_UNITS: Record<string, number> = { ns: 0.001, us: 1, 'µs': 1, ms: 1000, s: 1_000_000 };
const RATE_SUFFIX: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6 };

export interface Threshold {
  /** As given. */
  text: string;
  metric: string;
  op: Op;
  /** In the metric's own unit (µs, per second, count, ratio). */
  value: number;
}

export interface ThresholdCheck extends Threshold {
  actual: number;
  unit: string;
  ok: boolean;
}

const UNIT: Record<Kind, string> = { latency: 'µs', rate: 'ops/s', count: '', ratio: '' };

/** Parse one `--threshold` expression; the error says what is wrong and what is accepted. */
export function parseThreshold(text: string): Threshold {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|==|!=|<|>)\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-zµ]*)\s*$/.exec(text);
  if (m === null) throw new ThresholdError(`threshold "${text}" is not METRIC OPERATOR VALUE (e.g. 'p99<2ms', 'errors==0', 'throughput>=50k'); operators: < <= > >= == !=`);
  const [, rawName, op, num, unit] = m as unknown as [string, string, Op, string, string];
  const metric = ALIASES[rawName] ?? rawName;
  const def = THRESHOLD_METRICS[metric];
  if (def === undefined) throw new ThresholdError(`threshold "${text}": unknown metric "${rawName}"; metrics: ${Object.keys(THRESHOLD_METRICS).join(', ')}`);
  let value = Number(num);
  if (def.kind === 'latency') {
    const f = LATENCY_UNITS[unit];
    if (f === undefined) throw new ThresholdError(`threshold "${text}": ${metric} needs a time unit after the number (${Object.keys(LATENCY_UNITS).join(', ')}), e.g. '${metric}<2ms'`);
    value *= f;
  } else if (def.kind === 'rate') {
    const f = RATE_SUFFIX[unit];
    if (f === undefined) throw new ThresholdError(`threshold "${text}": ${metric} is operations per second; the number may end in k or M, e.g. '${metric}>=50k'`);
    value *= f;
  } else if (unit !== '') {
    throw new ThresholdError(`threshold "${text}": ${metric} is a plain ${def.kind === 'ratio' ? 'ratio (0..1)' : 'count'}; drop the unit "${unit}"`);
  }
  return { text, metric, op, value };
}

function holds(actual: number, op: Op, v: number): boolean {
  switch (op) {
    case '<': return actual < v;
    case '<=': return actual <= v;
    case '>': return actual > v;
    case '>=': return actual >= v;
    case '==': return actual === v;
    case '!=': return actual !== v;
  }
}

export function checkThresholds(r: LoadResult, thresholds: Threshold[]): ThresholdCheck[] {
  return thresholds.map((t) => {
    const def = THRESHOLD_METRICS[t.metric]!;
    const actual = def.read(r);
    return { ...t, actual, unit: UNIT[def.kind], ok: holds(actual, t.op, t.value) };
  });
}

export function formatThresholds(checks: ThresholdCheck[]): string {
  const w = Math.max(...checks.map((c) => c.text.length));
  const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))));
  return `vmsg bench thresholds:\n${checks.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${c.text.padEnd(w)}  ${c.metric} = ${fmt(c.actual)}${c.unit === '' ? '' : ` ${c.unit}`}`).join('\n')}\n`;
}
