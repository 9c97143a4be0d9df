// The endpoint side of a router link, usable from any thread: send frames into the
// endpoint→router ring, receive from the router→endpoint ring, sleep on the endpoint's
// doorbell when there is nothing to do. Ring operations run in this thread's own instance of
// the WASM hot path over the shared memory (the same cursor code the router uses), so a
// JS endpoint gets batched publication and cached peer indices for free.
import { instantiate, wasmModule, type WasmExports } from '../wasm/module.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../ring/native.js';
import type { LinkDescriptor } from './link.js';
import { BUSY_POLL_SPINS, enterBusyPoll, leaveBusyPoll } from '../wait/doorbell.js';

export interface PortOptions {
  /**
   * Polls before sleeping on the doorbell in wait(). Default 2000. BUSY_POLL_SPINS (2^30) means
   * busy-poll: wait() never sleeps, and the router may publish to this port with plain stores
   * (lower latency: src/wait/fence.ts) until a port for the link is made without it.
   */
  spinBeforeSleep?: number;
}

/** Polls between two clock reads while spinning (a poll ≈ 0.1 µs, Date.now() ≈ 0.05 µs). */
const SPIN_ROUND = 256;

export class EndpointPort {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  private readonly i32: Int32Array;
  /** This thread's instance of the hot path (frame loops such as the echo device run in it). */
  readonly wasm: WasmExports;
  /** Producer cursor of the endpoint→router ring. */
  readonly out: number;
  /** Consumer cursor of the router→endpoint ring. */
  readonly in: number;
  private readonly bellAt: number;
  private readonly spin: number;
  /** The doorbell says DOORBELL_BUSY_POLL: this port never sleeps. */
  private readonly busyPoll: boolean;

  constructor(readonly link: LinkDescriptor, opts: PortOptions = {}, module: WebAssembly.Module = wasmModule()) {
    const buf = link.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
    this.i32 = new Int32Array(buf);
    this.wasm = instantiate(link.memory, module);
    this.out = link.toRouter + NR_PROD_CURSOR;
    this.in = link.fromRouter + NR_CONS_CURSOR;
    this.bellAt = link.bell >>> 2;
    this.spin = opts.spinBeforeSleep ?? 2000;
    if (this.spin >= BUSY_POLL_SPINS) this.busyPoll = enterBusyPoll(this.i32, this.bellAt);
    else {
      this.busyPoll = false;
      leaveBusyPoll(this.i32, this.bellAt); // an earlier busy-polling port of this link
    }
  }

  /** Address of a free slot to build a frame in (msg_size bytes from it), or 0 when the ring is full. */
  reserve(): number {
    return this.wasm.ringReserve(this.out);
  }

  /** Hand the frame built in the reserved slot to the router (published with the batch or on flush()). */
  commit(): void {
    this.wasm.ringCommit(this.out);
  }

  /** Publish everything committed so far and wake the router if it sleeps. */
  flush(): void {
    this.wasm.cursorFlush(this.out);
  }

  /**
   * Copy `frame` into the ring: its first msg_size bytes, or the whole buffer when msg_size
   * is not a sane value (so malformed frames can be sent on purpose; the router drops them).
   * False when the ring is full.
   */
  send(frame: Uint8Array): boolean {
    const size = frame.length >= 8 ? frame[6]! | (frame[7]! << 8) : 0;
    const n = size >= 8 && size <= frame.length ? size : frame.length;
    if (n > this.link.maxMessageSize) {
      throw new RangeError(`frame msg_size ${size} (${n} bytes) exceeds this link's maximum of ${this.link.maxMessageSize}`);
    }
    const slot = this.reserve();
    if (slot === 0) return false;
    this.u8.set(frame.subarray(0, n), slot);
    this.commit();
    return true;
  }

  /** Address of the next frame from the router, or 0 when there is none. */
  peek(): number {
    return this.wasm.ringPeek(this.in);
  }

  /** Done with the frame returned by peek(). */
  release(): void {
    this.wasm.ringRelease(this.in);
  }

  /** Copy of the next frame from the router, or null. */
  recv(): Uint8Array | null {
    const f = this.peek();
    if (f === 0) return null;
    const size = this.u8[f + 6]! | (this.u8[f + 7]! << 8);
    const copy = this.u8.slice(f, f + size);
    this.release();
    return copy;
  }

  /** Publish freed slots now (release() publishes with the batch). */
  flushReceived(): void {
    this.wasm.cursorFlush(this.in);
  }

  /**
   * Wait until a frame from the router is readable or `timeoutMs` passes: spin, then sleep
   * on the doorbell. Returns true when a frame is there.
   */
  wait(timeoutMs: number): boolean {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Spin in rounds with a clock check between them, so a large spin count never makes
      // wait() outlast its timeout by much.
      for (let spun = 0; spun < this.spin || this.busyPoll; spun += SPIN_ROUND) {
        for (let i = 0; i < SPIN_ROUND; i++) if (this.peek() !== 0) return true;
        if (Date.now() >= deadline) return false;
      }
      Atomics.store(this.i32, this.bellAt, 1);
      if (this.peek() !== 0) {
        Atomics.store(this.i32, this.bellAt, 0);
        return true;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        Atomics.store(this.i32, this.bellAt, 0);
        return false;
      }
      Atomics.wait(this.i32, this.bellAt, 1, left);
      Atomics.store(this.i32, this.bellAt, 0);
    }
  }
}
