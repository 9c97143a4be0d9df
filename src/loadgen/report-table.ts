// The human-readable summary of a load result (`vmsg bench` without --json/--csv).
import type { LatencySummary } from './latency.js';
import type { LoadResult } from './result.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtUs = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(us >= 100_000 ? 0 : 2)} ms` : `${us.toFixed(us >= 100 ? 0 : 1)} µs`);

/** The load's setup in one line: profile, loop, devices, period. */
export function describeRun(r: LoadResult): string {
  const loop = r.loop === 'open' ? `open loop at ${int(r.rate ?? 0)} ops/s (at most ${r.outstanding} in flight per device)` : `closed loop, ${r.outstanding} in flight per device`;
  const devs = r.devices.length === 0 ? 'the bus' : r.devices.length <= 8 ? `device${r.devices.length > 1 ? 's' : ''} ${r.devices.join(',')}` : `${r.devices.length} devices`;
  const period = r.count !== null ? `${int(r.count)} operations` : `${r.duration_s} s`;
  return `${r.mode}, ${loop}, ${devs}, ${period} after ${r.warmup_s} s warm-up`;
}

function latencyRow(name: string, s: LatencySummary, width: number): string {
  return `  ${name.padEnd(width)} ${int(s.count).padStart(10)} ${fmtUs(s.p50_us).padStart(10)} ${fmtUs(s.p90_us).padStart(10)} ${fmtUs(s.p99_us).padStart(10)} ${fmtUs(s.p999_us).padStart(10)} ${fmtUs(s.max_us).padStart(10)}`;
}

export function formatTable(r: LoadResult): string {
  const lines: string[] = [];
  lines.push(`vmsg bench: ${describeRun(r)}`);
  // init-storm is about whole sequences (README): they lead; messages follow.
  if (r.sequence !== null && r.sequence.count > 0 && r.seconds > 0) {
    lines.push(`  sequences    ${int(r.sequence.count / r.seconds)} initialisation sequences/s (${int(r.sequence.count)} in ${r.seconds.toFixed(3)} s)   p50 ${fmtUs(r.sequence.p50_us)}   p99 ${fmtUs(r.sequence.p99_us)}`);
  }
  lines.push(`  throughput   ${int(r.ops_per_s)} ops/s (${int(r.completed)} operations in ${r.seconds.toFixed(3)} s; ${int(r.sent)} frames sent, ${int(r.received)} received)`);
  lines.push(`  latency      p50 ${fmtUs(r.p50_us)}   p90 ${fmtUs(r.p90_us)}   p99 ${fmtUs(r.p99_us)}   p99.9 ${fmtUs(r.p999_us)}   max ${fmtUs(r.max_us)}${r.latency.corrected ? '   (from intended send times)' : ''}`);
  const kinds = Object.entries(r.error_kinds).map(([k, n]) => `${k} ${n}`).join(', ');
  lines.push(`  errors       ${r.errors}${kinds === '' ? '' : ` (${kinds})`}   order violations ${r.order_violations}`);
  lines.push(`  backpressure queue full ${r.queue_full}   stalls ${r.stalls}${r.stalls > 0 ? ` (${r.stall_ms.toFixed(1)} ms)` : ''}`);
  const c = r.counters;
  const extra = Object.entries(c).filter(([, v]) => v !== 0).map(([k, v]) => `${k.replace(/_/g, ' ')} ${int(v)}`);
  if (extra.length > 0) lines.push(`  counters     ${extra.join(', ')}`);
  const names = Object.keys(r.by_message);
  const width = Math.max(12, ...names.map((n) => n.length), r.sequence === null ? 0 : 14);
  lines.push(`  ${'message'.padEnd(width)} ${'count'.padStart(10)} ${'p50'.padStart(10)} ${'p90'.padStart(10)} ${'p99'.padStart(10)} ${'p99.9'.padStart(10)} ${'max'.padStart(10)}`);
  for (const n of names) lines.push(latencyRow(n, r.by_message[n]!, width));
  if (r.sequence !== null && r.sequence.count > 0) lines.push(latencyRow('init sequence', r.sequence, width));
  lines.push(`  verdict      ${r.errors === 0 && r.order_violations === 0 ? 'PASS: every answer verified' : 'FAIL: see errors above'}`);
  return lines.join('\n') + '\n';
}
