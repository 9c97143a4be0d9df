// A router endpoint driven from the Node event loop, for the device and driver SDKs: frames
// in and out through an EndpointPort, a send that never blocks (an outbox holds frames while
// the ring to the router is full), and an idle wait that spins, then sleeps on the endpoint's
// doorbell with Atomics.waitAsync (src/wait/idle-strategy.ts, waitForAsync), so promise
// completions (DMA, user code) keep running meanwhile.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EndpointPort } from './port.js';
import type { LinkDescriptor } from './link.js';
import { SpinThenSleep, type IdleStrategy } from '../wait/idle-strategy.js';
import { HDR_SIZE } from '../protocol/constants.js';
import { msgSizeAt } from '../protocol/header.js';

export interface AsyncEndpointOptions {
  /** Compiled hot path (pass the parent's to a worker so it does not compile again). */
  module?: WebAssembly.Module;
  /** Polls before sleeping on the doorbell once idle. Default 200 (a wake-up costs ~50 µs, a poll ~0.1 µs). */
  spinBeforeSleep?: number;
  /** Longest single sleep: how often an idle loop looks at its stop condition and deadlines. Default 5 ms. */
  maxSleepMs?: number;
}

/** Merge key of a virtqueue event (EVENT_AVAIL / EVENT_USED) for AsyncEndpoint.send. */
export function queueEventKey(dev: number, msgId: number, vq: number): number {
  return (dev * 0x100 + msgId) * 0x1_0000 + (vq & 0xffff);
}

/** Counters of one endpoint, as the stress and demo reports show them. */
export interface EndpointCounters {
  framesIn: number;
  framesOut: number;
  /** Times a frame found the ring to the router full and had to wait in the outbox. */
  queueFull: number;
  /** Total time frames spent waiting in the outbox (ms). */
  stallMs: number;
  /** Events not sent because the same event was still waiting in the outbox (merged into it). */
  merged: number;
  /** Times the loop went to sleep on the doorbell. */
  sleeps: number;
}

export class AsyncEndpoint {
  readonly port: EndpointPort;
  readonly link: LinkDescriptor;
  readonly maxMessageSize: number;
  readonly counters: EndpointCounters = { framesIn: 0, framesOut: 0, queueFull: 0, stallMs: 0, merged: 0, sleeps: 0 };
  /** How the loop waits once idle: spin over hasWork, then sleep at most maxSleepMs. */
  private readonly idle: IdleStrategy;
  private readonly maxSleepMs: number;
  /** Frames waiting for room in the ring, oldest first (order is kept: nothing overtakes them). */
  private outbox: Uint8Array[] = [];
  private outboxHead = 0;
  /** Merge keys of the events waiting in the outbox. */
  private readonly waitingEvents = new Set<number>();
  private readonly outboxKeys: (number | undefined)[] = [];
  private stalledSince = 0;

  constructor(link: LinkDescriptor, opts: AsyncEndpointOptions = {}) {
    this.link = link;
    this.port = new EndpointPort(link, { spinBeforeSleep: 0 }, opts.module);
    this.maxMessageSize = link.maxMessageSize;
    this.idle = new SpinThenSleep(opts.spinBeforeSleep ?? 200);
    this.maxSleepMs = opts.maxSleepMs ?? 5;
  }

  /** Frames waiting in the outbox. */
  get pending(): number {
    return this.outbox.length - this.outboxHead;
  }

  /**
   * Queue `frame` (exactly msg_size bytes) for the router. Goes straight into the ring when
   * nothing is waiting and there is room, else into the outbox. Never blocks; call flush().
   *
   * `mergeKey` marks an event that means "look at this virtqueue" (EVENT_AVAIL, EVENT_USED):
   * while one with the same key still waits in the outbox, another adds nothing — the receiver
   * reads the ring when the first arrives, and sees everything published before it was sent —
   * so it is merged into it (counted) instead of queueing without bound behind a full ring,
   * as the router merges EVENT_AVAILs queued for a busy device.
   */
  send(frame: Uint8Array, mergeKey?: number): void {
    if (this.pending === 0 && this.port.send(frame)) {
      this.counters.framesOut++;
      return;
    }
    if (mergeKey !== undefined && this.waitingEvents.has(mergeKey)) {
      this.counters.merged++;
      return;
    }
    if (this.pending === 0) {
      this.counters.queueFull++;
      this.stalledSince = performance.now();
    }
    this.outbox.push(frame);
    this.outboxKeys.push(mergeKey);
    if (mergeKey !== undefined) this.waitingEvents.add(mergeKey);
  }

  /** Move what fits from the outbox into the ring and publish. Returns frames moved. */
  flush(): number {
    let moved = 0;
    while (this.outboxHead < this.outbox.length) {
      if (!this.port.send(this.outbox[this.outboxHead]!)) break;
      const key = this.outboxKeys[this.outboxHead];
      if (key !== undefined) this.waitingEvents.delete(key);
      this.outboxHead++;
      moved++;
    }
    if (moved > 0) {
      this.counters.framesOut += moved;
      if (this.outboxHead === this.outbox.length) {
        this.outbox = [];
        this.outboxKeys.length = 0;
        this.outboxHead = 0;
        this.counters.stallMs += performance.now() - this.stalledSince;
      }
    }
    this.port.flush();
    return moved;
  }

  /**
   * Hand up to `budget` frames from the router to `onFrame`. The view is valid only during
   * the call (it is the ring slot): decode or copy what you keep.
   */
  receive(onFrame: (frame: Uint8Array) => void, budget = 256): number {
    const { port } = this;
    let n = 0;
    for (; n < budget; n++) {
      const at = port.peek();
      if (at === 0) break;
      const size = msgSizeAt(port.u8, at);
      // The router checked msg_size against this link's maximum; never read past the slot anyway.
      const len = Math.min(Math.max(size, HDR_SIZE), this.maxMessageSize);
      try {
        onFrame(port.u8.subarray(at, at + len));
      } finally {
        port.release();
      }
    }
    if (n > 0) {
      this.counters.framesIn += n;
      port.flushReceived();
    }
    return n;
  }

  /**
   * receive() without a view per frame: `onFrame(at, size)` gets the frame's offset in port.u8 /
   * port.dv and its msg_size (at least the header; the router checked it against this link's
   * maximum, and it is clamped to it anyway). Valid only during the call.
   */
  receiveAt(onFrame: (at: number, size: number) => void, budget = 256): number {
    const { port } = this;
    const u8 = port.u8;
    let n = 0;
    for (; n < budget; n++) {
      const at = port.peek();
      if (at === 0) break;
      const size = msgSizeAt(u8, at);
      try {
        onFrame(at, Math.min(Math.max(size, HDR_SIZE), this.maxMessageSize));
      } finally {
        port.release();
      }
    }
    if (n > 0) {
      this.counters.framesIn += n;
      port.flushReceived();
    }
    return n;
  }

  /**
   * A free ring slot for a frame of up to maxMessageSize bytes, built in place (port.u8 from the
   * returned offset), or 0 when frames wait in the outbox or the ring is full: then send().
   * Hand it over with commitReserved().
   */
  reserve(): number {
    return this.pending === 0 ? this.port.reserve() : 0;
  }

  /** The frame built in the slot of reserve() goes to the router (published with flush()). */
  commitReserved(): void {
    this.port.commit();
    this.counters.framesOut++;
  }

  /** True when a frame from the router is readable. */
  readable(): boolean {
    return this.port.peek() !== 0;
  }

  /** Wake this endpoint's own loop if it sleeps (e.g. from a completion callback). */
  wake(): void {
    this.port.bell.ring();
  }

  /**
   * Run `step` (one pass of the owner's work; returns how much it did) until `stopped()`.
   * Between busy passes the event loop gets a turn now and then; once idle the loop polls
   * `hasWork` a bounded number of times, then sleeps on the doorbell (at most maxSleepMs).
   */
  async run(step: () => number, hasWork: () => boolean, stopped: () => boolean): Promise<void> {
    // A pending Atomics.waitAsync does not keep Node's event loop alive: without this handle a
    // worker with nothing else to do would end while its endpoint sleeps.
    const keepAlive = setInterval(() => undefined, 0x7fff_ffff);
    try {
      await this.loop(step, hasWork, stopped);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async loop(step: () => number, hasWork: () => boolean, stopped: () => boolean): Promise<void> {
    // Room for a waiting outbox is work too: the router rings a sleeping producer only when it
    // freed room the producer lacked, so the last look before a sleep must see room as well.
    const look = (): boolean => hasWork() || (this.pending > 0 && this.port.roomBack());
    let busy = 0;
    while (!stopped()) {
      if (step() > 0) {
        if ((++busy & 15) === 0) await nextTurn();
        continue;
      }
      busy = 0;
      await nextTurn(); // completions and timers run here
      if (look()) continue;
      const bell = this.port.bell;
      const before = bell.sleeps;
      await this.idle.waitForAsync(bell, look, this.maxSleepMs);
      this.counters.sleeps += bell.sleeps - before;
    }
  }
}
