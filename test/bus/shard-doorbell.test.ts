// The shard takes its links' doorbell bytes itself (src/wait/poll-doorbell.ts,
// src/router/socket-bells.ts): it sleeps in poll(2) on the sockets, so an external peer's byte
// wakes the shard directly, with the router's main thread out of the chain. Proven with the
// main thread blocked for the whole run and a shard that sleeps after every empty pass
// (spinBeforeSleep 0): each request of a one-at-a-time C driver finds the shard asleep, and
// only the socket can wake it in time (otherwise it waits out its 5 ms sleep bound). And the
// main thread, which no longer reads such a socket, still takes the link down when the peer
// closes it (the shard reports it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { openBusLink } from '../../src/bus/open.js';
import { tryBellAddon } from '../../src/native/bell.js';
import { freshPaths, linkUri, peerArgs, peerSkipReason, startEcho, startPeer, type EchoDevice } from './helpers.js';
import { runDriverWhileBlocked } from './blocked-driver.js';
import { until } from '../helpers/wait.js';

const COUNT = 400;
const skip = peerSkipReason !== null || tryBellAddon() === null;

describe.skipIf(skip)('doorbell bytes taken by the shard', () => {
  let router: Router;
  let echo: EchoDevice;
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-shard-doorbell-'));
  beforeAll(async () => {
    router = await Router.create({ shards: 1, timeoutMs: 10_000, spinBeforeSleep: 0 });
    echo = await startEcho(router, [2]);
  });
  afterAll(async () => {
    await echo?.stop();
    await router?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a C driver\'s requests wake the sleeping shard through its socket while the main thread is blocked', async () => {
    let before = 0;
    // Blocked at least 200 ms, until the driver printed its result.
    const res = await runDriverWhileBlocked(router, dir, 'shard-bell', COUNT, () => { before = router.socketBells.wakes(0).socket; }, 200);
    expect(res).toMatchObject({ sent: COUNT, received: COUNT, errors: 0, order_violations: 0 });
    // The shard was woken by the driver's bytes: with the main thread blocked nothing else
    // reads them (with this path switched off the count is 0). How many of the requests find
    // the shard already in poll(2) depends on the machine: on a quiet one the C driver often
    // answers before the shard is back asleep (66 of 400 seen), so only the path is asserted.
    expect(router.socketBells.wakes(0).socket - before).toBeGreaterThan(0);
  }, 60_000);

  it('a C driver killed mid-run closes its socket: the shard sees it and the link goes down', async () => {
    const p = freshPaths('shard-bell-kill');
    // No keep-alive PINGs: only the socket can tell that the peer left (the window says RUN forever).
    const opening = openBusLink(router, linkUri('vmamp', 'device', p, 8192, true, '&ping=0'), 'driver', { waitMs: 20_000 });
    const peer = startPeer([...peerArgs('vmamp', 'driver', p, 8192, true), '--dev', '2', '--count', '100000000', '--outstanding', '4']);
    try {
      const link = await opening;
      await until(() => (router.stats().devices.find((d) => d.dev === 2)?.responses ?? 0) >= 200, 'answers to the C driver');
      expect(router.socketBells.wakes(0).socket).toBeGreaterThan(0);
      peer.proc.kill('SIGKILL');
      const down = await link.down;
      expect(down).toMatchObject({ cause: 'peer-dead' });
      expect(down.detail).toMatch(/closed the doorbell socket/);
      await link.close();
    } finally {
      peer.proc.kill('SIGKILL');
      await peer.done;
    }
  }, 30_000);
});
