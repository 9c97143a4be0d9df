// Stream links between real routers in this process, over real Unix and TCP (+TLS) sockets:
// an external driver reaches a router's devices; a gateway makes a remote router's devices
// local under the documented remap; hotplug and link drops propagate; the connecting side
// reconnects and rediscovers; TLS with client certificates admits only certified clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { openStreamLink, openStreamChannel, type StreamLink } from '../../src/bus/stream.js';
import { Reason } from '../../src/protocol/reasons.js';
import { DEVICE_BUS_STATE_READY as READY, DEVICE_BUS_STATE_REMOVED as REMOVED } from '../../src/protocol/constants.js';
import { Inbox, getStatus, sendAll, startEcho } from './stream-helpers.js';
import { haveOpenssl, makeTestCerts, type TestCerts } from './tls-certs.js';
import { until } from '../helpers/wait.js';

let dir: string;
let remote: Router; // devices 1 and 2 (echo), served to stream drivers
let local: Router; // its own echo device 1; remote devices join through gateways
let stopEchoes: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmsg-stream-'));
  remote = await Router.create({ shards: 1, spinBeforeSleep: 0, timeoutMs: 10_000 });
  local = await Router.create({ shards: 1, spinBeforeSleep: 0, timeoutMs: 10_000 });
  stopEchoes = [(await startEcho(remote, [1, 2])).stop, (await startEcho(local, [1])).stop];
});

afterAll(async () => {
  for (const s of stopEchoes) await s();
  await local?.close();
  await remote?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sock = (name: string): string => join(dir, name);

async function localDriver(): Promise<Inbox> {
  return new Inbox(new EndpointPort(await local.attachDriver(), { spinBeforeSleep: 0 }));
}

describe('external driver over a stream link', () => {
  it('reaches the router\'s devices: GET_DEVICES, PING and requests answered with the driver\'s own tokens', async () => {
    const link = await openStreamLink(remote, `unix-listen:${sock('drv.sock')}`, 'driver');
    const ch = await openStreamChannel(`unix:${sock('drv.sock')}?name=bench`);
    expect(ch.maxMessageSize).toBe(264);
    ch.send(Uint8Array.from([0x02, 0x02, 0, 0, 0x11, 0x11, 12, 0, 0, 0, 8, 0])); // GET_DEVICES offset 0 count 8
    ch.send(Uint8Array.from([0x02, 0x03, 0, 0, 0x22, 0x22, 12, 0, 1, 2, 3, 4])); // PING
    ch.send(getStatus(2, 0xbeef));
    ch.flush();
    const got: Uint8Array[] = [];
    while (got.length < 3 && (await ch.wait(5000))) for (let f = ch.recv(); f; f = ch.recv()) got.push(f);
    expect(got.map((f) => Buffer.from(f).toString('hex'))).toEqual([
      '0302000011110f0000000800000006', // offset 0, count 8, next_offset 0, bitmap 0b110 (devices 1, 2)
      '0303000022220c0001020304',
      '01070200efbe0c000f000000',
    ]);
    expect(link.peers).toBe(1);
    await ch.close();
    await link.close();
  });

  it('failure_events=1: a request that cannot be routed ends in VMSG_EVT_REQUEST_FAILED with the driver\'s token', async () => {
    const link = await openStreamLink(remote, `unix-listen:${sock('fe.sock')}`, 'driver');
    for (const [param, expectFailure] of [['?failure_events=1', true], ['', false]] as const) {
      const ch = await openStreamChannel(`unix:${sock('fe.sock')}${param}`);
      ch.send(getStatus(9, 0x4242)); // device 9 does not exist
      ch.flush();
      const arrived = await ch.wait(expectFailure ? 5000 : 300);
      expect(arrived).toBe(expectFailure);
      if (expectFailure) {
        const f = ch.recv()!;
        expect([f[0], f[1], f[8], f[10], f[11], f[12] | (f[13]! << 8)]).toEqual([0x02, 0xc1, 9, 0x07, Reason.UNVALIDATED_DEV_NUM, 0x4242]);
      }
      await ch.close();
    }
    await link.close();
  });
});

describe('gateway between two routers', () => {
  it('remote devices appear locally (remap on collision), requests and events cross with per-hop tokens', async () => {
    const serve = await openStreamLink(remote, `unix-listen:${sock('gw.sock')}`, 'driver');
    const drv = await localDriver();
    const gw = await openStreamLink(local, `unix:${sock('gw.sock')}`, 'device');
    // Remote 1 collides with the local echo device 1: rule 3 gives 256. Remote 2 keeps its number.
    expect(gw.devices.sort((a, b) => a - b)).toEqual([2, 256]);
    expect(gw.deviceMap().sort((a, b) => a.remote - b.remote)).toEqual([{ remote: 1, local: 256 }, { remote: 2, local: 2 }]);
    await drv.until(() => drv.deviceEvents.length >= 2, 'READY for the remote devices');
    expect(drv.deviceEvents).toEqual(expect.arrayContaining([{ dev: 2, state: READY }, { dev: 256, state: READY }]));

    // The local GET_DEVICES shows the local device and both remote ones.
    await sendAll(drv.port, [Uint8Array.from([0x02, 0x02, 0, 0, 1, 0, 12, 0, 0, 1, 0, 1])]); // offset 256, count 256
    await sendAll(drv.port, [Uint8Array.from([0x02, 0x02, 0, 0, 2, 0, 12, 0, 0, 0, 8, 0])]); // offset 0, count 8
    await drv.until(() => drv.frames.filter((f) => f[0] === 0x03).length === 2, 'GET_DEVICES answers');
    const [high, low] = drv.frames.filter((f) => f[0] === 0x03);
    expect(high![14]).toBe(0x01); // bit 0 of the window at 256
    expect(low![14]).toBe(0b110); // devices 1 and 2

    // Requests: tokens are the driver's own at the end of both hops; 256 is answered by the remote device 1.
    drv.clear();
    const reqs = [];
    for (let i = 0; i < 200; i++) reqs.push(getStatus([1, 2, 256][i % 3]!, 0x1000 + i));
    await sendAll(drv.port, reqs);
    await drv.until(() => drv.responses.length === 200, '200 responses');
    for (const dev of [1, 2, 256]) {
      const tokens = drv.responses.filter((r) => r.dev === dev).map((r) => r.token);
      expect(tokens).toEqual(reqs.map((f, i) => ({ f, i })).filter(({ f }) => (f[2]! | (f[3]! << 8)) === dev).map(({ i }) => 0x1000 + i)); // per-device order
    }
    expect(drv.responses.every((r) => r.status === 0x0f && r.msgId === 0x07)).toBe(true);
    // Remote device 1 answered for local 256: the remote router counted those requests.
    expect(remote.stats().devices.find((d) => d.dev === 1)!.requests).toBeGreaterThanOrEqual(66);

    // EVENT_AVAIL → remote echo → EVENT_USED back, under the local number.
    drv.clear();
    await sendAll(drv.port, [Uint8Array.from([0x00, 0x41, 0x00, 0x01, 0, 0, 16, 0, 3, 0, 0, 0, 0, 0, 0, 0])]); // vq 3 of device 256
    await drv.until(() => drv.frames.some((f) => f[1] === 0x42), 'EVENT_USED');
    const used = drv.frames.find((f) => f[1] === 0x42)!;
    expect([used[0], used[2] | (used[3]! << 8), used[8]]).toEqual([0x00, 256, 3]);

    await gw.close();
    await drv.until(() => drv.deviceEvents.filter((e) => e.state === REMOVED).length === 2, 'REMOVED on close');
    await serve.close();
  });

  it('remote hotplug becomes local READY/REMOVED; a link drop removes the devices and they come back after reconnect', async () => {
    const path = sock('re.sock');
    let serve = await openStreamLink(remote, `unix-listen:${path}`, 'driver');
    const drv = await localDriver();
    const gw = await openStreamLink(local, `unix:${path}?backoff_min_ms=20&backoff_max_ms=200&remap_base=1000`, 'device');
    expect(gw.devices.sort((a, b) => a - b)).toEqual([2, 1000]);
    await drv.until(() => drv.deviceEvents.length === 2, 'READY x2');

    // Remote hotplug: device 5 added, device 2 removed.
    const echo5 = await startEcho(remote, [5]);
    await drv.until(() => drv.deviceEvents.some((e) => e.dev === 5 && e.state === READY), 'READY 5');
    await remote.removeDevice(2);
    await drv.until(() => drv.deviceEvents.some((e) => e.dev === 2 && e.state === REMOVED), 'REMOVED 2');
    expect(gw.devices.sort((a, b) => a - b)).toEqual([5, 1000]);
    drv.clear();
    await sendAll(drv.port, [getStatus(5, 0x55), getStatus(2, 0x22)]);
    await drv.until(() => drv.responses.length === 1 && drv.failures.length === 1, 'one answer, one failure');
    expect(drv.responses[0]!).toMatchObject({ dev: 5, token: 0x55 });
    expect(drv.failures[0]!).toMatchObject({ dev: 2, token: 0x22, reason: Reason.UNVALIDATED_DEV_NUM });

    // The far end goes away: every remote device is REMOVED locally.
    drv.clear();
    await serve.close();
    await drv.until(() => drv.deviceEvents.filter((e) => e.state === REMOVED).length === 2, 'REMOVED for 5 and 1000');
    expect(drv.deviceEvents.map((e) => e.dev).sort((a, b) => a - b)).toEqual([5, 1000]);
    expect(gw.devices).toEqual([]);
    await sendAll(drv.port, [getStatus(1000, 0x77)]);
    await drv.until(() => drv.failures.length === 1, 'failure for a removed device');
    expect(drv.failures[0]).toMatchObject({ dev: 1000, reason: Reason.UNVALIDATED_DEV_NUM });

    // It comes back on the same path: the gateway reconnects by itself and rediscovers.
    drv.clear();
    serve = await openStreamLink(remote, `unix-listen:${path}`, 'driver');
    await drv.until(() => drv.deviceEvents.filter((e) => e.state === READY).length >= 2, 'READY after reconnect');
    expect(gw.devices.sort((a, b) => a - b)).toEqual([5, 1000]); // the same local numbers as before (rule 2 for 1000)
    await sendAll(drv.port, [getStatus(1000, 0x99)]);
    await drv.until(() => drv.responses.length === 1, 'answer after reconnect');
    expect(gw.counters.connects).toBe(2);
    expect(gw.counters.disconnects).toBe(1);

    await gw.close();
    await serve.close();
    await echo5.stop();
    await remote.removeDevice(5);
  });
});

describe('link lifetime', () => {
  it('who connects does not matter: a router serving its devices may dial out to a listening gateway', async () => {
    const far = await startEcho(remote, [3000, 40000]); // beyond the first GET_DEVICES window (2000 numbers at 264 bytes)
    const gw = await openStreamLink(local, `unix-listen:${sock('dial.sock')}`, 'device');
    const drv = await localDriver();
    const dial = await openStreamLink(remote, `unix:${sock('dial.sock')}`, 'driver');
    await drv.until(() => drv.deviceEvents.filter((e) => e.dev >= 3000).length === 2, 'READY from the dialling router, every window');
    expect(gw.devices).toEqual(expect.arrayContaining([3000, 40000]));
    const dev = 40000;
    await sendAll(drv.port, [getStatus(dev, 0x3131)]);
    await drv.until(() => drv.responses.length === 1, 'answer through the listening gateway');
    expect(drv.responses[0]).toMatchObject({ dev, token: 0x3131, status: 0x0f });
    await dial.close();
    // Both devices go (one REMOVED each); waiting for the first alone races the second.
    await drv.until(() => drv.deviceEvents.filter((e) => e.state === REMOVED && e.dev >= 3000).length === 2, 'REMOVED for both when the dialler leaves');
    expect(gw.devices).toEqual([]);
    await gw.close();
    await far.stop();
    await remote.removeDevice(3000);
    await remote.removeDevice(40000);
  });

  it('reconnect=0: a drop ends the link (down settles with peer-dead) and its devices are removed', async () => {
    const serve = await openStreamLink(remote, `unix-listen:${sock('once.sock')}`, 'driver');
    const gw = await openStreamLink(local, `unix:${sock('once.sock')}?reconnect=0`, 'device');
    expect(gw.devices.length).toBeGreaterThan(0);
    await serve.close();
    expect(await serve.down).toMatchObject({ cause: 'closed' });
    expect(await gw.down).toMatchObject({ cause: 'peer-dead', detail: 'peer closed the connection' });
    expect(gw.devices).toEqual([]);
    expect(local.stats().devices.map((d) => d.dev)).toEqual([1]);
    await gw.close(); // closing an ended link is harmless
  });
});

describe.skipIf(!haveOpenssl)('TLS with client certificates (throwaway CA made with the openssl CLI)', () => {
  let certs: TestCerts;
  const p = (f: string): string => certs.path(f);

  beforeAll(() => {
    certs = makeTestCerts();
  });

  afterAll(() => certs.remove());

  it('a client with a certificate from the CA gets through; without one, with a rogue one, or not trusting the server, it is refused', async () => {
    const serve = await openStreamLink(remote, `tcp-listen:127.0.0.1:0?tls=1&cert=${p('server.pem')}&key=${p('server.key')}&ca=${p('ca.pem')}`, 'driver');
    const refused: Error[] = [];
    serve.on('refused', (e: Error) => refused.push(e));
    const port = (serve.address as { port: number }).port;
    const target = `tcp:127.0.0.1:${port}?tls=1`;

    const drv = await localDriver();
    const gw = await openStreamLink(local, `${target}&ca=${p('ca.pem')}&cert=${p('client.pem')}&key=${p('client.key')}`, 'device');
    expect(gw.devices).toContain(256); // remote 1 (collides with the local echo device 1)
    await sendAll(drv.port, [getStatus(256, 0x7171)]);
    await drv.until(() => drv.responses.length === 1, 'answer over TLS');
    expect(drv.responses[0]).toMatchObject({ dev: 256, token: 0x7171, status: 0x0f });
    await gw.close();

    const errors: string[] = [];
    for (const params of [`&ca=${p('ca.pem')}`, `&ca=${p('ca.pem')}&cert=${p('rogue.pem')}&key=${p('rogue.key')}`, `&cert=${p('client.pem')}&key=${p('client.key')}`]) {
      errors.push(await openStreamLink(local, target + params, 'device').then(() => 'opened', (e: Error) => e.message));
    }
    expect(errors[0]).toMatch(/connection lost during the handshake .*certificate required/); // no client certificate
    expect(errors[1]).toMatch(/connection lost during the handshake .*client certificate/); // one from another CA
    expect(errors[2]).toMatch(/cannot connect to tls 127\.0\.0\.1:\d+: self-signed certificate in certificate chain/); // server not trusted
    await until(() => refused.length >= 2, 'the listener to see both clients refused');
    expect(refused.length).toBeGreaterThanOrEqual(2); // the listener saw the two clients without a valid certificate
    expect(local.stats().devices.map((d) => d.dev)).toEqual([1]); // nothing half-attached
    await serve.close();
  });
});
