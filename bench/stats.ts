// Shared by every bench case: the child-process protocol (a case prints ONE JSON line on
// stdout, progress goes to stderr), the command-line knobs, and the statistics the runner
// reports (median, min, max, spread over processes; percentiles inside a process).

/** What one child process of a case reports: one value per metric, plus free-form notes. */
export interface CaseReport {
  samples: Record<string, number>;
  info?: Record<string, unknown>;
}

/** One line of the runner's `results` array. */
export interface Result {
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  runs: number;
  /** (max - min) / median, in percent: how far apart the processes were. */
  spread_pct: number;
  /** The per-process values, in run order (rings at full speed are bimodal per process here). */
  values: number[];
  [extra: string]: unknown;
}

/** True when the case runs in the short (`--quick`) configuration. */
export function isQuick(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--quick');
}

/** Integer value of `--name N` on the command line, or `def`. */
export function argInt(name: string, def: number, argv: readonly string[] = process.argv): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v)) throw new RangeError(`--${name} needs an integer, got ${argv[i + 1] ?? '(nothing)'}`);
  return v;
}

/** String value of `--name S` on the command line, or `def`. */
export function argStr(name: string, def: string, argv: readonly string[] = process.argv): string {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new RangeError(`--${name} needs a value`);
  return v;
}

/** Progress and diagnostics: stderr only, stdout carries the JSON. */
export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** Print a case's report: the last stdout line of a child process. */
export function emit(report: CaseReport): void {
  process.stdout.write(JSON.stringify(report) + '\n');
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length & 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of values already sorted ascending. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Round to 4 significant digits (what these machines can resolve). */
export function sig(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(4)) : v;
}

/** Summary over processes of one metric. */
export function summarize(name: string, unit: string, values: readonly number[], extra: Record<string, unknown> = {}): Result {
  const med = median(values);
  const min = Math.min(...values);
  const max = Math.max(...values);
  return {
    name,
    unit,
    median: sig(med),
    min: sig(min),
    max: sig(max),
    runs: values.length,
    spread_pct: sig(med !== 0 ? ((max - min) / med) * 100 : 0),
    values: values.map(sig),
    ...extra,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
