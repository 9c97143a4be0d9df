// Fault injection and other hooks only tests and test tools use, kept off the public Router
// class: each takes a router and reaches its internals (internals.ts).
import { Router } from './router.js';
import type { RouterOptions } from './options.js';
import { Op, CB_WALL_SKEW } from './control.js';
import { CREATE_WITH_MODULE, ROUTER_INTERNALS } from './internals.js';
import { checkModuleLayout } from '../wasm/module.js';

/**
 * Start a router whose shard workers run `module` instead of dist/wasm/vmsg.wasm (the
 * fault-injection build, faultsModule(), for injectStepFault; or scalarModule()). A module
 * whose layout constants are not this build's is refused.
 */
export async function createRouterWithModule(opts: RouterOptions, module: WebAssembly.Module): Promise<Router> {
  checkModuleLayout(module, 'the module passed to createRouterWithModule');
  return await Router[CREATE_WITH_MODULE](opts, module);
}

/** Shard `s`'s worker throws, as if it had crashed; the router restarts it (see waitRestarts). */
export async function injectShardCrash(router: Router, s: number): Promise<void> {
  const { shards } = router[ROUTER_INTERNALS];
  if (!Number.isInteger(s) || s < 0 || s >= shards.count) throw new RangeError(`no shard ${s}`);
  await shards.run(s, Op.Crash);
}

/**
 * Inside a routing step: arm point `point` of shard `s` (assembly/router/faults.ts: 1 a frame
 * routed before the ring's consumer index moves, 2 after parking, 3 after the first half of a
 * cross-shard send, 4 after the second); it lets `countdown` hits pass, then traps and the
 * worker is restarted like after any crash. Only a router made by createRouterWithModule with
 * the fault build has the points; 0 disarms.
 */
export function injectStepFault(router: Router, s: number, point: number, countdown = 0): void {
  const { mem, tables } = router[ROUTER_INTERNALS];
  const sh = tables.shards[s];
  if (sh === undefined) throw new RangeError(`no shard ${s}`);
  if (!Number.isInteger(point) || point < 0 || point > 0xff || !Number.isInteger(countdown) || countdown < 0 || countdown > 0xffffff) {
    throw new RangeError(`fault point must be 0-255 and countdown 0-16777215, got ${point}, ${countdown}`);
  }
  Atomics.store(mem.u32, (sh + tables.L.SH_FAULT) >>> 2, point === 0 ? 0 : (point | (countdown << 8)) >>> 0);
}

/**
 * The wall clock (Date.now()) of every shard thread jumps by `ms` (negative: backwards), as
 * after an NTP step. Deadlines must not notice (they use a monotonic clock).
 */
export function injectWallClockJump(router: Router, ms: number): void {
  if (!Number.isInteger(ms) || Math.abs(ms) > 0x3fffffff) throw new RangeError(`wall clock jump must be an integer number of ms within ±2^30, got ${ms}`);
  const { mem, tables } = router[ROUTER_INTERNALS];
  for (const block of tables.controlBlocks) Atomics.add(mem.i32, (block + CB_WALL_SKEW) >>> 2, ms);
}

/** Resolves once shards have been restarted `n` times in total (Router.restarts) and none is still recovering. */
export async function waitRestarts(router: Router, n: number, timeoutMs = 10_000): Promise<void> {
  const { shards } = router[ROUTER_INTERNALS];
  const deadline = Date.now() + timeoutMs;
  while (shards.restarts < n || shards.recovering > 0) {
    if (Date.now() > deadline) throw new Error(`no shard restart within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Device number `dev`, when next attached, continues its router tokens from `token` (as if a device with that number had been removed there). */
export function continueTokensFrom(router: Router, dev: number, token: number): void {
  router[ROUTER_INTERNALS].tombstones.nextToken.set(dev, token);
}
