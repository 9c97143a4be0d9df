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
  try {
    // Fields after "(comm) ": state is [0], utime [11], stime [12] (proc(5), fields 14 and 15).
    const rest = readFileSync(`${TASKS}/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_S;
  } catch {
    return 0;
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
