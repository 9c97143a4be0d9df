// A stream connection on a plain socket is served by the router shard itself (src/router/stream-pumps.ts,
// src/bus/shard-bridge.ts): the shard reads the bytes, cuts them into frames and writes the
// answers. A hand-driven TCP driver checks what the shard must get right that the main thread
// used to: frames split at any byte across TCP segments, every request answered exactly once
// and in order per device, a slow reader, a peer that closes in the middle of a frame, framing
// faults (counted, connection closed), a shard worker restarting mid-frame, more connections
// than a shard takes, and a gateway whose remapped device goes through the main thread.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo, NetConnectOpts } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { openStreamLink, type StreamLink } from '../../src/bus/stream.js';
import { encodeHello, decodeHello, HelloStatus, STREAM_VERSION, TRANSPORT_REVISION, ROLE_DRIVER } from '../../src/bus/stream-hello.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { Inbox, RawPeer, getStatus, startEcho } from './stream-helpers.js';
import { until } from '../helpers/wait.js';
import { injectShardCrash, waitRestarts } from '../../src/router/test-hooks.js';

let router: Router;
let link: StreamLink;
/** The same over a Unix socket, whose small send buffer a paused reader fills quickly. */
let unixLink: StreamLink;
let dir: string;
let port: number;
let stopEcho: () => Promise<void>;
const drops: string[] = [];
const peers: RawPeer[] = [];

beforeAll(async () => {
  // parkLimit: answers a reader does not take park at the router instead of holding the driver's
  // requests back, so a paused reader really fills the socket and the shard's send buffer.
  router = await Router.create({ shards: 1, spinBeforeSleep: 0, timeoutMs: 10_000, parkLimit: 1 << 16 });
  stopEcho = (await startEcho(router, [1, 2])).stop;
  link = await openStreamLink(router, 'tcp-listen:127.0.0.1:0', 'driver');
  link.on('drop', (_peer: string, why: string) => drops.push(why));
  port = (link.address as AddressInfo).port;
  dir = mkdtempSync(join(tmpdir(), 'vmsg-stream-shard-'));
  unixLink = await openStreamLink(router, `unix-listen:${join(dir, 's.sock')}`, 'driver');
});

afterAll(async () => {
  for (const p of peers) p.socket.destroy();
  await link?.close();
  await unixLink?.close();
  await stopEcho?.();
  await router?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** A TCP driver past its STREAM_HELLO. */
async function connect(to: NetConnectOpts = { host: '127.0.0.1', port }): Promise<RawPeer> {
  const peer = await RawPeer.connect(to);
  peers.push(peer);
  peer.socket.setNoDelay?.(true);
  peer.send(encodeHello({ streamVersion: STREAM_VERSION, transportRevision: TRANSPORT_REVISION, maxMessageSize: 264, role: ROLE_DRIVER, flags: 0, status: 0, name: 'shard-test' }, false, 1));
  const answer = await peer.next();
  const got = decodeHello(answer!, true);
  expect(got.ok && got.hello.status).toBe(HelloStatus.ACCEPTED);
  return peer;
}

/** Write `bytes` in pieces of 1..maxPiece bytes, each its own write, the event loop turning in between. */
async function writeSplit(peer: RawPeer, bytes: Uint8Array, maxPiece: number, seed: number): Promise<void> {
  let x = seed;
  for (let at = 0; at < bytes.length;) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = Math.min(bytes.length - at, 1 + (x % maxPiece));
    peer.socket.write(bytes.slice(at, at + n));
    at += n;
    await new Promise((r) => setImmediate(r));
  }
}

/** GET_DEVICE_STATUS requests alternating over devices 1 and 2, tokens from `first`, back to back. */
function requests(count: number, first: number): Uint8Array {
  const out = new Uint8Array(8 * count);
  for (let i = 0; i < count; i++) out.set(getStatus(1 + (i % 2), (first + i) & 0xffff), 8 * i);
  return out;
}

/** Collect `count` responses; fails on anything else or a duplicate. */
async function collect(peer: RawPeer, count: number, l: StreamLink = link): Promise<Map<number, number[]>> {
  const byDev = new Map<number, number[]>([[1, []], [2, []]]);
  for (let i = 0; i < count; i++) {
    const f = await peer.next(10_000);
    if (f === null) throw new Error(`response ${i} of ${count} did not come (link counters ${JSON.stringify(l.counters)})`);
    expect([f[0], f[1]]).toEqual([0x01, 0x07]);
    byDev.get(f[2]! | (f[3]! << 8))!.push(f[4]! | (f[5]! << 8));
  }
  return byDev;
}

const expected = (count: number, first: number, dev: number): number[] =>
  Array.from({ length: count }, (_, i) => i).filter((i) => 1 + (i % 2) === dev).map((i) => (first + i) & 0xffff);

describe('a stream connection served by the router shard', () => {
  it('frames split at any byte across TCP segments: every request answered exactly once, in order per device', async () => {
    const before = link.counters.shardConnections;
    const peer = await connect();
    await until(() => link.counters.shardConnections === before + 1, 'the shard serves the connection');
    // 600 requests in pieces of 1..11 bytes: most reads end inside a frame, many inside a header.
    await writeSplit(peer, requests(600, 0x100), 11, 7);
    const got = await collect(peer, 600);
    expect(got.get(1)).toEqual(expected(600, 0x100, 1));
    expect(got.get(2)).toEqual(expected(600, 0x100, 2));
    expect(await peer.next(100)).toBeNull(); // nothing twice
    // The shard counted what it moved; the link's counters show it.
    const c = link.counters;
    expect(c.framesIn).toBeGreaterThanOrEqual(600);
    expect(c.framesOut).toBeGreaterThanOrEqual(600);
    peer.socket.destroy();
  });

  it('a reader that does not read for a while still gets every answer in order (the shard keeps what the socket cannot take)', async () => {
    const shardBefore = unixLink.counters.shardConnections;
    const peer = await connect({ path: join(dir, 's.sock') });
    peer.socket.pause();
    const count = 60_000;
    const inBefore = unixLink.counters.framesIn;
    peer.socket.write(requests(count, 0));
    const outBefore = unixLink.counters.framesOut;
    // 720 kB of answers: more than the socket takes (about 200 kB), so the shard's sends come up
    // short and it waits for room; the ring fills, answers park at the router, and at its bounds
    // the router takes no more requests, the shard reads no more, and the writer's socket fills.
    // Wait until nothing moves any more.
    let last = -1;
    let still = 0;
    await until(() => {
      const n = unixLink.counters.framesIn;
      still = n === last ? still + 1 : 0;
      last = n;
      return still >= 50 || n - inBefore >= count; // 100 ms without a frame read
    }, 'the link to stop taking requests', 20_000);
    expect(unixLink.counters.shardConnections).toBe(shardBefore + 1); // requests that came with the hello included
    expect(unixLink.counters.framesOut - outBefore).toBeLessThan(count); // the pause held answers back
    peer.socket.resume();
    const got = await collect(peer, count, unixLink);
    expect(got.get(1)).toEqual(expected(count, 0, 1));
    expect(got.get(2)).toEqual(expected(count, 0, 2));
    peer.socket.destroy();
  });

  it('a peer that closes in the middle of a frame: the whole frames are served, the torn one never reaches a device', async () => {
    const dropsBefore = drops.length;
    const requestsBefore = (): number => router.stats().devices.reduce((n, d) => n + d.requests, 0);
    const base = requestsBefore();
    const peer = await connect();
    const three = requests(3, 0x700);
    peer.socket.write(Buffer.concat([three, getStatus(1, 0x7ff).subarray(0, 5)]));
    await until(() => requestsBefore() - base === 3, 'three requests at the device');
    peer.socket.end(); // FIN after 5 bytes of the fourth frame
    await until(() => drops.length > dropsBefore, 'the connection ends');
    expect(drops[drops.length - 1]).toBe('peer closed the connection');
    await new Promise((r) => setTimeout(r, 50)); // time under test: a torn frame must not turn up late
    expect(requestsBefore() - base).toBe(3);
    expect(Object.keys(link.counters.drops).filter((k) => k.startsWith('MSG_SIZE'))).toEqual([]);
    // The link goes on: a new connection is served.
    const next = await connect();
    next.send(getStatus(2, 0x7777));
    const f = await next.next();
    expect(f && [f[0], f[4]! | (f[5]! << 8)]).toEqual([0x01, 0x7777]);
    next.socket.destroy();
  });

  it('a shard worker that dies between two halves of a frame: its successor goes on with the connection', async () => {
    const peer = await connect();
    peer.send(getStatus(1, 0x801));
    expect((await peer.next())?.[4]).toBe(0x01);
    const next = getStatus(2, 0x802);
    const bytesBefore = link.counters.bytesIn;
    peer.socket.write(next.subarray(0, 5));
    // The shard has read the first half into its buffer (and counted it) before it dies.
    await until(() => link.counters.bytesIn === bytesBefore + 5, 'the half frame read by the shard');
    await injectShardCrash(router, 0);
    await waitRestarts(router, 1);
    peer.socket.write(next.subarray(5));
    const f = await peer.next();
    expect(f && [f[0], f[2], f[4]! | (f[5]! << 8)]).toEqual([0x01, 2, 0x802]);
    peer.socket.destroy();
  });

  it('more connections than a shard serves (16): the rest stay on the main thread, all are answered', async () => {
    const before = link.counters.shardConnections;
    const many = await Promise.all(Array.from({ length: 18 }, () => connect()));
    await Promise.all(many.map(async (peer, i) => {
      peer.send(getStatus(1 + (i % 2), 0x900 + i));
      const f = await peer.next();
      expect(f && [f[0], f[4]! | (f[5]! << 8)]).toEqual([0x01, 0x900 + i]);
    }));
    expect(link.counters.shardConnections - before).toBe(16);
    for (const p of many) p.socket.destroy();
  });

  it('a gateway over the shard path: a same-number device passes the shard, a remapped one the main thread; both in order, exactly once', async () => {
    // The local router has its own device 1: the remote 1 becomes local 256 (remapped: its frames
    // go through the main thread both ways), the remote 2 stays 2 (forwarded by the shard).
    const local = await Router.create({ shards: 1, spinBeforeSleep: 0, timeoutMs: 10_000 });
    const stopLocalEcho = (await startEcho(local, [1])).stop;
    try {
      const gw = await openStreamLink(local, `tcp:127.0.0.1:${port}`, 'device');
      expect(gw.deviceMap().sort((a, b) => a.remote - b.remote)).toEqual([{ remote: 1, local: 256 }, { remote: 2, local: 2 }]);
      expect(gw.counters.shardConnections).toBe(1);
      const drv = new Inbox(new EndpointPort(await local.attachDriver(), { spinBeforeSleep: 0 }));
      const devs = [256, 2, 1];
      const sent = new Map<number, number[]>(devs.map((d) => [d, []]));
      const count = 3000;
      let n = 0;
      while (n < count) {
        // At most 96 unanswered at a time.
        while (n < count && n - drv.responses.length < 96) {
          const dev = devs[n % 3]!;
          if (!drv.port.send(getStatus(dev, n))) break;
          sent.get(dev)!.push(n);
          n++;
        }
        drv.port.flush();
        await drv.until(() => n - drv.responses.length < 96 || drv.responses.length === count, 'answers');
      }
      await drv.until(() => drv.responses.length === count, `${count} answers`);
      expect(drv.failures).toEqual([]);
      for (const dev of devs) expect(drv.responses.filter((r) => r.dev === dev).map((r) => r.token)).toEqual(sent.get(dev));
      await gw.close();
    } finally {
      await stopLocalEcho();
      await local.close();
    }
  });

  it('an impossible msg_size ends the connection and is counted (below the header, above the link maximum)', async () => {
    for (const [size, reason] of [[4, 'MSG_SIZE_LT_HEADER'], [1000, 'MSG_SIZE_GT_BUS_MAX']] as const) {
      const before = link.counters.drops[reason] ?? 0;
      const dropsBefore = drops.length;
      const peer = await connect();
      const bad = getStatus(1, 0x99);
      bad[6] = size & 0xff;
      bad[7] = size >> 8;
      // A good frame first, split from the bad one across two writes.
      peer.socket.write(Buffer.concat([getStatus(1, 0x98), bad.subarray(0, 3)]));
      const ok = await peer.next();
      expect(ok && ok[4]).toBe(0x98);
      peer.socket.write(bad.subarray(3));
      await until(() => drops.length > dropsBefore && drops.some((d) => d.startsWith(reason)), `the connection ends (${reason})`);
      expect(drops.filter((d) => d.startsWith(reason))).toEqual([expect.stringMatching(new RegExp(`^${reason}: msg_size ${size} \\(link maximum 264\\)`))]);
      expect(link.counters.drops[reason]).toBe(before + 1);
      await peer.closed;
    }
  });
});
