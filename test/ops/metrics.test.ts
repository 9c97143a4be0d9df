// Prometheus metrics of a running router, scraped over HTTP: every counter Router.stats()
// returns is exported with the value stats() reports.
import { describe, it, expect } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { lostWindowsTotal } from '../../src/native/mmap.js';
import { startMetricsServer, SHARD_METRICS, ENDPOINT_METRICS, DEVICE_METRICS, TOTAL_METRICS, DROP_METRICS, RESTARTS_METRIC, WINDOWS_LOST_METRIC, UP_METRIC, LINK_INFO_METRIC, LINK_UP_METRIC, DEVICE_INFO_METRIC, DROP_REASONS } from '../../src/ops/metrics.js';
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
      // Scraped before any traffic: every drop reason is there, at zero.
      const fresh = parseExposition(await (await fetch(server.url)).text());
      for (const reason of DROP_REASONS) expect(fresh.get(`${DROP_METRICS.total}{reason="${reason}"}`), reason).toBe(0);
      const driver = new EndpointPort(await router.attachDriver({ label: 'unix-listen:/run/drv.sock' }));
      const device = new EndpointPort(await router.attachDevice({ devices: [1], label: 'tcp:edge:7000' }));
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
      // Links by label: one series per link whatever its endpoint ids; no sentinel label anywhere.
      expect(text).not.toMatch(/retired/);
      const drvLink = { link: 'unix-listen:/run/drv.sock', kind: 'driver' }, devLink = { link: 'tcp:edge:7000', kind: 'device' };
      const lbl = (l: { link: string; kind: string }): string => `{link="${l.link}",kind="${l.kind}"}`;
      const links = router.linkStats(stats);
      for (const l of links) for (const d of ENDPOINT_METRICS) expect(m.get(`${d.name}${lbl(l)}`), d.name).toBe(l.counters[d.field]);
      expect(m.get(`${LINK_INFO_METRIC}{link="${drvLink.link}",kind="driver",scheme="unix-listen"}`)).toBe(1);
      expect(m.get(`${LINK_INFO_METRIC}{link="${devLink.link}",kind="device",scheme="tcp"}`)).toBe(1);
      expect(m.get(`${LINK_UP_METRIC}${lbl(drvLink)}`)).toBe(1);
      // The detached in-process driver is a link that is down.
      expect(m.get(`${LINK_UP_METRIC}{link="inproc:driver",kind="driver"}`)).toBe(0);
      // Device 5 was removed: its counters stay under its number, its info says no link.
      expect(m.get(`vmsg_device_requests_total{device="5"}`)).toBe(1);
      expect(m.get(`${DEVICE_INFO_METRIC}{device="5",link=""}`)).toBe(1);
      expect(m.get(`${DEVICE_INFO_METRIC}{device="1",link="${devLink.link}"}`)).toBe(1);
      const dev = stats.devices[0]!;
      for (const d of DEVICE_METRICS) expect(m.get(`${d.name}{device="1"}`)).toBe(dev[d.field]);
      for (const reason of DROP_REASONS) expect(m.get(`${DROP_METRICS.total}{reason="${reason}"}`)).toBe(stats.totals.dropsByReason[reason] ?? 0);
      const drv = links.find((l) => l.link === drvLink.link)!;
      expect(Object.keys(drv.counters.drops).length).toBeGreaterThan(0);
      for (const reason of DROP_REASONS) expect(m.get(`${DROP_METRICS.endpoint}{link="${drvLink.link}",kind="driver",reason="${reason}"}`)).toBe(drv.counters.drops[reason] ?? 0);
      // Summing the link family gives the router's totals.
      const sum = (name: string): number => [...m].filter(([k]) => k.startsWith(`${name}{`)).reduce((t, [, v]) => t + v, 0);
      expect(sum('vmsg_link_rx_frames_total')).toBe(stats.totals.rx);
      expect(m.get(RESTARTS_METRIC)).toBe(0);
      expect(m.get(WINDOWS_LOST_METRIC)).toBe(lostWindowsTotal()); // process-wide: other test files in this process may have lost some
      expect(m.get(UP_METRIC)).toBe(1);
      expect(m.has('process_cpu_user_seconds_total')).toBe(true);

      // Counters move with traffic between scrapes.
      sendAll(driver, '0007010007000800');
      const again = await receive(device, 1);
      sendAll(device, '01' + again[0]!.slice(2, 12) + '0c000f000000');
      await receive(driver, 1);
      const m2 = parseExposition(await (await fetch(server.url)).text());
      expect(m2.get(`vmsg_device_responses_total{device="1"}`)).toBe(dev.responses + 1);

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

describe('request latency histogram', () => {
  it('times every request of a stream driver per device, in seconds', async () => {
    const { startEchoRouter } = await import('../tools/echo-router.js');
    const { openStreamLink, openStreamChannel } = await import('../../src/bus/stream.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-lat-'));
    const target = await startEchoRouter([1]);
    const server = await startMetricsServer(target.router, 0, { host: '127.0.0.1', defaultMetrics: false });
    const uri = `unix-listen:${join(dir, 'drv.sock')}`;
    const link = await openStreamLink(target.router, uri, 'driver');
    const ch = await openStreamChannel(`unix:${join(dir, 'drv.sock')}`);
    try {
      const n = 20;
      for (let i = 0; i < n; i++) ch.send(Uint8Array.from([0x00, 0x07, 0x01, 0x00, i + 1, 0x00, 0x08, 0x00])); // GET_DEVICE_STATUS dev 1
      ch.flush();
      let answers = 0;
      while (answers < n) {
        if (!(await ch.wait(5000))) throw new Error(`${answers} answers of ${n}`);
        for (let f = ch.recv(); f !== null; f = ch.recv()) if ((f[0]! & 1) === 1 && f[2] === 1) answers++;
      }
      const m = parseExposition(await (await fetch(server.url)).text());
      expect(m.get('vmsg_device_request_duration_seconds_count{device="1"}')).toBe(n);
      expect(m.get('vmsg_device_request_duration_seconds_bucket{le="+Inf",device="1"}')).toBe(n);
      const sum = m.get('vmsg_device_request_duration_seconds_sum{device="1"}')!;
      expect(sum).toBeGreaterThan(0);
      expect(sum / n).toBeLessThan(5); // seconds, not milliseconds
      // The link is labelled by its URI.
      expect(m.get(`vmsg_link_info{link="${uri}",kind="driver",scheme="unix-listen"}`)).toBe(1);
    } finally {
      await ch.close();
      await link.close();
      await server.close();
      await target.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
