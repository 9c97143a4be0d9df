// A driver's FrameChannel (src/bus/bus-link.ts) through a modelled bus: what `vmsg bench
// --target URI --model NAME` (or `?model=NAME` on the URI) drives when a model describes the far
// side. The caller is the driver on the modelled bus; the wrapped channel reaches the real
// target. Everything runs in the caller's thread (src/bus/model/model-core.ts): a frame sent
// takes one of the model's slots until its notification has landed and it is handed to the
// target; requests beyond the model's window wait (send still accepts them, as a kernel
// transport queues its callers); answers are readable once their notification has landed; the
// bus's answers carry the model's token. The caller always drains answers, so the full-queue
// policy toward it never applies here. Notification costs are delays on performance.now().
import type { FrameChannel } from '../bus-link.js';
import { loadBusModel, type BusModel } from '../../model/bus-model.js';
import { MC, ModelCore, readCounters, type ModelCounters } from './model-core.js';
import { msgSizeAt } from '../../protocol/header.js';

/** Below this many µs to a due frame, wait() spins instead of yielding to the event loop. */
const SPIN_US = 1000;

const clock = (): number => performance.now() * 1000;

export class ModelChannel implements FrameChannel {
  readonly maxMessageSize: number;
  readonly eventDriven: boolean | undefined;
  readonly model: BusModel;
  private readonly core: ModelCore;
  /** Frames sent and being notified toward the target (each holds a slot). */
  private readonly toFar: { f: Uint8Array; due: number }[] = [];
  /** Answers being notified toward us. */
  private readonly toNear: { f: Uint8Array; due: number }[] = [];
  private batchOpen = false;

  constructor(private readonly inner: FrameChannel, model: string | BusModel) {
    this.model = typeof model === 'string' ? loadBusModel(model) : model;
    this.core = new ModelCore(this.model, 'driver');
    this.maxMessageSize = Math.min(this.model.maxFrame, inner.maxMessageSize);
    this.eventDriven = inner.eventDriven;
  }

  counters(): ModelCounters {
    return readCounters(this.core.counters);
  }

  send(frame: Uint8Array): boolean {
    const size = frame.length >= 8 ? msgSizeAt(frame, 0) : frame.length;
    if (this.toFar.length >= this.model.slots) return false;
    if (size > this.maxMessageSize) {
      // The bus cannot carry it: a counted drop (counters().tooLarge), as on the wire; its request goes unanswered.
      this.core.counters[MC.tooLarge]!++;
      return true;
    }
    const now = clock();
    const out = this.core.fromNear(frame.slice(0, Math.max(8, Math.min(size, frame.length))), now);
    if (out !== null) {
      this.toFar.push({ f: out, due: this.core.toFarClock.due(now, this.batchOpen) });
      this.batchOpen = true;
    }
    return true;
  }

  flush(): void {
    this.core.toFarClock.endBatch();
    this.batchOpen = false;
    this.pump();
  }

  /** Move what is due both ways; take the target's answers into the model. */
  private pump(): void {
    const now = clock();
    const core = this.core;
    core.expire(now);
    for (const f of core.released(now)) this.toFar.push({ f, due: core.toFarClock.due(now) });
    let sent = 0;
    while (this.toFar.length > 0 && this.toFar[0]!.due <= now) {
      if (!this.inner.send(this.toFar[0]!.f)) break;
      this.toFar.shift();
      sent++;
    }
    if (sent > 0) this.inner.flush();
    let got = 0;
    for (let f = this.inner.recv(); f !== null; f = this.inner.recv()) {
      const out = core.fromFar(f, now);
      if (out !== null) this.toNear.push({ f: out, due: core.toNearClock.due(now, got++ > 0) });
    }
    core.toNearClock.endBatch();
    // Answers may have opened the window for held requests.
    for (const f of core.released(now)) this.toFar.push({ f, due: core.toFarClock.due(now) });
  }

  recv(): Uint8Array | null {
    // A ready answer is handed out without another pump: a caller drains a batch in one pass.
    let head = this.toNear[0];
    if (head === undefined || head.due > clock()) {
      this.pump();
      head = this.toNear[0];
      if (head === undefined || head.due > clock()) return null;
    }
    this.toNear.shift();
    return head.f;
  }

  async wait(timeoutMs: number): Promise<boolean> {
    const deadline = clock() + timeoutMs * 1000;
    for (;;) {
      this.pump();
      const now = clock();
      if (this.toNear.length > 0 && this.toNear[0]!.due <= now) return true;
      if (now >= deadline) return false;
      let next = deadline;
      if (this.toNear.length > 0) next = Math.min(next, this.toNear[0]!.due);
      if (this.toFar.length > 0) next = Math.min(next, this.toFar[0]!.due);
      next = Math.min(next, this.core.nextDeadline());
      if (next - now < SPIN_US) continue;
      await this.inner.wait(Math.max(0, (next - now - SPIN_US / 2) / 1000));
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
