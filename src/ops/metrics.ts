// Prometheus metrics (prom-client) for every counter Router.stats() returns (`vmsg route
// --metrics PORT`): read from shared memory at scrape time, so the shards pay nothing. One
// table per stats level (router totals, shard, link, device) maps each stats field to a
// metric name, so a counter added to stats() without a metric fails the metrics test. Links
// are labelled by their URI or name (`link`), devices by number: stable across reconnects,
// with vmsg_link_info / vmsg_device_info to join on; every drop reason has a series from zero.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Router, LinkStats } from '../router/router.js';
import { REASONS } from '../protocol/reasons.js';
import { requestLatencyMetric } from './request-latency.js';
import { lostWindowsTotal } from '../native/mmap.js';
import type { DeviceStats, EndpointStats, RouterStats, ShardStats } from '../router/stats.js';

type Kind = 'counter' | 'gauge';
interface MetricDef<F extends string> {
  field: F;
  name: string;
  help: string;
  kind: Kind;
}

type Numeric<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T] & string;

export const SHARD_METRICS: MetricDef<Exclude<Numeric<ShardStats>, 'id'>>[] = [
  { field: 'loops', name: 'vmsg_shard_loops_total', help: 'routeSome() calls of the shard', kind: 'counter' },
  { field: 'frames', name: 'vmsg_shard_frames_total', help: 'frames the shard took from its sources', kind: 'counter' },
  { field: 'stalls', name: 'vmsg_shard_stalls_total', help: 'times the shard held a source back (backpressure)', kind: 'counter' },
  { field: 'crossShardSent', name: 'vmsg_shard_cross_shard_sent_total', help: 'frames sent to another shard', kind: 'counter' },
  { field: 'toControl', name: 'vmsg_shard_to_control_total', help: 'frames handed to the control plane', kind: 'counter' },
  { field: 'poolEmpty', name: 'vmsg_shard_pool_empty_total', help: 'times the frame pool was empty', kind: 'counter' },
  { field: 'poolFree', name: 'vmsg_shard_pool_free', help: 'free slots in the frame pool now', kind: 'gauge' },
];

/** Per link (label `link`: its URI or name), summed over the link's endpoints, live and past. */
export const ENDPOINT_METRICS: MetricDef<Exclude<Numeric<EndpointStats>, 'id' | 'dropped'>>[] = [
  { field: 'rx', name: 'vmsg_link_rx_frames_total', help: 'frames the router took from the link', kind: 'counter' },
  { field: 'tx', name: 'vmsg_link_tx_frames_total', help: 'frames the router wrote to the link', kind: 'counter' },
  { field: 'rxBytes', name: 'vmsg_link_rx_bytes_total', help: 'bytes of the frames the router took from the link (msg_size)', kind: 'counter' },
  { field: 'txBytes', name: 'vmsg_link_tx_bytes_total', help: 'bytes of the frames the router wrote to the link (msg_size)', kind: 'counter' },
  { field: 'terminated', name: 'vmsg_link_terminated_total', help: 'bus requests of the link the router answered itself (GET_DEVICES, PING)', kind: 'counter' },
  { field: 'generated', name: 'vmsg_link_generated_total', help: 'frames the router made for the link (bus answers, EVENT_DEVICE, failure events)', kind: 'counter' },
  { field: 'failures', name: 'vmsg_link_failures_total', help: "requests of the link's drivers that ended in a transport failure", kind: 'counter' },
  { field: 'stalls', name: 'vmsg_link_stalls_total', help: "times the link's ring was held back (backpressure)", kind: 'counter' },
  { field: 'toControl', name: 'vmsg_link_to_control_total', help: 'frames of the link handed to the control plane', kind: 'counter' },
];

export const DEVICE_METRICS: MetricDef<Exclude<Numeric<DeviceStats>, 'dev' | 'endpoint'>>[] = [
  { field: 'requests', name: 'vmsg_device_requests_total', help: 'requests forwarded to the device', kind: 'counter' },
  { field: 'responses', name: 'vmsg_device_responses_total', help: 'responses delivered from the device', kind: 'counter' },
  { field: 'failed', name: 'vmsg_device_failed_total', help: 'requests that ended in a transport failure', kind: 'counter' },
  { field: 'timeouts', name: 'vmsg_device_timeouts_total', help: 'requests that timed out', kind: 'counter' },
  { field: 'eventsIn', name: 'vmsg_device_events_in_total', help: 'events from drivers to the device', kind: 'counter' },
  { field: 'eventsOut', name: 'vmsg_device_events_out_total', help: 'events from the device to its driver', kind: 'counter' },
  { field: 'held', name: 'vmsg_device_held_total', help: 'early responses held back to keep per-device order', kind: 'counter' },
  { field: 'parked', name: 'vmsg_device_parked_total', help: 'frames parked waiting for window or ring room', kind: 'counter' },
  { field: 'coalesced', name: 'vmsg_device_coalesced_total', help: 'EVENT_AVAIL merged into one already queued for the same virtqueue', kind: 'counter' },
  { field: 'inFlight', name: 'vmsg_device_in_flight', help: 'requests forwarded and not yet answered', kind: 'gauge' },
  { field: 'parkedNow', name: 'vmsg_device_parked_now', help: 'frames parked now', kind: 'gauge' },
];

export const TOTAL_METRICS: MetricDef<Exclude<Numeric<RouterStats['totals']>, 'dropped'>>[] = [
  { field: 'rx', name: 'vmsg_router_rx_frames_total', help: 'frames taken from all endpoints', kind: 'counter' },
  { field: 'tx', name: 'vmsg_router_tx_frames_total', help: 'frames written to all endpoints', kind: 'counter' },
  { field: 'terminated', name: 'vmsg_router_terminated_total', help: 'bus requests the router answered itself', kind: 'counter' },
  { field: 'generated', name: 'vmsg_router_generated_total', help: 'frames the router made', kind: 'counter' },
  { field: 'failures', name: 'vmsg_router_failures_total', help: 'requests that ended in a transport failure', kind: 'counter' },
  { field: 'inFlight', name: 'vmsg_router_in_flight', help: 'requests in flight over all devices', kind: 'gauge' },
  { field: 'parkedNow', name: 'vmsg_router_parked_now', help: 'frames parked now over all devices', kind: 'gauge' },
];

/** Drop counters (stats `dropped`/`drops`, `dropsByReason`) carry the reason as a label; every reason has a series from the start. */
export const DROP_METRICS = {
  endpoint: 'vmsg_link_drops_total',
  total: 'vmsg_router_drops_total',
} as const;
export const RESTARTS_METRIC = 'vmsg_router_shard_restarts_total';
/** Shared-memory windows a peer truncated under us (the SIGBUS absorbed; their links taken down). */
export const WINDOWS_LOST_METRIC = 'vmsg_windows_lost_total';
export const UP_METRIC = 'vmsg_router_up';
/** 1 per link ever attached, labels link, kind, scheme (join other series on `link`). */
export const LINK_INFO_METRIC = 'vmsg_link_info';
/** 1 while the link has an endpoint attached (a connected peer, an open window), else 0. */
export const LINK_UP_METRIC = 'vmsg_link_up';
/** Endpoints of the link attached now (a listening stream link: one per connection). */
export const LINK_ENDPOINTS_METRIC = 'vmsg_link_endpoints';
/** 1 per device number ever attached, labels device and the link serving it now ("" once removed). */
export const DEVICE_INFO_METRIC = 'vmsg_device_info';
/** Every drop reason name, router layer first: the label values of the drop series. */
export const DROP_REASONS: readonly string[] = REASONS.filter((r) => r.code !== 0).map((r) => r.name);

/** The scheme of a link label: a URI's scheme, or "inproc" for in-process endpoints. */
export function linkScheme(link: string): string {
  const m = /^([a-z][a-z0-9+-]*):/.exec(link);
  return m === null ? 'unknown' : m[1]!;
}

/**
 * A registry whose metrics read `router.stats()` once per scrape. `defaultMetrics` adds
 * prom-client's process metrics (CPU, memory, event loop lag).
 */
export function routerRegistry(router: Router, opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  // One stats() read per scrape for all metrics: prom-client calls each metric's collect() in
  // registration order, so the first metric (vmsg_router_up) takes the snapshot the others read.
  let snapshot: RouterStats | undefined;
  const stats = (): RouterStats => (snapshot ??= router.stats());
  const up: Gauge = new Gauge({ name: UP_METRIC, help: '1 while the router runs', registers: [registry], collect() { snapshot = router.stats(); up.set(1); } });
  const make = (kind: Kind, name: string, help: string, labelNames: string[], fill: (set: (labels: Record<string, string>, v: number) => void) => void): void => {
    if (kind === 'gauge') {
      const g: Gauge = new Gauge({ name, help, labelNames, registers: [registry], collect() { g.reset(); fill((l, v) => g.set(l, v)); } });
    } else {
      const c: Counter = new Counter({ name, help, labelNames, registers: [registry], collect() { c.reset(); fill((l, v) => c.inc(l, v)); } });
    }
  };
  for (const m of TOTAL_METRICS) make(m.kind, m.name, m.help, [], (set) => set({}, stats().totals[m.field]));
  make('counter', DROP_METRICS.total, 'frames dropped, by reason', ['reason'], (set) => {
    const by = stats().totals.dropsByReason;
    for (const reason of DROP_REASONS) set({ reason }, by[reason] ?? 0);
  });
  make('counter', RESTARTS_METRIC, 'shard workers that failed and were restarted', [], (set) => set({}, router.restarts));
  make('counter', WINDOWS_LOST_METRIC, 'shared-memory windows a peer truncated under us (SIGBUS absorbed, link taken down)', [], (set) => set({}, lostWindowsTotal()));
  for (const m of SHARD_METRICS) make(m.kind, m.name, m.help, ['shard'], (set) => {
    for (const s of stats().shards) set({ shard: String(s.id) }, s[m.field]);
  });
  // Links by label, devices by number: series that survive reconnects and id reuse (the
  // router sums an endpoint's counters into its link's when its id is reused, and a removed
  // device's into its number).
  let linkSnap: { st: RouterStats; links: LinkStats[]; devices: ReturnType<Router['deviceTotals']> } | undefined;
  const links = (): LinkStats[] => {
    const st = stats();
    if (linkSnap?.st !== st) linkSnap = { st, links: router.linkStats(st), devices: router.deviceTotals(st) };
    return linkSnap.links;
  };
  const devices = (): ReturnType<Router['deviceTotals']> => {
    links();
    return linkSnap!.devices;
  };
  for (const m of ENDPOINT_METRICS) make(m.kind, m.name, m.help, ['link', 'kind'], (set) => {
    for (const l of links()) set({ link: l.link, kind: l.kind }, l.counters[m.field]);
  });
  make('counter', DROP_METRICS.endpoint, 'frames of the link dropped, by reason', ['link', 'kind', 'reason'], (set) => {
    for (const l of links()) for (const reason of DROP_REASONS) set({ link: l.link, kind: l.kind, reason }, l.counters.drops[reason] ?? 0);
  });
  make('gauge', LINK_INFO_METRIC, 'one series per link: its URI or name, side and scheme', ['link', 'kind', 'scheme'], (set) => {
    for (const l of links()) set({ link: l.link, kind: l.kind, scheme: linkScheme(l.link) }, 1);
  });
  make('gauge', LINK_UP_METRIC, '1 while the link has a peer attached, 0 while it waits for one', ['link', 'kind'], (set) => {
    for (const l of links()) set({ link: l.link, kind: l.kind }, l.endpoints > 0 ? 1 : 0);
  });
  make('gauge', LINK_ENDPOINTS_METRIC, 'router endpoints of the link attached now (one per connection of a listening stream link)', ['link', 'kind'], (set) => {
    for (const l of links()) set({ link: l.link, kind: l.kind }, l.endpoints);
  });
  for (const m of DEVICE_METRICS) make(m.kind, m.name, m.help, ['device'], (set) => {
    for (const d of devices()) set({ device: String(d.dev) }, d[m.field]);
  });
  make('gauge', DEVICE_INFO_METRIC, 'one series per device number: the link serving it now ("" once removed)', ['device', 'link'], (set) => {
    for (const d of devices()) set({ device: String(d.dev), link: d.link }, 1);
  });
  registry.registerMetric(requestLatencyMetric(devices));
  return registry;
}

export interface MetricsServer {
  /** The port listened on (the one asked for, or the one the system chose for 0). */
  port: number;
  /** Scrape address, e.g. http://127.0.0.1:9464/metrics. */
  url: string;
  registry: Registry;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  /** Address to listen on. Default: 127.0.0.1, this host only (the counters name links and devices); give a host to serve others. */
  host?: string;
  /** Default true. */
  defaultMetrics?: boolean;
}

/** Serve the router's metrics at http://HOST:PORT/metrics (port 0: any free port). */
export async function startMetricsServer(router: Router, port: number, opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`metrics port must be an integer from 0 to 65535, got ${port}`);
  const registry = routerRegistry(router, opts);
  const bind = opts.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('vmsg-router: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`metrics server cannot listen on ${bind}:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; choose another with --metrics PORT' : e.message}`)));
    server.listen(port, bind, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const host = bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
  return {
    port: actual,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/metrics`,
    registry,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
