// The HTML report of a load result (`vmsg bench --report out.html`): one self-contained page
// (inline CSS and SVG, no executable script, no external file: it opens offline and can be mailed) with
// the run's setup, the summary, charts of throughput over time, the latency percentile curve,
// latency over time and queue-full/stall/error events per interval, the per-message table and
// the first events. The result itself rides along as JSON (a non-executed data block), so the
// page alone is enough to compare against later.
import type { LoadResult } from './result.js';
import { describeRun, fmtUs } from './report-table.js';
import { esc, lineChart, linearAxis, percentileAxis, stackedBars } from './svg-chart.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const secs = (v: number): string => `${Number(v.toPrecision(3))} s`;
/** Axis labels for µs values: 500 µs, 1.5 ms, 200 ms. */
const usLabel = (v: number): string => (v >= 1000 ? `${Number((v / 1000).toPrecision(3))} ms` : `${Number(v.toPrecision(3))} µs`);
const rate = (v: number): string => (v >= 1e6 ? `${Number((v / 1e6).toPrecision(3))} M` : v >= 1e3 ? `${Number((v / 1e3).toPrecision(3))} k` : `${Number(v.toPrecision(3))}`);

/** Element id of each chart (tests and readers look them up). */
export const CHART_IDS = ['chart-throughput', 'chart-latency-curve', 'chart-latency-time', 'chart-events'] as const;

function charts(r: LoadResult): string[] {
  const tl = r.timeline;
  const end = Math.max(tl.t_s[tl.t_s.length - 1] ?? 0, tl.interval_s);
  const timeAxis = linearAxis('time since warm-up end (s)', end, secs, { tight: true });
  // Each interval's rate over its own length; the last one (the drain after the run) may be a
  // sliver: shorter than half an interval it says nothing about the rate and is left out.
  const perSecond: [number, number][] = [];
  tl.ops.forEach((n, i) => {
    const dt = i > 0 ? tl.t_s[i]! - tl.t_s[i - 1]! : tl.interval_s;
    if (i === tl.ops.length - 1 && dt < tl.interval_s / 2) return;
    perSecond.push([tl.t_s[i]!, n / dt]);
  });
  const throughput = lineChart({
    id: CHART_IDS[0], title: 'Throughput over time (operations per second, per interval)',
    x: timeAxis, y: linearAxis('ops/s', Math.max(1, ...perSecond.map((p) => p[1])), rate),
    series: [{ name: 'completed ops/s', color: '#1f77b4', points: perSecond }],
  });
  const curve = r.latency.curve;
  const maxP = curve.length > 0 ? Math.min(99.9999, Math.max(99.9, ...curve.filter(([p]) => p < 100).map(([p]) => p))) : 99.9;
  const pAxis = percentileAxis(maxP);
  const curvePoints = curve.filter(([p]) => p <= maxP);
  const latencyCurve = lineChart({
    id: CHART_IDS[1], title: `Latency by percentile${r.latency.corrected ? ' (from intended send times)' : ''}`,
    x: pAxis, y: linearAxis('latency', Math.max(1, ...curvePoints.map((p) => p[1])), usLabel),
    series: [{ name: 'latency', color: '#d62728', points: curvePoints }],
  });
  const p50 = tl.p50_us.map((v, i) => [tl.t_s[i]!, v] as [number, number]).filter((_, i) => tl.ops[i]! > 0);
  const p99 = tl.p99_us.map((v, i) => [tl.t_s[i]!, v] as [number, number]).filter((_, i) => tl.ops[i]! > 0);
  const latencyTime = lineChart({
    id: CHART_IDS[2], title: 'Latency over time (per interval)',
    x: timeAxis, y: linearAxis('latency', Math.max(1, ...p99.map((p) => p[1])), usLabel),
    series: [{ name: 'p50', color: '#2ca02c', points: p50 }, { name: 'p99', color: '#ff7f0e', points: p99 }],
  });
  const stacked = tl.t_s.map((_, i) => (tl.queue_full[i] ?? 0) + (tl.stalls[i] ?? 0) + (tl.errors[i] ?? 0));
  const events = stackedBars({
    id: CHART_IDS[3], title: 'Queue-full, stall and error events per interval',
    x: timeAxis, y: linearAxis('events', Math.max(1, ...stacked), (v) => int(v), { integer: true }),
    slots: tl.t_s, width: tl.interval_s,
    series: [
      { name: 'queue full', color: '#9467bd', values: tl.queue_full },
      { name: 'stall', color: '#8c564b', values: tl.stalls },
      { name: 'error', color: '#d62728', values: tl.errors },
    ],
  });
  return [throughput, latencyCurve, latencyTime, events];
}

function table(rows: [string, string][]): string {
  return `<table>\n${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}\n</table>`;
}

export function formatHtml(r: LoadResult): string {
  const ok = r.errors === 0 && r.order_violations === 0;
  const summary = table([
    ['verdict', ok ? 'PASS: every answer verified' : `FAIL: ${r.errors} errors, ${r.order_violations} order violations`],
    ['throughput', `${int(r.ops_per_s)} ops/s (${int(r.completed)} operations in ${r.seconds.toFixed(3)} s)`],
    ['latency', `p50 ${fmtUs(r.p50_us)} · p90 ${fmtUs(r.p90_us)} · p99 ${fmtUs(r.p99_us)} · p99.9 ${fmtUs(r.p999_us)} · max ${fmtUs(r.max_us)}`],
    ['errors', `${r.errors}${Object.keys(r.error_kinds).length > 0 ? ` (${Object.entries(r.error_kinds).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`],
    ['order violations', String(r.order_violations)],
    ['queue full / stalls', `${r.queue_full} / ${r.stalls}${r.stalls > 0 ? ` (${r.stall_ms.toFixed(1)} ms)` : ''}`],
    ['frames', `${int(r.sent)} sent, ${int(r.received)} received`],
  ]);
  const setup = table([
    ['profile', r.mode + (r.profile.mix !== undefined ? ` (mix ${Object.entries(r.profile.mix).map(([k, w]) => `${k} ${w}`).join(', ')})` : '')],
    ['load', describeRun(r)],
    ['started', r.started],
    ['machine', `${r.machine.cpus} × ${r.machine.model}, ${r.machine.os}, node ${r.machine.node}, load average ${r.machine.loadavg.join(' ')}`],
  ]);
  const msgRows = Object.entries(r.by_message).map(([n, s]) => `<tr><th>${esc(n)}</th><td>${int(s.count)}</td><td>${esc(fmtUs(s.p50_us))}</td><td>${esc(fmtUs(s.p90_us))}</td><td>${esc(fmtUs(s.p99_us))}</td><td>${esc(fmtUs(s.p999_us))}</td><td>${esc(fmtUs(s.max_us))}</td></tr>`);
  if (r.sequence !== null && r.sequence.count > 0) {
    const s = r.sequence;
    msgRows.push(`<tr><th>init sequence</th><td>${int(s.count)}</td><td>${esc(fmtUs(s.p50_us))}</td><td>${esc(fmtUs(s.p90_us))}</td><td>${esc(fmtUs(s.p99_us))}</td><td>${esc(fmtUs(s.p999_us))}</td><td>${esc(fmtUs(s.max_us))}</td></tr>`);
  }
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
</style>
</head>
<body>
<h1>vmsg bench: <span class="${ok ? 'pass' : 'fail'}">${ok ? 'PASS' : 'FAIL'}</span> · ${esc(r.mode)}</h1>
<h2>Summary</h2>
${summary}
<h2>Setup</h2>
${setup}
<h2>Charts</h2>
${charts(r).join('\n')}
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
