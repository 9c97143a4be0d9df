// tools/report-png renders a --report page without any system tool (resvg in-process) and
// colours its headline by the run's verdict: a run with order violations fails, in red.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { runLoad } from '../../src/loadgen/engine.js';
import type { LoadResult } from '../../src/loadgen/result.js';
import { formatHtml } from '../../src/loadgen/report-html.js';
import { packageRoot } from '../../src/util/paths.js';
import { reportSvg, renderPng, PASS_COLOUR, FAIL_COLOUR } from '../../tools/report-png.js';
import { startEchoRouter } from './echo-router.js';

let result: LoadResult;
const dir = mkdtempSync(join(tmpdir(), 'vmsg-report-png-'));

beforeAll(async () => {
  const target = await startEchoRouter([1]);
  try {
    const ch = await target.channel();
    result = await runLoad(ch, { profile: { name: 'ping' }, durationS: 0.3, warmupS: 0.1, intervalMs: 50 });
    await ch.close();
  } finally {
    await target.close();
  }
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pixels of the headline (first text line) in `colour` (#rrggbb), counted in the rendered image. */
function headlinePixels(svg: string, colour: string): number {
  const img = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render();
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  const px = img.pixels; // a getter that copies the whole image: read it once
  let n = 0;
  for (let y = 8; y < 34; y++) {
    for (let x = 0; x < 400; x++) {
      const o = (y * img.width + x) * 4;
      if (px[o] === r && px[o + 1] === g && px[o + 2] === b) n++;
    }
  }
  return n;
}

describe('tools/report-png', () => {
  it('a passing run: PASS in green', () => {
    expect(result.errors + result.order_violations).toBe(0);
    const svg = reportSvg(formatHtml(result), 'run.html');
    expect(svg).toContain('vmsg bench: PASS');
    expect(headlinePixels(svg, PASS_COLOUR)).toBeGreaterThan(20);
    expect(headlinePixels(svg, FAIL_COLOUR)).toBe(0);
  });

  it('a run with order violations and no errors fails: FAIL in red', () => {
    const failed: LoadResult = { ...result, order_violations: 3 };
    const svg = reportSvg(formatHtml(failed), 'run.html');
    expect(svg).toContain('vmsg bench: FAIL');
    expect(headlinePixels(svg, FAIL_COLOUR)).toBeGreaterThan(20);
    expect(headlinePixels(svg, PASS_COLOUR)).toBe(0);
  });

  it('the built script writes a PNG of the page, no system tool needed', () => {
    const html = join(dir, 'report.html');
    const png = join(dir, 'report.png');
    writeFileSync(html, formatHtml(result));
    execFileSync(process.execPath, [join(packageRoot(), 'dist', 'tools', 'report-png.js'), html, png], { timeout: 30_000 });
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(bytes.readUInt32BE(16)).toBe(720); // IHDR width
    expect(renderPng(reportSvg(formatHtml(result), 'run.html')).length).toBeGreaterThan(1000);
  });
});
