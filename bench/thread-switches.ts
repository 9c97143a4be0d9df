// Voluntary context switches of every thread of a process (/proc/PID/task/*/status): a thread
// that sleeps and is woken switches voluntarily, so the count per round trip is the wake-up
// chain counted rather than timed, which the machine's load does not change.
import { readdirSync, readFileSync } from 'node:fs';

export type ThreadSwitches = Map<string, { name: string; n: number }>;

/** Voluntary context switches (sleeps) of each thread of a process, by thread id. */
export function threadSwitches(pid: number): ThreadSwitches {
  const m: ThreadSwitches = new Map();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      const name = /^Name:\s+(.*)$/m.exec(s)![1]!;
      m.set(t, { name: t === String(pid) ? `${name} (main)` : name, n: Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(s)![1]) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return m;
}

/** Switches per round trip between two readings: all threads, and each thread that switched (busiest first). */
export function switchesPerRoundTrip(before: ThreadSwitches, after: ThreadSwitches, roundTrips: number): { all: number; threads: string[] } {
  const rts = Math.max(1, roundTrips);
  let all = 0;
  const threads: { label: string; perRt: number }[] = [];
  for (const [tid, t] of after) {
    const perRt = (t.n - (before.get(tid)?.n ?? 0)) / rts;
    all += perRt;
    if (perRt >= 0.001) threads.push({ label: `${t.name}#${tid}`, perRt });
  }
  threads.sort((a, b) => b.perRt - a.perRt);
  return { all: Number(all.toFixed(3)), threads: threads.map((t) => `${t.label} ${t.perRt.toFixed(3)}`) };
}
