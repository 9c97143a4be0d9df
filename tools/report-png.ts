// Renders a `vmsg bench --report` page to a PNG (the README's screenshot): the page's title,
// verdict and summary lines, then its charts, composed into one SVG and rasterised with
// rsvg-convert (librsvg). Usage: node dist/tools/report-png.js report.html out.png
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resultFromHtml } from '../src/loadgen/report-html.js';
import { asLoadResult } from '../src/loadgen/compare.js';
import { describeRun, fmtUs } from '../src/loadgen/report-table.js';
import { esc } from '../src/loadgen/svg-chart.js';

const [input, output] = process.argv.slice(2);
if (input === undefined || output === undefined) {
  process.stderr.write('usage: node dist/tools/report-png.js REPORT.html OUT.png\n');
  process.exit(2);
}
const html = readFileSync(input, 'utf8');
const r = asLoadResult(resultFromHtml(html), input);
const charts = [...html.matchAll(/<svg [\s\S]*?<\/svg>/g)].map((m) => m[0]);
const W = 720, HEAD = 120, CH = 300, GAP = 10;
const lines = [
  `vmsg bench: ${r.errors === 0 && r.order_violations === 0 ? 'PASS' : 'FAIL'} · ${r.mode}`,
  describeRun(r),
  `${Math.round(r.ops_per_s).toLocaleString('en-US')} ops/s · p50 ${fmtUs(r.p50_us)} · p99 ${fmtUs(r.p99_us)} · p99.9 ${fmtUs(r.p999_us)} · max ${fmtUs(r.max_us)}`,
  `errors ${r.errors} · order violations ${r.order_violations} · queue full ${r.queue_full} · stalls ${r.stalls}`,
];
const style = '<style>.t{font:600 13px sans-serif}.k{font:11px sans-serif;fill:#444}</style>';
// Each chart nested as its own <svg> at its place; their own styles come from the page's CSS, repeated here.
const body = charts.map((c, i) => c.replace('<svg ', `<svg x="0" y="${HEAD + i * (CH + GAP)}" `)).join('\n');
const height = HEAD + charts.length * (CH + GAP);
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">${style}
<rect width="${W}" height="${height}" fill="#ffffff"/>
${lines.map((l, i) => `<text x="10" y="${28 + i * 24}" style="font:${i === 0 ? '600 20px' : '13px'} sans-serif" fill="${i === 0 ? (r.errors === 0 ? '#176317' : '#a31515') : '#222'}">${esc(l)}</text>`).join('\n')}
${body}
</svg>`;
const dir = mkdtempSync(join(tmpdir(), 'vmsg-png-'));
try {
  const file = join(dir, 'report.svg');
  writeFileSync(file, svg);
  execFileSync('rsvg-convert', ['--format', 'png', '--output', output, file]);
} catch (e) {
  process.stderr.write(`report-png: rsvg-convert failed (${(e as Error).message}); install librsvg2-bin\n`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
