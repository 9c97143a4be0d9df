// TypeScript face of the doorbell addon (src/native/vmsg_bell.c, built by node-gyp during
// npm ci): the system calls a thread makes when it drives a shared-memory window itself
// instead of through the event loop (the load engine, src/driver/frame-engine.ts).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';

export interface BellAddon {
  /** Sleep until the peer rings (drains every pending byte): 1 rang, 0 nothing within `ms`, -1 closed or failed. */
  wait(fd: number, ms: number): number;
  /** Write one byte: 1 written, 0 the socket buffer is full (the peer has bytes enough), -1 failed. */
  ring(fd: number): number;
  /** sched_yield(2). */
  yield(): number;
  /** A descriptor of our own for the same socket (-1 on failure): rung from another thread, it cannot be closed and reused under that thread. */
  dup(fd: number): number;
  close(fd: number): number;
}

let addon: BellAddon | undefined;
let failure: Error | undefined;

/** The addon, or null when it cannot be loaded (callers then keep to the event loop). */
export function tryBellAddon(): BellAddon | null {
  if (addon !== undefined) return addon;
  if (failure !== undefined) return null;
  try {
    return bellAddon();
  } catch (e) {
    failure = e as Error;
    return null;
  }
}

export function bellAddon(): BellAddon {
  if (addon === undefined) {
    const path = join(packageRoot(), 'build', 'Release', 'vmsg_bell.node');
    try {
      addon = createRequire(import.meta.url)(path) as BellAddon;
    } catch (e) {
      throw new Error(`vmsg-router: the doorbell addon ${path} did not load (${(e as Error).message}); ` +
        'it is built by node-gyp during "npm ci" and needs python3, make and a C compiler');
    }
  }
  return addon;
}
