// Outputs of a real load run: JSON (the original `vmsg bench` keys included), CSV, the table, and the HTML
// report (well-formed, self-contained, with its charts); compare() and its noise rule; the
// progress line on a real pseudo-terminal and its silence when piped.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runLoad } from '../../src/loadgen/engine.js';
import type { LoadResult } from '../../src/loadgen/result.js';
import { formatCsv, CSV_COLUMNS } from '../../src/loadgen/report-csv.js';
import { formatTable } from '../../src/loadgen/report-table.js';
import { formatHtml, resultFromHtml, CHART_IDS, curveToData, mergedLatency, MIN_INTERVAL_SAMPLES } from '../../src/loadgen/report-html.js';
import { compare, formatComparison, asLoadResult } from '../../src/loadgen/compare.js';
import { decodeHistogram, encodeHistogram, newHistogram, summarize } from '../../src/loadgen/latency.js';
import type { JsHistogram } from 'hdr-histogram-js';
import { prng } from '../../src/loadgen/noise.js';
import { startEchoRouter } from '../tools/echo-router.js';
import { parseXmlish, findAll } from './xml-check.js';

let result: LoadResult;
beforeAll(async () => {
  const target = await startEchoRouter([1, 2]);
  try {
    const ch = await target.channel();
    result = await runLoad(ch, { profile: { name: 'mixed', mix: { GET_DEVICE_STATUS: 3, PING: 1, EVENT_AVAIL: 1 } }, durationS: 1.2, warmupS: 0.1, intervalMs: 50 });
    await ch.close();
  } finally {
    await target.close();
  }
});

const clone = (r: LoadResult): LoadResult => JSON.parse(JSON.stringify(r)) as LoadResult;

/** A copy whose every recorded latency is `f` times what it was (interval histograms and figures). */
function scaled(r: LoadResult, f: number): LoadResult {
  const c = clone(r);
  const scale = (text: string): string => {
    const h = decodeHistogram(text) as JsHistogram;
    const out = newHistogram();
    for (let j = 0; j < h.countsArrayLength; j++) {
      const n = h.getCountAtIndex(j);
      if (n > 0) out.recordValueWithCount(Math.round(h.valueFromIndex(j) * f), n);
    }
    return encodeHistogram(out);
  };
  c.timeline.hdr = c.timeline.hdr!.map(scale);
  for (const k of ['p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us', 'mean_us'] as const) c[k] = r[k] * f;
  return c;
}

/**
 * A result whose 40 intervals hold `perInterval` latencies each drawn from one distribution
 * (seeded: the same seed gives the same run): 100 µs × f with a long tail, figures from the merge.
 */
function synthetic(f: number, seed: number, perInterval = 500): LoadResult {
  const c = clone(result);
  const rnd = prng(seed);
  const all = newHistogram();
  const hdr: string[] = [];
  const n = 40;
  for (let i = 0; i < n; i++) {
    const h = newHistogram();
    for (let j = 0; j < perInterval; j++) h.recordValue(Math.round(100_000 * f * (1 + rnd() + 1 / Math.max(1e-3, rnd()) ** 0.5 / 10)));
    all.add(h);
    hdr.push(encodeHistogram(h));
  }
  const s = summarize(all);
  c.timeline = { interval_s: 0.05, t_s: Array.from({ length: n }, (_, i) => (i + 1) * 0.05), ops: Array(n).fill(perInterval), errors: Array(n).fill(0), queue_full: Array(n).fill(0), stalls: Array(n).fill(0), p50_us: Array(n).fill(s.p50_us), p99_us: Array(n).fill(s.p99_us), hdr };
  Object.assign(c, { p50_us: s.p50_us, p90_us: s.p90_us, p99_us: s.p99_us, p999_us: s.p999_us, max_us: s.max_us, mean_us: s.mean_us, ops_per_s: (n * perInterval) / 2, completed: n * perInterval });
  c.latency = { ...c.latency, ...s };
  return c;
}

describe('load result outputs', () => {
  it('JSON carries the vmsg bench contract keys and reads back as a result', () => {
    const back = asLoadResult(JSON.parse(JSON.stringify(result)), 'run.json');
    for (const k of ['mode', 'sent', 'received', 'errors', 'order_violations', 'seconds', 'round_trips_per_s', 'p50_us', 'p99_us'] as const) {
      expect(typeof back[k]).toBe(k === 'mode' ? 'string' : 'number');
    }
    expect(back.round_trips_per_s).toBe(back.ops_per_s);
    expect(() => asLoadResult({ format: 'other' }, 'x.json')).toThrow(/x.json is not a vmsg bench result/);
    expect(() => asLoadResult({ ...back, version: 99 }, 'x.json')).toThrow(/version 99 is not supported/);
  });

  it('CSV has one header and one row with the same columns', () => {
    const [header, row, rest] = formatCsv(result).split('\n');
    expect(rest).toBe('');
    expect(header!.split(',')).toEqual([...CSV_COLUMNS]);
    const cells = row!.split(',');
    expect(cells).toHaveLength(CSV_COLUMNS.length);
    const col = (n: string): string => cells[CSV_COLUMNS.indexOf(n as (typeof CSV_COLUMNS)[number])]!;
    expect(Number(col('ops_per_s'))).toBe(result.ops_per_s);
    expect(col('devices')).toBe('1 2');
    expect(col('mode')).toBe('mixed');
  });

  it('the table names the setup, every figure and the verdict', () => {
    const t = formatTable(result);
    expect(t).toMatch(/^vmsg bench: mixed, closed loop, 8 in flight per device, devices 1,2/);
    for (const s of ['throughput', 'p99.9', 'order violations', 'queue full', 'GET_DEVICE_STATUS', 'PING', 'EVENT_AVAIL', 'PASS']) expect(t).toContain(s);
  });

  it('the HTML report is well-formed, self-contained and holds the charts with the data', () => {
    const html = formatHtml(result);
    const doc = parseXmlish(html);
    const svgs = findAll(doc, (e) => e.name === 'svg');
    expect(svgs.map((s) => s.attrs.id)).toEqual([...CHART_IDS]);
    // Nothing loaded from elsewhere: no src/href attributes, no stylesheet links, no executable script.
    expect(findAll(doc, (e) => 'src' in e.attrs || 'href' in e.attrs || e.name === 'link' || e.name === 'img' || e.name === 'iframe')).toEqual([]);
    expect(findAll(doc, (e) => e.name === 'script').map((s) => s.attrs.type)).toEqual(['application/json']);
    // Throughput: one point per timeline interval, but for a last one shorter than half an
    // interval (the drain after the run: a sliver says nothing about the rate). Latency curve:
    // one point per percentile up to the shown tail.
    const [tput, curve, curveLog, overTime, overTimeLog, events] = svgs as [typeof svgs[0], typeof svgs[0], typeof svgs[0], typeof svgs[0], typeof svgs[0], typeof svgs[0]];
    const points = (svg: typeof tput): number => findAll(svg, (e) => e.name === 'polyline').reduce((n, p) => n + p.attrs.points!.split(' ').length, 0);
    const ts = result.timeline.t_s;
    const lastDt = ts.length > 1 ? ts[ts.length - 1]! - ts[ts.length - 2]! : result.timeline.interval_s;
    expect(points(tput)).toBe(lastDt < result.timeline.interval_s / 2 ? ts.length - 1 : ts.length);
    // The curve ends at the last sample: its last point is the maximum at 100 × (1 − 1/count).
    const pts = curveToData(result);
    expect(points(curve)).toBe(pts.length);
    expect(points(curveLog)).toBe(pts.length);
    expect(pts[pts.length - 1]).toEqual([100 * (1 - 1 / result.latency.count), result.max_us]);
    // (1e-9: 100 × (1 − 1/count) does not round-trip exactly in floating point)
    expect(pts.every(([p]) => result.latency.count * (1 - p / 100) >= 1 - 1e-9)).toBe(true);
    expect(findAll(overTime, (e) => e.name === 'polyline').map((p) => p.attrs['data-series'])).toEqual(['p50', 'p99']);
    expect(findAll(overTimeLog, (e) => e.name === 'text').some((t) => t.text.includes('(log scale)'))).toBe(true);
    // Per-device table: one row per device driven.
    expect(html).toMatch(/<h2>Per device<\/h2>/);
    for (const d of result.devices) expect(html).toContain(`<th>device ${d}</th>`);
    // One bar per kind and interval with events (a loaded machine may stall even a clean run).
    const tl = result.timeline;
    const expectedBars = [tl.queue_full, tl.stalls, tl.errors].reduce((n, xs) => n + xs.filter((x) => x > 0).length, 0);
    expect(findAll(events, (e) => e.name === 'rect' && e.attrs.class === 'bar')).toHaveLength(expectedBars);
    expect(resultFromHtml(html)).toEqual(JSON.parse(JSON.stringify(result)));
  });

  it('queue-full, stall and error events appear as bars in their interval', () => {
    const r = clone(result);
    const tl = r.timeline;
    tl.queue_full = tl.queue_full.map(() => 0);
    tl.stalls = tl.stalls.map(() => 0);
    tl.errors = tl.errors.map(() => 0);
    r.timeline.queue_full[0] = 3;
    r.timeline.stalls[1] = 1;
    r.timeline.errors[1] = 2;
    r.errors = 2;
    r.events.push({ t_s: 0.07, kind: 'error', detail: 'id_mismatch: <GET_CONFIG> & "friends"' });
    const html = formatHtml(r);
    const doc = parseXmlish(html); // the detail's < & " are escaped
    const bars = findAll(findAll(doc, (e) => e.attrs.id === 'chart-events')[0]!, (e) => e.name === 'rect' && e.attrs.class === 'bar');
    expect(bars.map((b) => b.attrs['data-series'])).toEqual(['queue full', 'stall', 'error']);
    expect(html).toContain('FAIL');
    expect(html).toContain('id_mismatch: &lt;GET_CONFIG&gt; &amp; &quot;friends&quot;');
  });
});

describe('compare(baseline, current)', () => {
  it('a run compared with itself changes nothing', () => {
    const c = compare(result, result);
    expect(c.worse).toBe(0);
    expect(c.better).toBe(0);
    expect(c.notes).toEqual([]);
    expect(c.method).toMatchObject({ confidence: 0.99, resamples: 2000 });
  });

  it('three times slower is worse at every percentile, max included, judged by the same bootstrap', () => {
    const base = synthetic(1, 1);
    const c = compare(base, synthetic(3, 2));
    expect(c.rows.filter((r) => r.metric.startsWith('latency')).map((r) => [r.metric, r.verdict])).toEqual(
      ['p50', 'p90', 'p99', 'p99.9', 'max'].map((p) => [`latency ${p}`, 'worse']));
    expect(compare(synthetic(3, 2), base).rows.filter((r) => r.metric.startsWith('latency')).map((r) => r.verdict)).toEqual(Array(5).fill('better'));
    expect(formatComparison(c)).toMatch(/latency p50 .* WORSE +beyond \+[\d.]+ % noise/);
    // Two runs of one distribution (other draws): nothing beyond noise, the tail included, with no --min-effect floor.
    const same = compare(base, synthetic(1, 3), { minEffectPct: 0 });
    expect(same.rows.filter((r) => r.verdict !== 'same')).toEqual([]);
    // The band of a tail figure is wider than the median's: fewer samples decide it.
    const band = (m: string): number => same.rows.find((r) => r.metric === m)!.band_pct;
    expect(band('latency max')).toBeGreaterThan(band('latency p50'));
    expect(band('latency p99.9')).toBeGreaterThan(band('latency p50'));
  });

  // A real 0.6 s run on a busy machine can wobble several-fold between intervals, and its
  // band says so: the factor here is far beyond any such wobble.
  it('on a real run, a twentyfold latency is worse at the median and better when reversed', () => {
    expect(compare(result, scaled(result, 20)).rows.find((r) => r.metric === 'latency p50')!.verdict).toBe('worse');
    expect(compare(scaled(result, 20), result).rows.find((r) => r.metric === 'latency p50')!.verdict).toBe('better');
  });

  it('a change inside the bootstrap band or under --min-effect is the same', () => {
    const c = compare(result, scaled(result, 1.02), { minEffectPct: 0 });
    const p50 = c.rows.find((r) => r.metric === 'latency p50')!;
    // 2 % is either inside the band or beyond it; with the default 10 % floor it is never a verdict.
    expect(['same', 'worse']).toContain(p50.verdict);
    expect(compare(result, scaled(result, 1.02)).rows.find((r) => r.metric === 'latency p50')!.verdict).toBe('same');
  });

  it('correctness counters: zero to non-zero is worse', () => {
    const b = clone(result);
    b.errors = 5;
    expect(compare(result, b).rows.find((r) => r.metric === 'errors')).toMatchObject({ verdict: 'worse', why: 'was zero' });
  });

  it('without per-interval histograms (a result of an earlier version) figures are n/a and say why', () => {
    const old = clone(result);
    delete old.timeline.hdr;
    const c = compare(old, result);
    expect(c.rows.find((r) => r.metric === 'latency p99')!.verdict).toBe('n/a');
    expect(c.notes.join(' ')).toMatch(/baseline has no per-interval histograms/);
  });

  it('notes when the two runs were set up differently', () => {
    const b = clone(result);
    b.loop = 'open';
    b.rate = 1000;
    expect(compare(result, b).notes.join('\n')).toMatch(/loop differs[\s\S]*rate differs/);
  });
});

describe('report intervals', () => {
  it('latency over time merges intervals until each holds enough samples for a p99', () => {
    const merged = mergedLatency(result);
    const total = merged.reduce((n, m) => n + m.count, 0);
    expect(total).toBe(result.latency.count);
    if (result.latency.count >= MIN_INTERVAL_SAMPLES) for (const m of merged) expect(m.count).toBeGreaterThanOrEqual(MIN_INTERVAL_SAMPLES);
    // Every group's figures are its merged histogram's, not a percentile of percentiles.
    const all = newHistogram();
    for (const t of result.timeline.hdr!) all.add(decodeHistogram(t));
    expect(summarize(all).count).toBe(result.latency.count);
  });

  it('the baseline is drawn dashed on the same charts', () => {
    const html = formatHtml(result, { baseline: scaled(result, 2), comparison: compare(result, scaled(result, 2)) });
    const doc = parseXmlish(html);
    for (const id of ['chart-throughput', 'chart-latency-curve', 'chart-latency-curve-log', 'chart-latency-time', 'chart-latency-time-log']) {
      const svg = findAll(doc, (e) => e.attrs.id === id)[0]!;
      expect(findAll(svg, (e) => e.name === 'polyline' && e.attrs.class === 'series baseline').length, id).toBeGreaterThan(0);
    }
    expect(html).toContain('<h2>Against the baseline</h2>');
  });
});

describe('progress line', () => {
  const fixture = fileURLToPath(new URL('./fixtures/progress-run.mjs', import.meta.url));
  const run = (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
  });

  it('on a terminal it shows rate, p99 and errors, redrawn in place', async () => {
    // `script` gives the child a real pseudo-terminal; what the terminal shows comes back on stdout.
    const { stdout } = await run('script', ['-q', '-e', '-c', `${process.execPath} ${fixture}`, '/dev/null']);
    expect(stdout).toMatch(/done completed=\d+ errors=0/);
    const redraws = stdout.split('\x1b[1G').length - 1; // cursor back to column 1 before each redraw
    expect(redraws).toBeGreaterThan(2);
    expect(stdout).toMatch(/\d+(\.\d+)? k? ?ops\/s \| p99 [\d.]+ (µs|ms) \| errors 0/);
    expect(stdout).toContain('100%');
  });

  it('piped, it writes nothing', async () => {
    const { stdout, stderr } = await run(process.execPath, [fixture]);
    expect(stdout).toMatch(/done completed=\d+ errors=0/);
    expect(stderr).toBe('');
  });
});
