// How many threads will busy-poll once a router serves shared-memory links without doorbell
// sockets: every such peer polls its window (that is what busy-poll means), and every shard
// serving such a link keeps looking at it. With more pollers than cores, a poller that holds a
// core keeps the thread it waits for off it, and every round trip waits for the scheduler (a
// relay measured 3.9 k round trips/s where the same window between two C peers did 0.9 M).
// `vmsg route` asks this before it starts: without --shards it then runs fewer shards (down to
// one), and says so in its start-up line; the shards yield the CPU between looks meanwhile
// (src/router/shard-worker.ts).
import { availableParallelism } from 'node:os';
import { parseLinkUri } from '../bus/uri.js';

export interface PollBudget {
  /** Links whose peer busy-polls (shared-memory windows without `sock=`). */
  pollingPeers: number;
  cores: number;
  /** Shards to run: the given count, else one per core left after the pollers (at least one). */
  shards: number;
  /** What the start-up line says about it, or '' when nothing polls. */
  note: string;
}

export function pollBudget(linkUris: readonly string[], shards: number | undefined, cores = availableParallelism()): PollBudget {
  let pollingPeers = 0;
  for (const text of linkUris) {
    const uri = parseLinkUri(text);
    if ((uri.scheme === 'vmamp' || uri.scheme === 'spsc') && uri.sock === undefined) pollingPeers++;
  }
  const chosen = shards ?? (pollingPeers === 0 ? cores : Math.max(1, Math.min(cores, cores - pollingPeers)));
  let note = '';
  if (pollingPeers > 0) {
    note = `busy-poll: ${pollingPeers} peer(s) and ${chosen} shard(s) polling on ${cores} core(s)`;
    if (shards === undefined && chosen < cores) note += `, so ${chosen} shard(s) instead of ${cores}`;
    if (pollingPeers + chosen > cores) note += ', more pollers than cores';
    note += '; shards yield the CPU between looks';
  }
  return { pollingPeers, cores, shards: chosen, note };
}
