// The router's conservation law, checked on its own counters (Router.stats()): every frame
// taken from a link ends in exactly one counted outcome, every forwarded request in exactly
// one response or transport failure, and everything sent towards a link was either written to
// its ring or dropped with a reason. Exact once the router is quiescent (nothing in flight,
// parked or between shards); the fuzz, fault and soak runs check it at their end.
import type { DeviceStats, EndpointStats, RouterStats } from './stats.js';

/** Drop reasons counted on the endpoint a frame was going *to* (every other drop is counted on its source). */
export const DESTINATION_DROP_REASONS: readonly string[] = ['ENDPOINT_GONE', 'ENDPOINT_STALLED', 'MSG_SIZE_GT_LINK_MAX'];

export interface AccountingEquation {
  name: string;
  /** What the equation says, in words. */
  rule: string;
  lhs: number;
  rhs: number;
  ok: boolean;
}

export interface Accounting {
  ok: boolean;
  equations: AccountingEquation[];
  /** Requests forwarded and not answered yet, frames parked now: must be 0 for the equalities to be exact. */
  inFlight: number;
  parkedNow: number;
}

function dropsTo(e: EndpointStats): number {
  let n = 0;
  for (const r of DESTINATION_DROP_REASONS) n += e.drops[r] ?? 0;
  return n;
}

const sum = <T>(xs: readonly T[], f: (x: T) => number): number => xs.reduce((t, x) => t + f(x), 0);

/**
 * The accounting invariant over `st`. Endpoints include detached ones and the retired sums;
 * devices include the removed ones (RouterStats.retired), so it holds across hotplug, detach
 * and shard restarts.
 */
export function checkAccounting(st: RouterStats): Accounting {
  const eps = [...st.endpoints, st.retired.driverLinks, st.retired.deviceLinks];
  const drivers = eps.filter((e) => e.kind === 'driver');
  const deviceLinks = eps.filter((e) => e.kind === 'device');
  const devices: DeviceStats[] = [...st.devices, st.retired.devices];
  const inFlight = sum(devices, (d) => d.inFlight);
  const parkedNow = sum(devices, (d) => d.parkedNow);
  const eq = (name: string, rule: string, lhs: number, rhs: number): AccountingEquation => ({ name, rule, lhs, rhs, ok: lhs === rhs });
  const equations = [
    eq('requests', 'requests forwarded = responses delivered + transport failures + in flight',
      sum(devices, (d) => d.requests), sum(devices, (d) => d.responses + d.failed + d.inFlight)),
    eq('from drivers', 'frames taken from driver links = forwarded to devices (requests, events) + merged events + parked + answered by the router + to the control plane + dropped at the source (by reason)',
      sum(drivers, (e) => e.rx),
      sum(devices, (d) => d.requests + d.eventsIn + d.coalesced + d.parkedNow) + sum(drivers, (e) => e.terminated + e.toControl + e.dropped - dropsTo(e))),
    eq('from devices', 'frames taken from device links = responses delivered + events forwarded + answered by the router + to the control plane + dropped at the source (by reason)',
      sum(deviceLinks, (e) => e.rx),
      sum(devices, (d) => d.responses + d.eventsOut) + sum(deviceLinks, (e) => e.terminated + e.toControl + e.dropped - dropsTo(e))),
    eq('to drivers', 'frames written to driver links + dropped on the way (gone, stalled, too large) = responses + device events + frames the router made (bus answers, EVENT_DEVICE, failure events)',
      sum(drivers, (e) => e.tx + dropsTo(e)), sum(devices, (d) => d.responses + d.eventsOut) + sum(drivers, (e) => e.generated)),
    eq('to devices', 'frames written to device links + dropped on the way = requests and events forwarded + frames the router made (PING answers)',
      sum(deviceLinks, (e) => e.tx + dropsTo(e)), sum(devices, (d) => d.requests + d.eventsIn) + sum(deviceLinks, (e) => e.generated)),
  ];
  return { ok: equations.every((e) => e.ok), equations, inFlight, parkedNow };
}

/** One line per equation that does not hold (empty when the accounting is exact). */
export function accountingViolations(a: Accounting): string[] {
  return a.equations.filter((e) => !e.ok).map((e) => `${e.name}: ${e.lhs} != ${e.rhs} (${e.rule})`);
}

/** What waitQuiescent needs of a Router. */
export interface StatsSource {
  stats(): RouterStats;
  readonly options: { readonly poolSlots: number };
}

/**
 * Resolves with the stats once nothing is in flight or parked and every shard's pool is whole
 * (seen twice, `settleMs` apart) — the moment the accounting is exact. Rejects after `timeoutMs`.
 */
export async function waitQuiescent(router: StatsSource, timeoutMs = 10_000, settleMs = 20): Promise<RouterStats> {
  const deadline = Date.now() + timeoutMs;
  const quiet = (st: RouterStats): boolean =>
    st.totals.inFlight === 0 && st.totals.parkedNow === 0 && st.shards.every((s) => s.poolFree === router.options.poolSlots);
  for (;;) {
    const st = router.stats();
    if (quiet(st)) {
      await new Promise((r) => setTimeout(r, settleMs));
      const again = router.stats();
      if (quiet(again) && again.totals.rx === st.totals.rx && again.totals.tx === st.totals.tx) return again;
    }
    if (Date.now() > deadline) {
      throw new Error(`router not quiescent after ${timeoutMs} ms: ${st.totals.inFlight} in flight, ${st.totals.parkedNow} parked, pools ${st.shards.map((s) => s.poolFree).join('/')} of ${router.options.poolSlots}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
