// When a load sends: closed loop (each device keeps K operations in flight, a new one goes out
// when one ends) or open loop (operation i is due at start + i / rate whatever happened before,
// round-robin over devices with room, and keeps its intended time however late it goes out, so
// a stalled bus is charged the wait). Also when the run stops sending: the end of the measured
// period, the count of measured operations, or the abort signal.
import type { InFlight, DeviceLoad } from './in-flight.js';
import type { LoadOptions, LoadPlan } from './load-options.js';
import type { LoadMetrics } from './load-metrics.js';
import type { LoadSender } from './load-sender.js';

/** Sends per loop pass at most, so answers are read while a burst goes out. */
const SEND_BURST = 1024;
/**
 * Open loop: when the next send is due sooner than this, poll instead of sleeping. A sleep
 * ends on a timer (about 1 ms granularity, more on a busy machine) and every late send would
 * show up as latency, since latency counts from the intended time.
 */
export const SPIN_BEFORE_DUE_MS = 2;

export class SendSchedule {
  /** Measured operations sent so far. */
  measuredIssued = 0;
  private readonly open: boolean;
  private readonly period: number;
  /** Open loop: the intended time of the next operation. */
  private nextDue = 0;
  /** Open loop: the device to try first. */
  private rr = 0;
  private windowBlocked = false;
  private stopAt = Infinity;

  constructor(
    private readonly plan: LoadPlan, private readonly opts: LoadOptions,
    private readonly flight: InFlight, private readonly sender: LoadSender, private readonly metrics: LoadMetrics,
  ) {
    this.open = plan.loop === 'open';
    this.period = this.open ? 1000 / opts.rate! : 0;
  }

  /** Traffic starts at `loadStart`; the measured period starts at metrics.measureStart. */
  start(loadStart: number): void {
    this.nextDue = loadStart;
    if (this.plan.durationS !== undefined) this.stopAt = this.metrics.measureStart + this.plan.durationS * 1000;
  }

  /**
   * Whether operations are still to be sent at `now`. Open loop asks about the next operation's
   * intended time, so a generator that fell behind still sends every operation due before the end.
   */
  sending(now: number): boolean {
    return this.issuing(this.open ? this.nextDue : now);
  }

  private issuing(at: number): boolean {
    if (this.opts.signal?.aborted === true) return false;
    if (this.opts.count !== undefined) return at < this.metrics.measureStart || this.measuredIssued < this.opts.count;
    return at < this.stopAt;
  }

  /** Send what is due at `now` (at most one burst); returns how many went out. */
  sendDue(now: number): number {
    return this.open ? this.sendOpen(now) : this.sendClosed(now);
  }

  private sendClosed(now: number): number {
    const outstanding = this.plan.outstanding, measured = now >= this.metrics.measureStart;
    let burst = 0;
    for (const o of this.flight.devices) {
      while (o.inFlight < outstanding && burst < SEND_BURST && this.issuing(now)) {
        if (!this.sender.issue(o, now, now, measured)) break;
        if (measured) this.measuredIssued++;
        burst++;
      }
    }
    return burst;
  }

  private sendOpen(now: number): number {
    const devices = this.flight.devices, outstanding = this.plan.outstanding;
    let burst = 0;
    while (this.nextDue <= now && burst < SEND_BURST && this.issuing(this.nextDue)) {
      // Round-robin over devices with room; the operation keeps its intended time however late it goes.
      let o: DeviceLoad | undefined;
      for (let i = 0; i < devices.length && o === undefined; i++) {
        const c = devices[(this.rr + i) % devices.length]!;
        if (c.inFlight < outstanding) o = c;
      }
      if (o === undefined) {
        if (!this.windowBlocked) this.metrics.counters.window_full++;
        this.windowBlocked = true;
        break;
      }
      this.windowBlocked = false;
      const measured = this.nextDue >= this.metrics.measureStart;
      if (!this.sender.issue(o, this.nextDue, now, measured)) break;
      this.rr = (devices.indexOf(o) + 1) % devices.length;
      if (measured) this.measuredIssued++;
      this.nextDue += this.period;
      burst++;
    }
    return burst;
  }

  /** How long the loop may wait for answers: open loop sleeps until just before the next send is due, then polls. */
  idleMs(sending: boolean): number {
    return this.open && sending ? Math.min(5, this.nextDue - performance.now() - SPIN_BEFORE_DUE_MS / 2) : 5;
  }

  /** Share of the measured period (or count) done at `now`, 0..1. */
  fraction(now: number): number {
    if (this.opts.count !== undefined) return this.measuredIssued / this.opts.count;
    const start = this.metrics.measureStart;
    return Math.max(0, Math.min(1, (now - start) / (this.stopAt - start)));
  }
}
