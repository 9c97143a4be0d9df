// The shard rings its links' doorbell sockets itself (src/router/socket-bells.ts): with the
// main thread blocked for the whole run, a busy-polling router still wakes an external C
// driver that sleeps on its doorbell socket for every answer. (With the main-thread bridge each
// round trip would wait for the driver's 1 s doorbell timeout instead.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { BUSY_POLL_SPINS } from '../../src/wait/doorbell.js';
import { peerSkipReason, startEcho, type EchoDevice } from './helpers.js';
import { runDriverWhileBlocked } from './blocked-driver.js';

// Enough round trips that most of them happen while the main thread is blocked.
const COUNT = 20_000;

describe.skipIf(peerSkipReason !== null)('doorbell sockets rung by the shard', () => {
  let router: Router;
  let echo: EchoDevice;
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-socket-bells-'));
  beforeAll(async () => {
    router = await Router.create({ shards: 1, timeoutMs: 10_000, spinBeforeSleep: BUSY_POLL_SPINS });
    echo = await startEcho(router, [2]);
  });
  afterAll(async () => {
    await echo?.stop();
    await router?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a C driver on a doorbell window gets every answer while the main thread is blocked', async () => {
    const res = await runDriverWhileBlocked(router, dir, 'bells', COUNT);
    expect(res).toMatchObject({ sent: COUNT, received: COUNT, errors: 0, order_violations: 0 });
    expect(res.bells_heard).toBeGreaterThan(0);
  }, 60_000);
});
