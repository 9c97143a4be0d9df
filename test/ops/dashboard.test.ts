// The Grafana dashboard shipped in docs/grafana: a dashboard document Grafana imports (the
// fields its model needs, panels that fit the 24-column grid, one query per target), and every
// metric its queries name is one a running router exports.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { routerRegistry } from '../../src/ops/metrics.js';
import { packageRoot } from '../../src/util/paths.js';

interface Target { refId: string; expr: string; datasource?: unknown }
interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets: Target[]; datasource: { type: string; uid: string } }
interface Dashboard { title: string; uid: string; schemaVersion: number; panels: Panel[]; time: { from: string; to: string }; __inputs: { name: string; type: string; pluginId: string }[] }

const PANEL_TYPES = new Set(['stat', 'timeseries', 'state-timeline', 'table', 'gauge', 'bargauge', 'heatmap']);
const dash = JSON.parse(readFileSync(join(packageRoot(), 'docs', 'grafana', 'vmsg-router.json'), 'utf8')) as Dashboard;

/** Metric names exported by a router's registry (histograms with their _bucket/_sum/_count series). */
async function exported(): Promise<Set<string>> {
  const router = await Router.create({ shards: 1 });
  try {
    const text = await routerRegistry(router, { defaultMetrics: false }).metrics();
    const names = new Set<string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      names.add(m[1]!);
      if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1]! + s);
    }
    return names;
  } finally {
    await router.close();
  }
}

describe('Grafana dashboard', () => {
  it('is a dashboard model Grafana imports', () => {
    expect(typeof dash.title).toBe('string');
    expect(dash.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(Number.isInteger(dash.schemaVersion)).toBe(true);
    expect(dash.__inputs.map((i) => [i.name, i.type, i.pluginId])).toEqual([['DS_PROMETHEUS', 'datasource', 'prometheus']]);
    expect(dash.panels.length).toBeGreaterThan(5);
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    for (const p of dash.panels) {
      expect(PANEL_TYPES.has(p.type), p.type).toBe(true);
      const g = p.gridPos;
      for (const v of [g.x, g.y, g.w, g.h]) expect(Number.isInteger(v) && v >= 0).toBe(true);
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      expect(new Set(p.targets.map((t) => t.refId)).size).toBe(p.targets.length);
      for (const t of p.targets) expect(t.expr.trim().length).toBeGreaterThan(0);
    }
  });

  it('shows rates, bytes, drops by reason, latency percentiles and link state', () => {
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    expect(exprs).toMatch(/rate\(vmsg_router_rx_frames_total/);
    expect(exprs).toMatch(/sum by \(reason\) \(rate\(vmsg_router_drops_total/);
    expect(exprs).toMatch(/histogram_quantile\(0\.99, .*vmsg_device_request_duration_seconds_bucket/);
    expect(exprs).toMatch(/vmsg_link_up/);
    expect(exprs).toMatch(/rate\(vmsg_link_rx_bytes_total/);
    expect(exprs).toMatch(/rate\(vmsg_link_tx_bytes_total/);
  });

  it('names only metrics the router exports', async () => {
    const names = await exported();
    const used = new Set(dash.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\bvmsg_[a-z0-9_]+/g)].map((m) => m[0]))));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !names.has(n))).toEqual([]);
  });
});
