// The shared-memory buses against a separate OS process (test/peers/vmsg-peer.c, compiled with
// cc during the test): vmamp and SPSC, the router on either side of the window, with and without
// doorbell sockets, with an 8 KiB window and with a 3-slot one. Frames flow through the router's
// WASM hot path straight over the mapped window; answers arrive in order, nothing is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { openBusLink } from '../../src/bus/open.js';
import type { BusLink } from '../../src/bus/bus-link.js';
import { busFramesUntil, driveRequests, freshPaths, linkUri, peerArgs, peerSkipReason, startEcho, startPeer, type EchoDevice } from './helpers.js';
import { until } from '../helpers/wait.js';

// A 3-slot window: vmamp's 496 bytes (N = 3, docs/BUSES.md §2.2); SPSC cannot make 3 slots per
// direction from 496 bytes (248 per ring), its smallest 3-slot pair is 640 bytes.
const SMALL = { vmamp: 496, spsc: 640 } as const;
const BUSES = ['vmamp', 'spsc'] as const;
const COUNT = 1500;

const cases = BUSES.flatMap((bus) => [8192, SMALL[bus]].flatMap((size) => [false, true].map((doorbell) => ({ bus, size, doorbell }))));
const name = (c: { bus: string; size: number; doorbell: boolean }): string => `${c.bus} ${c.size} B ${c.doorbell ? 'doorbell socket' : 'busy-poll'}`;

describe.skipIf(peerSkipReason !== null)('shared-memory buses with a C peer process', () => {
  let router: Router;
  let echo: EchoDevice;
  beforeAll(async () => {
    // Generous: on a loaded 2-core machine a slow answer must not turn into a timeout.
    router = await Router.create({ shards: 1, timeoutMs: 10_000 });
    echo = await startEcho(router, [1, 2]);
  });
  afterAll(async () => {
    await echo?.stop();
    await router?.close();
  });

  it.each(cases)('$bus $size B doorbell=$doorbell: an external C driver reaches the built-in echo device through the router, answers in order, none lost', async (c) => {
    const p = freshPaths(`drv-${c.bus}`);
    // We are the device side: we build the window; the C program attaches as its driver.
    const events: string[] = [];
    const opening = openBusLink(router, linkUri(c.bus, 'device', p, c.size, c.doorbell), 'driver', { waitMs: 20_000, log: (l) => void events.push(l) });
    // With doorbells the C driver sleeps up to 1 s per wait: a wake-up the router's bridge failed
    // to send would show as an answer found after a timeout (and a stall), not go unnoticed.
    const peer = startPeer([...peerArgs(c.bus, 'driver', p, c.size, c.doorbell), '--discover', '--dev', '2', '--count', String(COUNT), '--outstanding', '8', '--bell-timeout-ms', '1000']);
    const link = await opening;
    const out = await peer.done;
    expect(out.code, out.stderr + events.join('\n')).toBe(0);
    const res = JSON.parse(out.stdout.trim()) as Record<string, unknown>;
    expect(res).toMatchObject({ mode: 'req', sent: COUNT, received: COUNT, errors: 0, order_violations: 0 });
    expect(res.devices).toEqual(expect.arrayContaining([1, 2])); // the router answered GET_DEVICES
    if (c.doorbell) {
      expect(res.bells_heard as number).toBeGreaterThan(0); // woken by the router's bytes…
      expect(res.timeouts_with_work).toBe(0); // …every time there was something to read
    }
    await link.close();
  }, 60_000);

  it.each(cases)('$bus $size B doorbell=$doorbell: an in-process driver reaches a C device side through the router, its devices discovered, answers in order', async (c) => {
    const p = freshPaths(`dev-${c.bus}`);
    const peer = startPeer([...peerArgs(c.bus, 'device', p, c.size, c.doorbell), '--devices', '7,300']);
    const link = await openBusLink(router, linkUri(c.bus, 'driver', p, c.size, c.doorbell), 'device', { waitMs: 20_000 });
    try {
      expect([...link.devices].sort((a, b) => a - b)).toEqual([7, 300]);
      const drv = new EndpointPort(await router.attachDriver());
      const req = await driveRequests(drv, 300, COUNT, 8);
      expect(req, req.failures.join(' ')).toMatchObject({ sent: COUNT, answered: COUNT, failed: 0, orderViolations: 0, errors: [] });
      // EVENT_AVAIL → EVENT_USED, in order (events go to the driver that last sent the device a request)
      expect(await driveRequests(drv, 7, 1, 1)).toMatchObject({ answered: 1 });
      const avail = await driveRequests(drv, 7, 300, 4, { avail: true });
      expect(avail).toMatchObject({ sent: 300, answered: 300, orderViolations: 0, errors: [] });
      await router.detach(drv.link);
    } finally {
      await link.close();
      if (c.bus === 'spsc') peer.proc.kill('SIGTERM'); // vmamp peers see our SHUTDOWN and leave by themselves
      await peer.done;
    }
  }, 60_000);
});

describe.skipIf(peerSkipReason !== null)('a peer that dies or leaves is detected and reported', () => {
  let router: Router;
  let echo: EchoDevice;
  beforeAll(async () => {
    router = await Router.create({ shards: 1, timeoutMs: 5000 });
    echo = await startEcho(router, [1]);
  });
  afterAll(async () => {
    await echo?.stop();
    await router?.close();
  });

  it.each([
    { bus: 'vmamp', doorbell: true, how: 'the doorbell socket closes' },
    { bus: 'vmamp', doorbell: false, how: 'PINGs go unanswered' },
    { bus: 'spsc', doorbell: false, how: 'PINGs go unanswered' },
  ])('$bus: killing the C device side mid-run ($how) takes its devices away (REMOVED), fails what was in flight, and the router keeps routing', async (c) => {
    const p = freshPaths(`kill-${c.bus}`);
    const peer = startPeer([...peerArgs(c.bus, 'device', p, 8192, c.doorbell), '--devices', '40']);
    const link: BusLink = await openBusLink(router, linkUri(c.bus, 'driver', p, 8192, c.doorbell, '&ping=100'), 'device', { waitMs: 20_000 });
    const drv = new EndpointPort(await router.attachDriver());
    const t0 = Date.now();
    const running = driveRequests(drv, 40, 1_000_000, 8, { idleMs: 8000, stopOnFailure: true });
    await until(() => (router.stats().devices.find((d) => d.dev === 40)?.responses ?? 0) >= 100, 'answers from the C device side');
    peer.proc.kill('SIGKILL');
    const down = await link.down;
    expect(down.cause).toBe('peer-dead');
    expect(Date.now() - t0).toBeLessThan(8000);
    const r = await running;
    // Every request sent got exactly one outcome: an answer before the kill, or a transport failure.
    expect(r.errors).toEqual([]);
    expect(r.answered + r.failed).toBe(r.sent);
    expect(r.answered).toBeGreaterThan(0);
    const removed = '0240000000000c0028000200'; // EVENT_DEVICE device 40 REMOVED
    if (!r.busEvents.includes(removed)) expect(await busFramesUntil(drv, removed)).toContain(removed);
    expect(router.stats().devices.some((d) => d.dev === 40)).toBe(false);
    // The router is fine: the echo device still answers.
    const after = await driveRequests(drv, 1, 100, 4);
    expect(after, after.failures.join(" ")).toMatchObject({ answered: 100, errors: [] });
    await router.detach(drv.link);
  }, 60_000);

  it('killing a C driver mid-run takes its link down and leaves the router routing for others', async () => {
    const p = freshPaths('kill-drv');
    const opening = openBusLink(router, linkUri('vmamp', 'device', p, 8192, true), 'driver', { waitMs: 20_000 });
    const peer = startPeer([...peerArgs('vmamp', 'driver', p, 8192, true), '--dev', '1', '--count', '100000000', '--outstanding', '4']);
    const link = await opening;
    const answered = (): number => router.stats().devices.find((d) => d.dev === 1)?.responses ?? 0;
    await until(() => answered() >= 100, 'answers to the C driver');
    peer.proc.kill('SIGKILL');
    expect((await link.down).cause).toBe('peer-dead');
    const drv = new EndpointPort(await router.attachDriver());
    expect(await driveRequests(drv, 1, 100, 4)).toMatchObject({ answered: 100, errors: [] });
    await router.detach(drv.link);
  }, 30_000);

  it('a C device side that shuts down (vmamp SHUTDOWN) is reported as such', async () => {
    const p = freshPaths('shutdown');
    const peer = startPeer([...peerArgs('vmamp', 'device', p, 8192, false), '--devices', '41', '--duration', '0.5']);
    const link = await openBusLink(router, linkUri('vmamp', 'driver', p, 8192, false), 'device', { waitMs: 20_000 });
    expect(link.devices).toEqual([41]);
    const down = await link.down;
    expect(down).toMatchObject({ cause: 'peer-shutdown' });
    expect(down.detail).toMatch(/SHUTDOWN/);
    expect(router.stats().devices.some((d) => d.dev === 41)).toBe(false);
    await peer.done;
  }, 30_000);
});
