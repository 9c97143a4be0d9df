// shardBudget (src/router/shard-budget.ts): what `vmsg route` runs without --shards, and says.
import { describe, expect, it } from 'vitest';
import { BUSY_POLL_SPINS_OVERSUBSCRIBED, shardBudget } from '../../src/cli/shard-budget.js';

describe('shardBudget', () => {
  it('stream links may carry any number of drivers: one shard per core, nothing said', () => {
    expect(shardBudget(['tcp-listen:9000'], undefined, 2)).toEqual({ pollingPeers: 0, cores: 2, shards: 2, busyPollSpins: 0, busyPollSeek: false, note: '' });
  });

  it('doorbell windows only (a relay): one shard, so links and built-in devices share it', () => {
    expect(shardBudget(['vmamp:/dev/shm/a?size=8192&sock=/tmp/a.sock', 'spsc:/dev/shm/b?size=8192&role=driver&sock=/tmp/b.sock'], undefined, 2)).toEqual({
      pollingPeers: 0, cores: 2, shards: 1, busyPollSpins: 0, busyPollSeek: false, note: '1 shard(s) instead of 2: no stream link (more shards only add cross-shard wake-ups)',
    });
  });

  it('a stream link next to a busy-poll window: one shard per core the poller leaves', () => {
    expect(shardBudget(['tcp-listen:9000', 'vmamp:/dev/shm/a?size=8192'], undefined, 4)).toMatchObject({ shards: 3 });
  });

  it('two busy-poll peers on 2 cores (a relay): one shard, which spins a while after a frame before yielding and looks for its best CPU; the start-up line says why', () => {
    const b = shardBudget(['vmamp:/dev/shm/a?size=8192', 'spsc:/dev/shm/b?size=8192&role=driver'], undefined, 2);
    expect(b).toMatchObject({ pollingPeers: 2, shards: 1, busyPollSpins: BUSY_POLL_SPINS_OVERSUBSCRIBED, busyPollSeek: true });
    expect(b.note).toBe('1 shard(s) instead of 2: no stream link (more shards only add cross-shard wake-ups), 2 busy-poll peer(s); '
      + 'busy-poll: 3 busy threads (2 polling peer(s), 1 shard(s)) on 2 CPU(s), more than the CPUs; shards spin up to 32 empty passes for an answer from another CPU, then yield the CPU between looks; '
      + 'each shard moves to the CPU where it routes most');
  });

  it('one CPU: nowhere to move, so only the bounded spin', () => {
    const b = shardBudget(['vmamp:/dev/shm/a?size=8192'], undefined, 1);
    expect(b).toMatchObject({ shards: 1, busyPollSpins: BUSY_POLL_SPINS_OVERSUBSCRIBED, busyPollSeek: false });
    expect(b.note).toBe('busy-poll: 2 busy threads (1 polling peer(s), 1 shard(s)) on 1 CPU(s), more than the CPUs; shards spin up to 32 empty passes for an answer from another CPU, then yield the CPU between looks');
  });

  it('the same relay with a CPU per busy thread: the shard yields from the first empty pass, as before', () => {
    const b = shardBudget(['vmamp:/dev/shm/a?size=8192', 'spsc:/dev/shm/b?size=8192&role=driver'], undefined, 3);
    expect(b).toMatchObject({ shards: 1, busyPollSpins: 0, busyPollSeek: false });
    expect(b.note).toMatch(/busy-poll: 3 busy threads \(2 polling peer\(s\), 1 shard\(s\)\) on 3 CPU\(s\); shards yield the CPU between looks$/);
  });

  it('doorbell windows only: no busy-poll policy at all, however few the CPUs', () => {
    expect(shardBudget(['vmamp:/dev/shm/a?size=8192&sock=/tmp/a.sock', 'vmamp:/dev/shm/b?size=8192&sock=/tmp/b.sock'], undefined, 1)).toMatchObject({ busyPollSpins: 0, busyPollSeek: false, note: '' });
  });

  it('--shards, --busy-poll-spins and --busy-poll-seek are kept as given', () => {
    const given = shardBudget(['vmamp:/dev/shm/a?size=8192'], 4, 4);
    expect(given).toMatchObject({ shards: 4, busyPollSpins: BUSY_POLL_SPINS_OVERSUBSCRIBED, busyPollSeek: true });
    expect(given.note).toBe('busy-poll: 5 busy threads (1 polling peer(s), 4 shard(s)) on 4 CPU(s), more than the CPUs; shards spin up to 32 empty passes for an answer from another CPU, then yield the CPU between looks; '
      + 'each shard moves to the CPU where it routes most');
    const spins = shardBudget(['vmamp:/dev/shm/a?size=8192', 'vmamp:/dev/shm/b?size=8192'], undefined, 2, 0, false);
    expect(spins).toMatchObject({ shards: 1, busyPollSpins: 0, busyPollSeek: false });
    expect(spins.note).toMatch(/; shards yield the CPU between looks \(as given\)$/);
    const seek = shardBudget(['vmamp:/dev/shm/a?size=8192'], undefined, 8, undefined, true);
    expect(seek).toMatchObject({ busyPollSpins: 0, busyPollSeek: true });
    expect(seek.note).toMatch(/; shards yield the CPU between looks; each shard moves to the CPU where it routes most \(as given\)$/);
  });
});
