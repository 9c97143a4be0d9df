// Request latency per device, in seconds, for Prometheus (`vmsg_device_request_duration_seconds`),
// whatever kind of link the driver is on (vmamp, spsc, unix:, tcp:, in-process). The router's
// shards count it themselves (layout DS_LAT_*): from a request being forwarded to its device to
// its answer being handed to its driver, with the shard clock (refreshed every 64 loop passes
// and after every sleep, so the hot path reads no clock), in power-of-two buckets of µs. This
// file only turns those counts into a Prometheus histogram at scrape time.
import type { Metric } from 'prom-client';
import { LATENCY_BOUNDS_US, type LatencyHistogram } from '../router/stats.js';

export const REQUEST_LATENCY_METRIC = 'vmsg_device_request_duration_seconds';
/** Bucket bounds, seconds: 1 µs to 16.8 s, doubling (the router's buckets, layout DS_LAT_*). */
export const REQUEST_LATENCY_BUCKETS: readonly number[] = LATENCY_BOUNDS_US.map((us) => us / 1e6);
/** One line of the exposition: what prom-client's registry reads from a metric's get(). */
interface Series {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

const HELP = 'time from a request being forwarded to the device to its answer being handed to its driver, per device (answered requests only)';

/**
 * A Prometheus histogram metric whose series are read from `devices()` (per device number,
 * its lifetime histogram) at every scrape; register it with Registry.registerMetric.
 */
export function requestLatencyMetric(devices: () => { dev: number; latency: LatencyHistogram }[]): Metric {
  const get = async (): Promise<{ name: string; help: string; type: string; aggregator: string; values: Series[] }> => {
    const values: Series[] = [];
    for (const { dev, latency } of devices()) {
      const device = String(dev);
      let cumulative = 0;
      REQUEST_LATENCY_BUCKETS.forEach((le, b) => {
        cumulative += latency.counts[b]!;
        values.push({ metricName: `${REQUEST_LATENCY_METRIC}_bucket`, labels: { le, device }, value: cumulative });
      });
      cumulative += latency.counts[REQUEST_LATENCY_BUCKETS.length]!;
      values.push({ metricName: `${REQUEST_LATENCY_METRIC}_bucket`, labels: { le: '+Inf', device }, value: cumulative });
      values.push({ metricName: `${REQUEST_LATENCY_METRIC}_sum`, labels: { device }, value: latency.sumUs / 1e6 });
      values.push({ metricName: `${REQUEST_LATENCY_METRIC}_count`, labels: { device }, value: cumulative });
    }
    return { name: REQUEST_LATENCY_METRIC, help: HELP, type: 'histogram', aggregator: 'sum', values };
  };
  // prom-client's registry needs only the name and get(); its Metric type lists its own classes.
  return { name: REQUEST_LATENCY_METRIC, help: HELP, type: 'histogram', aggregator: 'sum', get, reset() {} } as unknown as Metric;
}
