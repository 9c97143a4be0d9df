// A node that dies and is back at once: the gateway stream to it is closed and a new one opened.
// The old stream's session removes its devices one by one; the new stream must not open before
// that ends, or peers() lists a device twice (the old number dead: a request to it fails) and
// the devices still held come back under new numbers, breaking "devices keep their local
// numbers". Driven on a RemoteNode directly (no NATS needed): r2 serves its devices on a
// listening stream as an advertised node does, r1 imports them.
import { afterEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { Router } from '../../src/router/router.js';
import { RemoteNode } from '../../src/cluster/remote-node.js';
import { openStreamLink } from '../../src/bus/stream.js';
import { startEcho } from '../bus/stream-helpers.js';
import { until } from '../helpers/wait.js';

const N = 64;

describe('RemoteNode: dead and back at once', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('lists each device once at every moment, and every device comes back under its old number', async () => {
    const r2 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r2.close());
    // Remote numbers in descending order, so the directory's order differs from removal's.
    const remote = Array.from({ length: N }, (_, i) => 100 + N - i);
    const echo = await startEcho(r2, remote);
    cleanup.push(() => echo.stop());
    const served = await openStreamLink(r2, 'tcp-listen:127.0.0.1:0', 'driver');
    cleanup.push(() => served.close());
    const r1 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r1.close());
    const logs: string[] = [];
    const node = new RemoteNode('r2', r1, 'r1', undefined, { log: (l) => logs.push(l), link: () => {} }, undefined);
    cleanup.push(() => node.close());
    node.addr = `tcp:127.0.0.1:${(served.address as AddressInfo).port}`;
    for (const d of remote) node.devices.add(d);
    node.alive = true;
    node.changed();
    await until(() => node.deviceMap().length === N, 'every device imported', 20_000);
    const first = new Map(node.deviceMap().map((m) => [m.remote, m.local]));

    // Sample the map between every two tasks of the main thread while the node dies and is back.
    let sampling = true;
    const dupes: string[] = [];
    let fewest = N;
    const sample = (): void => {
      if (!sampling) return;
      const map = node.deviceMap();
      fewest = Math.min(fewest, new Set(map.map((m) => m.remote)).size);
      const seen = new Map<number, number>();
      for (const m of map) {
        const prev = seen.get(m.remote);
        if (prev !== undefined) dupes.push(`${m.remote}: ${prev} and ${m.local}`);
        seen.set(m.remote, m.local);
      }
      setImmediate(sample);
    };
    sample();
    node.alive = false;
    node.changed();
    // Back as soon as the old stream is no longer the node's link, while its devices go.
    await until(() => !node.linkUp, 'the old stream let go', 20_000);
    node.alive = true;
    node.changed();
    try {
      await until(() => fewest < N && node.deviceMap().length === N && node.linkUp, 'every device back', 20_000);
    } finally {
      sampling = false;
    }
    expect(dupes).toEqual([]);
    expect(new Map(node.deviceMap().map((m) => [m.remote, m.local]))).toEqual(first);
  }, 60_000);
});
