// Renders a `vmsg bench --report` page to a PNG (the README's screenshot): the page's title,
// verdict and summary lines, then its charts, composed into one SVG and rasterised in-process
// with resvg (@resvg/resvg-js: no system tool to install). Text uses the system's fonts.
// Usage: node dist/tools/report-png.js report.html out.png
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { resultFromHtml } from '../src/loadgen/report-html.js';
import { passed } from '../src/loadgen/result.js';
import { asLoadResult } from '../src/loadgen/compare.js';
import { describeRun, fmtUs } from '../src/loadgen/report-table.js';
import { esc } from '../src/loadgen/svg-chart.js';

const W = 720, HEAD = 120, CH = 300, GAP = 10;
/** Headline colours: the verdict as the command's exit status gives it. */
export const PASS_COLOUR = '#176317';
export const FAIL_COLOUR = '#a31515';

/** The report page `html` as one SVG: headline (verdict coloured), summary lines, its charts. */
export function reportSvg(html: string, source: string): string {
  const r = asLoadResult(resultFromHtml(html), source);
  const charts = [...html.matchAll(/<svg [\s\S]*?<\/svg>/g)].map((m) => m[0]);
  // Errors or order violations fail the run (exit status 1), whatever else went well.
  const ok = passed(r);
  const lines = [
    `vmsg bench: ${ok ? 'PASS' : 'FAIL'} · ${r.mode}`,
    describeRun(r),
    `${Math.round(r.ops_per_s).toLocaleString('en-US')} ops/s · p50 ${fmtUs(r.p50_us)} · p99 ${fmtUs(r.p99_us)} · p99.9 ${fmtUs(r.p999_us)} · max ${fmtUs(r.max_us)}`,
    `errors ${r.errors} · order violations ${r.order_violations} · queue full ${r.queue_full} · stalls ${r.stalls}`,
  ];
  const style = '<style>.t{font:600 13px sans-serif}.k{font:11px sans-serif;fill:#444}</style>';
  // Each chart nested as its own <svg> at its place; their own styles come from the page's CSS, repeated here.
  const body = charts.map((c, i) => c.replace('<svg ', `<svg x="0" y="${HEAD + i * (CH + GAP)}" `)).join('\n');
  const height = HEAD + charts.length * (CH + GAP);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">${style}
<rect width="${W}" height="${height}" fill="#ffffff"/>
${lines.map((l, i) => `<text x="10" y="${28 + i * 24}" style="font:${i === 0 ? '600 20px' : '13px'} sans-serif" fill="${i === 0 ? (ok ? PASS_COLOUR : FAIL_COLOUR) : '#222'}">${esc(l)}</text>`).join('\n')}
${body}
</svg>`;
}

/** Rasterise an SVG with resvg, text in the system's fonts. */
export function renderPng(svg: string): Buffer {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}

function main(): number {
  const [input, output] = process.argv.slice(2);
  if (input === undefined || output === undefined) {
    process.stderr.write('usage: node dist/tools/report-png.js REPORT.html OUT.png\n');
    return 2;
  }
  try {
    writeFileSync(output, renderPng(reportSvg(readFileSync(input, 'utf8'), input)));
    return 0;
  } catch (e) {
    process.stderr.write(`report-png: cannot render ${input} to ${output}: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();
