// Loads the AssemblyScript hot path (assembly/ → dist/wasm/vmsg.wasm). One compiled Module is
// shared by every thread; each thread makes its own Instance over the one shared Memory. Two
// builds of the same source: vmsg.wasm uses Wasm SIMD, vmsg.scalar.wasm does not (for engines
// without it); both are checked against this build's layout when loaded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { tryBellAddon } from '../native/bell.js';
import * as layoutConstants from './layout.js';

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

/**
 * The smallest module that uses Wasm SIMD: one function `() -> v128` whose body is
 * `v128.const 0`. Engines without SIMD (V8 on x86-64 without SSE4.1, e.g. QEMU's qemu64 CPU)
 * refuse it, and would refuse vmsg.wasm the same way.
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, //       type section: one func type () -> v128
  0x03, 0x02, 0x01, 0x00, //                         function section: one function of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, //                   code section: one body of 20 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(0), //   v128.const 0 (16 immediate bytes)
  0x0b, //                                           end
]);

/** Which build of the hot path this process runs: vmsg.wasm (Wasm SIMD) or vmsg.scalar.wasm. */
export type WasmBuild = 'simd' | 'scalar';

/**
 * The build wasmModule() loads: "simd" when the engine supports Wasm SIMD, else "scalar";
 * the environment variable VMSG_WASM=simd|scalar forces one.
 */
export function wasmBuild(): WasmBuild {
  const forced = process.env['VMSG_WASM'];
  if (forced !== undefined && forced !== '') {
    if (forced === 'simd' || forced === 'scalar') return forced;
    throw new Error(`vmsg-router: VMSG_WASM must be "simd" or "scalar", got "${forced}"`);
  }
  return WebAssembly.validate(SIMD_PROBE) ? 'simd' : 'scalar';
}

/** Read and compile dist/wasm/`file`, then check its layout against this build's (checkModuleLayout). */
function loadModule(file: string): WebAssembly.Module {
  const path = join(packageRoot(), 'dist', 'wasm', file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new Error(`vmsg-router: ${path} is missing; run "npm run build" (npm ci does it) first`);
  }
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(new Uint8Array(bytes));
  } catch (e) {
    if (file === 'vmsg.wasm' && !WebAssembly.validate(SIMD_PROBE)) {
      throw new Error(`vmsg-router: this engine has no Wasm SIMD, which dist/wasm/${file} needs (VMSG_WASM=simd forces it); unset VMSG_WASM or set VMSG_WASM=scalar`);
    }
    throw e;
  }
  checkModuleLayout(module, `dist/wasm/${file}`);
  return module;
}

const checked = new WeakSet<WebAssembly.Module>();

/**
 * Throw unless `module` exports every layout constant of src/wasm/layout.ts with the same
 * value: a hot path from another commit than this TypeScript would misread the router tables
 * (misrouted frames, out-of-bounds traps) without a word. `label` names the module in the
 * error. Instantiates it once over a throwaway page; each Module is checked once per process.
 */
export function checkModuleLayout(module: WebAssembly.Module, label: string): void {
  if (checked.has(module)) return;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  let exports: WebAssembly.Exports;
  try {
    exports = new WebAssembly.Instance(module, { env: { memory, abort() {}, now: () => 0, wakePoll() {} } }).exports;
  } catch (e) {
    throw new Error(`${label} does not match this build (${(e as Error).message}): run npm run build`);
  }
  const wrong: string[] = [];
  for (const [name, expected] of Object.entries(layoutConstants)) {
    const g = exports[name];
    const got = g instanceof WebAssembly.Global ? Number(g.value) : undefined;
    if (got === expected) continue;
    const text = `${name} ${got === undefined ? 'missing' : String(got)}, expected ${expected}`;
    // The version first: it is what a reader of the error looks for.
    if (name === 'RC_VERSION_VALUE') wrong.unshift(text);
    else wrong.push(text);
  }
  if (wrong.length > 0) {
    const more = wrong.length === 1 ? '' : wrong.length === 2 ? '; 1 more constant differs' : `; ${wrong.length - 1} more constants differ`;
    throw new Error(`${label} does not match this build's layout (${wrong[0]}${more}): run npm run build`);
  }
  checked.add(module);
}

let compiled: WebAssembly.Module | undefined;

/**
 * The compiled hot path (compiled once per thread that asks; pass it to workers instead):
 * dist/wasm/vmsg.wasm, or dist/wasm/vmsg.scalar.wasm where the engine has no Wasm SIMD
 * (wasmBuild()). Throws if its layout is not this build's.
 */
export function wasmModule(): WebAssembly.Module {
  compiled ??= loadModule(wasmBuild() === 'simd' ? 'vmsg.wasm' : 'vmsg.scalar.wasm');
  return compiled;
}

let scalar: WebAssembly.Module | undefined;

/** The scalar build (dist/wasm/vmsg.scalar.wasm), whatever the engine supports: for tests and benchmarks. */
export function scalarModule(): WebAssembly.Module {
  scalar ??= loadModule('vmsg.scalar.wasm');
  return scalar;
}

let faults: WebAssembly.Module | undefined;

/**
 * The test build of the hot path (asconfig target "faults": dist/wasm/vmsg.faults.wasm): the
 * same code with fault injection points inside the routing step (assembly/router/faults.ts).
 * For tests and the fuzz tools only; a router runs it when created with the `module` test hook.
 */
export function faultsModule(): WebAssembly.Module {
  faults ??= loadModule('vmsg.faults.wasm');
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
