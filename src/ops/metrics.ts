// Prometheus metrics (prom-client) for every counter Router.stats() returns (`vmsg route
// --metrics PORT`): read from shared memory at scrape time, so the shards pay nothing. One
// table per stats level (router totals, shard, endpoint, device) maps each stats field to a
// metric name, so a counter added to stats() without a metric fails the metrics test.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Router } from '../router/router.js';
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

export const ENDPOINT_METRICS: MetricDef<Exclude<Numeric<EndpointStats>, 'id' | 'dropped'>>[] = [
  { field: 'rx', name: 'vmsg_endpoint_rx_frames_total', help: 'frames the router took from the endpoint', kind: 'counter' },
  { field: 'tx', name: 'vmsg_endpoint_tx_frames_total', help: 'frames the router wrote to the endpoint', kind: 'counter' },
  { field: 'terminated', name: 'vmsg_endpoint_terminated_total', help: 'bus requests the router answered itself (GET_DEVICES, PING)', kind: 'counter' },
  { field: 'generated', name: 'vmsg_endpoint_generated_total', help: 'frames the router made for the endpoint (bus answers, EVENT_DEVICE, failure events)', kind: 'counter' },
  { field: 'failures', name: 'vmsg_endpoint_failures_total', help: 'requests of this driver that ended in a transport failure', kind: 'counter' },
  { field: 'stalls', name: 'vmsg_endpoint_stalls_total', help: 'times the endpoint ring was held back (backpressure)', kind: 'counter' },
  { field: 'toControl', name: 'vmsg_endpoint_to_control_total', help: 'frames of the endpoint handed to the control plane', kind: 'counter' },
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

/** Drop counters (stats `dropped`/`drops`, `dropsByReason`) carry the reason as a label. */
export const DROP_METRICS = {
  endpoint: 'vmsg_endpoint_drops_total',
  total: 'vmsg_router_drops_total',
} as const;
export const RESTARTS_METRIC = 'vmsg_router_shard_restarts_total';
export const UP_METRIC = 'vmsg_router_up';
export const DETACHED_METRIC = 'vmsg_endpoint_detached';
/** Label value of the counters of retired endpoints and devices. */
export const RETIRED = 'retired';

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
    for (const [reason, n] of Object.entries(stats().totals.dropsByReason)) set({ reason }, n);
  });
  make('counter', RESTARTS_METRIC, 'shard workers that failed and were restarted', [], (set) => set({}, router.restarts));
  for (const m of SHARD_METRICS) make(m.kind, m.name, m.help, ['shard'], (set) => {
    for (const s of stats().shards) set({ shard: String(s.id) }, s[m.field]);
  });
  // Endpoints and devices by id, plus the counters of retired ones (ids reused, devices removed)
  // under endpoint="retired" / device="retired": summing a family gives the router's totals.
  const endpoints = (): { labels: Record<string, string>; e: EndpointStats }[] => {
    const st = stats();
    return [
      ...st.endpoints.map((e) => ({ labels: { endpoint: String(e.id), kind: e.kind }, e })),
      { labels: { endpoint: RETIRED, kind: 'driver' }, e: st.retired.driverLinks },
      { labels: { endpoint: RETIRED, kind: 'device' }, e: st.retired.deviceLinks },
    ];
  };
  for (const m of ENDPOINT_METRICS) make(m.kind, m.name, m.help, ['endpoint', 'kind'], (set) => {
    for (const { labels, e } of endpoints()) set(labels, e[m.field]);
  });
  make('counter', DROP_METRICS.endpoint, 'frames of the endpoint dropped, by reason', ['endpoint', 'kind', 'reason'], (set) => {
    for (const { labels, e } of endpoints()) for (const [reason, n] of Object.entries(e.drops)) set({ ...labels, reason }, n);
  });
  make('gauge', DETACHED_METRIC, '1 for an endpoint detached from the router whose counters are still listed', ['endpoint', 'kind'], (set) => {
    for (const e of stats().endpoints) set({ endpoint: String(e.id), kind: e.kind }, e.detached ? 1 : 0);
  });
  for (const m of DEVICE_METRICS) make(m.kind, m.name, m.help, ['device', 'endpoint'], (set) => {
    const st = stats();
    for (const d of st.devices) set({ device: String(d.dev), endpoint: String(d.endpoint) }, d[m.field]);
    set({ device: RETIRED, endpoint: RETIRED }, st.retired.devices[m.field]);
  });
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
