// CPU affinity through the doorbell addon (sched_getaffinity / sched_setaffinity of the calling
// thread, not the process). One place for the list handling that shard pinning
// (RouterOptions.shardCpus) and EndpointPort avoidCpus share.
import { readFileSync } from 'node:fs';
import { tryBellAddon } from './bell.js';

/** CPU numbers an affinity list may hold: below this (the masks the addon passes). */
export const MAX_CPU = 1024;

/** CPUs the calling thread may run on now, ascending; null without the doorbell addon. */
export function allowedCpus(): number[] | null {
  const addon = tryBellAddon();
  if (addon === null) return null;
  const list = new Int32Array(MAX_CPU);
  const n = addon.cpus(list);
  if (n < 0) return null;
  return [...list.subarray(0, Math.min(n, list.length))].sort((a, b) => a - b);
}

/** Let the calling thread run only on `cpus` (non-empty): true when the kernel took it. */
export function setAllowedCpus(cpus: readonly number[]): boolean {
  const addon = tryBellAddon();
  if (addon === null || cpus.length === 0) return false;
  return addon.setCpus(Int32Array.from(cpus), cpus.length) === 0;
}

/** The kernel's CPU list format ("0-3,6"): the numbers, or null when it does not parse. */
export function parseCpuListText(text: string): number[] | null {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b && c < MAX_CPU; c++) out.push(c);
  }
  return out;
}

function readCpuList(path: string): number[] | null {
  try {
    return parseCpuListText(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * CPUs any thread of this process may be given: online, and in its cpuset (cgroup v2 or v1)
 * where that can be read. Not the calling thread's own mask, which a port's avoidCpus or a
 * `taskset` may have narrowed: a shard thread is pinned with its own sched_setaffinity.
 */
export function usableCpus(): number[] | null {
  const online = readCpuList('/sys/devices/system/cpu/online');
  if (online === null) return allowedCpus();
  let cpuset: number[] | null = null;
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, ctrl, path] = line.split(':');
      if (path === undefined) continue;
      if (ctrl === '') cpuset ??= readCpuList(`/sys/fs/cgroup${path === '/' ? '' : path}/cpuset.cpus.effective`);
      else if (ctrl!.split(',').includes('cpuset')) cpuset ??= readCpuList(`/sys/fs/cgroup/cpuset${path === '/' ? '' : path}/cpuset.effective_cpus`) ?? readCpuList(`/sys/fs/cgroup/cpuset${path === '/' ? '' : path}/cpuset.cpus`);
    }
  } catch {
    // no /proc/self/cgroup: online CPUs only
  }
  return cpuset === null || cpuset.length === 0 ? online : online.filter((c) => cpuset!.includes(c));
}

/**
 * RangeError unless every CPU of `cpus` is one this process's threads may be given (`what`
 * names the option in the message). Nothing to check against: no error.
 */
export function checkCpusUsable(cpus: readonly number[], what: string): void {
  const usable = usableCpus();
  if (usable === null || usable.length === 0) return;
  const missing = cpus.filter((c) => !usable.includes(c));
  if (missing.length !== 0) throw new RangeError(`${what}: CPU ${missing.join(', ')} is not one this process may use (online and in its cpuset: ${usable.join(',')})`);
}

/** A non-empty list of distinct CPU numbers 0..MAX_CPU-1 (integers). */
export function isCpuSet(v: unknown): v is number[] {
  return Array.isArray(v) && v.length !== 0 && v.every((c) => Number.isInteger(c) && c >= 0 && c < MAX_CPU) && new Set(v).size === v.length;
}

// ---------------------------------------------------------------- CPUs this thread keeps off
// Module state is per thread (each worker has its own): the CPUs the open ports of this thread
// avoid, each counted once per port, and the thread's CPUs before the first of them.
const avoiding = new Map<number, number>();
let before: number[] | null = null;

/**
 * This thread keeps off `cpus` until release() (the CPUs every open avoider of the thread asks
 * to keep off, from the CPUs it had before the first): `held` when it now runs on none of
 * them. Releases in any order give back exactly what no other avoider still keeps off.
 */
export function avoidCpusHere(cpus: readonly number[]): { held: boolean; release(): void } {
  const now = allowedCpus();
  if (now === null) return { held: false, release() {} };
  if (avoiding.size === 0) before = now;
  for (const c of cpus) avoiding.set(c, (avoiding.get(c) ?? 0) + 1);
  const held = apply();
  let released = false;
  return {
    held,
    release() {
      if (released) return;
      released = true;
      for (const c of cpus) {
        const n = avoiding.get(c)! - 1;
        if (n === 0) avoiding.delete(c);
        else avoiding.set(c, n);
      }
      apply();
      if (avoiding.size === 0) before = null;
    },
  };
}

/** Set this thread's CPUs to `before` minus every avoided CPU (unchanged when none would remain). */
function apply(): boolean {
  const keep = before!.filter((c) => !avoiding.has(c));
  if (keep.length === 0) return false;
  const current = allowedCpus();
  if (current !== null && current.length === keep.length && current.every((c, i) => c === keep[i])) return true;
  return setAllowedCpus(keep);
}
