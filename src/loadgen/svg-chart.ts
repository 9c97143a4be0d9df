// Small inline-SVG charts for the HTML report: line charts (linear or HdrHistogram's
// percentile axis) and stacked bars over time. Pure strings, no scripts or external files, so
// the page opens offline; markup is well-formed XML (every element closed, text escaped).

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Drawn dashed, without point markers (a baseline under the current run). */
  dashed?: boolean;
}

export interface Axis {
  label: string;
  /** Tick values; labels from `format`. */
  ticks: number[];
  format: (v: number) => string;
  /** Maps a data value to 0..1 along the axis. */
  scale: (v: number) => number;
}

const W = 720, H = 300, L = 70, R = 32, T = 30, B = 50;
const PW = W - L - R, PH = H - T - B;

/** Round "nice" step for about `n` ticks over [0, max] (whole steps only when `integer`). */
export function niceTicks(max: number, n = 5, integer = false): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  if (integer) step = Math.max(1, Math.ceil(step));
  const ticks: number[] = [];
  for (let v = 0; v <= max * 1.0001 + step; v += step) {
    ticks.push(Number(v.toPrecision(12)));
    if (v >= max) break;
  }
  return ticks;
}

/**
 * A linear axis from 0. Normally it ends at the first nice tick at or above `max`; `tight` ends
 * it at `max` itself (time axes: no empty stretch after the run), `integer` keeps ticks whole (counts).
 */
export function linearAxis(label: string, max: number, format: (v: number) => string, opts: { tight?: boolean; integer?: boolean } = {}): Axis {
  let ticks = niceTicks(max, 5, opts.integer === true);
  let top = ticks[ticks.length - 1]!;
  if (opts.tight === true && max > 0) {
    ticks = ticks.filter((t) => t <= max * 1.0001);
    top = max;
  }
  return { label, ticks, format, scale: (v) => (top === 0 ? 0 : v / top) };
}

/**
 * A logarithmic axis over [min, max] (both > 0), ticks at 1, 2 and 5 of each decade: a p50 of
 * 30 µs and a 40 ms spike stay readable on one chart. Values ≤ 0 sit at the bottom.
 */
export function logAxis(label: string, min: number, max: number, format: (v: number) => string): Axis {
  const lo = 10 ** Math.floor(Math.log10(Math.max(min, 1e-9)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(max, lo * 10)));
  const ticks: number[] = [];
  for (let d = lo; d < hi * 1.0001; d *= 10) for (const m of [1, 2, 5]) if (d * m <= hi * 1.0001) ticks.push(Number((d * m).toPrecision(6)));
  // Many decades: label only the powers of ten.
  const shown = Math.log10(hi / lo) > 4 ? ticks.filter((t) => Number.isInteger(Math.log10(t))) : ticks;
  const span = Math.log10(hi) - Math.log10(lo);
  return { label: `${label} (log scale)`, ticks: shown, format, scale: (v) => (v <= lo ? 0 : (Math.log10(v) - Math.log10(lo)) / span) };
}

/** HdrHistogram's percentile axis: position grows with log10(1 / (1 − p/100)), so 90, 99, 99.9 … are evenly spaced. */
export function percentileAxis(maxPercentile: number): Axis {
  const pos = (p: number): number => Math.log10(1 / (1 - Math.min(p, 99.9999) / 100));
  const nines = Math.max(2, Math.ceil(pos(maxPercentile)));
  const ticks = [0, 90, 99, 99.9, 99.99, 99.999, 99.9999].slice(0, nines + 1);
  return { label: 'percentile', ticks, format: (p) => `${p}%`, scale: (p) => pos(p) / nines };
}

function frame(title: string, id: string, x: Axis, y: Axis, body: string, legend: { name: string; color: string }[]): string {
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" id="${esc(id)}" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<title>${esc(title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${L}" y="18" class="t">${esc(title)}</text>`);
  for (const t of y.ticks) {
    const py = T + PH - y.scale(t) * PH;
    parts.push(`<line x1="${L}" y1="${py.toFixed(1)}" x2="${L + PW}" y2="${py.toFixed(1)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${L - 6}" y="${(py + 4).toFixed(1)}" text-anchor="end" class="k">${esc(y.format(t))}</text>`);
  }
  for (const t of x.ticks) {
    const px = L + x.scale(t) * PW;
    parts.push(`<line x1="${px.toFixed(1)}" y1="${T + PH}" x2="${px.toFixed(1)}" y2="${T + PH + 4}" stroke="#888888"/>`);
    parts.push(`<text x="${px.toFixed(1)}" y="${T + PH + 18}" text-anchor="middle" class="k">${esc(x.format(t))}</text>`);
  }
  parts.push(`<line x1="${L}" y1="${T + PH}" x2="${L + PW}" y2="${T + PH}" stroke="#888888"/>`);
  parts.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${T + PH}" stroke="#888888"/>`);
  parts.push(`<text x="${L + PW / 2}" y="${H - 8}" text-anchor="middle" class="k">${esc(x.label)}</text>`);
  parts.push(`<text x="14" y="${T + PH / 2}" text-anchor="middle" class="k" transform="rotate(-90 14 ${T + PH / 2})">${esc(y.label)}</text>`);
  parts.push(body);
  // Legend in the title band, right-aligned, so it never covers the data.
  let lx = L + PW;
  for (const s of [...legend].reverse()) {
    lx -= 20 + 6.5 * s.name.length;
    parts.push(`<rect x="${lx.toFixed(1)}" y="9" width="10" height="10" fill="${esc(s.color)}"/>`);
    parts.push(`<text x="${(lx + 14).toFixed(1)}" y="18" class="k">${esc(s.name)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Line chart; each point also carries a hover title. An empty series list draws the axes and a note. */
export function lineChart(opts: { id: string; title: string; x: Axis; y: Axis; series: Series[] }): string {
  const { x, y } = opts;
  const body: string[] = [];
  for (const s of opts.series) {
    if (s.points.length === 0) continue;
    const pts = s.points.map(([a, b]) => `${(L + x.scale(a) * PW).toFixed(1)},${(T + PH - y.scale(b) * PH).toFixed(1)}`);
    if (s.dashed === true) {
      body.push(`<polyline class="series baseline" data-series="${esc(s.name)}" fill="none" stroke="${esc(s.color)}" stroke-width="1.5" stroke-dasharray="6 4" opacity="0.8" points="${pts.join(' ')}"/>`);
      continue;
    }
    body.push(`<polyline class="series" data-series="${esc(s.name)}" fill="none" stroke="${esc(s.color)}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (let i = 0; i < s.points.length; i++) {
      const [a, b] = s.points[i]!;
      const [px, py] = pts[i]!.split(',');
      body.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${esc(s.color)}"><title>${esc(`${s.name}: ${x.format(a)} → ${y.format(b)}`)}</title></circle>`);
    }
  }
  if (body.length === 0) body.push(`<text x="${L + PW / 2}" y="${T + PH / 2}" text-anchor="middle" class="k">no data</text>`);
  return frame(opts.title, opts.id, x, y, body.join('\n'), opts.series.map((s) => ({ name: s.name, color: s.color })));
}

/** Stacked bars per x slot (time intervals). */
export function stackedBars(opts: { id: string; title: string; x: Axis; y: Axis; slots: number[]; width: number; series: { name: string; color: string; values: number[] }[] }): string {
  const { x, y } = opts;
  const body: string[] = [];
  const barW = Math.max(1, x.scale(opts.width) * PW - 1);
  opts.slots.forEach((end, i) => {
    let base = 0;
    for (const s of opts.series) {
      const v = s.values[i] ?? 0;
      if (v === 0) continue;
      const y0 = T + PH - y.scale(base) * PH, y1 = T + PH - y.scale(base + v) * PH;
      const px = L + x.scale(end - opts.width) * PW;
      body.push(`<rect class="bar" data-series="${esc(s.name)}" x="${px.toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, y0 - y1).toFixed(1)}" fill="${esc(s.color)}"><title>${esc(`${s.name}: ${v} in the interval ending at ${x.format(end)}`)}</title></rect>`);
      base += v;
    }
  });
  if (body.length === 0) body.push(`<text x="${L + PW / 2}" y="${T + PH / 2}" text-anchor="middle" class="k">none: no queue-full, stall or error event</text>`);
  return frame(opts.title, opts.id, x, y, body.join('\n'), opts.series.map((s) => ({ name: s.name, color: s.color })));
}
