// Loads the AssemblyScript hot path (assembly/ → dist/wasm/vmsg.wasm). One compiled Module is
// shared by every thread; each thread makes its own Instance over the one shared Memory.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { tryBellAddon } from '../native/bell.js';

/** The raw exports of dist/wasm/vmsg.wasm (functions take and return byte addresses). */
export interface WasmExports {
  readonly [name: string]: unknown;
  heapBase(): number;
  frameSize(frame: number): number;
  nativeRingBytes(capacity: number, slotSize: number, frameUnits: number): number;
  nativeRingInit(base: number, capacity: number, slotSize: number, batch: number, consBell: number, prodBell: number, cursorFlags: number, frameUnits: number): void;
  ringReserve(cur: number): number;
  ringCommit(cur: number): void;
  ringPeek(cur: number): number;
  ringRelease(cur: number): void;
  cursorFlush(cur: number): void;
  produceFreeHint(cur: number): number;
  consumeAvailableHint(cur: number): number;
  cursorInit(cur: number, slots: number, pub: number, peer: number, cap: number, stride: number, batch: number, flags: number, bell: number): void;
  vmampElementCount(windowSize: number): number;
  vmampDeviceInit(window: number, windowSize: number): number;
  vmampCursorInit(cur: number, window: number, windowSize: number, role: number, direction: number, batch: number, bell: number): number;
  spscCapacity(regionBytes: number): number;
  spscRegionBytes(capacity: number): number;
  spscInit(region: number, regionBytes: number): number;
  spscCursorInit(cur: number, region: number, regionBytes: number, direction: number, batch: number, bell: number): number;
  routeSome(shard: number, budget: number): number;
  serviceParked(shard: number): void;
  /** Frames that left a park queue since the last call (this thread's instance). */
  parkedMovedTake(): number;
  addSource(shard: number, ep: number): void;
  removeSource(shard: number, ep: number): number;
  forgetDriver(shard: number, ep: number): number;
  addDevice(shard: number, ds: number): void;
  removeDevice(shard: number, ds: number): number;
  emitDeviceEvent(shard: number, dev: number, state: number): number;
  emitFrame(shard: number, ep: number, frame: number): number;
  expire(shard: number): number;
  failAll(shard: number, reason: number): number;
  /** A restarted shard's first call: ends the ring walk its predecessor died in (assembly/router/route.ts). */
  recoverWalk(shard: number): number;
  pendingWork(shard: number): number;
  echoSome(inCur: number, outCur: number, budget: number): number;
  lgSetup(st: number): void;
  lgRun(st: number, budget: number): number;
  lgClearHistogram(st: number): void;
  lgSeqRun(st: number, budget: number, scratch: number): number;
  lgSeqClear(hist: number): void;
  /** One request at a time, timed (assembly/loadgen/round-trip.ts). */
  rttRun(st: number, tx: number, rx: number, devIn: number, devOut: number, dev: number, count: number, times: number, maxPolls: number): number;
  /** Many in flight, every answer checked (assembly/loadgen/closed-loop.ts). */
  clRun(st: number, devs: number, tx: number, rx: number, devIn: number, devOut: number, first: number, n: number, outstanding: number, burst: number, passes: number): number;
}

let compiled: WebAssembly.Module | undefined;

/** The compiled module (compiled once per thread that asks; pass it to workers instead). */
export function wasmModule(): WebAssembly.Module {
  if (compiled === undefined) {
    const path = join(packageRoot(), 'dist', 'wasm', 'vmsg.wasm');
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new Error(`vmsg-router: ${path} is missing; run "npm run build" (npm ci does it) first`);
    }
    compiled = new WebAssembly.Module(new Uint8Array(bytes));
  }
  return compiled;
}

let faults: WebAssembly.Module | undefined;

/**
 * The test build of the hot path (asconfig target "faults": dist/wasm/vmsg.faults.wasm): the
 * same code with fault injection points inside the routing step (assembly/router/faults.ts).
 * For tests and the fuzz tools only; a router runs it when created with the `module` test hook.
 */
export function faultsModule(): WebAssembly.Module {
  if (faults === undefined) {
    const path = join(packageRoot(), 'dist', 'wasm', 'vmsg.faults.wasm');
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new Error(`vmsg-router: ${path} is missing; run "npm run build" first`);
    }
    faults = new WebAssembly.Module(new Uint8Array(bytes));
  }
  return faults;
}

/** Instantiate the hot path over `memory` (shared, fixed size). */
export function instantiate(memory: WebAssembly.Memory, module: WebAssembly.Module = wasmModule()): WasmExports {
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, col: number): never {
        throw new Error(`vmsg wasm abort at ${line}:${col}`);
      },
      // The load engines' clock (assembly/loadgen/): once per pass, or per round trip (rtt).
      // Bound rather than wrapped in a closure: ~10 ns less per read from WASM.
      now: performance.now.bind(performance),
      // A publish found its consumer asleep in poll(2): write its eventfd (assembly/ring/cursor.ts,
      // src/wait/doorbell.ts). Only an owner that loaded the doorbell addon sleeps in poll.
      wakePoll: (fd: number) => void tryBellAddon()?.signal(fd),
    },
  });
  return instance.exports as unknown as WasmExports;
}

/** Value of an exported layout constant (exported as an immutable wasm global). */
export function wasmConstant(exports: WasmExports, name: string): number {
  const g = exports[name];
  if (!(g instanceof WebAssembly.Global)) throw new Error(`wasm export ${name} is not a constant`);
  return Number(g.value);
}
