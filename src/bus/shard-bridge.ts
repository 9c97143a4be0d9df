// The main thread's half of a stream connection that the router shard serves itself
// (src/router/stream-pumps.ts; docs/ARCHITECTURE.md "The wake-up chain over TCP"). The shard
// moves the frames; this side hands the socket over, keeps what is not plain forwarding (bus
// messages, a gateway's remapped device numbers: the same hooks as PortBridge's), writes the
// control plane's own frames through the shard, folds the shard's counters into the link's, and
// ends the connection when the shard saw it end.
// Only for plain sockets (TCP, Unix) with the doorbell addon; TLS and everything else keep
// PortBridge (main-thread event loop), see openBridge().
import { constants as osConstants } from 'node:os';
import type { Router } from '../router/router.js';
import type { EndpointPort } from '../endpoint/port.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { tryBellAddon, type BellAddon } from '../native/bell.js';
import { RecordQueue, recordQueueBytes, recordQueueCapacity } from '../ring/record-queue.js';
import { Doorbell } from '../wait/doorbell.js';
import { NR_CONS_CURSOR, NR_PROD_CURSOR } from '../ring/native.js';
import { HDR_SIZE } from '../protocol/constants.js';
import { msgSizeAt } from '../protocol/header.js';
import {
  K_FROM_PEER, K_FROM_ROUTER, K_SEND, K_TO_ROUTER, PS_EOF, PS_ERROR, PS_OPEN, PS_SIZE_LT_HEADER,
  P_BYTES_IN, P_BYTES_OUT, P_DETAIL, P_FD, P_FILTER, P_FRAMES_IN, P_FRAMES_OUT, P_FROM_MAIN, P_FROM_MAIN_CAP, P_FROM_ROUTER,
  P_MAIN_BELL, P_MAX, P_RX, P_RX_CAP, P_RX_TAIL, P_STATE, P_TO_MAIN, P_TO_MAIN_CAP, P_TO_ROUTER, P_TX, P_TX_CAP, P_WRITES,
  PUMP_BLOCK_BYTES,
} from '../ring/stream-pump-block.js';
import { addCounterSource, countDrop, type StreamConnection, type StreamCounters } from './stream-connection.js';
import { PortBridge, type BridgeHooks } from './port-bridge.js';
import type { DeviceFilter } from './device-filter.js';

/** What moves a connection's frames: PortBridge (main thread) or ShardBridge (the endpoint's shard). */
export interface FrameBridge {
  /** Stop moving frames; resolves once nothing touches the endpoint's rings for this connection any more. */
  stop(): Promise<void>;
}

export interface BridgeOptions {
  hooks?: BridgeHooks;
  /**
   * Device numbers whose transport frames the shard forwards unchanged (DeviceFilter); without
   * one it forwards every transport frame. Other frames go through `hooks` on this thread.
   */
  filter?: DeviceFilter;
}

/**
 * Bridge `conn` to the router endpoint `desc`: on its shard when it can, else in this thread
 * (always in this thread with VMSG_STREAM_SHARD=0 in the environment: the old path, for comparison).
 */
export function openBridge(router: Router, desc: LinkDescriptor, port: EndpointPort, conn: StreamConnection, counters: StreamCounters, opts: BridgeOptions = {}): FrameBridge {
  if (process.env.VMSG_STREAM_SHARD !== '0') {
    const b = ShardBridge.start(router, desc, conn, counters, opts);
    if (b !== null) return b;
  }
  const bridge = new PortBridge(port, conn, counters, opts.hooks);
  return { stop: async () => bridge.stop() };
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

export class ShardBridge implements FrameBridge {
  private readonly toMain: RecordQueue;
  private readonly fromMain: RecordQueue;
  private readonly bell: Doorbell;
  private readonly rec = new Int32Array(3);
  private readonly unfold: () => void;
  /** Records for the shard that found its queue full (retried on the next turn). */
  private backlog: [number, Uint8Array][] = [];
  private last = new Uint32Array(5);
  private stopping: Promise<void> | undefined;
  private sleeping = false;
  /** The shard saw the connection end and we closed it: nothing more to wait for. */
  private ended = false;

  private constructor(
    private readonly router: Router, private readonly shard: number, private readonly addon: BellAddon, private readonly fd: number,
    private readonly block: number, private readonly conn: StreamConnection, private readonly counters: StreamCounters,
    private readonly hooks: BridgeHooks, private readonly allocs: [number, number][],
  ) {
    const { u8, u32 } = router.mem;
    const f = (off: number): number => u32[(block + off) >>> 2]!;
    this.toMain = new RecordQueue(u8, u32, f(P_TO_MAIN), f(P_TO_MAIN_CAP));
    this.fromMain = new RecordQueue(u8, u32, f(P_FROM_MAIN), f(P_FROM_MAIN_CAP));
    this.bell = new Doorbell(router.mem.buffer as unknown as SharedArrayBuffer, f(P_MAIN_BELL));
    // The connection's own writes (bus requests, PING answers) go through the shard, in order with its frames.
    conn.sendVia = (bytes) => this.toShard(K_SEND, bytes);
    conn.onReadable = () => {};
    conn.onWritable = () => {};
    // The shard counts frames and bytes; they fold into the link's counters when those are read.
    this.unfold = addCounterSource(counters, () => this.fold());
    this.arm();
  }

  /** Hand `conn` to the shard of endpoint `desc`; null when it cannot be (TLS, no addon, full table, no memory): use PortBridge. */
  static start(router: Router, desc: LinkDescriptor, conn: StreamConnection, counters: StreamCounters, opts: BridgeOptions): ShardBridge | null {
    const addon = tryBellAddon();
    const socket = conn.socket as unknown as { encrypted?: boolean; writableLength: number; readableLength: number; _handle?: { fd?: unknown } };
    // Bytes Node holds unread or unsent would be out of order with the shard's: keep to the event loop.
    if (addon === null || socket.encrypted === true || socket.writableLength !== 0 || socket.readableLength !== 0) return null;
    const nodeFd = socket._handle?.fd;
    const handle = socket._handle as { readStop?: () => number; readStart?: () => number; reading?: boolean } | undefined;
    if (typeof nodeFd !== 'number' || nodeFd < 0 || handle?.readStop === undefined || handle.readStart === undefined) return null;
    // From here the shard reads the socket: Node stops (pausing alone is not enough, it would
    // read on up to its high-water mark). No socket.read() after this: it would start reading again.
    conn.socket.pause();
    handle.reading = false;
    const readAgain = (): null => {
      handle.reading = true;
      handle.readStart!();
      conn.socket.resume();
      return null;
    };
    if (handle.readStop() !== 0) return readAgain();
    // What Node read and the reader did not frame yet goes first (normally nothing, or the
    // frames a driver sent right behind its hello).
    const early = conn.reader.takeBytes();
    const mem = router.mem;
    const max = conn.maxMessageSize;
    const rxCap = Math.max(2 * max + 16384, early.length + max + 16384);
    const txCap = 2 * max + 16384;
    // Room for a burst of bus frames (a GET_DEVICES walk, hotplug events) without a megabyte per connection.
    const qCap = recordQueueCapacity(max, max <= 4096 ? 16 : 2);
    const allocs: [number, number][] = [];
    const alloc = (bytes: number): number => {
      const a = mem.alloc(bytes);
      allocs.push([a, bytes]);
      return a;
    };
    // Back to the event loop, with the bytes read so far.
    const fallBack = (): null => {
      for (const [a, b] of allocs) mem.free(a, b);
      conn.reader.push(early);
      return readAgain();
    };
    let block: number;
    try {
      block = alloc(PUMP_BLOCK_BYTES);
      const set = (off: number, v: number): void => void (mem.u32[(block + off) >>> 2] = v >>> 0);
      set(P_TO_ROUTER, desc.toRouter + NR_PROD_CURSOR);
      set(P_FROM_ROUTER, desc.fromRouter + NR_CONS_CURSOR);
      set(P_MAX, max);
      set(P_FILTER, opts.filter?.at ?? 0);
      set(P_RX, alloc(rxCap));
      set(P_RX_CAP, rxCap);
      set(P_TX, alloc(txCap));
      set(P_TX_CAP, txCap);
      set(P_TO_MAIN, alloc(recordQueueBytes(qCap)));
      set(P_TO_MAIN_CAP, qCap);
      set(P_FROM_MAIN, alloc(recordQueueBytes(qCap)));
      set(P_FROM_MAIN_CAP, qCap);
      set(P_MAIN_BELL, alloc(64));
    } catch {
      return fallBack(); // no room in the shared memory for this connection's buffers
    }
    const fd = addon.dup(nodeFd);
    if (fd < 0) return fallBack();
    mem.u8.set(early, mem.u32[(block + P_RX) >>> 2]!);
    mem.u32[(block + P_RX_TAIL) >>> 2] = early.length;
    mem.i32[(block + P_FD) >>> 2] = fd;
    const shard = router.shardOf(desc);
    if (!router.streamPumps.add(shard, block)) {
      addon.close(fd);
      return fallBack(); // the shard serves STREAM_PUMP_SLOTS connections already
    }
    counters.shardConnections++;
    const b = new ShardBridge(router, shard, addon, fd, block, conn, counters, opts.hooks ?? {}, allocs);
    router.wakeShard(shard);
    return b;
  }

  /** Queue a record for the shard and wake it; a full queue keeps it for the next turn. */
  private toShard(kind: number, bytes: Uint8Array): boolean {
    if (this.stopping !== undefined) return false;
    if (this.backlog.length !== 0 || !this.fromMain.push(kind, bytes, 0, bytes.length)) {
      this.backlog.push([kind, bytes.slice()]);
      if (this.backlog.length === 1) setTimeout(() => this.retry(), 1).unref();
    }
    this.router.wakeShard(this.shard);
    return true;
  }

  private retry(): void {
    if (this.stopping !== undefined) return;
    while (this.backlog.length !== 0 && this.fromMain.push(this.backlog[0]![0], this.backlog[0]![1], 0, this.backlog[0]![1].length)) this.backlog.shift();
    this.router.wakeShard(this.shard);
    if (this.backlog.length !== 0) setTimeout(() => this.retry(), 1).unref();
  }

  private readonly hasWork = (): boolean => !this.toMain.empty || Atomics.load(this.router.mem.u32, (this.block + P_STATE) >>> 2) !== PS_OPEN;

  /** Sleep until the shard hands us a frame or the connection ended. */
  private arm(): void {
    if (this.sleeping || this.stopping !== undefined || this.ended) return;
    this.sleeping = true;
    void this.bell.sleepAsync(this.hasWork).then(() => {
      this.sleeping = false;
      if (this.stopping !== undefined) return;
      this.serve();
      this.arm();
    });
  }

  private serve(): void {
    const { rec, toMain } = this;
    const u8 = this.router.mem.u8;
    let taken = 0;
    while (toMain.peek(rec)) {
      taken++;
      const kind = rec[0]!;
      const f = u8.slice(rec[1]!, rec[1]! + rec[2]!);
      toMain.pop();
      if (kind === K_FROM_PEER) {
        const g = this.hooks.fromPeer === undefined ? f : this.hooks.fromPeer(f);
        if (g !== null) this.toShard(K_TO_ROUTER, g);
      } else if (kind === K_FROM_ROUTER) {
        const size = msgSizeAt(f, 0);
        if (size < HDR_SIZE || size > this.conn.maxMessageSize) {
          countDrop(this.counters, size < HDR_SIZE ? 'MSG_SIZE_LT_HEADER' : 'MSG_SIZE_GT_BUS_MAX');
          continue;
        }
        if (this.hooks.fromRouter === undefined || this.hooks.fromRouter(f, 0, size)) this.toShard(K_SEND, f.subarray(0, size));
      }
    }
    // The shard may have stopped at a full queue: it goes on now rather than at its next timeout.
    if (taken !== 0) this.router.wakeShard(this.shard);
    const state = Atomics.load(this.router.mem.u32, (this.block + P_STATE) >>> 2);
    if (state === PS_OPEN) return;
    this.ended = true;
    this.fold();
    const detail = this.router.mem.u32[(this.block + P_DETAIL) >>> 2]!;
    if (state === PS_EOF) this.conn.end('peer closed the connection');
    else if (state === PS_ERROR) this.conn.end(`socket error: ${errnoNames.get(detail) ?? `errno ${detail}`}`);
    else {
      const fault = state === PS_SIZE_LT_HEADER ? 'MSG_SIZE_LT_HEADER' : 'MSG_SIZE_GT_BUS_MAX';
      countDrop(this.counters, fault);
      this.conn.end(`${fault}: msg_size ${detail} (link maximum ${this.conn.maxMessageSize}); a stream cannot resync, connection closed`);
    }
  }

  /** The shard's counters since the last fold, into the link's. */
  private fold(): void {
    const { u32 } = this.router.mem;
    const offs = [P_FRAMES_IN, P_FRAMES_OUT, P_BYTES_IN, P_BYTES_OUT, P_WRITES];
    const d = offs.map((o, i) => {
      const v = Atomics.load(u32, (this.block + o) >>> 2);
      const delta = (v - this.last[i]!) >>> 0;
      this.last[i] = v;
      return delta;
    });
    const c = this.counters;
    c.framesIn += d[0]!;
    c.framesOut += d[1]!;
    c.bytesIn += d[2]!;
    c.bytesOut += d[3]!;
    c.writes += d[4]!;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.conn.sendVia = undefined;
      this.router.streamPumps.remove(this.shard, this.block);
      this.bell.wake(); // settle our sleepAsync (nobody rings a removed pump's bell)
      // The shard may be in a pass that loaded the pump: its buffers and descriptor stay until it finished one more.
      await this.router.syncShard(this.shard).catch(() => {});
      this.fold();
      this.unfold();
      this.addon.close(this.fd);
      for (const [a, b] of this.allocs) this.router.mem.free(a, b);
    })();
    return this.stopping;
  }
}
