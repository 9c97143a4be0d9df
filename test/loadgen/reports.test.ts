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
import { formatHtml, resultFromHtml, CHART_IDS } from '../../src/loadgen/report-html.js';
import { compare, formatComparison, asLoadResult, coefficientOfVariation } from '../../src/loadgen/compare.js';
import { startEchoRouter } from '../tools/echo-router.js';
import { parseXmlish, findAll } from './xml-check.js';

let result: LoadResult;
beforeAll(async () => {
  const target = await startEchoRouter([1, 2]);
  try {
    const ch = await target.channel();
    result = await runLoad(ch, { profile: { name: 'mixed', mix: { GET_DEVICE_STATUS: 3, PING: 1, EVENT_AVAIL: 1 } }, durationS: 0.5, warmupS: 0.1, intervalMs: 50 });
    await ch.close();
  } finally {
    await target.close();
  }
});

const clone = (r: LoadResult): LoadResult => JSON.parse(JSON.stringify(r)) as LoadResult;

/** A copy whose timeline did not wobble (the noise bands are then the floors). */
function steady(r: LoadResult): LoadResult {
  const c = clone(r);
  const n = 10;
  c.timeline = { ...c.timeline, t_s: Array.from({ length: n }, (_, i) => (i + 1) * 0.05), ops: Array(n).fill(100), p50_us: Array(n).fill(c.p50_us), p99_us: Array(n).fill(c.p99_us) };
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
    const [tput, curve, overTime, events] = svgs as [typeof svgs[0], typeof svgs[0], typeof svgs[0], typeof svgs[0]];
    const points = (svg: typeof tput): number => findAll(svg, (e) => e.name === 'polyline').reduce((n, p) => n + p.attrs.points!.split(' ').length, 0);
    const ts = result.timeline.t_s;
    const lastDt = ts.length > 1 ? ts[ts.length - 1]! - ts[ts.length - 2]! : result.timeline.interval_s;
    expect(points(tput)).toBe(lastDt < result.timeline.interval_s / 2 ? ts.length - 1 : ts.length);
    expect(points(curve)).toBeGreaterThanOrEqual(6);
    expect(findAll(overTime, (e) => e.name === 'polyline').map((p) => p.attrs['data-series'])).toEqual(['p50', 'p99']);
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
  });

  it('calls changes beyond the noise band and leaves small ones alone', () => {
    const base = steady(result);
    const cur = steady(result);
    cur.ops_per_s = Math.round(result.ops_per_s * 3);
    cur.p50_us = result.p50_us * 1.03;
    base.errors = 0;
    cur.errors = 5;
    const c = compare(base, cur);
    const row = (m: string) => c.rows.find((r) => r.metric === m)!;
    expect(row('throughput').verdict).toBe('better');
    expect(row('latency p50').verdict).toBe('same');
    expect(row('errors')).toMatchObject({ verdict: 'worse', why: 'was zero' });
    expect(formatComparison(c)).toMatch(/throughput .* BETTER/);
    const slower = steady(result);
    slower.p99_us = result.p99_us * 10;
    slower.latency.count = 100_000;
    base.latency.count = 100_000;
    expect(compare(base, slower).rows.find((r) => r.metric === 'latency p99')!.verdict).toBe('worse');
  });

  it('a tail percentile with too few samples is not judged', () => {
    const a = steady(result), b = steady(result);
    a.latency.count = b.latency.count = 500; // p99.9 needs 10 000 samples
    b.p999_us = a.p999_us * 10;
    expect(compare(a, b).rows.find((r) => r.metric === 'latency p99.9')).toMatchObject({ verdict: 'n/a' });
  });

  it('a run that wobbles needs a larger change: the band is twice the interval-to-interval variation', () => {
    const a = steady(result), b = steady(result);
    const n = 20;
    a.timeline = { ...a.timeline, t_s: Array.from({ length: n }, (_, i) => i * 0.1), ops: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 100 : 300)) };
    expect(coefficientOfVariation(a.timeline.ops.slice(0, -1))).toBeGreaterThan(0.4);
    b.ops_per_s = Math.round(a.ops_per_s * 1.5); // +50 %: beyond 5 %, inside a band of ~100 %
    const row = compare(a, b).rows.find((r) => r.metric === 'throughput')!;
    expect(row.band_pct).toBeGreaterThan(80);
    expect(row.verdict).toBe('same');
  });

  it('notes when the two runs were set up differently', () => {
    const b = clone(result);
    b.loop = 'open';
    b.rate = 1000;
    expect(compare(result, b).notes.join('\n')).toMatch(/loop differs[\s\S]*rate differs/);
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
