// The live progress line of `vmsg bench` (cli-progress): rate, p99 so far and errors, redrawn
// in place a few times a second on a terminal; nothing at all when the stream is not a TTY
// (piped or redirected output stays clean for --json/--csv).
import cliProgress from 'cli-progress';
import type { LoadProgress } from './load-options.js';
import { fmtUs } from './report-table.js';

export interface ProgressLine {
  /** Feed to LoadOptions.onProgress. */
  update(p: LoadProgress): void;
  /** Finish the line (leaves the last state on screen). */
  stop(): void;
}

const rate = (v: number): string => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(0));

export function progressLine(stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr, label = 'bench'): ProgressLine {
  if (stream.isTTY !== true) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    stream: stream as NodeJS.WritableStream,
    format: `${label} {bar} {percentage}% {phase} | {rate} ops/s | p99 {p99} | errors {errors} | in flight {inflight}`,
    barsize: 20,
    hideCursor: false,
    clearOnComplete: false,
    fps: 5,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  const payload = (p: LoadProgress): Record<string, string> => ({
    phase: p.phase.padEnd(7), rate: rate(p.ops_per_s).padStart(7), p99: fmtUs(p.p99_us), errors: String(p.errors), inflight: String(p.outstanding),
  });
  return {
    update(p) {
      const value = Math.round(p.fraction * 1000);
      if (!started) {
        bar.start(1000, value, payload(p));
        started = true;
      } else bar.update(value, payload(p));
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
