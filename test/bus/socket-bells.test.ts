// The shard rings its links' doorbell sockets itself (src/router/socket-bells.ts): with the
// main thread blocked for the whole run, a busy-polling router still wakes an external C
// driver that sleeps on its doorbell socket for every answer. (With the main-thread bridge each
// round trip would wait for the driver's 1 s doorbell timeout instead.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { openBusLink } from '../../src/bus/open.js';
import { BUSY_POLL_SPINS } from '../../src/wait/doorbell.js';
import { freshPaths, linkUri, peerArgs, peerSkipReason, PEER_BIN, startEcho, type EchoDevice } from './helpers.js';

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
    const p = freshPaths('bells');
    const events: string[] = [];
    const opening = openBusLink(router, linkUri('vmamp', 'device', p, 8192, true), 'driver', { waitMs: 20_000, log: (l) => void events.push(l) });
    // The driver's result goes to a file: this thread cannot read a pipe while it blocks.
    const outPath = join(dir, 'driver.json');
    const out = openSync(outPath, 'w');
    const peer = spawn(PEER_BIN, [...peerArgs('vmamp', 'driver', p, 8192, true), '--dev', '2', '--count', String(COUNT), '--outstanding', '1', '--bell-timeout-ms', '1000'], { stdio: ['ignore', out, 'ignore'] });
    closeSync(out);
    const exited = new Promise((r) => peer.on('close', r));
    try {
      const link = await opening;
      const deadline = Date.now() + 10_000;
      while (!events.some((e) => /doorbell socket connected/.test(e)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(events.join('\n')).toMatch(/doorbell socket connected/);
      // Blocked from here until the driver printed its result (or 20 s): no event loop, no bridge.
      const nap = new Int32Array(new SharedArrayBuffer(4));
      const until = Date.now() + 20_000;
      let text = '';
      while (!text.endsWith('\n') && Date.now() < until) {
        Atomics.wait(nap, 0, 0, 5);
        text = readFileSync(outPath, 'utf8');
      }
      const res = JSON.parse(text) as Record<string, number>;
      expect(res).toMatchObject({ sent: COUNT, received: COUNT, errors: 0, order_violations: 0 });
      expect(res.bells_heard).toBeGreaterThan(0);
      await exited;
      await link.close();
    } finally {
      peer.kill('SIGKILL');
    }
  }, 60_000);
});
