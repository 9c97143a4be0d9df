// shardBudget (src/router/shard-budget.ts): what `vmsg route` runs without --shards, and says.
import { describe, expect, it } from 'vitest';
import { shardBudget } from '../../src/cli/shard-budget.js';

describe('shardBudget', () => {
  it('stream links may carry any number of drivers: one shard per core, nothing said', () => {
    expect(shardBudget(['tcp-listen:9000'], undefined, 2)).toEqual({ pollingPeers: 0, cores: 2, shards: 2, note: '' });
  });

  it('doorbell windows only (a relay): one shard, so links and built-in devices share it', () => {
    expect(shardBudget(['vmamp:/dev/shm/a?size=8192&sock=/tmp/a.sock', 'spsc:/dev/shm/b?size=8192&role=driver&sock=/tmp/b.sock'], undefined, 2)).toEqual({
      pollingPeers: 0, cores: 2, shards: 1, note: '1 shard(s) instead of 2: no stream link (more shards only add cross-shard wake-ups)',
    });
  });

  it('a stream link next to a busy-poll window: one shard per core the poller leaves', () => {
    expect(shardBudget(['tcp-listen:9000', 'vmamp:/dev/shm/a?size=8192'], undefined, 4)).toMatchObject({ shards: 3 });
  });

  it('two busy-poll peers on 2 cores: one shard, and the start-up line says why', () => {
    const b = shardBudget(['vmamp:/dev/shm/a?size=8192', 'spsc:/dev/shm/b?size=8192&role=driver'], undefined, 2);
    expect(b).toMatchObject({ pollingPeers: 2, shards: 1 });
    expect(b.note).toBe('1 shard(s) instead of 2: no stream link (more shards only add cross-shard wake-ups), 2 busy-poll peer(s); busy-poll: 2 peer(s) and 1 shard(s) polling on 2 core(s), more pollers than cores; shards yield the CPU between looks');
  });

  it('--shards is kept as given', () => {
    const given = shardBudget(['vmamp:/dev/shm/a?size=8192'], 4, 4);
    expect(given.shards).toBe(4);
    expect(given.note).toBe('busy-poll: 1 peer(s) and 4 shard(s) polling on 4 core(s), more pollers than cores; shards yield the CPU between looks');
  });
});
