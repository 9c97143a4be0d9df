// The endpoint side of a router link, usable from any thread: send frames into the
// endpoint→router ring, receive from the router→endpoint ring, and wait for frames as the
// port's idle strategy says (src/wait/idle-strategy.ts; spin, then sleep on the endpoint's
// doorbell). Ring operations run in this thread's own instance of
// the WASM hot path over the shared memory (the same cursor code the router uses), so a
// JS endpoint gets batched publication and cached peer indices for free.
import { instantiate, wasmModule, type WasmExports } from '../wasm/module.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../ring/native.js';
import type { LinkDescriptor } from './link.js';
import { Doorbell } from '../wait/doorbell.js';
import { PollDoorbell } from '../wait/poll-doorbell.js';
import { tryBellAddon } from '../native/bell.js';
import { MAX_CPU, allowedCpus, avoidCpusHere, isCpuSet } from '../native/cpu-affinity.js';
import { spinThenSleep, type IdleStrategy } from '../wait/idle-strategy.js';
import { frameSize } from '../protocol/header.js';

export interface PortOptions {
  /**
   * Polls before sleeping on the doorbell in wait(). Default 2000. BUSY_POLL_SPINS (2^30) means
   * busy-poll: wait() never sleeps, and the router may publish to this port with plain stores
   * (lower latency: src/wait/fence.ts) until a port for the link is made without it.
   */
  spinBeforeSleep?: number;
  /**
   * Sleep in poll(2) on an eventfd instead of Atomics.wait (with the doorbell addon; close() gives
   * the eventfd back). A wake-up is then one switch of this thread: V8's Atomics.wait hands a
   * process-wide mutex back and forth with the notifier, 2–4 voluntary switches per wake-up.
   */
  pollSleep?: boolean;
  /**
   * The thread that makes this port runs only on the CPUs it may run on now minus these (with the
   * doorbell addon; unchanged when none would remain) until close(), which gives the thread its
   * CPUs back. For the CPUs of a router's pinned shards (RouterOptions.shardCpus) on a machine
   * with few CPUs: a shard that shares its CPU with the threads it wakes is preempted by them.
   * It acts on the calling thread, and threads it starts meanwhile inherit it: make such a port
   * in the worker thread that uses it. Several ports of one thread may avoid CPUs: closing one
   * gives back only what no other still avoids. `avoidedCpus` tells whether the thread now runs
   * on none of them. Distinct CPU numbers 0..1023 (RangeError otherwise); empty: none.
   */
  avoidCpus?: readonly number[];
}

export class EndpointPort {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /** This thread's instance of the hot path (frame loops such as the echo device run in it). */
  readonly wasm: WasmExports;
  /** Producer cursor of the endpoint→router ring. */
  readonly out: number;
  /** Consumer cursor of the router→endpoint ring. */
  readonly in: number;
  /** The endpoint's doorbell: this port sleeps on it, the router rings it after publishing. */
  readonly bell: Doorbell;
  /** How wait() and waitAsync() spend idle time (spinBeforeSleep: src/wait/idle-strategy.ts). */
  readonly idle: IdleStrategy;
  /** A frame from the router is readable. */
  readonly readable = (): boolean => this.peek() !== 0;
  /**
   * The last reserve() found the ring full. The router rings a sleeping producer only when it
   * frees room that producer lacked (CURF_FREES), so wait() must then also look for room: a
   * sender that found the ring full and sleeps while room came back just before would otherwise
   * sleep its whole timeout.
   */
  private roomWanted = false;
  /** Room again after the last reserve() found the ring full (a sleeper's look for room). */
  readonly roomBack = (): boolean => this.roomWanted && this.reserve() !== 0;
  /** The constructing thread runs on none of the `avoidCpus` of the options. */
  readonly avoidedCpus: boolean = false;
  /** This port's hold on the constructing thread's CPUs (avoidCpus): close() lets go of it. */
  private avoiding: { release(): void } | null = null;
  /** The look of wait(): a readable frame, or room again after a send found the ring full. */
  private readonly readableOrRoom = (): boolean => this.peek() !== 0 || this.roomBack();

  constructor(readonly link: LinkDescriptor, opts: PortOptions = {}, module: WebAssembly.Module = wasmModule()) {
    const buf = link.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
    this.wasm = instantiate(link.memory, module);
    this.out = link.toRouter + NR_PROD_CURSOR;
    this.in = link.fromRouter + NR_CONS_CURSOR;
    const addon = opts.pollSleep === true ? tryBellAddon() : null;
    if (opts.avoidCpus !== undefined && opts.avoidCpus.length !== 0) {
      if (!isCpuSet(opts.avoidCpus as unknown)) {
        throw new RangeError(`port option avoidCpus must be a list of distinct CPU numbers from 0 to ${MAX_CPU - 1}, got ${JSON.stringify(opts.avoidCpus)}`);
      }
      if (allowedCpus() === null) process.emitWarning('vmsg-router: EndpointPort avoidCpus needs the doorbell addon (build/Release/vmsg_bell.node); the thread keeps its CPUs');
      const hold = avoidCpusHere(opts.avoidCpus);
      this.avoiding = hold;
      this.avoidedCpus = hold.held;
    }
    this.bell = addon !== null
      ? new PollDoorbell(buf as unknown as SharedArrayBuffer, link.bell, addon, null)
      : new Doorbell(buf as unknown as SharedArrayBuffer, link.bell);
    this.idle = spinThenSleep(opts.spinBeforeSleep ?? 2000);
    // Busy-spin says so on the doorbell; otherwise an earlier busy-polling port of this link
    // may have left that state behind.
    if (!(this.idle.busyPoll && this.bell.enterBusyPoll())) this.bell.leaveBusyPoll();
  }

  /** Address of a free slot to build a frame in (msg_size bytes from it), or 0 when the ring is full. */
  reserve(): number {
    const slot = this.wasm.ringReserve(this.out);
    this.roomWanted = slot === 0;
    return slot;
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
    const size = frameSize(frame);
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

  /** This thread stops using the port: a poll-sleep eventfd goes back to the pool. */
  close(): void {
    if (this.bell instanceof PollDoorbell) this.bell.close();
    this.avoiding?.release();
    this.avoiding = null;
  }

  /**
   * Wait until a frame from the router is readable, or (after a send found the ring full) there
   * is room again: true; false when `timeoutMs` passes.
   */
  wait(timeoutMs: number): boolean {
    return this.idle.waitFor(this.bell, this.readableOrRoom, timeoutMs);
  }

  /** wait() that keeps this thread's event loop running while it sleeps. */
  waitAsync(timeoutMs: number): Promise<boolean> {
    return this.idle.waitForAsync(this.bell, this.readableOrRoom, timeoutMs);
  }
}
