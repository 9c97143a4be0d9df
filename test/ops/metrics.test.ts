// Prometheus metrics of a running router, scraped over HTTP: every counter Router.stats()
// returns is exported with the value stats() reports.
import { describe, it, expect } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { startMetricsServer, SHARD_METRICS, ENDPOINT_METRICS, DEVICE_METRICS, TOTAL_METRICS, DROP_METRICS, RESTARTS_METRIC, UP_METRIC, DETACHED_METRIC, RETIRED } from '../../src/ops/metrics.js';
import { sendAll, receive } from '../router/helpers.js';

/** name{labels} -> value from the text exposition format. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

describe('metrics', () => {
  it('serves every Router.stats() counter at /metrics with the values stats() reports', async () => {
    const router = await Router.create({ shards: 1, timeoutMs: 20_000 });
    const server = await startMetricsServer(router, 0, { host: '127.0.0.1' });
    try {
      const driver = new EndpointPort(await router.attachDriver());
      const device = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await receive(driver, 1); // EVENT_DEVICE READY
      sendAll(driver, '0007010005000800', '0007020006000800', '00070100'); // one forwarded, one unvalidated, one malformed
      const req = await receive(device, 1);
      sendAll(device, '01' + req[0]!.slice(2, 12) + '0c000f000000');
      expect(await receive(driver, 2)).toHaveLength(2); // the answer and a failure event
      // A device that served a request and was removed (its counters retire), and a detached driver link.
      await router.addDevice(device.link, 5);
      await receive(driver, 1); // EVENT_DEVICE READY 5
      sendAll(driver, '0007050008000800');
      const req5 = await receive(device, 1);
      sendAll(device, '01' + req5[0]!.slice(2, 12) + '0c000f000000');
      await receive(driver, 1);
      await router.removeDevice(5);
      await receive(driver, 1); // EVENT_DEVICE REMOVED 5
      await router.detach(await router.attachDriver());
      await new Promise((r) => setTimeout(r, 50));
      const stats = router.stats();

      const res = await fetch(server.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
      const text = await res.text();
      const m = parseExposition(text);
      for (const d of [...SHARD_METRICS, ...ENDPOINT_METRICS, ...DEVICE_METRICS, ...TOTAL_METRICS]) expect(text).toContain(`# TYPE ${d.name} ${d.kind}`);
      // Every numeric field of every stats level has a metric (ids and derived sums aside).
      const covered = (defs: { field: string }[], sample: object, skip: string[]): void => {
        const fields = Object.entries(sample).filter(([k, v]) => typeof v === 'number' && !skip.includes(k)).map(([k]) => k).sort();
        expect(defs.map((d) => d.field).sort()).toEqual(fields);
      };
      covered(SHARD_METRICS, stats.shards[0]!, ['id']);
      covered(ENDPOINT_METRICS, stats.endpoints[0]!, ['id', 'dropped']);
      covered(DEVICE_METRICS, stats.devices[0]!, ['dev', 'endpoint']);
      covered(TOTAL_METRICS, stats.totals, ['dropped']);
      // Values: as stats() said (nothing moved since: the ports are idle).
      for (const d of TOTAL_METRICS) expect(m.get(d.name)).toBe(stats.totals[d.field]);
      for (const d of SHARD_METRICS) if (d.field !== 'loops') expect(m.get(`${d.name}{shard="0"}`)).toBe(stats.shards[0]![d.field]);
      for (const e of stats.endpoints) for (const d of ENDPOINT_METRICS) expect(m.get(`${d.name}{endpoint="${e.id}",kind="${e.kind}"}`)).toBe(e[d.field]);
      for (const e of stats.endpoints) expect(m.get(`${DETACHED_METRIC}{endpoint="${e.id}",kind="${e.kind}"}`)).toBe(e.detached ? 1 : 0);
      // Retired endpoints and devices (ids reused, devices removed) under the label "retired".
      for (const d of ENDPOINT_METRICS) {
        expect(m.get(`${d.name}{endpoint="${RETIRED}",kind="driver"}`)).toBe(stats.retired.driverLinks[d.field]);
        expect(m.get(`${d.name}{endpoint="${RETIRED}",kind="device"}`)).toBe(stats.retired.deviceLinks[d.field]);
      }
      for (const d of DEVICE_METRICS) expect(m.get(`${d.name}{device="${RETIRED}",endpoint="${RETIRED}"}`)).toBe(stats.retired.devices[d.field]);
      expect(stats.retired.devices.requests).toBe(1);
      expect([...m].filter(([k, v]) => k.startsWith(`${DETACHED_METRIC}{`) && v === 1)).toHaveLength(1);
      const dev = stats.devices[0]!;
      for (const d of DEVICE_METRICS) expect(m.get(`${d.name}{device="1",endpoint="${dev.endpoint}"}`)).toBe(dev[d.field]);
      expect(m.get(`${DEVICE_METRICS[0]!.name}{device="1",endpoint="${dev.endpoint}"}`)).toBe(1);
      const drops = Object.entries(stats.totals.dropsByReason);
      expect(drops.length).toBeGreaterThan(0);
      for (const [reason, n] of drops) expect(m.get(`${DROP_METRICS.total}{reason="${reason}"}`)).toBe(n);
      const drv = stats.endpoints.find((e) => e.kind === 'driver')!;
      for (const [reason, n] of Object.entries(drv.drops)) expect(m.get(`${DROP_METRICS.endpoint}{endpoint="${drv.id}",kind="driver",reason="${reason}"}`)).toBe(n);
      // Summing the endpoint family (live, detached and retired) gives the router's totals.
      const sum = (name: string, kind: string): number => [...m].filter(([k]) => k.startsWith(`${name}{`) && k.includes(`kind="${kind}"`)).reduce((t, [, v]) => t + v, 0);
      expect(sum('vmsg_endpoint_rx_frames_total', 'driver') + sum('vmsg_endpoint_rx_frames_total', 'device')).toBe(stats.totals.rx);
      expect(m.get(RESTARTS_METRIC)).toBe(0);
      expect(m.get(UP_METRIC)).toBe(1);
      expect(m.has('process_cpu_user_seconds_total')).toBe(true);

      // Counters move with traffic between scrapes.
      sendAll(driver, '0007010007000800');
      const again = await receive(device, 1);
      sendAll(device, '01' + again[0]!.slice(2, 12) + '0c000f000000');
      await receive(driver, 1);
      const m2 = parseExposition(await (await fetch(server.url)).text());
      expect(m2.get(`vmsg_device_responses_total{device="1",endpoint="${dev.endpoint}"}`)).toBe(dev.responses + 1);

      expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
      expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
      await router.close();
    }
  });

  it('says which port is taken', async () => {
    const router = await Router.create({ shards: 1 });
    const a = await startMetricsServer(router, 0, { host: '127.0.0.1', defaultMetrics: false });
    try {
      await expect(startMetricsServer(router, a.port, { host: '127.0.0.1', defaultMetrics: false })).rejects.toThrow(/cannot listen on 127.0.0.1:\d+: the port is in use/);
      await expect(startMetricsServer(router, 70000)).rejects.toThrow(/metrics port must be an integer from 0 to 65535/);
    } finally {
      await a.close();
      await router.close();
    }
  });
});
