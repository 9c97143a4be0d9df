// `vmsg stress --model NAME[,NAME...]`: the same block workload once per bus model (and per
// --dma mode), one after the other, then one comparison table (requests/s, latency
// percentiles, queue-full events, stall time, the bus's own counts, messages lost), `--json`
// (every run's full report) and `--report out.html` (the table and the latency curves, one
// series per run). A model the workload cannot run on (a frame larger than the bus carries,
// answers slower than its timeout) gives a row that says why instead of numbers.
import { writeFileSync } from 'node:fs';
import { UsageError } from './args.js';
import { loadBusModel, type BusModel } from '../model/bus-model.js';
import { JsonFieldError } from '../util/json-fields.js';
import type { DmaMode } from '../device/dma.js';
import type { StressOptions } from './stress-options.js';

/** One stress run (src/cli/stress.ts runStress) and its verdict, given by the caller so this file does not import it. */
export interface StressRunner {
  run(o: StressOptions): Promise<Record<string, unknown>>;
  passed(report: Record<string, unknown>): boolean;
  /** True once the user asked to stop (Ctrl-C, SIGTERM): the runs not started yet are skipped. */
  stopped?(): boolean;
}
import { esc, lineChart, linearAxis, percentileAxis } from '../loadgen/svg-chart.js';

export interface ModelRun {
  model: string;
  dma: DmaMode;
  /** The run's report (runStress), or null when it could not run. */
  report: Record<string, unknown> | null;
  error: string | null;
}

/** `a,b,./mine.json`: each loaded and checked now (a bad file is a usage error naming the field). */
export function parseModelList(text: string): BusModel[] {
  const names = text.split(',').filter((n) => n !== '');
  if (names.length === 0) throw new UsageError('--model needs at least one model name or file');
  return names.map((n) => {
    try {
      return loadBusModel(n);
    } catch (e) {
      throw new UsageError(e instanceof JsonFieldError ? `--model: ${e.message}` : `--model: ${(e as Error).message}`);
    }
  });
}

export async function runModelComparison(runner: StressRunner, models: BusModel[], dmas: DmaMode[], base: StressOptions, progress?: (line: string) => void): Promise<ModelRun[]> {
  const runs: ModelRun[] = [];
  for (const model of models) {
    for (const dma of dmas) {
      if (runner.stopped?.() === true) return runs;
      progress?.(`${model.name}, dma ${dma}: ${base.durationS} s`);
      try {
        runs.push({ model: model.name, dma, report: await runner.run({ ...base, dma, model }), error: null });
      } catch (e) {
        runs.push({ model: model.name, dma, report: null, error: (e as Error).message.split('\n')[0]! });
      }
    }
  }
  return runs;
}

interface Row { cells: string[]; run: ModelRun }

const COLUMNS = ['model', 'dma', 'req/s', 'MiB/s', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'queue full', 'stall ms', 'window waits', 'bus drops', 'lost'];

function rows(runs: ModelRun[]): Row[] {
  return runs.map((run) => {
    const r = run.report as any;
    if (r === null) return { run, cells: [run.model, run.dma, `could not run: ${run.error}`] };
    const fails = r.block.errors + r.failures > 0 ? ` (${r.block.errors} errors)` : '';
    return {
      run,
      cells: [
        run.model, run.dma, `${r.block.requests_per_s}${fails}`, String(r.block.mib_per_s),
        String(r.latency_us.p50), String(r.latency_us.p90), String(r.latency_us.p99), String(r.latency_us.max),
        String(r.queue_full.total), String(r.stall_ms.total), String(r.bus?.window_held ?? 0), String(r.bus?.dropped ?? 0), String(r.messages_lost),
      ],
    };
  });
}

/** The comparison table, aligned columns. */
export function formatModelTable(runs: ModelRun[]): string {
  const rs = rows(runs);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rs.filter((r) => r.cells.length === COLUMNS.length).map((r) => r.cells[i]!.length)));
  const line = (cells: string[]): string => (cells.length === COLUMNS.length ? cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') : `${cells[0]!.padEnd(widths[0]!)}  ${cells[1]!.padEnd(widths[1]!)}  ${cells[2]}`);
  return [line(COLUMNS), ...rs.map((r) => line(r.cells))].join('\n') + '\n';
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const usLabel = (v: number): string => (v >= 1000 ? `${Number((v / 1000).toPrecision(3))} ms` : `${Number(v.toPrecision(3))} µs`);

/** One self-contained page: the table, the latency percentile curve of every run, requests/s per run. */
export function formatModelHtml(runs: ModelRun[], setup: string): string {
  const rs = rows(runs);
  const ok = runs.filter((r) => r.report !== null);
  const series = ok.map((r, i) => ({
    name: `${r.model} ${r.dma}`, color: COLORS[i % COLORS.length]!,
    points: ((r.report as any).latency_curve_us as [number, number][]).filter(([p]) => p < 100),
  }));
  const maxUs = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const curve = lineChart({ id: 'chart-latency-curve', title: 'Block request latency by percentile, one series per run', x: percentileAxis(99.99), y: linearAxis('latency', maxUs, usLabel), series });
  const rate = ok.map((r, i) => ({ name: `${r.model} ${r.dma}`, color: COLORS[i % COLORS.length]!, points: [[i, (r.report as any).block.requests_per_s], [i + 0.6, (r.report as any).block.requests_per_s]] as [number, number][] }));
  const maxRate = Math.max(1, ...rate.map((s) => s.points[0]![1]));
  const rateChart = lineChart({ id: 'chart-rate', title: 'Block requests per second, one series per run', x: linearAxis('run', Math.max(1, ok.length), (v) => String(v)), y: linearAxis('requests/s', maxRate, (v) => String(Math.round(v))), series: rate });
  const table = `<table>\n<tr>${COLUMNS.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>\n${rs.map((r) => `<tr>${r.cells.length === COLUMNS.length ? r.cells.map((c) => `<td>${esc(c)}</td>`).join('') : `<td>${esc(r.cells[0]!)}</td><td>${esc(r.cells[1]!)}</td><td colspan="${COLUMNS.length - 2}">${esc(r.cells[2]!)}</td>`}</tr>`).join('\n')}\n</table>`;
  const data = JSON.stringify({ format: 'vmsg-stress-models', runs }).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>vmsg stress: bus models</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}.chart{display:block;margin:16px 0}.t{font-size:14px;font-weight:bold}.k{font-size:11px;fill:#444}</style>
</head><body>
<h1>vmsg stress: one block workload across bus models</h1>
<p>${esc(setup)}</p>
${table}
${curve}
${rateChart}
<script type="application/json" id="vmsg-stress-models">${data}</script>
</body></html>
`;
}

export async function runModels(runner: StressRunner, models: BusModel[], dmas: DmaMode[], base: StressOptions, out: { json: boolean; report?: string }): Promise<number> {
  const setup = `block I/O, ${base.chunkBytes}-byte requests, ${base.inFlight} in flight, notifications ${base.notify}, suppression ${base.suppression ? 'on' : 'off'}, ${base.durationS} s per run`;
  if (!out.json) process.stdout.write(`vmsg stress: ${models.length} model(s) x ${dmas.length} dma mode(s); ${setup}\n`);
  const runs = await runModelComparison(runner, models, dmas, base, out.json ? undefined : (l) => process.stdout.write(`  running ${l}\n`));
  if (out.json) process.stdout.write(JSON.stringify({ format: 'vmsg-stress-models', setup, runs }) + '\n');
  else process.stdout.write(formatModelTable(runs));
  if (out.report !== undefined) writeFileSync(out.report, formatModelHtml(runs, setup));
  return runs.every((r) => r.report !== null && runner.passed(r.report)) ? 0 : 1;
}
