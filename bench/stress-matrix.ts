// `node dist/bench/stress-matrix.js [--rounds N] [--duration S] [--window BYTES] [--suppression off|on]`:
// runs `vmsg stress` for dma inline|offload × notify inband|oob, each configuration once per
// round, interleaved (round 1 runs all four, then round 2, …) so the noise of a shared machine
// spreads over all of them, and prints ONE JSON document: per configuration the median, min and
// max of requests/s, MiB/s, latency p50/p99, queue-full events, stall ms and frames routed, plus
// the 1-minute load average around every run. Progress goes to stderr.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { argInt, log, summarize } from './stats.js';

interface StressReport {
  block: { requests_per_s: number; mib_per_s: number; mismatches: number; errors: number };
  latency_us: { p50: number; p99: number };
  queue_full: { total: number };
  stall_ms: { total: number };
  messages: { per_s: number };
  messages_lost: number;
}

const METRICS: [string, string, (r: StressReport) => number][] = [
  ['requests_per_s', 'requests/s', (r) => r.block.requests_per_s],
  ['mib_per_s', 'MiB/s', (r) => r.block.mib_per_s],
  ['latency_p50_us', 'us', (r) => r.latency_us.p50],
  ['latency_p99_us', 'us', (r) => r.latency_us.p99],
  ['queue_full', 'events', (r) => r.queue_full.total],
  ['stall_ms', 'ms', (r) => r.stall_ms.total],
  ['frames_per_s', 'frames/s', (r) => r.messages.per_s],
];

function argString(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1] ?? def;
}

const rounds = argInt('rounds', 3);
const duration = argInt('duration', 5);
const windowBytes = argInt('window', 496);
const suppression = argString('suppression', 'off');
const configs = [
  { dma: 'inline', notify: 'inband' },
  { dma: 'offload', notify: 'inband' },
  { dma: 'inline', notify: 'oob' },
  { dma: 'offload', notify: 'oob' },
];
const main = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const runs = new Map<string, { reports: StressReport[]; load: number[] }>();
const loadStart = loadavg();
for (let round = 1; round <= rounds; round++) {
  for (const c of configs) {
    const key = `${c.dma}/${c.notify}`;
    log(`round ${round}/${rounds}: ${key}`);
    const out = execFileSync(process.execPath, [main, 'stress', '--window', String(windowBytes), '--dma', c.dma, '--notify', c.notify,
      '--duration', String(duration), '--suppression', suppression, '--json'], { encoding: 'utf8', timeout: (duration + 60) * 1000 });
    const r = JSON.parse(out) as StressReport;
    if (r.messages_lost !== 0 || r.block.mismatches !== 0 || r.block.errors !== 0) throw new Error(`${key}: lost ${r.messages_lost}, mismatches ${r.block.mismatches}, errors ${r.block.errors}`);
    const entry = runs.get(key) ?? { reports: [], load: [] };
    entry.reports.push(r);
    entry.load.push(loadavg()[0]!);
    runs.set(key, entry);
  }
}
const results = [...runs.entries()].map(([config, { reports, load }]) => ({
  config,
  load_1min: load.map((l) => Number(l.toFixed(2))),
  metrics: METRICS.map(([name, unit, pick]) => summarize(name, unit, reports.map(pick))),
}));
process.stdout.write(JSON.stringify({
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, date: new Date().toISOString(), loadavg_start: loadStart, loadavg_end: loadavg() },
  params: { rounds, duration_s: duration, window: windowBytes, suppression },
  results,
}) + '\n');
