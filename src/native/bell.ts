// TypeScript face of the doorbell addon (src/native/vmsg_bell.c, built by node-gyp during
// npm ci): the system calls a thread makes when it drives a shared-memory window itself
// instead of through the event loop (the load engine, src/driver/frame-engine.ts; a router shard
// sleeping in poll(2) on its links' sockets, src/wait/poll-doorbell.ts).
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
  /** The CPUs this thread may run on (sched_getaffinity), as many as fit in `list`: how many there are, -1 on failure. */
  cpus(list: Int32Array): number;
  /** The CPU this thread runs on now (sched_getcpu), -1 on failure. */
  cpu(): number;
  /** Run this thread only on CPUs list[0 .. n - 1] from now on (sched_setaffinity): 0 done, -1 failed. */
  setCpus(list: Int32Array, n: number): number;
  /** A descriptor of our own for the same socket (-1 on failure): rung from another thread, it cannot be closed and reused under that thread. */
  dup(fd: number): number;
  close(fd: number): number;
  /** An eventfd of the process-wide pool (never closed: see vmsg_bell.c), -1 when none. */
  eventAcquire(): number;
  eventRelease(fd: number): number;
  /** Add 1 to a pooled eventfd: 1 done, 0 its counter is full (it is signalled), -1 not a pooled eventfd. */
  signal(fd: number): number;
  /**
   * poll(2) the eventfd `evfd` (-1: none) and sockets fds[0 .. n - 1] for at most `ms` (0: just
   * look), and drain the doorbell sockets that rang. status[i]: 1 socket i rang, -1 it closed or
   * failed, 0 neither; for a data socket (modes[i] & MODE_DATA) READY_IN | READY_OUT.
   * Returns TAKE_EVENT | TAKE_RANG | TAKE_CLOSED | TAKE_DATA bits (0: timed out).
   */
  take(evfd: number, fds: Int32Array, n: number, ms: number, status: Int32Array, modes?: Int32Array): number;
  /** Read at most `len` bytes into u8[off..] without blocking: bytes read, 0 none waiting, -1 the peer closed, -2 failed (lastError), -3 bad arguments. */
  recvInto(fd: number, u8: Uint8Array, off: number, len: number): number;
  /** Write at most `len` bytes from u8[off..] without blocking: bytes written (0: the socket is full), -2 failed (lastError), -3 bad arguments. */
  sendFrom(fd: number, u8: Uint8Array, off: number, len: number): number;
  /** errno of this thread's last failed recvInto / sendFrom. */
  lastError(): number;
}

/** take() modes[i]: a data socket its owner reads itself (readiness reported in status, never read by take). */
export const MODE_DATA = 1;
/** take() modes[i], data socket: do not wait for input (the owner has no room for it now). */
export const MODE_NO_IN = 2;
/** take() modes[i], data socket: wait for room to write too. */
export const MODE_OUT = 4;
/** take() status[i] of a data socket: readable, or closed / failed (the owner's read tells). */
export const READY_IN = 2;
/** take() status[i] of a data socket: writable. */
export const READY_OUT = 4;

/** take(): the eventfd was written (an in-process waker). */
export const TAKE_EVENT = 1;
/** take(): a socket rang (an external peer). */
export const TAKE_RANG = 2;
/** take(): a socket closed or failed. */
export const TAKE_CLOSED = 4;
/** take(): a data socket is ready (modes MODE_DATA). */
export const TAKE_DATA = 8;

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
