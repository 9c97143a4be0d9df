// CSV form of a load result (`vmsg bench --csv`): a header line and one line per run, with the
// same columns every time, so runs can be appended to one file and opened in a spreadsheet.
import type { LoadResult } from './result.js';

export const CSV_COLUMNS = [
  'started', 'mode', 'loop', 'outstanding', 'rate', 'devices', 'warmup_s', 'seconds', 'completed', 'ops_per_s',
  'p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us', 'mean_us', 'errors', 'order_violations', 'timeouts',
  'transport_failures', 'queue_full', 'stalls', 'stall_ms', 'sent', 'received',
] as const;

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function field(v: unknown): string {
  const s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(' ') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + '\n';
}

export function csvRow(r: LoadResult): string {
  return CSV_COLUMNS.map((c) => field(r[c])).join(',') + '\n';
}

/** Header and one row. */
export function formatCsv(r: LoadResult): string {
  return csvHeader() + csvRow(r);
}
