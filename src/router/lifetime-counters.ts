// Counters over the router's whole life. The shards count per endpoint id and per device state;
// an id is reused and a state freed, so before that happens their counters are summed here:
// into `retired` (what stats() adds to its totals), per link label (a link that reconnects under
// new endpoint ids keeps one growing series) and per device number.
import type { SharedMemory } from '../memory/shared-memory.js';
import type { RouterTables } from './tables.js';
import { LatencyCounts } from './latency-counts.js';
import {
  readRouterStats, emptyEndpointStats, emptyDeviceStats, addEndpointStats, addDeviceStats, type RouterStats, type RetiredStats, type EndpointStats, type DeviceStats,
} from './stats.js';

/** One link's counters over its whole life (Router.linkStats). */
export interface LinkStats {
  link: string;
  kind: 'driver' | 'device';
  /** Endpoints of the link attached now (a listening stream link has one per connection). */
  endpoints: number;
  counters: EndpointStats;
}

type Kind = 'driver' | 'device';

export class LifetimeCounters {
  /** Link label of every endpoint id (kept while detached, replaced when the id is reused). */
  private readonly labels = new Map<number, string>();
  /** Detached endpoints whose counters are still readable (until their id is reused). */
  private readonly detached = new Map<number, { id: number; kind: Kind }>();
  /** Counters of reused endpoint ids and removed devices. */
  private readonly retired: RetiredStats = { driverLinks: emptyEndpointStats('driver'), deviceLinks: emptyEndpointStats('device'), devices: emptyDeviceStats() };
  private readonly retiredByLink = new Map<string, EndpointStats>();
  private readonly retiredByDevice = new Map<number, DeviceStats>();
  /** Exact totals of the devices' u32 latency buckets. */
  private readonly latency: LatencyCounts;

  constructor(private readonly mem: SharedMemory, private readonly tables: RouterTables) {
    this.latency = new LatencyCounts(mem, tables.L);
  }

  /** Read the latency buckets of the device states `states()` lists often enough that none wraps unseen, until stop(). */
  followLatency(states: () => Iterable<number>): void {
    this.latency.start(states);
  }

  stop(): void {
    this.latency.stop();
  }

  setLabel(id: number, label: string): void {
    this.labels.set(id, label);
  }

  label(id: number): string | undefined {
    return this.labels.get(id);
  }

  /** Endpoint `id` was detached: still listed (detached) until its id is reused. */
  endpointDetached(id: number, kind: Kind): void {
    this.detached.set(id, { id, kind });
  }

  /** Endpoint id `id` is about to be reused (its counters zeroed): keep the old owner's in the totals. */
  idReused(id: number): void {
    const old = this.detached.get(id);
    if (old === undefined) return;
    const [st] = readRouterStats(this.mem, this.tables, [{ ...old, detached: true }], []).endpoints;
    addEndpointStats(old.kind === 'driver' ? this.retired.driverLinks : this.retired.deviceLinks, st!);
    const label = this.labels.get(id) ?? `inproc:${old.kind}`;
    let byLink = this.retiredByLink.get(label);
    if (byLink === undefined) this.retiredByLink.set(label, (byLink = emptyEndpointStats(old.kind)));
    addEndpointStats(byLink, st!);
    this.detached.delete(id);
  }

  /** Device `dev` (its state at `state`, served by `endpoint`) was removed and nothing touches its state any more. */
  deviceRemoved(dev: number, state: number, endpoint: number): void {
    const [st] = readRouterStats(this.mem, this.tables, [], [{ dev, state, endpoint }], undefined, this.latency).devices;
    this.latency.forget(state);
    addDeviceStats(this.retired.devices, st!);
    let byDev = this.retiredByDevice.get(dev);
    if (byDev === undefined) this.retiredByDevice.set(dev, (byDev = { ...emptyDeviceStats(), dev }));
    addDeviceStats(byDev, st!);
  }

  /** Every counter: the attached endpoints and devices given, the detached ones, and the retired totals. */
  read(endpoints: { id: number; kind: Kind }[], devices: { dev: number; state: number; endpoint: number }[]): RouterStats {
    const eps: { id: number; kind: Kind; detached?: boolean }[] = endpoints;
    for (const d of this.detached.values()) eps.push({ ...d, detached: true });
    return readRouterStats(this.mem, this.tables, eps, devices, this.retired, this.latency);
  }

  /** Counters per link label: live, detached and retired endpoints of the link summed. */
  byLink(st: RouterStats): LinkStats[] {
    const by = new Map<string, LinkStats>();
    const get = (label: string, kind: Kind): LinkStats => {
      let l = by.get(label);
      if (l === undefined) by.set(label, (l = { link: label, kind, endpoints: 0, counters: emptyEndpointStats(kind) }));
      return l;
    };
    for (const e of st.endpoints) {
      const l = get(this.labels.get(e.id) ?? `inproc:${e.kind}`, e.kind);
      addEndpointStats(l.counters, e);
      if (!e.detached) l.endpoints++;
    }
    for (const [label, c] of this.retiredByLink) addEndpointStats(get(label, c.kind).counters, c);
    return [...by.values()].sort((a, b) => a.link.localeCompare(b.link));
  }

  /** Counters per device number, removed devices' included; `link` serves it now ("" when not attached). */
  byDevice(st: RouterStats): (DeviceStats & { link: string })[] {
    const by = new Map<number, DeviceStats & { link: string }>();
    for (const [dev, c] of this.retiredByDevice) by.set(dev, { ...c, inFlight: 0, parkedNow: 0, link: '' });
    for (const d of st.devices) {
      const cur = by.get(d.dev) ?? { ...emptyDeviceStats(), dev: d.dev, link: '' };
      addDeviceStats(cur, d);
      cur.endpoint = d.endpoint;
      cur.link = this.labels.get(d.endpoint) ?? '';
      by.set(d.dev, cur);
    }
    return [...by.values()].sort((a, b) => a.dev - b.dev);
  }
}
