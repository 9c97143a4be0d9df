// Driver SDK: one virtqueue of a DriverDevice as promises. submit() chains buffers into the split
// queue (waiting for free descriptors, or for the device to be ready again after a reset), one
// notification per batch (EVENT_AVAIL or its oob doorbell, with suppression: virtio 1.2 §2.7.13.4),
// and resolves with the bytes the device wrote when the used entry comes back (§2.7.14).
import { DriverQueue, type DriverBuffer } from '../virtqueue/driver-queue.js';
import { VirtqueueFault } from '../virtqueue/fault.js';
import type { GuestMemory } from '../virtqueue/guest-memory.js';
import { splitQueueBytes, VIRTQ_AVAIL_ALIGN, VIRTQ_DESC_ALIGN, VIRTQ_USED_ALIGN } from '../virtqueue/split-layout.js';

/** What the queue needs from its device. */
export interface VirtqueueOwner {
  readonly dev: number;
  readonly memory: GuestMemory;
  /** Tell the device queue `q` has new buffers. */
  notify(q: number): void;
  /** The device broke the used-ring rules: reset it. */
  fault(why: string): void;
}

interface Submission {
  buffers: readonly DriverBuffer[];
  resolve: (len: number) => void;
  reject: (e: Error) => void;
}

export class DriverVirtqueue {
  private inner: DriverQueue<Submission> | null = null;
  private placed: { size: number; descAddr: number; driverAddr: number; deviceAddr: number } | null = null;
  /** Submissions not yet in the ring: no free descriptors, or the device is not ready. */
  private waiting: Submission[] = [];
  /** Submissions in the ring (their chains belong to the device until used). */
  private readonly inRingSubmissions = new Set<Submission>();
  private inRing = 0;
  private kickScheduled = false;
  private running = false;
  private notifyEveryBuffer = false;
  /** Set while the device is gone (removed, driver closed): new submissions fail at once with it. */
  private refusal: Error | null = null;

  constructor(private readonly owner: VirtqueueOwner, readonly index: number) {}

  /** Entries of the queue as set up (0 before). */
  get size(): number {
    return this.placed?.size ?? 0;
  }

  /** Where the queue lives in guest memory (what SET_VQUEUE carried), or null before setup. */
  get layout(): { readonly size: number; readonly descAddr: number; readonly driverAddr: number; readonly deviceAddr: number } | null {
    return this.placed;
  }

  /** Chains in the ring, not yet used. */
  get outstanding(): number {
    return this.inRing;
  }

  /**
   * Make `buffers` (device-readable first, then device-writable) available to the device;
   * resolves with the bytes it wrote. Rejects with DeviceResetError / DeviceRemovedError /
   * DriverClosedError when the device goes away first.
   */
  submit(buffers: readonly DriverBuffer[]): Promise<number> {
    if (buffers.length === 0) return Promise.reject(new RangeError('submit: a chain needs at least one buffer'));
    if (this.placed !== null && buffers.length > this.placed.size) {
      return Promise.reject(new RangeError(`submit: ${buffers.length} buffers cannot fit a queue of ${this.placed.size} descriptors`));
    }
    if (this.refusal !== null) return Promise.reject(this.refusal);
    return new Promise<number>((resolve, reject) => {
      this.waiting.push({ buffers, resolve, reject });
      this.fill();
    });
  }

  /** Guest addresses for a queue of `size` (placed once; reused by every re-initialisation). */
  place(size: number): { descAddr: number; driverAddr: number; deviceAddr: number } {
    if (this.placed === null || this.placed.size !== size) {
      const bytes = splitQueueBytes(size);
      const m = this.owner.memory;
      this.placed = {
        size,
        descAddr: m.alloc(bytes.descTable, VIRTQ_DESC_ALIGN),
        driverAddr: m.alloc(bytes.availRing, VIRTQ_AVAIL_ALIGN),
        deviceAddr: m.alloc(bytes.usedRing, VIRTQ_USED_ALIGN),
      };
    }
    return this.placed;
  }

  /**
   * Zero the placed rings and take them over; call before SET_VQUEUE, so the device never sees
   * indices left from an earlier incarnation. Buffers go in only after start().
   */
  prepare(eventIdx: boolean, notifyEveryBuffer = false): void {
    this.notifyEveryBuffer = notifyEveryBuffer;
    if (this.placed === null) throw new Error(`queue ${this.index}: prepare before place`);
    const { size, descAddr, driverAddr, deviceAddr } = this.placed;
    this.inner = new DriverQueue<Submission>(this.owner.memory, { size, addresses: { descAddr, driverAddr, deviceAddr }, eventIdx });
    this.inRing = 0;
    this.running = false;
    this.refusal = null;
  }

  /** DRIVER_OK is set: buffers may go in (docs/PROTOCOL.md §8 driver rule 7). */
  start(): void {
    this.running = true;
    this.fill();
  }

  /**
   * Stop using the queue: what is in the ring fails with `error`. Unless `all`, waiting
   * submissions wait for the next prepare()/start() (a reset); with `all` (the device is gone)
   * they fail too, and so does every submission until the queue is prepared again.
   */
  deactivate(error: Error, all: boolean): void {
    const inner = this.inner;
    this.inner = null;
    this.running = false;
    if (inner !== null) {
      // The device no longer owns these chains (it was reset): fail them without touching the rings.
      for (const s of this.inRingSubmissions) s.reject(error);
    }
    this.inRingSubmissions.clear();
    this.inRing = 0;
    if (all) {
      this.refusal = error;
      const waiting = this.waiting;
      this.waiting = [];
      for (const s of waiting) s.reject(error);
    }
  }

  /** Take every used chain; returns how many. A used-ring fault resets the device. */
  drain(): number {
    const inner = this.inner;
    if (inner === null || !this.running) return 0;
    let n = 0;
    for (;;) {
      const used = inner.getUsed();
      if (used === null) {
        if (inner.enableInterrupts()) break;
        continue;
      }
      if (used instanceof VirtqueueFault) {
        this.owner.fault(`queue ${this.index}: ${used.kind}: ${used.message}`);
        return n;
      }
      n++;
      this.inRing--;
      this.inRingSubmissions.delete(used.token);
      used.token.resolve(used.len);
    }
    if (n > 0) this.fill();
    return n;
  }

  /** Move waiting submissions into the ring while descriptors last; one notification per batch. */
  private fill(): void {
    const inner = this.inner;
    if (inner === null || !this.running) return;
    let added = 0;
    while (this.waiting.length > 0) {
      const s = this.waiting[0]!;
      let head: number | null;
      try {
        head = inner.add(s.buffers, s);
      } catch (e) {
        this.waiting.shift();
        s.reject(e as Error);
        continue;
      }
      if (head === null) break;
      this.waiting.shift();
      this.inRingSubmissions.add(s);
      this.inRing++;
      added++;
      if (this.notifyEveryBuffer) this.owner.notify(this.index);
    }
    if (this.notifyEveryBuffer) return;
    if (added > 0) this.scheduleKick();
  }

  private scheduleKick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    // Submissions made in the same turn share one notification.
    queueMicrotask(() => {
      this.kickScheduled = false;
      if (this.inner?.needsNotify() === true) this.owner.notify(this.index);
    });
  }
}
