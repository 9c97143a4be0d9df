// The way into a Router's internals for test hooks (test-hooks.ts) and nothing else: two symbols
// the package entry point does not export, so the public class carries no test-only method.
import type { SharedMemory } from '../memory/shared-memory.js';
import type { RouterTables } from './tables.js';
import type { ShardPool } from './shard-pool.js';
import type { DeviceTombstones } from './device-tombstones.js';

/** What test hooks may reach. */
export interface RouterInternals {
  readonly mem: SharedMemory;
  readonly tables: RouterTables;
  readonly shards: ShardPool;
  readonly tombstones: DeviceTombstones;
}

/** Router getter keyed by this: its internals. */
export const ROUTER_INTERNALS: unique symbol = Symbol('vmsg-router internals');

/** Router static keyed by this: create a router whose shards run another compiled hot path. */
export const CREATE_WITH_MODULE: unique symbol = Symbol('vmsg-router create with module');
