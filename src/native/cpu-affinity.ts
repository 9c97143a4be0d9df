// The calling thread's CPU affinity through the doorbell addon (sched_getaffinity /
// sched_setaffinity of this thread, not the process). One place for the list handling that
// shard pinning (RouterOptions.shardCpus) and EndpointPort avoidCpus share.
import { tryBellAddon } from './bell.js';

/** CPU numbers an affinity list may hold: below this (the masks the addon passes). */
export const MAX_CPU = 1024;

/** CPUs the calling thread may run on now, ascending; null without the doorbell addon. */
export function allowedCpus(): number[] | null {
  const addon = tryBellAddon();
  if (addon === null) return null;
  const list = new Int32Array(MAX_CPU);
  const n = Math.min(addon.cpus(list), list.length);
  return [...list.subarray(0, Math.max(n, 0))].sort((a, b) => a - b);
}

/** Let the calling thread run only on `cpus` (non-empty): true when the kernel took it. */
export function setAllowedCpus(cpus: readonly number[]): boolean {
  const addon = tryBellAddon();
  if (addon === null || cpus.length === 0) return false;
  return addon.setCpus(Int32Array.from(cpus), cpus.length) === 0;
}

/**
 * RangeError unless every CPU of `cpus` is one the calling thread may run on (`what` names the
 * option in the message). Without the addon nothing can be checked, nor pinned: no error.
 */
export function checkCpusAllowed(cpus: readonly number[], what: string): void {
  const allowed = allowedCpus();
  if (allowed === null) return;
  const missing = cpus.filter((c) => !allowed.includes(c));
  if (missing.length !== 0) throw new RangeError(`${what}: CPU ${missing.join(', ')} is not one this process may run on (it may run on ${allowed.join(',')})`);
}

/** A list of CPU numbers 0..MAX_CPU-1 (integers), non-empty. */
export function isCpuList(v: unknown): v is number[] {
  return Array.isArray(v) && v.length !== 0 && v.every((c) => Number.isInteger(c) && c >= 0 && c < MAX_CPU);
}
