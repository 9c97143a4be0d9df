// A one-at-a-time C driver on a fresh doorbell window of a router in this process, run while
// this thread is blocked (no event loop): what a shard does with its links' doorbell sockets
// must then happen without the main thread. Shared by the tests of both directions
// (socket-bells.test.ts: the shard rings; shard-doorbell.test.ts: the shard is rung).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Router } from '../../src/router/router.js';
import { openBusLink } from '../../src/bus/open.js';
import { freshPaths, linkUri, peerArgs, PEER_BIN } from './helpers.js';
import { until } from '../helpers/wait.js';

/**
 * Runs `count` GET_DEVICE_STATUS requests to device 2, one at a time, from a C driver on a new
 * vmamp doorbell window of `router`. `connected` runs once the doorbell socket is up; then this
 * thread blocks until the driver printed its result and at least `minBlockMs` passed. Returns
 * the driver's JSON result; the link is closed and the driver gone.
 */
export async function runDriverWhileBlocked(
  router: Router, dir: string, tag: string, count: number, connected: () => void = () => {}, minBlockMs = 0,
): Promise<Record<string, number>> {
  const p = freshPaths(tag);
  const events: string[] = [];
  const opening = openBusLink(router, linkUri('vmamp', 'device', p, 8192, true), 'driver', { waitMs: 20_000, log: (l) => void events.push(l) });
  // The driver's result goes to a file: this thread cannot read a pipe while it blocks.
  const outPath = join(dir, `${tag}.json`);
  const out = openSync(outPath, 'w');
  const peer = spawn(PEER_BIN, [...peerArgs('vmamp', 'driver', p, 8192, true), '--dev', '2', '--count', String(count), '--outstanding', '1', '--bell-timeout-ms', '1000'], { stdio: ['ignore', out, 'ignore'] });
  closeSync(out);
  const exited = new Promise((r) => peer.on('close', r));
  try {
    const link = await opening;
    await until(() => events.some((e) => /doorbell socket connected/.test(e)), 'the doorbell socket');
    connected();
    const t0 = Date.now();
    let text = '';
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while ((!text.endsWith('\n') || Date.now() - t0 < minBlockMs) && Date.now() - t0 < 30_000) {
      Atomics.wait(nap, 0, 0, 2);
      text = readFileSync(outPath, 'utf8');
    }
    const res = JSON.parse(text) as Record<string, number>;
    await exited;
    await link.close();
    return res;
  } finally {
    peer.kill('SIGKILL');
  }
}
