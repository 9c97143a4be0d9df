// Per-thread CPU time from /proc (Linux), to show which thread of a multi-threaded case is the
// bottleneck: worker threads are all named "node", so a role is identified by the thread ids
// that appear while its workers start (snapshot before, diff after). Also thread pinning.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TASKS = '/proc/self/task';
/** Clock ticks per second of /proc/<pid>/task/<tid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** Thread ids of this process now (empty when /proc is not there). */
export function threadIds(): Set<number> {
  try {
    return new Set(readdirSync(TASKS).map(Number));
  } catch {
    return new Set();
  }
}

/** User + system CPU seconds of thread `tid` (0 once it is gone). */
export function threadCpuSeconds(tid: number): number {
  const t = threadCpuSplit(tid);
  return t.user + t.sys;
}

/** User and system (kernel: futex waits and wakes, yields) CPU seconds of thread `tid`. */
export function threadCpuSplit(tid: number): { user: number; sys: number } {
  try {
    // Fields after "(comm) ": state is [0], utime [11], stime [12] (proc(5), fields 14 and 15).
    const rest = readFileSync(`${TASKS}/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { user: Number(rest[11]) / TICKS_PER_S, sys: Number(rest[12]) / TICKS_PER_S };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** The CPUs thread `tid` may run on, in the kernel's list format ("0-1", "1"); '' once it is gone. */
export function threadAllowedCpus(tid: number): string {
  try {
    return /^Cpus_allowed_list:\s+(.*)$/m.exec(readFileSync(`${TASKS}/${tid}/status`, 'utf8'))?.[1] ?? '';
  } catch {
    return '';
  }
}

/** Voluntary and involuntary context switches of thread `tid` so far (0 once it is gone). */
export function threadSwitchCounts(tid: number): { vol: number; invol: number } {
  try {
    const s = readFileSync(`${TASKS}/${tid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(s)?.[1] ?? 0);
    return { vol: field('voluntary_ctxt_switches'), invol: field('nonvoluntary_ctxt_switches') };
  } catch {
    return { vol: 0, invol: 0 };
  }
}

/** Threads that exist now and did not in `before`. */
export function newThreads(before: Set<number>): number[] {
  return [...threadIds()].filter((t) => !before.has(t));
}

/** Threads grouped by role; cpuShare() gives each role's busiest thread's CPU share over a window. */
export class ThreadRoles {
  private readonly roles = new Map<string, number[]>();
  private start = new Map<number, number>();
  private sysAt = new Map<number, number>();
  private switchesAt = new Map<number, { vol: number; invol: number }>();
  private t0 = 0;

  add(role: string, tids: number[]): void {
    this.roles.set(role, tids);
  }

  ids(role: string): number[] {
    return this.roles.get(role) ?? [];
  }

  /** Start a measurement window. */
  mark(): void {
    this.t0 = performance.now();
    this.start = new Map([...this.roles.values()].flat().map((t) => [t, threadCpuSeconds(t)]));
    this.switchesAt = new Map([...this.roles.values()].flat().map((t) => [t, threadSwitchCounts(t)]));
    this.sysAt = new Map([...this.roles.values()].flat().map((t) => [t, threadCpuSplit(t).sys]));
  }

  /** Per role: kernel CPU seconds per wall second since mark(), summed over its threads. */
  sysShare(): Record<string, number> {
    const wall = (performance.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    for (const [role, tids] of this.roles) {
      const sys = tids.reduce((t, id) => t + threadCpuSplit(id).sys - (this.sysAt.get(id) ?? 0), 0);
      out[role] = Number((sys / wall).toFixed(2));
    }
    return out;
  }

  /**
   * Per role: context switches since mark(), summed over its threads, per `per` units of work
   * (round trips): voluntary (it slept and was woken) and involuntary (preempted: on a
   * shared core, the scheduler handing the core to another runnable thread).
   */
  switchesPer(per: number): Record<string, { vol: number; invol: number }> {
    const out: Record<string, { vol: number; invol: number }> = {};
    const n = Math.max(1, per);
    for (const [role, tids] of this.roles) {
      let vol = 0;
      let invol = 0;
      for (const t of tids) {
        const now = threadSwitchCounts(t);
        const was = this.switchesAt.get(t) ?? { vol: 0, invol: 0 };
        vol += now.vol - was.vol;
        invol += now.invol - was.invol;
      }
      out[role] = { vol: Number((vol / n).toPrecision(3)), invol: Number((invol / n).toPrecision(3)) };
    }
    return out;
  }

  /** Per role: CPU seconds per wall second (1 = one core) of its busiest thread since mark(). */
  cpuShare(): Record<string, number> {
    const wall = (performance.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    for (const [role, tids] of this.roles) {
      const used = tids.map((t) => threadCpuSeconds(t) - (this.start.get(t) ?? 0));
      out[role] = Number((Math.max(0, ...used) / wall).toFixed(2));
    }
    return out;
  }
}

/**
 * Pin thread `tid` of this process to CPU `cpu` (taskset; Linux only). Node has no API for
 * thread affinity; the harness uses it to show what pinning the shard would give. False when
 * it could not be done.
 */
export function pinThread(tid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-p', '-c', String(cpu), String(tid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
