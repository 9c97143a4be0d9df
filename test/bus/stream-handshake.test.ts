// STREAM_HELLO (src/bus/stream-hello.ts) over real Unix sockets: incompatible peers are refused
// with a status and a message that names the rule, both when they connect to us and when we
// connect to them; after the handshake the link carries frames up to the smaller maximum and a
// frame that breaks it closes the connection with the reason counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { openStreamLink, openStreamChannel, type StreamLink } from '../../src/bus/stream.js';
import { StreamHandshakeError } from '../../src/bus/stream-connection.js';
import {
  encodeHello, decodeHello, HelloStatus, STREAM_VERSION, TRANSPORT_REVISION, ROLE_DRIVER, ROLE_DEVICE, type Hello,
} from '../../src/bus/stream-hello.js';
import { RawPeer } from './stream-helpers.js';
import { until } from '../helpers/wait.js';

const driverHello = (over: Partial<Hello> = {}): Hello => ({
  streamVersion: STREAM_VERSION, transportRevision: TRANSPORT_REVISION, maxMessageSize: 264,
  role: ROLE_DRIVER, flags: 0, status: 0, name: 'raw-test-peer', ...over,
});
const GET_DEVICES = Uint8Array.from([0x02, 0x02, 0, 0, 7, 0, 12, 0, 0, 0, 16, 0]);
const PING = Uint8Array.from([0x02, 0x03, 0, 0, 9, 0, 12, 0, 0xef, 0xbe, 0xad, 0xde]);

let dir: string;
let router: Router;
let link: StreamLink;
let sockPath: string;
const refusals: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmsg-hello-'));
  router = await Router.create({ shards: 1, spinBeforeSleep: 0 });
  sockPath = join(dir, 'bus.sock');
  link = await openStreamLink(router, `unix-listen:${sockPath}`, 'driver');
  link.on('refused', (e: Error) => refusals.push(e.message));
});

afterAll(async () => {
  await link?.close();
  await router?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Connect a raw peer, send `hello`, return the answer and the peer. */
async function greet(hello: Uint8Array): Promise<{ peer: RawPeer; answer: Hello | undefined }> {
  const peer = await RawPeer.connect({ path: sockPath });
  peer.send(hello);
  const f = await peer.next();
  const d = f === null ? undefined : decodeHello(f, true);
  return { peer, answer: d?.ok ? d.hello : undefined };
}

describe('stream handshake: the listening side refuses incompatible peers', () => {
  it.each([
    ['another transport revision', driverHello({ transportRevision: 2 }), HelloStatus.TRANSPORT_REVISION_UNSUPPORTED, /transport revision 2, this side 1/],
    ['another stream bus version', driverHello({ streamVersion: 9 }), HelloStatus.STREAM_VERSION_UNSUPPORTED, /stream bus version 9/],
    ['a maximum message size below 52', driverHello({ maxMessageSize: 40 }), HelloStatus.MAX_MSG_SIZE_TOO_SMALL, /maximum message size 40 is below the 52/],
    ['the same role as ours (two device sides)', driverHello({ role: ROLE_DEVICE }), HelloStatus.ROLE_CONFLICT, /both sides are the device side/],
  ])('%s: answered with the status, connection closed, refusal reported', async (_what, hello, status, why) => {
    const before = link.counters.handshakeFailures;
    const { peer, answer } = await greet(encodeHello(hello, false, 3));
    expect(answer?.status).toBe(status);
    expect(answer?.transportRevision).toBe(TRANSPORT_REVISION);
    await peer.closed;
    expect(link.counters.handshakeFailures).toBe(before + 1);
    await until(() => refusals.length > 0 && (typeof why === 'string' ? refusals.at(-1)!.includes(why) : why.test(refusals.at(-1)!)), 'the refusal reported');
    expect(refusals.at(-1)).toMatch(why);
  });

  it('a hello with a wrong magic is answered BAD_MAGIC', async () => {
    const h = encodeHello(driverHello(), false, 3);
    h[8] ^= 0xff;
    const { peer, answer } = await greet(h);
    expect(answer?.status).toBe(HelloStatus.BAD_MAGIC);
    await peer.closed;
  });

  it('a peer that is not a stream bus (an HTTP request) is disconnected and counted', async () => {
    const before = link.counters.handshakeFailures;
    const peer = await RawPeer.connect({ path: sockPath });
    peer.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await peer.closed;
    expect(link.counters.handshakeFailures).toBe(before + 1);
    expect(link.counters.drops.MSG_SIZE_GT_BUS_MAX).toBeGreaterThanOrEqual(1);
  });
});

describe('stream handshake: the connecting side rejects refusals and incompatible answers', () => {
  /** A raw listener that answers every hello with `answer(theirHello)`. */
  async function rawServer(answer: (req: Hello, token: number) => Uint8Array): Promise<{ path: string; close(): void }> {
    const path = join(dir, `raw-${Math.random().toString(36).slice(2)}.sock`);
    const server = net.createServer((s) => {
      const p = new RawPeer(s);
      void p.next().then((f) => {
        const d = f === null ? undefined : decodeHello(f, false);
        if (d?.ok) s.end(answer(d.hello, d.token));
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
    return { path, close: () => server.close() };
  }

  it('a refusal by the peer rejects openStreamLink with the peer\'s status', async () => {
    const srv = await rawServer((req, token) => encodeHello({ ...req, role: ROLE_DEVICE, status: HelloStatus.TRANSPORT_REVISION_UNSUPPORTED }, true, token));
    const err = await openStreamLink(router, `unix:${srv.path}`, 'device').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamHandshakeError);
    expect((err as Error).message).toMatch(/refused the stream handshake: TRANSPORT_REVISION_UNSUPPORTED/);
    srv.close();
  });

  it('an answer with another transport revision rejects with the rule and both values', async () => {
    const srv = await rawServer((req, token) => encodeHello({ ...req, role: ROLE_DEVICE, transportRevision: 2, status: 0 }, true, token));
    await expect(openStreamLink(router, `unix:${srv.path}`, 'device')).rejects.toThrow(/TRANSPORT_REVISION_UNSUPPORTED.*transport revision 2, this side 1/);
    srv.close();
  });

  it('an answer with an oversize-for-us-but-too-small maximum (40) is rejected', async () => {
    const srv = await rawServer((req, token) => encodeHello({ ...req, role: ROLE_DEVICE, maxMessageSize: 40, status: 0 }, true, token));
    await expect(openStreamChannel(`unix:${srv.path}`)).rejects.toThrow(/MAX_MSG_SIZE_TOO_SMALL/);
    srv.close();
  });

  it('nobody listening: the first connect fails with an error naming the target', async () => {
    await expect(openStreamLink(router, `unix:${join(dir, 'nobody.sock')}`, 'device')).rejects.toThrow(/cannot connect to unix .*nobody\.sock/);
  });
});

describe('stream framing after the handshake', () => {
  it('frames sent right behind the hello in the same write are served', async () => {
    const peer = await RawPeer.connect({ path: sockPath });
    peer.socket.write(Buffer.concat([encodeHello(driverHello(), false, 1), GET_DEVICES, PING]));
    const hello = decodeHello((await peer.next())!, true);
    expect(hello.ok && hello.hello.status).toBe(HelloStatus.ACCEPTED);
    const answers = [await peer.next(), await peer.next()];
    expect(answers.map((f) => [f![0], f![1], f![4]])).toEqual([[0x03, 0x02, 7], [0x03, 0x03, 9]]);
    expect([...answers[1]!.subarray(8)]).toEqual([0xef, 0xbe, 0xad, 0xde]);
    peer.socket.destroy();
  });

  it('the link maximum is the smaller one; a frame above it closes the connection (MSG_SIZE_GT_BUS_MAX counted)', async () => {
    const peer = await RawPeer.connect({ path: sockPath });
    peer.send(encodeHello(driverHello({ maxMessageSize: 100 }), false, 1));
    const d = decodeHello((await peer.next())!, true);
    expect(d.ok && d.hello.maxMessageSize).toBe(264); // the router offers 264; the link carries min(264, 100)
    peer.send(PING);
    expect((await peer.next())?.[0]).toBe(0x03);
    const before = link.counters.drops.MSG_SIZE_GT_BUS_MAX ?? 0;
    const big = new Uint8Array(120);
    big.set([0x00, 0x06, 1, 0, 1, 0, 120, 0]);
    peer.send(big, PING);
    expect(await peer.next()).toBeNull(); // closed, the PING behind it never answered
    await peer.closed;
    expect(link.counters.drops.MSG_SIZE_GT_BUS_MAX).toBe(before + 1);
  });

  it('msg_size below the header closes the connection (MSG_SIZE_LT_HEADER counted)', async () => {
    const peer = await RawPeer.connect({ path: sockPath });
    peer.send(encodeHello(driverHello(), false, 1));
    await peer.next();
    peer.send(Uint8Array.from([0, 7, 1, 0, 1, 0, 4, 0]));
    await peer.closed;
    expect(link.counters.drops.MSG_SIZE_LT_HEADER).toBe(1);
  });
});

describe('stream link options are checked at the API edge', () => {
  it.each([
    ['unix:/tmp/x.sock?tls=1', /tls=1 is for tcp/],
    ['tcp:127.0.0.1:1?cert=/x', /cert= needs tls=1/],
    ['tcp-listen:0?tls=1', /a TLS listener needs its certificate/],
    ['tcp:127.0.0.1:1?tls=1&ca=/does/not/exist.pem', /ca=\/does\/not\/exist.pem cannot be read \(ENOENT\)/],
    ['tcp:127.0.0.1:1?max=20', /max= must be an integer from 52 to 65535/],
    ['tcp:127.0.0.1:1?max=1000', /max=1000 is above the router's busMaxSize 264/],
    ['tcp:127.0.0.1:1?retry=1', /unknown parameter "retry" for tcp/],
    ['tcp-listen:0?reconnect=0', /reconnect= is for the connecting side/],
    ['tcp:127.0.0.1:1?backoff_min_ms=500&backoff_max_ms=100', /backoff_max_ms=100 is below backoff_min_ms=500/],
    ['vmamp:/dev/shm/x', /not a stream link/],
  ])('%s is refused: %s', async (uri, why) => {
    await expect(openStreamLink(router, uri, 'device')).rejects.toThrow(why);
  });

  it('remap_base= is for links to a device-side bus only', async () => {
    await expect(openStreamLink(router, 'tcp:127.0.0.1:1?remap_base=5', 'driver')).rejects.toThrow(/unknown parameter "remap_base"/);
  });
});
