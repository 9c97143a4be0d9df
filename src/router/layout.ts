// The router tables' layout, read from the compiled hot path: assembly/router/layout.ts is the
// one place the offsets are written down; src/wasm/layout.ts is generated from the module's
// exported constants at build time (tools/gen-layout.mjs), names included.
// test/layout/router.test.ts checks the reason numbers against src/protocol/reasons.ts.
import * as constants from '../wasm/layout.js';

export type RouterLayout = typeof constants;
export type RouterLayoutName = keyof RouterLayout;

/** Every layout constant of the hot path, by name. */
export function routerLayout(): RouterLayout {
  return constants;
}

export const ROUTER_LAYOUT_NAMES = Object.keys(constants) as readonly RouterLayoutName[];

/**
 * Check the router tables a shard is about to bind to (`shard`: its state, whose SH_CONFIG
 * points at the config): the config's magic and layout version must be this build's.
 * Throws an Error naming what differs. The tables are written from the same constants, so
 * this catches tables that are not (or no longer) there; whether the WASM module itself has
 * this layout is checked when it is loaded (src/wasm/module.ts checkModuleLayout).
 */
export function checkRouterTables(u32: Uint32Array, shard: number): void {
  const L = constants;
  const config = u32[(shard + L.SH_CONFIG) >>> 2]!;
  if (config === 0 || config % 4 !== 0 || config + L.RC_SIZE > u32.byteLength) {
    throw new Error(`router tables: shard state at ${shard} names no config (address ${config})`);
  }
  const magic = Atomics.load(u32, (config + L.RC_MAGIC) >>> 2); // stored last: acquire
  if (magic !== L.RC_MAGIC_VALUE) {
    throw new Error(`router tables: config magic 0x${magic.toString(16)} at ${config}, expected 0x${L.RC_MAGIC_VALUE.toString(16)} (tables not built, or not router tables)`);
  }
  const version = u32[(config + L.RC_VERSION) >>> 2]!;
  if (version !== L.RC_VERSION_VALUE) {
    throw new Error(`router tables: layout version ${version}, this build's hot path reads version ${L.RC_VERSION_VALUE} (tables built by another build)`);
  }
}
