// Sending one operation of a load: the device's next step (or the one a full bus refused last
// time), a token from its ordering domain, the frame built into one reused buffer, and the
// operation tracked in flight once the bus took it.
import type { FrameChannel } from '../bus/bus-link.js';
import type { InFlight, DeviceLoad, Pending } from './in-flight.js';
import type { LoadMetrics } from './load-metrics.js';
import { OP_WIRE, buildStep, type Step } from './requests.js';

export class LoadSender {
  private readonly scratch: Uint8Array;
  private readonly scratchDv: DataView;

  constructor(private readonly channel: FrameChannel, private readonly flight: InFlight, private readonly metrics: LoadMetrics) {
    this.scratch = new Uint8Array(Math.max(channel.maxMessageSize, 64));
    this.scratchDv = new DataView(this.scratch.buffer);
  }

  /**
   * Send device `o`'s next operation, due at `intended`, at `now`; `forced`: this step instead
   * (the probe's). False when the bus refused it (kept to be sent first next time).
   */
  issue(o: DeviceLoad, intended: number, now: number, measured: boolean, forced?: Step): boolean {
    let vq = -1;
    let step: Step;
    if (forced !== undefined) step = forced;
    else if (o.retry !== undefined) ({ step, vq } = o.retry);
    else {
      // A queue with nothing in flight when there is one; otherwise the next in turn (its
      // notifications then share one EVENT_USED, as merged notifications do).
      step = o.session.next(() => (vq = o.freeQueues.length > 0 ? o.freeQueues.shift()! : (o.nextQueue = (o.nextQueue + 1) % o.queues)));
    }
    const wire = OP_WIRE[step.op];
    const fifo = wire.event ? undefined : wire.bus ? this.flight.bus : o.fifo;
    const token = fifo === undefined ? 0 : fifo.token();
    buildStep(this.scratch, this.scratchDv, step, o.dev, token);
    if (!this.channel.send(this.scratch)) {
      if (forced === undefined) o.retry = { step, vq };
      this.metrics.refused(now);
      return false;
    }
    if (forced === undefined) o.retry = undefined;
    this.metrics.accepted(now, this.flight.count === 0);
    const p: Pending = { step, token, owner: o, fifo, intended, sentAt: now, measured, settled: false, seq: 0 };
    this.flight.add(p);
    return true;
  }
}
