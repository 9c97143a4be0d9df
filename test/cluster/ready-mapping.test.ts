// peers() lists an imported device exactly while the router lists it in GET_DEVICES: a driver
// that hears READY finds its number there at once, a request sent the moment it is listed is
// routed, and at REMOVED it is gone — whether the device comes with a new gateway stream (the
// node joins, or comes back) or is hot-added on a stream already up. The driver's ring and
// peers() are looked at between every two tasks of the main thread, so a READY is seen before
// anything the router does after writing it (the answer of its addDevice).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { NatsServer, natsServerMissing } from '../../tools/nats-server.js';
import { DEVICE_BUS_STATE_READY as READY, DEVICE_BUS_STATE_REMOVED as REMOVED } from '../../src/protocol/constants.js';
import { Inbox, getStatus, startEcho } from '../bus/stream-helpers.js';
import { until } from '../helpers/wait.js';

const missing = natsServerMissing();
const DEVICES = [5, 6, 7, 8];
const ROUNDS = 5;

describe.skipIf(missing !== undefined)(`cluster: READY and peers()${missing === undefined ? '' : ` (skipped: ${missing})`}`, () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  let nats: NatsServer;
  let r1: Router;
  let r2: Router;
  let c1: ClusterNode;
  let inbox: Inbox;
  /** Every device event r1's driver heard, with r2's number for it in r1's peers() at that moment. */
  const heard: { dev: number; state: number; mappedFrom: number | undefined }[] = [];
  let watching = true;
  /** r1's numbers of r2's devices as last looked at. */
  let listed = new Set<number>();
  /** One GET_STATUS sent to each device the moment peers() first lists it (per appearance). */
  const probes: { dev: number; token: number }[] = [];

  const remoteOf = (local: number): number | undefined =>
    c1.peers().find((p) => p.node === 'r2')?.deviceMap.find((m) => m.local === local)?.remote;

  /** Look at the driver's ring between every two tasks of the main thread. */
  function watch(): void {
    if (!watching) return;
    inbox.pump();
    for (const e of inbox.deviceEvents.slice(heard.length)) heard.push({ ...e, mappedFrom: remoteOf(e.dev) });
    const now = new Set(c1.peers().find((p) => p.node === 'r2')?.deviceMap.map((m) => m.local) ?? []);
    for (const dev of now) {
      if (listed.has(dev)) continue;
      const token = 0x6000 + probes.length;
      probes.push({ dev, token });
      if (!inbox.port.send(getStatus(dev, token))) throw new Error('the driver ring is full');
      inbox.port.flush();
    }
    listed = now;
    setImmediate(watch);
  }

  const readyOf = (dev: number): typeof heard => heard.filter((h) => h.dev === dev && h.state === READY);
  const removedOf = (dev: number): typeof heard => heard.filter((h) => h.dev === dev && h.state === REMOVED);
  /** Every probe answered by the device itself (not failed: the number was routed). */
  async function probesAnswered(): Promise<void> {
    await inbox.until(() => inbox.responses.length + inbox.failures.length >= probes.length, `answers to ${probes.length} probes`, 20_000);
    expect(inbox.failures).toEqual([]);
    expect(inbox.responses.map((r) => [r.dev, r.token])).toEqual(probes.map((p) => [p.dev, p.token]));
  }

  beforeAll(async () => {
    nats = await NatsServer.start();
    cleanup.push(() => nats.stop());
    r2 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r2.close());
    const echo = await startEcho(r2, DEVICES);
    cleanup.push(() => echo.stop());
    r1 = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => r1.close());
    inbox = new Inbox(new EndpointPort(await r1.attachDriver(), { spinBeforeSleep: 0 }));
    c1 = await ClusterNode.join(r1, { url: nats.url, node: 'r1' });
    cleanup.push(() => c1.close());
    watch();
    cleanup.push(() => void (watching = false));
  }, 60_000);

  afterAll(async () => {
    for (const f of cleanup.reverse()) await Promise.resolve().then(f).catch(() => {});
  }, 60_000);

  it(`a node joining, leaving and joining again (${ROUNDS} times): at each READY peers() maps the device`, async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const c2 = await ClusterNode.join(r2, { url: nats.url, node: 'r2', advertise: 'tcp:127.0.0.1:0' });
      try {
        await until(() => DEVICES.every((d) => readyOf(d).length === round), `round ${round}: READY of r2's devices on r1`, 20_000, () => JSON.stringify(heard));
        await probesAnswered();
      } finally {
        await c2.close();
      }
      await until(() => DEVICES.every((d) => removedOf(d).length === round), `round ${round}: REMOVED of r2's devices on r1`, 20_000, () => JSON.stringify(heard));
    }
    // Each READY named a device r1's peers() already listed, under r2's own number (free on r1);
    // each REMOVED one it no longer listed; each listing was probed once.
    for (const d of DEVICES) {
      expect(readyOf(d).map((h) => h.mappedFrom)).toEqual(Array(ROUNDS).fill(d));
      expect(removedOf(d).map((h) => h.mappedFrom)).toEqual(Array(ROUNDS).fill(undefined));
      expect(probes.filter((p) => p.dev === d)).toHaveLength(ROUNDS);
    }
  }, 120_000);

  it('a device hot-added on a node whose stream is up: peers() maps it at its READY', async () => {
    const c2 = await ClusterNode.join(r2, { url: nats.url, node: 'r2', advertise: 'tcp:127.0.0.1:0' });
    try {
      await until(() => DEVICES.every((d) => readyOf(d).length === ROUNDS + 1), 'READY of r2\'s devices on r1', 20_000, () => JSON.stringify(heard));
      expect(readyOf(5).at(-1)!.mappedFrom).toBe(5);
      const more = await startEcho(r2, [9, 10]);
      try {
        await until(() => readyOf(9).length === 1 && readyOf(10).length === 1, 'READY of the hot-added devices on r1', 20_000, () => JSON.stringify(heard));
        expect([...readyOf(9), ...readyOf(10)].map((h) => h.mappedFrom)).toEqual([9, 10]);
        await probesAnswered();
        expect(probes.filter((p) => p.dev >= 9)).toHaveLength(2);
      } finally {
        await more.stop();
      }
    } finally {
      await c2.close();
    }
  }, 60_000);
});
