// Request latency per device, in seconds, for Prometheus (`vmsg_device_request_duration_seconds`).
// Measured where TypeScript already handles every frame of a link, so the WASM hot path pays
// nothing: the stream bridge of an external driver (unix:, tcp:, their -listen forms) notes the
// time a device request leaves the socket for the router and observes it when the answer (or
// its transport failure) comes back for the socket. It is the latency that driver sees through
// the router, device included; the router's own per-frame path keeps no clocks. Links whose
// frames the router reads straight from shared memory (vmamp, spsc, in-process endpoints) are
// not timed.
import { Histogram } from 'prom-client';
import type { Router } from '../router/router.js';
import { HDR_SIZE, MSG_ID_EVENT_BIT, TYPE_BUS, TYPE_RESPONSE } from '../protocol/constants.js';
import { devNumAt, tokenAt } from '../protocol/header.js';
import { failedDevice, failedToken, isRequestFailed } from '../client/request-failed.js';

export const REQUEST_LATENCY_METRIC = 'vmsg_device_request_duration_seconds';
/** Bucket bounds, seconds: 25 µs to 10 s. */
export const REQUEST_LATENCY_BUCKETS = [25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10];
/** Requests in flight remembered per bridge at most (a peer that never gets answers cannot grow it). */
const MAX_PENDING = 65536;

const byRouter = new WeakMap<Router, Histogram<'device'>>();

/** The router's latency histogram (one per router, registered by the metrics registry). */
export function requestLatencyOf(router: Router): Histogram<'device'> {
  let h = byRouter.get(router);
  if (h === undefined) {
    h = new Histogram({ name: REQUEST_LATENCY_METRIC, help: 'time from a device request entering the router from a stream driver to its answer leaving for it, per device', labelNames: ['device'], buckets: REQUEST_LATENCY_BUCKETS, registers: [] });
    byRouter.set(router, h);
  }
  return h;
}

/** Times one driver connection's requests: call fromDriver / toDriver with every frame each way. */
export class RequestTimer {
  private readonly pending = new Map<number, number>();

  constructor(private readonly histogram: Histogram<'device'>) {}

  /** A frame from the driver towards the router. */
  fromDriver(f: Uint8Array): void {
    if (f.length < HDR_SIZE || (f[0]! & (TYPE_RESPONSE | TYPE_BUS)) !== 0 || (f[1]! & MSG_ID_EVENT_BIT) !== 0) return;
    if (this.pending.size >= MAX_PENDING) return;
    this.pending.set(devNumAt(f, 0) + tokenAt(f, 0) * 0x10000, performance.now());
  }

  /** A frame from the router towards the driver (`at`: its first byte in `buf`). */
  toDriver(buf: Uint8Array, at: number, size: number): void {
    if (size < HDR_SIZE) return;
    const type = buf[at]!;
    let dev: number, token: number;
    if ((type & (TYPE_RESPONSE | TYPE_BUS)) === TYPE_RESPONSE) {
      dev = devNumAt(buf, at);
      token = tokenAt(buf, at);
    } else if (isRequestFailed(buf, at, size)) {
      dev = failedDevice(buf, at);
      token = failedToken(buf, at);
    } else return;
    const key = dev + token * 0x10000;
    const t = this.pending.get(key);
    if (t === undefined) return;
    this.pending.delete(key);
    this.histogram.observe({ device: String(dev) }, (performance.now() - t) / 1000);
  }
}
