// Assembling a load run's result document (result.ts, RESULT_FORMAT/RESULT_VERSION) from its
// plan and what it measured: measured seconds and rate, latency summaries, the per-message and
// per-device tables, the timeline and the listed events, and the machine it ran on.
import { availableParallelism, cpus, loadavg, release, type } from 'node:os';
import { encodeHistogram, percentileCurve, summarize } from './latency.js';
import type { LoadOptions, LoadPlan } from './load-options.js';
import type { LoadMetrics } from './load-metrics.js';
import { RESULT_FORMAT, RESULT_VERSION, type LoadResult } from './result.js';

function machine(): LoadResult['machine'] {
  return { node: process.version, cpus: availableParallelism(), model: cpus()[0]?.model.trim() ?? 'unknown', os: `${type()} ${release()}`, loadavg: loadavg().map((x) => Number(x.toFixed(2))) };
}

export interface RunFacts {
  plan: LoadPlan;
  opts: LoadOptions;
  /** Devices driven (empty for bus-only profiles). */
  devices: number[];
  started: Date;
  /** When the run ended (performance.now() ms); `metrics.finish(end)` has been called. */
  end: number;
  metrics: LoadMetrics;
}

/** Measured seconds: from the start of measurement to the last measured answer (at least 1 µs). */
export function measuredSeconds(m: LoadMetrics, end: number): number {
  const measuredEnd = m.lastMeasuredCompletion > m.measureStart ? m.lastMeasuredCompletion : Math.max(end, m.measureStart);
  return Math.max(1e-6, (measuredEnd - m.measureStart) / 1000);
}

export function buildResult({ plan, opts, devices, started, end, metrics: m }: RunFacts): LoadResult {
  const { profile, loop } = plan;
  const seconds = measuredSeconds(m, end);
  const opsPerS = Math.round(m.completed / seconds);
  const lat = summarize(m.overall);
  const byMessage: Record<string, ReturnType<typeof summarize>> = {};
  for (const [name, h] of [...m.perMessage].sort((a, b) => a[0].localeCompare(b[0]))) byMessage[name] = summarize(h);
  const isInit = profile.name === 'init' || profile.name === 'init-storm';
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    mode: profile.name,
    profile,
    loop,
    outstanding: plan.outstanding,
    rate: loop === 'open' ? opts.rate! : null,
    devices: plan.talksToDevices ? devices : [],
    warmup_s: plan.warmupS,
    duration_s: plan.durationS ?? null,
    count: opts.count ?? null,
    started: started.toISOString(),
    seconds: Number(seconds.toFixed(6)),
    sent: m.sent,
    received: m.received,
    completed: m.completed,
    errors: m.errors,
    error_kinds: m.errorKinds,
    order_violations: m.orderViolations,
    timeouts: m.timeouts,
    transport_failures: m.transportFailures,
    queue_full: m.queueFull,
    stalls: m.stalls,
    stall_ms: Number(m.stallTotalMs.toFixed(3)),
    ops_per_s: opsPerS,
    round_trips_per_s: opsPerS,
    p50_us: lat.p50_us,
    p90_us: lat.p90_us,
    p99_us: lat.p99_us,
    p999_us: lat.p999_us,
    max_us: lat.max_us,
    mean_us: lat.mean_us,
    latency: { ...lat, corrected: loop === 'open', curve: percentileCurve(m.overall), hdr: encodeHistogram(m.overall) },
    by_message: byMessage,
    sequence: isInit ? summarize(m.sequence) : null,
    by_device: Object.fromEntries([...m.perDevice].sort((a, b) => a[0] - b[0]).map(([dev, h]) => {
      const seq = m.perDeviceSequence.get(dev);
      return [String(dev), { ...summarize(h), ops_per_s: Math.round(h.totalCount / seconds), ...(isInit ? { sequence: seq === undefined ? null : summarize(seq) } : {}) }];
    })),
    counters: m.counters,
    timeline: m.timeline,
    events: m.events.map(({ t_s, kind, detail }) => ({ t_s, kind, detail })),
    events_not_listed: m.eventsNotListed,
    machine: machine(),
  };
}
