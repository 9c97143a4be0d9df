// Control of running shards through shared memory (never postMessage): the control plane
// writes commands into each shard's command ring (a native ring, 64-byte slots); the shard's
// loop runs them between routing steps and publishes the sequence number it finished in its
// control block. Layout of the control block (TS only; the WASM never reads it):
//   CB_STOP   i32 @0    1 = leave the loop after draining
//   CB_ACK    i32 @64   sequence of the last command finished (own cache line: shard writes)
//   CB_RESULT u32 @68   its result
//   CB_BEAT   u32 @128  loop heartbeat, bumped by the shard (hang detection)
//   CB_STATE  u32 @132  SHARD_* below
//   CB_POLL_LINKS u32 @136  attached links whose peer never rings a doorbell (busy-poll external
//                           buses): while > 0 the idle shard only naps, so it keeps polling them
//   CB_WALL_SKEW i32 @140  test seam: ms added to Date.now() in the shard thread (a simulated
//                          wall-clock jump; the router's timing must not notice it)
//   CB_SOCKET_BELLS u32 @144  the shard's socket-bell table (src/router/socket-bells.ts), 0 = none
//   CB_STREAM_PUMPS u32 @148  the shard's stream-pump table (src/router/stream-pumps.ts), 0 = none
import type { WasmExports } from '../wasm/module.js';
import { NR_PROD_CURSOR, NR_CONS_CURSOR } from '../ring/native.js';

export const CB_STOP = 0;
export const CB_ACK = 64;
export const CB_RESULT = 68;
export const CB_BEAT = 128;
export const CB_STATE = 132;
export const CB_POLL_LINKS = 136;
export const CB_WALL_SKEW = 140;
/** u32 address of the shard's socket-bell table (src/router/socket-bells.ts), 0 = none. */
export const CB_SOCKET_BELLS = 144;
/** u32 address of the shard's stream-pump table (src/router/stream-pumps.ts), 0 = none. */
export const CB_STREAM_PUMPS = 148;
export const CONTROL_BLOCK_SIZE = 192;

export const SHARD_STARTING = 0;
export const SHARD_RUNNING = 1;
export const SHARD_STOPPED = 2;

// Command slot: op u32 @0, seq u32 @4, a u32 @8, b u32 @12.
export const CMD_OP = 0;
export const CMD_SEQ = 4;
export const CMD_A = 8;
export const CMD_B = 12;

export const enum Op {
  Noop = 0, // result 0: proves the shard finished a step after the command was queued
  AddSource = 1, // a = endpoint
  RemoveSource = 2, // a = endpoint → result = frames dropped
  AddDevice = 3, // a = device state
  RemoveDevice = 4, // a = device state → result = requests left unresolved (retry while > 0)
  DeviceEvent = 5, // a = dev_num, b = state → result = drivers not reached
  Recover = 6, // a = reason: fail every waiting request of the shard's devices (after a worker restart)
  EmitFrame = 7, // a = endpoint, b = address of a frame → result 1 = pool empty, retry
  ForgetDriver = 8, // a = detaching driver endpoint → result = its parked frames dropped
  Crash = 0xdead, // fault injection: the shard worker throws after acknowledging (tests)
}

/** Control-plane side of one shard's command ring. */
export class CommandSender {
  private seq = 0;
  /** The command before (settled either way), so the next starts after it. */
  private last: Promise<unknown> = Promise.resolve();
  private readonly i32: Int32Array;
  private readonly u32: Uint32Array;
  private readonly cursor: number;

  constructor(
    private readonly wasm: WasmExports,
    memory: WebAssembly.Memory,
    ring: number,
    private readonly block: number,
  ) {
    this.i32 = new Int32Array(memory.buffer);
    this.u32 = new Uint32Array(memory.buffer);
    this.cursor = ring + NR_PROD_CURSOR;
  }

  /**
   * Queue a command; resolves with its result once the shard has run it. Commands to one shard
   * run one at a time: the control block has one result word, and a second command finishing
   * before the first one's waiter woke would overwrite it (a Noop read ForgetDriver's count).
   */
  run(op: Op, a = 0, b = 0, timeoutMs = 10_000): Promise<number> {
    const result = this.last.then(() => this.runNow(op, a, b, timeoutMs));
    this.last = result.catch(() => undefined);
    return result;
  }

  private async runNow(op: Op, a: number, b: number, timeoutMs: number): Promise<number> {
    const seq = ++this.seq;
    let slot = this.wasm.ringReserve(this.cursor);
    const deadline = Date.now() + timeoutMs;
    while (slot === 0) {
      if (Date.now() > deadline) throw new Error(`shard command ring full for ${timeoutMs} ms (shard not running?)`);
      await new Promise((r) => setTimeout(r, 1));
      slot = this.wasm.ringReserve(this.cursor);
    }
    const s = slot >>> 2;
    this.u32[s + CMD_OP / 4] = op;
    this.u32[s + CMD_SEQ / 4] = seq;
    this.u32[s + CMD_A / 4] = a;
    this.u32[s + CMD_B / 4] = b;
    this.wasm.ringCommit(this.cursor);
    this.wasm.cursorFlush(this.cursor); // publishes and rings the shard's doorbell
    const ackAt = (this.block + CB_ACK) >>> 2;
    for (;;) {
      const done = Atomics.load(this.i32, ackAt);
      if (done - seq >= 0) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`shard did not run command ${op} within ${timeoutMs} ms`);
      const w = Atomics.waitAsync(this.i32, ackAt, done, Math.min(left, 50));
      if (w.async) await w.value;
    }
    return this.u32[(this.block + CB_RESULT) >>> 2]!;
  }

  requestStop(): void {
    Atomics.store(this.i32, (this.block + CB_STOP) >>> 2, 1);
  }
}

/** Shard side: run every queued command. Returns how many ran. */
export function runCommands(wasm: WasmExports, memory: WebAssembly.Memory, shard: number, ring: number, block: number): number {
  const u32 = new Uint32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  const cursor = ring + NR_CONS_CURSOR;
  let n = 0;
  for (let slot = wasm.ringPeek(cursor); slot !== 0; slot = wasm.ringPeek(cursor)) {
    const s = slot >>> 2;
    const op = u32[s + CMD_OP / 4]!;
    const seq = u32[s + CMD_SEQ / 4]!;
    const a = u32[s + CMD_A / 4]!;
    const b = u32[s + CMD_B / 4]!;
    let result = 0;
    switch (op) {
      case Op.Noop: break;
      case Op.AddSource: wasm.addSource(shard, a); break;
      case Op.RemoveSource: result = wasm.removeSource(shard, a); break;
      case Op.AddDevice: wasm.addDevice(shard, a); break;
      case Op.RemoveDevice: result = wasm.removeDevice(shard, a); break;
      case Op.DeviceEvent: result = wasm.emitDeviceEvent(shard, a, b); break;
      case Op.Recover: result = wasm.failAll(shard, a); break;
      case Op.EmitFrame: result = wasm.emitFrame(shard, a, b); break;
      case Op.ForgetDriver: result = wasm.forgetDriver(shard, a); break;
      case Op.Crash: break;
      default: result = 0xffffffff;
    }
    wasm.ringRelease(cursor);
    wasm.cursorFlush(cursor);
    u32[(block + CB_RESULT) >>> 2] = result;
    Atomics.store(i32, (block + CB_ACK) >>> 2, seq);
    Atomics.notify(i32, (block + CB_ACK) >>> 2);
    if (op === Op.Crash) throw new Error('shard crash injected');
    n++;
  }
  return n;
}
