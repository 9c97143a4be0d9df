// Reads the router's counters from shared memory while the shards run (no stopping, no
// messages): per shard, per endpoint (summed over the shards that counted), per device.
// Counters outlive their endpoint or device: a detached endpoint stays listed (detached: true)
// until its id is reused, then it and every removed device are summed into `retired`, so the
// totals always cover the router's whole life (the accounting invariant needs that).
import type { LatencyCounts } from './latency-counts.js';
import type { SharedMemory } from '../memory/shared-memory.js';
import type { RouterTables } from './tables.js';
import { reasonName } from '../protocol/reasons.js';

export interface EndpointStats {
  id: number;
  kind: 'driver' | 'device';
  /** Frames the router took from the endpoint's ring. */
  rx: number;
  /** Frames the router wrote to the endpoint's ring. */
  tx: number;
  /** Bytes of the frames counted in `rx` (msg_size each; a malformed frame counts at most the buffer it came in). */
  rxBytes: number;
  /** Bytes of the frames counted in `tx` (msg_size each). */
  txBytes: number;
  /** Bus requests the router answered itself (GET_DEVICES, PING). */
  terminated: number;
  /** Frames the router made for it (bus responses, EVENT_DEVICE, failure events). */
  generated: number;
  /** Requests of this driver that ended in a transport failure. */
  failures: number;
  /** Times its ring was held back (backpressure). */
  stalls: number;
  toControl: number;
  dropped: number;
  drops: Record<string, number>;
  /** Detached: its counters still grow with frames that were on their way to it (ENDPOINT_GONE) or, a driver's, held from it (SOURCE_GONE). */
  detached: boolean;
}

export interface DeviceStats {
  dev: number;
  endpoint: number;
  requests: number;
  responses: number;
  failed: number;
  timeouts: number;
  eventsIn: number;
  eventsOut: number;
  held: number;
  parked: number;
  /** EVENT_AVAIL merged into one already queued for the same virtqueue. */
  coalesced: number;
  /** Requests forwarded and not yet answered towards their driver. */
  inFlight: number;
  /** Frames parked for it right now. */
  parkedNow: number;
  /** Latency of its answered requests (`responses` of them), forwarded to handed to the driver. */
  latency: LatencyHistogram;
}

/**
 * A device's request latency histogram (layout DS_LAT_*): `counts[b]` answers took under
 * LATENCY_BOUNDS_US[b] µs and at least the bound before it; the last count has no bound.
 */
export interface LatencyHistogram {
  counts: number[];
  sumUs: number;
}

/** Upper bounds (µs) of the latency buckets but the last: 1, 2, 4, ... 2^24 µs. */
export const LATENCY_BOUNDS_US: readonly number[] = Array.from({ length: 25 }, (_, b) => 2 ** b);

/** An empty latency histogram. */
export function emptyLatency(): LatencyHistogram {
  return { counts: new Array<number>(LATENCY_BOUNDS_US.length + 1).fill(0), sumUs: 0 };
}

export interface ShardStats {
  id: number;
  loops: number;
  frames: number;
  stalls: number;
  crossShardSent: number;
  toControl: number;
  poolEmpty: number;
  poolFree: number;
}

/** Counters of endpoints whose ids were reused and of removed devices, summed. */
export interface RetiredStats {
  driverLinks: EndpointStats;
  deviceLinks: EndpointStats;
  devices: DeviceStats;
}

export interface RouterStats {
  shards: ShardStats[];
  endpoints: EndpointStats[];
  devices: DeviceStats[];
  retired: RetiredStats;
  /** Everything above summed: live, detached and retired endpoints and devices. */
  totals: {
    rx: number;
    tx: number;
    terminated: number;
    generated: number;
    failures: number;
    dropped: number;
    dropsByReason: Record<string, number>;
    inFlight: number;
    parkedNow: number;
  };
}

/** Zeroed endpoint counters (the `retired` sums start from these). */
export function emptyEndpointStats(kind: 'driver' | 'device'): EndpointStats {
  return { id: -1, kind, rx: 0, tx: 0, rxBytes: 0, txBytes: 0, terminated: 0, generated: 0, failures: 0, stalls: 0, toControl: 0, dropped: 0, drops: {}, detached: true };
}

/** Zeroed device counters. */
export function emptyDeviceStats(): DeviceStats {
  return { dev: -1, endpoint: -1, requests: 0, responses: 0, failed: 0, timeouts: 0, eventsIn: 0, eventsOut: 0, held: 0, parked: 0, coalesced: 0, inFlight: 0, parkedNow: 0, latency: emptyLatency() };
}

const ENDPOINT_SUMS = ['rx', 'tx', 'rxBytes', 'txBytes', 'terminated', 'generated', 'failures', 'stalls', 'toControl', 'dropped'] as const;
const DEVICE_SUMS = ['requests', 'responses', 'failed', 'timeouts', 'eventsIn', 'eventsOut', 'held', 'parked', 'coalesced', 'inFlight', 'parkedNow'] as const;

/** Add `from`'s counters into `into`. */
export function addEndpointStats(into: EndpointStats, from: EndpointStats): void {
  for (const k of ENDPOINT_SUMS) into[k] += from[k];
  for (const [r, n] of Object.entries(from.drops)) into.drops[r] = (into.drops[r] ?? 0) + n;
}

/** Add `from`'s counters into `into`. */
export function addDeviceStats(into: DeviceStats, from: DeviceStats): void {
  for (const k of DEVICE_SUMS) into[k] += from[k];
  // A new histogram, never added into in place: `into` may be a shallow copy sharing one.
  into.latency = { counts: into.latency.counts.map((n, b) => n + from.latency.counts[b]!), sumUs: into.latency.sumUs + from.latency.sumUs };
}

export function readRouterStats(
  mem: SharedMemory,
  tables: RouterTables,
  endpoints: { id: number; kind: 'driver' | 'device'; detached?: boolean }[],
  devices: { dev: number; state: number; endpoint: number }[],
  retired: RetiredStats = { driverLinks: emptyEndpointStats('driver'), deviceLinks: emptyEndpointStats('device'), devices: emptyDeviceStats() },
  /** Widens the u32 latency buckets (src/router/latency-counts.ts); without it they are read as they are, exact below 2^32. */
  latency?: LatencyCounts,
): RouterStats {
  const L = tables.L;
  const big = new BigUint64Array(mem.buffer);
  const u32 = mem.u32;
  const c64 = (addr: number): number => Number(big[addr / 8]!);
  const shards: ShardStats[] = tables.shards.map((sh, id) => ({
    id,
    loops: c64(sh + L.SH_C_LOOPS),
    frames: c64(sh + L.SH_C_FRAMES),
    stalls: c64(sh + L.SH_C_STALLS),
    crossShardSent: c64(sh + L.SH_C_XS_SENT),
    toControl: c64(sh + L.SH_C_CTRL),
    poolEmpty: c64(sh + L.SH_C_POOL_EMPTY),
    poolFree: u32[(sh + L.SH_POOL_TOP) >>> 2]!,
  }));
  const totals = { rx: 0, tx: 0, terminated: 0, generated: 0, failures: 0, dropped: 0, dropsByReason: {} as Record<string, number>, inFlight: 0, parkedNow: 0 };
  const eps: EndpointStats[] = endpoints.map(({ id, kind, detached }) => {
    const sum = (idx: number): number => {
      let t = 0;
      for (let s = 0; s < tables.shards.length; s++) t += c64(tables.counterAddr(s, id, idx));
      return t;
    };
    const drops: Record<string, number> = {};
    let dropped = 0;
    for (let r = 1; r < L.EC_COUNTERS - L.EC_DROP_BASE; r++) {
      const n = sum(L.EC_DROP_BASE + r);
      if (n !== 0) {
        const name = reasonName(r);
        drops[name] = n;
        dropped += n;
      }
    }
    return {
      id, kind, rx: sum(L.EC_RX), tx: sum(L.EC_TX), rxBytes: sum(L.EC_RX_BYTES), txBytes: sum(L.EC_TX_BYTES), terminated: sum(L.EC_TERMINATED), generated: sum(L.EC_GENERATED),
      failures: sum(L.EC_FAILURES), stalls: sum(L.EC_STALLS), toControl: sum(L.EC_TO_CONTROL), dropped, drops,
      detached: detached === true,
    };
  });
  for (const st of [...eps, retired.driverLinks, retired.deviceLinks]) {
    totals.rx += st.rx;
    totals.tx += st.tx;
    totals.terminated += st.terminated;
    totals.generated += st.generated;
    totals.failures += st.failures;
    totals.dropped += st.dropped;
    for (const [name, n] of Object.entries(st.drops)) totals.dropsByReason[name] = (totals.dropsByReason[name] ?? 0) + n;
  }
  const devs: DeviceStats[] = devices.map(({ dev, state: ds, endpoint }) => {
    const st: DeviceStats = {
      dev, endpoint,
      requests: c64(ds + L.DS_C_REQUESTS), responses: c64(ds + L.DS_C_RESPONSES), failed: c64(ds + L.DS_C_FAILED),
      timeouts: c64(ds + L.DS_C_TIMEOUTS), eventsIn: c64(ds + L.DS_C_EVENTS_IN), eventsOut: c64(ds + L.DS_C_EVENTS_OUT),
      held: c64(ds + L.DS_C_HELD), parked: c64(ds + L.DS_C_PARKED), coalesced: c64(ds + L.DS_C_COALESCED),
      inFlight: c64(ds + L.DS_C_REQUESTS) - c64(ds + L.DS_C_RESPONSES) - c64(ds + L.DS_C_FAILED),
      parkedNow: u32[(ds + L.DS_PARK_COUNT) >>> 2]!,
      latency: { counts: latency?.read(ds) ?? Array.from(u32.subarray((ds + L.DS_LAT_BUCKETS) >>> 2, ((ds + L.DS_LAT_BUCKETS) >>> 2) + L.DS_LAT_N)), sumUs: c64(ds + L.DS_LAT_SUM) },
    };
    totals.inFlight += st.inFlight;
    totals.parkedNow += st.parkedNow;
    return st;
  });
  return { shards, endpoints: eps, devices: devs, retired: structuredClone(retired), totals };
}
