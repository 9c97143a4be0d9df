// Stream connections a router shard serves itself (docs/ARCHITECTURE.md "Stream bus and
// gateway", "The wake-up chain over TCP"): the shard reads the socket's bytes, cuts them into
// frames (msg_size at header bytes 6–7, frames split across reads reassembled) and puts them
// into the link endpoint's ring, and writes what the router published for the endpoint to the
// socket, all in its own loop. It sleeps in poll(2) on the socket with its links' doorbell
// sockets (src/wait/poll-doorbell.ts), so a frame from the far end wakes the shard, not the main
// thread's event loop, which then had to wake the shard: over TCP one request at a time that
// removes four of the ten thread wake-ups of a round trip through two routers.
// The main thread keeps the connection's set-up, handshake and close and every frame that is
// not plain forwarding (src/bus/shard-bridge.ts): bus messages, and transport frames of device
// numbers a gateway remaps; the pump hands those over through two record queues
// (src/ring/record-queue.ts). Which device numbers pass straight through: the filter bitmap,
// bit n set = number n is the same on both sides and attached (0 = every transport frame).
//
// Shared memory, per shard, found through the control block (CB_STREAM_PUMPS, 0 = none yet), a
// ./shard-slot-table.ts table:
//   table: u32 @0 entries in use, u32 @4 generation (bumped on add and remove), u32 @16 + 4 i:
//          address of pump i's block (0 = free)
//   block (src/ring/stream-pump-block.ts): written by the main thread before it is added,
//          except the state and the counters, which only the shard writes.
import type { SharedMemory } from '../memory/shared-memory.js';
import type { WasmExports } from '../wasm/module.js';
import { CB_STREAM_PUMPS } from './control.js';
import { ShardSlotTables, SlotTableWatch, SLOT_HEAD } from './shard-slot-table.js';
import { MODE_DATA, MODE_NO_IN, MODE_OUT, READY_IN, READY_OUT, type BellAddon } from '../native/bell.js';
import { RecordQueue } from '../ring/record-queue.js';
import { ringDoorbell } from '../wait/doorbell.js';
import { HDR_SIZE, TYPE_BUS } from '../protocol/constants.js';
import { devNumAt, msgSizeAt, typeAt } from '../protocol/header.js';
import {
  K_FROM_PEER, K_FROM_ROUTER, K_SEND, K_TO_ROUTER, PS_EOF, PS_ERROR, PS_OPEN, PS_SIZE_GT_MAX, PS_SIZE_LT_HEADER,
  P_BYTES_IN, P_BYTES_OUT, P_DETAIL, P_FD, P_FILTER, P_FRAMES_IN, P_FRAMES_OUT, P_FROM_MAIN, P_FROM_MAIN_CAP, P_FROM_ROUTER,
  P_MAIN_BELL, P_MAX, P_RX, P_RX_CAP, P_RX_TAIL, P_RX_HEAD, P_TX_HEAD, P_TX_TAIL, P_STATE, P_TO_MAIN, P_TO_MAIN_CAP, P_TO_ROUTER, P_TX, P_TX_CAP, P_WRITES,
} from '../ring/stream-pump-block.js';

export const STREAM_PUMP_SLOTS = 16;

/** Control-plane side: the pump tables of every shard. */
export class StreamPumps {
  private readonly tables: ShardSlotTables;

  constructor(mem: SharedMemory, controlBlocks: readonly number[]) {
    this.tables = new ShardSlotTables(mem, controlBlocks, CB_STREAM_PUMPS, STREAM_PUMP_SLOTS, 4);
  }

  /** Have shard `shard` serve the pump at `block`. False when its table is full. */
  add(shard: number, block: number): boolean {
    return this.tables.add(shard, block);
  }

  /** Stop serving `block`. The shard may be in a pass that loaded it: free it only after Router.syncShard. */
  remove(shard: number, block: number): void {
    this.tables.remove(shard, block);
  }
}

/** One connection as the shard serves it (its positions live here, in the shard's thread). */
class Pump {
  readonly fd: number;
  readonly toRouter: number;
  readonly fromRouter: number;
  readonly max: number;
  readonly filter: number;
  readonly rx: number;
  readonly rxCap: number;
  readonly tx: number;
  readonly txCap: number;
  readonly toMain: RecordQueue;
  readonly fromMain: RecordQueue;
  readonly mainBell: number;
  /** poll(2) said readable (or it is time to look): read before the next framing pass. */
  wantRead = true;
  /** False after a send found the socket full: wait for poll(2) to say there is room (or the next look). */
  canWrite = true;
  open = true;

  private readonly pos: Uint32Array;
  private readonly i: number;

  constructor(u8: Uint8Array, u32: Uint32Array, readonly at: number) {
    this.pos = u32;
    this.i = at >>> 2;
    const f = (off: number): number => u32[(at + off) >>> 2]!;
    this.fd = f(P_FD) | 0;
    this.toRouter = f(P_TO_ROUTER);
    this.fromRouter = f(P_FROM_ROUTER);
    this.max = f(P_MAX);
    this.filter = f(P_FILTER);
    this.rx = f(P_RX);
    this.rxCap = f(P_RX_CAP);
    this.tx = f(P_TX);
    this.txCap = f(P_TX_CAP);
    this.toMain = new RecordQueue(u8, u32, f(P_TO_MAIN), f(P_TO_MAIN_CAP));
    this.fromMain = new RecordQueue(u8, u32, f(P_FROM_MAIN), f(P_FROM_MAIN_CAP));
    this.mainBell = f(P_MAIN_BELL);
    this.open = Atomics.load(u32, (at + P_STATE) >>> 2) === PS_OPEN;
  }

  // Buffer positions live in the block (a restarted shard worker goes on from them).
  get rxHead(): number { return this.pos[this.i + (P_RX_HEAD >>> 2)]!; }
  set rxHead(v: number) { this.pos[this.i + (P_RX_HEAD >>> 2)] = v; }
  get rxTail(): number { return this.pos[this.i + (P_RX_TAIL >>> 2)]!; }
  set rxTail(v: number) { this.pos[this.i + (P_RX_TAIL >>> 2)] = v; }
  get txHead(): number { return this.pos[this.i + (P_TX_HEAD >>> 2)]!; }
  set txHead(v: number) { this.pos[this.i + (P_TX_HEAD >>> 2)] = v; }
  get txTail(): number { return this.pos[this.i + (P_TX_TAIL >>> 2)]!; }
  set txTail(v: number) { this.pos[this.i + (P_TX_TAIL >>> 2)] = v; }
}

/**
 * Shard side: the pumps of the shard's table. service() after every routing pass moves frames
 * both ways; fds/modes/report() make the pumps' sockets part of the shard's poll(2) sleep.
 */
export class ShardPumps {
  readonly fds = new Int32Array(STREAM_PUMP_SLOTS);
  readonly modes = new Int32Array(STREAM_PUMP_SLOTS);
  count = 0;
  private pumps: Pump[] = [];
  /** The pumps behind fds[0 .. count - 1]. */
  private polled: Pump[] = [];
  private readonly watch: SlotTableWatch;
  private readonly rec = new Int32Array(3);
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;

  constructor(buffer: ArrayBufferLike, private readonly tableAt: number, private readonly wasm: WasmExports, private readonly addon: BellAddon) {
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.watch = new SlotTableWatch(this.u32, tableAt);
  }

  /** Follow the table: pumps added or removed since the last look (a pump keeps its buffer positions). */
  private follow(): void {
    const n = this.watch.changed();
    if (n < 0) return;
    const { table } = this.watch;
    const next: Pump[] = [];
    for (let i = 0; i < n && i < STREAM_PUMP_SLOTS; i++) {
      const block = Atomics.load(this.u32, (table + SLOT_HEAD + 4 * i) >>> 2);
      if (block === 0) continue;
      next.push(this.pumps.find((p) => p.at === block) ?? new Pump(this.u8, this.u32, block));
    }
    this.pumps = next;
  }

  /** Before a poll(2): the open pumps' sockets and what to wait for on each. */
  refresh(): void {
    this.follow();
    let k = 0;
    this.polled.length = 0;
    for (const p of this.pumps) {
      if (!p.open) continue; // closed: its socket stays readable (EOF) and would end every sleep at once
      this.fds[k] = p.fd;
      this.modes[k] = MODE_DATA | (p.rxCap - p.rxTail < p.max ? MODE_NO_IN : 0) | (p.txTail > p.txHead ? MODE_OUT : 0);
      this.polled.push(p);
      k++;
    }
    this.count = k;
  }

  /** After a poll: status[i] READY_IN / READY_OUT of fds[i]; the next service() acts on it. */
  report(status: Int32Array, from = 0): void {
    for (let i = 0; i < this.count; i++) {
      const s = status[from + i]!;
      const p = this.polled[i]!;
      if ((s & READY_IN) !== 0) p.wantRead = true;
      if ((s & READY_OUT) !== 0) p.canWrite = true;
    }
  }

  /**
   * One pass over every pump: the main thread's records, the socket's bytes into the ring, the
   * ring into the socket. `look`: read every socket even if poll(2) did not say so (the loop
   * does every 64 passes, as a spinning shard does not poll). Returns the frames moved.
   */
  service(look: boolean): number {
    if (this.u32[this.tableAt] === 0) return 0;
    this.follow();
    let moved = 0;
    for (const p of this.pumps) {
      if (!p.open) continue;
      if (look) p.wantRead = p.canWrite = true;
      moved += this.fromMain(p) + this.fromPeer(p) + this.toPeer(p);
    }
    return moved;
  }

  /** Plain forwarding: a transport frame of a device number the filter lets through (bit n, 0 = every one). */
  private forwards(filter: number, f: number): boolean {
    const u8 = this.u8;
    if ((typeAt(u8, f) & TYPE_BUS) !== 0) return false;
    if (filter === 0) return true;
    const dev = devNumAt(u8, f);
    return (u8[filter + (dev >>> 3)]! & (1 << (dev & 7))) !== 0;
  }

  private count32(p: Pump, off: number, n: number): void {
    const at = (p.at + off) >>> 2;
    this.u32[at] = (this.u32[at]! + n) >>> 0;
  }

  private fail(p: Pump, state: number, detail: number): void {
    p.open = false;
    Atomics.store(this.u32, (p.at + P_DETAIL) >>> 2, detail >>> 0);
    Atomics.store(this.u32, (p.at + P_STATE) >>> 2, state);
    ringDoorbell(this.i32, p.mainBell >>> 2);
  }

  /** The main thread's records: frames to write, frames for the router. */
  private fromMain(p: Pump): number {
    if (p.fromMain.empty) return 0;
    const { rec, u8, wasm } = this;
    let moved = 0;
    while (p.fromMain.peek(rec)) {
      const kind = rec[0]!, at = rec[1]!, len = rec[2]!; // indexed: destructuring a typed array makes an iterator
      if (kind === K_SEND) {
        if (p.txCap - p.txTail < len) {
          this.flushTx(p);
          if (p.txCap - p.txTail < len) break;
        }
        u8.copyWithin(p.tx + p.txTail, at, at + len);
        p.txTail += len;
        let frames = 0;
        for (let o = at; o + HDR_SIZE <= at + len; frames++) o += Math.max(HDR_SIZE, msgSizeAt(u8, o));
        this.count32(p, P_FRAMES_OUT, frames);
      } else if (kind === K_TO_ROUTER) {
        const slot = wasm.ringReserve(p.toRouter);
        if (slot === 0) break; // the ring is full: the router makes room, a later pass retries
        u8.copyWithin(slot, at, at + len);
        wasm.ringCommit(p.toRouter);
        moved++;
      }
      p.fromMain.pop();
    }
    if (moved !== 0) wasm.cursorFlush(p.toRouter);
    this.flushTx(p);
    return moved;
  }

  /** Socket → ring: read what is there, put every whole frame into the endpoint ring (or hand it to the main thread). */
  private fromPeer(p: Pump): number {
    const { u8, wasm } = this;
    let closed = 0;
    if (p.wantRead && p.rxCap - p.rxTail >= p.max) {
      const n = this.addon.recvInto(p.fd, u8, p.rx + p.rxTail, p.rxCap - p.rxTail);
      if (n > 0) {
        p.rxTail += n;
        this.count32(p, P_BYTES_IN, n);
        // A full read may have left more behind: read again next pass.
        p.wantRead = p.rxTail === p.rxCap;
      } else if (n === 0) p.wantRead = false;
      else closed = n;
    }
    let moved = 0;
    let toMain = false;
    const filter = p.filter;
    let head = p.rxHead;
    while (p.rxTail - head >= HDR_SIZE) {
      const f = p.rx + head;
      const size = msgSizeAt(u8, f);
      if (size < HDR_SIZE || size > p.max) {
        p.rxHead = head;
        this.fail(p, size < HDR_SIZE ? PS_SIZE_LT_HEADER : PS_SIZE_GT_MAX, size);
        return moved;
      }
      if (p.rxTail - head < size) break;
      if (!this.forwards(filter, f)) {
        if (!p.toMain.push(K_FROM_PEER, u8, f, size)) break; // the main thread is behind: retry next pass
        toMain = true;
      } else {
        const slot = wasm.ringReserve(p.toRouter);
        if (slot === 0) break; // the ring is full: the router makes room, a later pass retries
        u8.copyWithin(slot, f, f + size);
        wasm.ringCommit(p.toRouter);
        moved++;
      }
      head += size;
      this.count32(p, P_FRAMES_IN, 1);
    }
    p.rxHead = head;
    if (moved !== 0) wasm.cursorFlush(p.toRouter);
    if (toMain) ringDoorbell(this.i32, p.mainBell >>> 2);
    if (p.rxHead === p.rxTail) p.rxHead = p.rxTail = 0;
    else if (p.rxCap - p.rxTail < p.max) {
      // Room for at least one more largest frame: the partial one moves to the front.
      u8.copyWithin(p.rx, p.rx + p.rxHead, p.rx + p.rxTail);
      p.rxTail -= p.rxHead;
      p.rxHead = 0;
    }
    if (closed === -1) this.fail(p, PS_EOF, 0);
    else if (closed < 0) this.fail(p, PS_ERROR, this.addon.lastError());
    return moved;
  }

  /** Ring → socket: what the router published for the far end, in one write. */
  private toPeer(p: Pump): number {
    const { u8, wasm } = this;
    if (p.txTail > p.txHead) {
      this.flushTx(p);
      if (p.txTail > p.txHead) return 0; // the socket is full: poll(2) waits for room (MODE_OUT)
    }
    let n = 0;
    let toMain = false;
    const filter = p.filter;
    for (;;) {
      const f = wasm.ringPeek(p.fromRouter);
      if (f === 0) break;
      const size = msgSizeAt(u8, f);
      if (size < HDR_SIZE || size > p.max || !this.forwards(filter, f)) {
        // Not plain forwarding: the main thread's hooks decide (remap, count, drop).
        if (!p.toMain.push(K_FROM_ROUTER, u8, f, Math.min(Math.max(size, HDR_SIZE), p.max))) break;
        toMain = true;
      } else {
        if (p.txCap - p.txTail < size) break;
        u8.copyWithin(p.tx + p.txTail, f, f + size);
        p.txTail += size;
        this.count32(p, P_FRAMES_OUT, 1);
      }
      wasm.ringRelease(p.fromRouter);
      n++;
    }
    if (n === 0) return 0;
    wasm.cursorFlush(p.fromRouter);
    if (toMain) ringDoorbell(this.i32, p.mainBell >>> 2);
    this.flushTx(p);
    return n;
  }

  private flushTx(p: Pump): void {
    if (p.txTail === p.txHead || !p.open || !p.canWrite) return;
    const w = this.addon.sendFrom(p.fd, this.u8, p.tx + p.txHead, p.txTail - p.txHead);
    if (w < 0) {
      this.fail(p, PS_ERROR, this.addon.lastError());
      return;
    }
    if (w === 0) {
      p.canWrite = false;
      return;
    }
    p.txHead += w;
    this.count32(p, P_BYTES_OUT, w);
    this.count32(p, P_WRITES, 1);
    if (p.txHead === p.txTail) p.txHead = p.txTail = 0;
    else if (p.txCap - p.txTail < p.max) {
      this.u8.copyWithin(p.tx, p.tx + p.txHead, p.tx + p.txTail);
      p.txTail -= p.txHead;
      p.txHead = 0;
    }
  }
}
