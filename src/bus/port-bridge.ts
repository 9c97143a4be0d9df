// Moves frames between a stream connection and a router endpoint in the main thread
// (docs/ARCHITECTURE.md "Stream bus and gateway"). Socket → router: every frame of a received
// chunk goes into the endpoint ring, published once per chunk. Router → socket: the ring is
// drained fully per wake-up (bounded per pass) into one buffer, sent with one socket write.
// Between wake-ups the main thread sleeps on the endpoint's doorbell (Doorbell.sleepAsync,
// src/wait/doorbell.ts), so the event loop stays free and the router rings only when it
// published something for us or freed room we were waiting for. Backpressure both ways: a full endpoint ring pauses the
// socket; a full socket buffer leaves frames in the ring (the router parks, then holds back).
import type { EndpointPort } from '../endpoint/port.js';
import { HDR_SIZE } from '../protocol/constants.js';
import { countDrop, type StreamConnection, type StreamCounters } from './stream-connection.js';
import { msgSizeAt } from '../protocol/header.js';

/** Frames taken from the ring per pass before the event loop gets a turn (fairness between links and sockets). */
const ROUTER_BUDGET = 1024;

export interface BridgeHooks {
  /**
   * A frame from the peer. Return the frame to put into the ring (it may be rewritten in place),
   * or null when the hook consumed or dropped it.
   */
  fromPeer?(frame: Uint8Array): Uint8Array | null;
  /** A frame from the router, copied into `buf` at `at` (size bytes): rewrite it in place, or return false to drop it. */
  fromRouter?(buf: Uint8Array, at: number, size: number): boolean;
}

export class PortBridge {
  private readonly u8: Uint8Array;
  /** A frame taken from the connection that found the ring full (a copy). */
  private stalled: Uint8Array | null = null;
  private armed = false;
  private scheduled = false;
  private stopped = false;

  constructor(private readonly port: EndpointPort, private readonly conn: StreamConnection, private readonly counters: StreamCounters, private readonly hooks: BridgeHooks = {}) {
    this.u8 = new Uint8Array(port.link.memory.buffer);
    conn.onReadable = () => this.fromPeer();
    conn.onWritable = () => this.schedule();
    this.schedule(); // frames may have followed the hello in the same packet
  }

  /** Stop moving frames (the connection is gone or the link closes). Frames left in the ring stay there. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.conn.onReadable = () => {};
    this.conn.onWritable = () => {};
    this.port.bell.wake(); // settle our sleepAsync
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.service();
    });
  }

  private service(): void {
    if (this.stopped) return;
    this.fromPeer();
    const more = this.fromRouter();
    if (more) this.schedule();
    else this.arm();
  }

  /** Sleep on the endpoint's doorbell until the router publishes for us (or frees the room a stalled frame needs). */
  private arm(): void {
    if (this.armed || this.stopped) return;
    this.armed = true;
    void this.port.bell.sleepAsync(this.routerHasWork).then((found) => {
      this.armed = false;
      // Work seen by the last look: serve it on the next turn, as after any pass.
      if (found) this.schedule();
      else this.service();
    });
  }

  private readonly routerHasWork = (): boolean => {
    return (this.conn.writable && this.port.peek() !== 0) || (this.stalled !== null && this.port.reserve() !== 0);
  };

  /** Put one frame into the endpoint ring; false (and a copy kept) when the ring is full. */
  private toRing(frame: Uint8Array): boolean {
    const slot = this.port.reserve();
    if (slot === 0) {
      this.stalled = frame.slice();
      this.conn.socket.pause();
      return false;
    }
    this.u8.set(frame, slot);
    this.port.commit();
    return true;
  }

  /** Peer → router: everything the connection has buffered, until the ring is full. */
  private fromPeer(): void {
    if (this.stopped) return;
    let moved = false;
    if (this.stalled !== null) {
      const f = this.stalled;
      this.stalled = null;
      if (!this.toRing(f)) return;
      moved = true;
    }
    const hook = this.hooks.fromPeer;
    for (let f = this.conn.next(); f !== null; f = this.conn.next()) {
      const g = hook === undefined ? f : hook(f);
      if (g === null) continue;
      moved = true;
      if (!this.toRing(g)) break;
    }
    if (moved) this.port.flush();
    if (this.stalled === null && this.conn.socket.isPaused()) this.conn.socket.resume();
  }

  /** Router → peer: up to ROUTER_BUDGET frames in one socket write. True when more are waiting. */
  private fromRouter(): boolean {
    if (!this.conn.writable) return false;
    const { port, u8, conn } = this;
    const writer = conn.writer;
    const max = conn.maxMessageSize;
    const hook = this.hooks.fromRouter;
    let n = 0;
    for (; n < ROUTER_BUDGET; n++) {
      const f = port.peek();
      if (f === 0) break;
      const size = msgSizeAt(u8, f);
      if (size < HDR_SIZE || size > max) {
        // Larger than this connection negotiated (the endpoint outlived a connection with a bigger maximum).
        countDrop(this.counters, size < HDR_SIZE ? 'MSG_SIZE_LT_HEADER' : 'MSG_SIZE_GT_BUS_MAX');
        port.release();
        continue;
      }
      const at = writer.reserve(size);
      writer.buffer.set(u8.subarray(f, f + size), at);
      port.release();
      if (hook === undefined || hook(writer.buffer, at, size)) writer.commit(size);
    }
    if (n === 0) return false;
    port.flushReceived();
    conn.flush();
    return n === ROUTER_BUDGET && conn.writable;
  }
}
