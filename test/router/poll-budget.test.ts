// pollBudget (src/router/poll-budget.ts): busy-polling peers and shards must not outnumber the
// cores; what `vmsg route` then runs and says.
import { describe, expect, it } from 'vitest';
import { pollBudget } from '../../src/router/poll-budget.js';

describe('pollBudget', () => {
  it('nothing polls with doorbell sockets or streams: one shard per core, nothing said', () => {
    expect(pollBudget(['vmamp:/dev/shm/a?size=8192&sock=/tmp/a.sock', 'tcp:127.0.0.1:9000'], undefined, 2)).toEqual({ pollingPeers: 0, cores: 2, shards: 2, note: '' });
  });

  it('two busy-poll peers on 2 cores: one shard, and the start-up line says why', () => {
    const b = pollBudget(['vmamp:/dev/shm/a?size=8192', 'spsc:/dev/shm/b?size=8192&role=driver'], undefined, 2);
    expect(b).toMatchObject({ pollingPeers: 2, shards: 1 });
    expect(b.note).toBe('busy-poll: 2 peer(s) and 1 shard(s) polling on 2 core(s), so 1 shard(s) instead of 2, more pollers than cores; shards yield the CPU between looks');
  });

  it('one busy-poll peer on 4 cores: three shards; --shards is kept as given', () => {
    expect(pollBudget(['vmamp:/dev/shm/a?size=8192'], undefined, 4)).toMatchObject({ shards: 3 });
    const given = pollBudget(['vmamp:/dev/shm/a?size=8192'], 4, 4);
    expect(given.shards).toBe(4);
    expect(given.note).toBe('busy-poll: 1 peer(s) and 4 shard(s) polling on 4 core(s), more pollers than cores; shards yield the CPU between looks');
  });
});
