// What a load run measures while it runs: the frame and outcome counts, the latency histograms
// (the run, per message, per device, per init sequence, per timeline interval), the timeline's
// intervals, the listed events, queue-full episodes and stalls. The engine reports into it; the
// result is assembled from it (build-result.ts).
import type { Histogram } from 'hdr-histogram-js';
import { newSessionCounters } from './device-session.js';
import { encodeHistogram, newHistogram, p50p99, recordMs } from './latency.js';
import type { EventKind, LoadCounters, LoadEvent, Timeline } from './result.js';

/** Events listed in the result; later ones are only counted. */
const MAX_LISTED_EVENTS = 200;

export class LoadMetrics {
  readonly counters: LoadCounters = { ...newSessionCounters(), events_used: 0, extra_events: 0, config_events: 0, device_events: 0, pings_answered: 0, window_full: 0, other_frames: 0 };
  readonly overall = newHistogram();
  readonly perMessage = new Map<string, Histogram>();
  readonly sequence = newHistogram();
  /** Per device (the report's per-device table) and per init sequence per device. */
  readonly perDevice = new Map<number, Histogram>();
  readonly perDeviceSequence = new Map<number, Histogram>();
  private interval = newHistogram();
  readonly errorKinds: Record<string, number> = {};
  /** Listed events with their time (performance.now() ms); t_s is filled in by `finish`. */
  readonly events: (LoadEvent & { at: number })[] = [];
  eventsNotListed = 0;
  readonly timeline: Timeline;

  sent = 0;
  received = 0;
  /** Measured operations answered well. */
  completed = 0;
  errors = 0;
  orderViolations = 0;
  timeouts = 0;
  transportFailures = 0;
  queueFull = 0;
  stalls = 0;
  stallTotalMs = 0;
  lastMeasuredCompletion = 0;
  /** Start of the measured period (performance.now() ms), set once the probe is done. */
  measureStart = Infinity;

  // The current timeline interval's counts.
  private iOps = 0;
  private iErrors = 0;
  private iQueueFull = 0;
  private iStalls = 0;

  private queueBlocked = false;
  private lastCompletion = performance.now();
  private stallSince: number | undefined;

  constructor(private readonly intervalMs: number, private readonly stallMs: number) {
    this.timeline = { interval_s: intervalMs / 1000, t_s: [], ops: [], errors: [], queue_full: [], stalls: [], p50_us: [], p99_us: [], hdr: [] };
  }

  note(at: number, kind: EventKind, detail: string): void {
    if (this.events.length < MAX_LISTED_EVENTS) this.events.push({ at, t_s: 0, kind, detail });
    else this.eventsNotListed++;
  }

  error(now: number, kind: string, detail: string, eventKind: EventKind = 'error'): void {
    this.errors++;
    this.iErrors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
    this.note(now, eventKind, `${kind}: ${detail}`);
  }

  /** The bus refused a frame: one queue-full episode until a send is accepted again. */
  refused(now: number): void {
    if (this.queueBlocked) return;
    this.queueBlocked = true;
    this.queueFullEpisode(now);
  }

  /** A queue-full episode began at `now` (the WASM engine tells episodes apart itself). */
  queueFullEpisode(now: number): void {
    this.queueFull++;
    this.iQueueFull++;
    this.note(now, 'queue_full', 'the bus refused a frame (its ring is full)');
  }

  /** A stall of `ms` that began at `since` ended (the WASM engine's stall watch). */
  stallEnded(since: number, ms: number): void {
    this.stalls++;
    this.iStalls++;
    this.stallTotalMs += ms;
    this.note(since, 'stall', `no answer for ${ms.toFixed(1)} ms with operations in flight`);
  }

  /** A stall that began at `since` is still open (finish() counts it to the end). */
  stallOpen(since: number): void {
    this.stallSince = since;
  }

  /**
   * The WASM engine's figures of the interval about to close: its completions and their
   * latency histogram (`fill` records them into the interval's histogram).
   */
  intervalFrom(ops: number, fill: (h: Histogram) => void): void {
    this.iOps += ops;
    fill(this.interval);
  }

  /** A frame went out. `wasIdle`: nothing was in flight, so a stall's clock starts now. */
  accepted(now: number, wasIdle: boolean): void {
    this.queueBlocked = false;
    this.sent++;
    if (wasIdle) this.lastCompletion = now;
  }

  /**
   * A request ended at `now` (answered, failed or expired). A stall is judged from the answers
   * as the driver saw them: a gap over stallMs with something in flight, even if this thread
   * was not looking while it happened.
   */
  ended(now: number): void {
    let since = this.stallSince;
    if (since === undefined && now - this.lastCompletion > this.stallMs) since = this.lastCompletion;
    this.lastCompletion = now;
    if (since === undefined) return;
    const d = now - since;
    this.stalls++;
    this.iStalls++;
    this.stallTotalMs += d;
    this.note(since, 'stall', `no answer for ${d.toFixed(1)} ms with operations in flight`);
    this.stallSince = undefined;
  }

  /** No answer for stallMs while `inFlight` requests are open: a stall began at the last answer. */
  watchStall(now: number, inFlight: number): void {
    if (this.stallSince === undefined && inFlight > 0 && now - this.lastCompletion > this.stallMs) this.stallSince = this.lastCompletion;
  }

  /** A measured operation `op` to device `dev` answered well after `ms`. */
  record(op: string, dev: number, ms: number, now: number): void {
    recordMs(this.overall, ms);
    recordMs(this.interval, ms);
    let h = this.perMessage.get(op);
    if (h === undefined) this.perMessage.set(op, (h = newHistogram()));
    recordMs(h, ms);
    let hd = this.perDevice.get(dev);
    if (hd === undefined) this.perDevice.set(dev, (hd = newHistogram()));
    recordMs(hd, ms);
    this.completed++;
    this.iOps++;
    this.lastMeasuredCompletion = now;
  }

  /** A measured init sequence of device `dev` completed after `ms`. */
  recordSequence(dev: number, ms: number): void {
    recordMs(this.sequence, ms);
    let hs = this.perDeviceSequence.get(dev);
    if (hs === undefined) this.perDeviceSequence.set(dev, (hs = newHistogram()));
    recordMs(hs, ms);
  }

  /** p99 of the run so far, µs (0 before the first measured answer). */
  p99Us(): number {
    return this.overall.totalCount > 0 ? this.overall.getValueAtPercentile(99) / 1000 : 0;
  }

  /** End the timeline interval that ends at `end`. */
  closeInterval(end: number): void {
    const t = this.timeline;
    t.t_s.push(Number(((end - this.measureStart) / 1000).toFixed(4)));
    t.ops.push(this.iOps);
    t.errors.push(this.iErrors);
    t.queue_full.push(this.iQueueFull);
    t.stalls.push(this.iStalls);
    const s = p50p99(this.interval);
    t.p50_us.push(s.p50_us);
    t.p99_us.push(s.p99_us);
    // The interval's whole histogram: the comparison's bootstrap and the report's merged
    // intervals work from these (a percentile of percentiles would not be one).
    t.hdr!.push(encodeHistogram(this.interval));
    this.iOps = this.iErrors = this.iQueueFull = this.iStalls = 0;
    this.interval = newHistogram();
  }

  /** The run ended at `end`: a stall still open counts to the end, the last interval closes, events get their times. */
  finish(end: number): void {
    const since = this.stallSince;
    if (since !== undefined) {
      this.stalls++;
      this.stallTotalMs += end - since;
      this.note(since, 'stall', `no answer for ${(end - since).toFixed(1)} ms with operations in flight`);
    }
    if (this.iOps + this.iErrors + this.iQueueFull + this.iStalls > 0 || this.timeline.t_s.length === 0) this.closeInterval(Math.max(end, this.measureStart));
    for (const e of this.events) e.t_s = Number(((e.at - this.measureStart) / 1000).toFixed(4));
  }
}
