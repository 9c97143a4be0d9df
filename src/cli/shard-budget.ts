// How many shards `vmsg route` runs when --shards is not given, and what its start-up line
// says about it. Two things bound the useful count below the core count:
// * Links. A shard routes tens of millions of frames per second, more than any shared-memory
//   peer can send; what costs is waking sleeping threads, and a second shard puts a link and
//   a built-in device, or the two links of a relay, on different shards, which adds a
//   cross-shard hop (a futex wake-up) each way. Measured on 2 cores: one request at a time to
//   echo:2, p50 0.9-1.3 ms with two shards against 0.15 ms with one; a doorbell relay at 8 in
//   flight, 0-16 k round trips/s with two against 58-129 k with one (docs/BENCHMARKS.md
//   2026-12-06). So one shard for shared-memory and legacy links; only stream links, which may
//   carry any number of drivers, ask for one per core.
// * Busy-polling peers. Every shared-memory peer without `sock=` polls its window, and each
//   shard serving one keeps looking at it; with more pollers than cores a poller that holds a
//   core keeps the thread it waits for off it (a relay measured 3.9 k round trips/s where the
//   same window between two C peers did 0.9 M). So at most one shard per core the busy-poll
//   peers leave free; the shards also yield the CPU between looks (src/router/shard-worker.ts).
// At least one shard either way.
// * Busy threads against cores (not a bound on the count: what the shards do). When the
//   shards and the peers' pollers still outnumber the cores (a relay between two busy-poll
//   windows on 2 cores: 3 on 2), two pollers share a core and run by turns. The shard then
//   spins up to BUSY_POLL_SPINS_OVERSUBSCRIBED empty passes for an answer due from another
//   core before it yields (src/wait/busy-poll-yield.ts): a yield hands the core to the poller
//   sharing it, which keeps it for its whole turn (the C peer: 1024 polls, 10-250 us). And
//   which poller shares the shard's core decides the rate (the one whose turn is shortest is
//   best), so the shard moves itself to the core where it routes most (src/router/cpu-seek.ts).
//   Measured: docs/BENCHMARKS.md, "busy-poll relay with more pollers than CPUs".
import { availableParallelism } from 'node:os';
import { parseLinkUri } from '../bus/uri.js';

/** Empty passes a shard spins for an answer from another core before yielding, when busy threads outnumber the cores. */
export const BUSY_POLL_SPINS_OVERSUBSCRIBED = 32;

export interface ShardBudget {
  /** Links whose peer busy-polls (shared-memory windows without `sock=`). */
  pollingPeers: number;
  cores: number;
  /** Shards to run: the given count, else the bounds above (at least one). */
  shards: number;
  /** Empty passes a shard spins for an answer from another core before it yields (RouterOptions.busyPollSpins). */
  busyPollSpins: number;
  /** Whether a shard looks for the CPU it routes most from (RouterOptions.busyPollSeek). */
  busyPollSeek: boolean;
  /** What the start-up line adds, or '' when nothing is worth saying. */
  note: string;
}

export function shardBudget(linkUris: readonly string[], shards: number | undefined, cores = availableParallelism(), busyPollSpins?: number, busyPollSeek?: boolean): ShardBudget {
  let pollingPeers = 0;
  let streams = false;
  for (const text of linkUris) {
    const uri = parseLinkUri(text);
    if ((uri.scheme === 'vmamp' || uri.scheme === 'spsc') && uri.sock === undefined) pollingPeers++;
    if (uri.scheme !== 'vmamp' && uri.scheme !== 'spsc' && uri.scheme !== 'qemu-v0' && uri.scheme !== 'openamp') streams = true;
  }
  const byLinks = streams ? cores : 1;
  const byPollers = Math.max(1, cores - pollingPeers);
  const chosen = shards ?? Math.min(cores, byLinks, byPollers);
  const why: string[] = [];
  if (shards === undefined && chosen < cores) {
    const reasons: string[] = [];
    if (byLinks <= byPollers) reasons.push('no stream link (more shards only add cross-shard wake-ups)');
    if (pollingPeers > 0 && byPollers <= byLinks) reasons.push(`${pollingPeers} busy-poll peer(s)`);
    why.push(`${chosen} shard(s) instead of ${cores}: ${reasons.join(', ')}`);
  }
  // A shard polls only while a busy-poll link is attached, so without one nothing changes.
  const busy = pollingPeers + chosen;
  const over = pollingPeers > 0 && busy > cores;
  const spins = busyPollSpins ?? (over ? BUSY_POLL_SPINS_OVERSUBSCRIBED : 0);
  // Moving between CPUs needs two to choose from.
  const seek = busyPollSeek ?? (over && cores > 1);
  if (pollingPeers > 0) {
    const given = (v: unknown): string => (v === undefined ? '' : ' (as given)');
    const yields = spins === 0 ? 'shards yield the CPU between looks' : `shards spin up to ${spins} empty passes for an answer from another CPU, then yield the CPU between looks`;
    const moves = seek ? `; each shard moves to the CPU where it routes most${given(busyPollSeek)}` : '';
    why.push(`busy-poll: ${busy} busy threads (${pollingPeers} polling peer(s), ${chosen} shard(s)) on ${cores} CPU(s)${over ? ', more than the CPUs' : ''}; ${yields}${given(busyPollSpins)}${moves}`);
  }
  return { pollingPeers, cores, shards: chosen, busyPollSpins: spins, busyPollSeek: seek, note: why.join('; ') };
}
