// The HTML report of a load result (`vmsg bench --report out.html`): one self-contained page
// (inline CSS and SVG, no executable script, no external file: it opens offline and can be mailed) with
// the run's setup, the summary, charts of throughput over time, the latency percentile curve,
// latency over time and queue-full/stall/error events per interval, the per-message table and
// the first events. The result itself rides along as JSON (a non-executed data block), so the
// page alone is enough to compare against later.
import type { LoadResult } from './result.js';
import type { Comparison } from './compare.js';
import type { ThresholdCheck } from './thresholds.js';
import { decodeHistogram, summarize, type LatencySummary } from './latency.js';
import { describeRun, fmtUs } from './report-table.js';
import { esc, lineChart, linearAxis, logAxis, percentileAxis, stackedBars, type Series } from './svg-chart.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const num = (v: number): string => (Math.abs(v) >= 100 ? int(v) : String(Number(v.toPrecision(4))));
const secs = (v: number): string => `${Number(v.toPrecision(3))} s`;
/** Axis labels for µs values: 500 µs, 1.5 ms, 200 ms. */
const usLabel = (v: number): string => (v >= 1000 ? `${Number((v / 1000).toPrecision(3))} ms` : `${Number(v.toPrecision(3))} µs`);
const rate = (v: number): string => (v >= 1e6 ? `${Number((v / 1e6).toPrecision(3))} M` : v >= 1e3 ? `${Number((v / 1e3).toPrecision(3))} k` : `${Number(v.toPrecision(3))}`);

/** Element id of each chart (tests and readers look them up); the *-log ones are the log-scale views. */
export const CHART_IDS = ['chart-throughput', 'chart-latency-curve', 'chart-latency-curve-log', 'chart-latency-time', 'chart-latency-time-log', 'chart-events'] as const;

/** Samples an interval needs before its p99 means something (about two samples beyond it). */
export const MIN_INTERVAL_SAMPLES = 200;

export interface ReportExtras {
  /** The `--compare` baseline: drawn dashed on the same charts. */
  baseline?: LoadResult;
  comparison?: Comparison;
  thresholds?: ThresholdCheck[];
}

/**
 * The latency curve as far as the data goes: a percentile is drawn only where at least one
 * sample lies beyond it, and the maximum sits at the last sample's own percentile
 * (100 × (1 − 1/count)), so the line ends where the samples end instead of running on flat.
 */
export function curveToData(r: LoadResult): [number, number][] {
  const n = r.latency.count;
  if (n === 0) return [];
  const last = 100 * (1 - 1 / n);
  const pts = r.latency.curve.filter(([p]) => p < 100 && p < last);
  const max = r.latency.curve.find(([p]) => p === 100)?.[1] ?? r.max_us;
  return n === 1 ? [[0, max]] : [...pts, [last, max]];
}

/**
 * Latency over time with intervals merged until each holds MIN_INTERVAL_SAMPLES (needs the
 * per-interval histograms; without them the timeline's own p50/p99 as they are). Points sit at
 * the end of each merged interval.
 */
export function mergedLatency(r: LoadResult): { t: number; p50: number; p99: number; count: number }[] {
  const tl = r.timeline;
  if (tl.hdr === undefined || tl.hdr.length !== tl.t_s.length) {
    return tl.t_s.map((t, i) => ({ t, p50: tl.p50_us[i]!, p99: tl.p99_us[i]!, count: tl.ops[i]! })).filter((x) => x.count > 0);
  }
  // Group consecutive intervals until a group holds enough samples; a short remainder joins the
  // group before it rather than standing alone on few samples.
  const groups: number[][] = [];
  let cur: number[] = [];
  let n = 0;
  tl.ops.forEach((ops, i) => {
    if (ops === 0 && cur.length === 0) return;
    cur.push(i);
    n += ops;
    if (n >= MIN_INTERVAL_SAMPLES) {
      groups.push(cur);
      cur = [];
      n = 0;
    }
  });
  if (n > 0) {
    if (groups.length > 0) groups[groups.length - 1]!.push(...cur);
    else groups.push(cur);
  }
  return groups.map((g) => {
    const h = decodeHistogram(tl.hdr![g[0]!]!);
    for (const i of g.slice(1)) h.add(decodeHistogram(tl.hdr![i]!));
    const s = summarize(h);
    return { t: tl.t_s[g[g.length - 1]!]!, p50: s.p50_us, p99: s.p99_us, count: s.count };
  });
}

function throughputPoints(r: LoadResult): [number, number][] {
  // Each interval's rate over its own length; the last one (the drain after the run) may be a
  // sliver: shorter than half an interval it says nothing about the rate and is left out.
  const tl = r.timeline;
  const out: [number, number][] = [];
  tl.ops.forEach((n, i) => {
    const dt = i > 0 ? tl.t_s[i]! - tl.t_s[i - 1]! : tl.interval_s;
    if (i === tl.ops.length - 1 && dt < tl.interval_s / 2) return;
    out.push([tl.t_s[i]!, n / dt]);
  });
  return out;
}

function charts(r: LoadResult, base: LoadResult | undefined): string[] {
  const tl = r.timeline;
  const lastT = (x: LoadResult): number => x.timeline.t_s[x.timeline.t_s.length - 1] ?? 0;
  const end = Math.max(lastT(r), base === undefined ? 0 : lastT(base), tl.interval_s);
  const timeAxis = linearAxis('time since warm-up end (s)', end, secs, { tight: true });
  const b = base === undefined ? '' : ' (dashed: baseline)';
  const perSecond = throughputPoints(r);
  const basePerSecond = base === undefined ? [] : throughputPoints(base);
  const throughput = lineChart({
    id: CHART_IDS[0], title: `Throughput over time (operations per second, per interval)${b}`,
    x: timeAxis, y: linearAxis('ops/s', Math.max(1, ...perSecond.map((p) => p[1]), ...basePerSecond.map((p) => p[1])), rate),
    series: [
      { name: 'completed ops/s', color: '#1f77b4', points: perSecond },
      ...(base === undefined ? [] : [{ name: 'baseline', color: '#1f77b4', points: basePerSecond, dashed: true }]),
    ],
  });
  const curvePoints = curveToData(r);
  const baseCurve = base === undefined ? [] : curveToData(base);
  const maxP = Math.max(99, ...curvePoints.map(([p]) => p), ...baseCurve.map(([p]) => p));
  const curveTitle = `Latency by percentile${r.latency.corrected ? ' (from intended send times)' : ''}${b}`;
  const curveSeries = (): Series[] => [
    { name: 'latency', color: '#d62728', points: curvePoints },
    ...(base === undefined ? [] : [{ name: 'baseline', color: '#d62728', points: baseCurve, dashed: true }]),
  ];
  const curveValues = [...curvePoints, ...baseCurve].map((p) => p[1]);
  const latencyCurve = lineChart({ id: CHART_IDS[1], title: curveTitle, x: percentileAxis(maxP), y: linearAxis('latency', Math.max(1, ...curveValues), usLabel), series: curveSeries() });
  const latencyCurveLog = lineChart({ id: CHART_IDS[2], title: curveTitle, x: percentileAxis(maxP), y: logAxis('latency', Math.min(...curveValues.filter((v) => v > 0), 1e9), Math.max(1, ...curveValues), usLabel), series: curveSeries() });
  const merged = mergedLatency(r);
  const baseMerged = base === undefined ? [] : mergedLatency(base);
  const overTimeSeries = (): Series[] => [
    { name: 'p50', color: '#2ca02c', points: merged.map((m) => [m.t, m.p50]) },
    { name: 'p99', color: '#ff7f0e', points: merged.map((m) => [m.t, m.p99]) },
    ...(base === undefined ? [] : [
      { name: 'baseline p50', color: '#2ca02c', points: baseMerged.map((m) => [m.t, m.p50] as [number, number]), dashed: true },
      { name: 'baseline p99', color: '#ff7f0e', points: baseMerged.map((m) => [m.t, m.p99] as [number, number]), dashed: true },
    ]),
  ];
  const timeValues = [...merged, ...baseMerged].flatMap((m) => [m.p50, m.p99]);
  const fewest = merged.length === 0 ? 0 : Math.min(...merged.map((m) => m.count));
  const timeTitle = `Latency over time (intervals of ≥ ${MIN_INTERVAL_SAMPLES} operations${fewest > 0 ? `, fewest ${int(fewest)}` : ''})${b}`;
  const latencyTime = lineChart({ id: CHART_IDS[3], title: timeTitle, x: timeAxis, y: linearAxis('latency', Math.max(1, ...timeValues), usLabel), series: overTimeSeries() });
  const latencyTimeLog = lineChart({ id: CHART_IDS[4], title: timeTitle, x: timeAxis, y: logAxis('latency', Math.min(...timeValues.filter((v) => v > 0), 1e9), Math.max(1, ...timeValues), usLabel), series: overTimeSeries() });
  const stacked = tl.t_s.map((_, i) => (tl.queue_full[i] ?? 0) + (tl.stalls[i] ?? 0) + (tl.errors[i] ?? 0));
  const events = stackedBars({
    id: CHART_IDS[5], title: 'Queue-full, stall and error events per interval',
    x: timeAxis, y: linearAxis('events', Math.max(1, ...stacked), (v) => int(v), { integer: true }),
    slots: tl.t_s, width: tl.interval_s,
    series: [
      { name: 'queue full', color: '#9467bd', values: tl.queue_full },
      { name: 'stall', color: '#8c564b', values: tl.stalls },
      { name: 'error', color: '#d62728', values: tl.errors },
    ],
  });
  // Linear and log views side by side in the page; a CSS-only switch (radio buttons, no script) shows one.
  return [
    throughput,
    `<div class="lin">\n${latencyCurve}\n</div>`,
    `<div class="log">\n${latencyCurveLog}\n</div>`,
    `<div class="lin">\n${latencyTime}\n</div>`,
    `<div class="log">\n${latencyTimeLog}\n</div>`,
    events,
  ];
}

function table(rows: [string, string][]): string {
  return `<table>\n${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}\n</table>`;
}

const pcts = (s: LatencySummary): string => `p50 ${fmtUs(s.p50_us)} · p90 ${fmtUs(s.p90_us)} · p99 ${fmtUs(s.p99_us)} · p99.9 ${fmtUs(s.p999_us)} · max ${fmtUs(s.max_us)}`;
const summaryCells = (s: LatencySummary): string => [s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us].map((v) => `<td>${esc(fmtUs(v))}</td>`).join('');

export function formatHtml(r: LoadResult, extras: ReportExtras = {}): string {
  const { baseline, comparison, thresholds = [] } = extras;
  const verified = r.errors === 0 && r.order_violations === 0;
  const regressions = comparison?.rows.filter((x) => x.verdict === 'worse' && x.gates) ?? [];
  const thresholdFails = thresholds.filter((t) => !t.ok);
  const ok = verified && thresholdFails.length === 0;
  // init-storm is about whole sequences (README): they are its headline; messages come second.
  const storm = r.mode === 'init-storm' && r.sequence !== null && r.sequence.count > 0;
  const seqPerS = storm ? r.sequence!.count / Math.max(1e-9, r.seconds) : 0;
  const summary = table([
    ['verdict', verified ? 'PASS: every answer verified' : `FAIL: ${r.errors} errors, ${r.order_violations} order violations`],
    ...(thresholds.length > 0 ? [['thresholds', thresholdFails.length === 0 ? `all ${thresholds.length} hold` : `FAIL: ${thresholdFails.map((t) => t.text).join(', ')}`] as [string, string]] : []),
    ...(comparison !== undefined ? [['against the baseline', `${comparison.worse} worse, ${comparison.better} better, ${comparison.same} within noise${regressions.length > 0 ? ` (worse: ${regressions.map((x) => x.metric).join(', ')})` : ''}`] as [string, string]] : []),
    ...(storm ? [
      ['sequences', `${int(seqPerS)} initialisation sequences/s (${int(r.sequence!.count)} in ${r.seconds.toFixed(3)} s)`] as [string, string],
      ['sequence latency', pcts(r.sequence!)] as [string, string],
      ['messages', `${int(r.ops_per_s)} ops/s; latency ${pcts(r.latency)}`] as [string, string],
    ] : [
      ['throughput', `${int(r.ops_per_s)} ops/s (${int(r.completed)} operations in ${r.seconds.toFixed(3)} s)`] as [string, string],
      ['latency', pcts(r.latency)] as [string, string],
    ]),
    ['errors', `${r.errors}${Object.keys(r.error_kinds).length > 0 ? ` (${Object.entries(r.error_kinds).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`],
    ['order violations', String(r.order_violations)],
    ['queue full / stalls', `${r.queue_full} / ${r.stalls}${r.stalls > 0 ? ` (${r.stall_ms.toFixed(1)} ms)` : ''}`],
    ['frames', `${int(r.sent)} sent, ${int(r.received)} received`],
  ]);
  const setup = table([
    ['profile', r.mode + (r.profile.mix !== undefined ? ` (mix ${Object.entries(r.profile.mix).map(([k, w]) => `${k} ${w}`).join(', ')})` : '')],
    ['load', describeRun(r)],
    ['started', r.started],
    ...(r.run !== undefined ? [
      ['command', r.run.command] as [string, string],
      ['target', r.run.target] as [string, string],
      ['tool', r.run.tool_version] as [string, string],
      ['commit', r.run.commit ?? 'unknown (not run from a git checkout)'] as [string, string],
    ] : []),
    ...(baseline !== undefined ? [['baseline', `${baseline.mode}, started ${baseline.started}${baseline.run !== undefined ? `: ${baseline.run.command}${baseline.run.commit !== null ? ` at ${baseline.run.commit}` : ''}` : ''}`] as [string, string]] : []),
    ['machine', `${r.machine.cpus} × ${r.machine.model}, ${r.machine.os}, node ${r.machine.node}, load average ${r.machine.loadavg.join(' ')}`],
  ]);
  const msgRows = Object.entries(r.by_message).map(([n, s]) => `<tr><th>${esc(n)}</th><td>${int(s.count)}</td>${summaryCells(s)}</tr>`);
  if (r.sequence !== null && r.sequence.count > 0) msgRows.push(`<tr><th>init sequence</th><td>${int(r.sequence.count)}</td>${summaryCells(r.sequence)}</tr>`);
  const devEntries = Object.entries(r.by_device ?? {});
  const devRows = devEntries.map(([d, s]) => `<tr><th>${d === '0' ? 'bus' : `device ${esc(d)}`}</th><td>${int(s.count)}</td><td>${int(s.ops_per_s)}</td>${summaryCells(s)}</tr>`);
  const seqRows = devEntries.filter(([, s]) => s.sequence != null && s.sequence.count > 0).map(([d, s]) => `<tr><th>device ${esc(d)}</th><td>${int(s.sequence!.count)}</td><td>${int(s.sequence!.count / Math.max(1e-9, r.seconds))}</td>${summaryCells(s.sequence!)}</tr>`);
  const gateRows = comparison === undefined ? [] : comparison.rows.map((x) => `<tr class="${x.verdict === 'worse' ? 'fail' : x.verdict === 'better' ? 'pass' : ''}"><th>${esc(x.metric)}</th><td>${esc(num(x.baseline))}</td><td>${esc(num(x.current))}</td><td>${esc(x.unit)}</td><td>${x.change_pct === null ? '' : `${x.change_pct >= 0 ? '+' : ''}${x.change_pct.toFixed(1)} %`}</td><td>${esc(x.verdict.toUpperCase())}</td><td>${esc(x.why)}</td></tr>`);
  const thresholdRows = thresholds.map((t) => `<tr class="${t.ok ? 'pass' : 'fail'}"><th>${esc(t.text)}</th><td>${esc(num(t.actual))}${t.unit === '' ? '' : ` ${esc(t.unit)}`}</td><td>${t.ok ? 'PASS' : 'FAIL'}</td></tr>`);
  const counters = Object.entries(r.counters).filter(([, v]) => v !== 0).map(([k, v]) => `<li>${esc(k.replace(/_/g, ' '))}: ${int(v)}</li>`);
  const events = r.events.slice(0, 50).map((e) => `<tr><td>${e.t_s.toFixed(3)}</td><td>${esc(e.kind)}</td><td>${esc(e.detail)}</td></tr>`);
  const more = r.events.length - events.length + r.events_not_listed;
  // JSON inside an HTML data block: "<" escaped so no "</script" can end it early.
  const data = JSON.stringify(r).replace(/</g, '\\u003c').replace(/&/g, '\\u0026');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>${esc(`vmsg bench: ${r.mode} ${r.started}`)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 760px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }
th { font-weight: 600; }
.pass { color: #176317; } .fail { color: #a31515; }
svg.chart { display: block; margin: 12px 0; border: 1px solid #ddd; }
svg .t { font: 600 13px system-ui, sans-serif; } svg .k { font: 11px system-ui, sans-serif; fill: #444; }
.scale { margin: 8px 0; } .scale label { margin-right: 14px; }
#scale-log:checked ~ .charts .lin, #scale-lin:checked ~ .charts .log { display: none; }
</style>
</head>
<body>
<h1>vmsg bench: <span class="${ok ? 'pass' : 'fail'}">${ok ? 'PASS' : 'FAIL'}</span> · ${esc(r.mode)}</h1>
<h2>Summary</h2>
${summary}
<h2>Setup</h2>
${setup}
${gateRows.length > 0 ? `<h2>Against the baseline</h2>\n<p>${esc(comparison!.notes.join(' · '))}</p>\n<table>\n<tr><th>figure</th><th>baseline</th><th>current</th><th>unit</th><th>change</th><th>verdict</th><th>why</th></tr>\n${gateRows.join('\n')}\n</table>\n<p>A change counts when it lies beyond the band ${Math.round(comparison!.method.confidence * 100)} % of ${comparison!.method.resamples} bootstrap draws of both runs' intervals give the difference.</p>` : ''}
${thresholdRows.length > 0 ? `<h2>Thresholds</h2>\n<table>\n<tr><th>rule</th><th>value</th><th>verdict</th></tr>\n${thresholdRows.join('\n')}\n</table>` : ''}
<h2>Charts</h2>
<input type="radio" name="scale" id="scale-lin" checked="checked"/><label for="scale-lin">linear latency axis</label>
<input type="radio" name="scale" id="scale-log"/><label for="scale-log">log latency axis</label>
<div class="charts">
${charts(r, baseline).join('\n')}
</div>
${devRows.length > 0 ? `<h2>Per device</h2>\n<table>\n<tr><th>device</th><th>count</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n${devRows.join('\n')}\n</table>` : ''}
${seqRows.length > 0 ? `<h2>Initialisation sequences per device</h2>\n<table>\n<tr><th>device</th><th>sequences</th><th>per s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n${seqRows.join('\n')}\n</table>` : ''}
<h2>Latency by message</h2>
<table>
<tr><th>message</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
${msgRows.join('\n')}
</table>
${counters.length > 0 ? `<h2>Counters</h2>\n<ul>\n${counters.join('\n')}\n</ul>` : ''}
<h2>Events</h2>
${events.length === 0 ? '<p>No queue-full, stall, error or order event.</p>' : `<table>\n<tr><th>t (s)</th><th>kind</th><th>detail</th></tr>\n${events.join('\n')}\n</table>${more > 0 ? `\n<p>${more} more not listed.</p>` : ''}`}
<p>Latency is recorded in HdrHistograms (3 significant digits); the full histogram is in the data block below (field latency.hdr).</p>
<script type="application/json" id="vmsg-bench-result">${data}</script>
</body>
</html>
`;
}

/** The result a report page carries (its data block), for --compare against a saved report. */
export function resultFromHtml(html: string): unknown {
  const m = /<script type="application\/json" id="vmsg-bench-result">([\s\S]*?)<\/script>/.exec(html);
  if (m === null) throw new Error('not a vmsg bench report (no vmsg-bench-result data block)');
  return JSON.parse(m[1]!) as unknown;
}
