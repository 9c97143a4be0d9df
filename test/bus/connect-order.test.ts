// Bring-up in any connect order: the doorbell socket of a shared-memory window may come before
// the layout exists, after the vmamp queue heads are READY (mid-traffic), or never, and the
// link must come up and carry every frame whatever the order. Each case runs the C peer
// (test/peers/vmsg-peer.c --sock-order) as a separate process against the router, on both
// buses, with the router on either side of the window; frames are checked for count, order
// and loss, and nothing is left behind in /dev/shm or the temporary directory.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { openBusLink } from '../../src/bus/open.js';
import type { ShmBusLink } from '../../src/bus/shm-link.js';
import { driveRequests, freshPaths, linkUri, peerArgs, peerSkipReason, startEcho, startPeer, type EchoDevice } from './helpers.js';

const BUSES = ['vmamp', 'spsc'] as const;
const ORDERS = ['early', 'normal', 'late', 'never'] as const;
type Order = (typeof ORDERS)[number];
const COUNT = 1500;
/** A late peer connects after this many frames: the switch from polling happens mid-traffic. */
const LATE_AFTER = 300;
const SIZE = 8192;
/** 3-slot windows (2 frames in flight per direction): the switch happens with the rings full. */
const SMALL = { vmamp: 496, spsc: 640 } as const;

const cases = [
  ...BUSES.flatMap((bus) => ORDERS.map((order) => ({ bus, order: order as Order, size: SIZE }))),
  ...BUSES.map((bus) => ({ bus, order: 'late' as Order, size: SMALL[bus] })),
];

/** What the C peer is told about its socket. */
function orderArgs(order: Order): string[] {
  return ['--sock-order', order, '--sock-after', order === 'late' ? String(LATE_AFTER) : '0'];
}

/** The state our link's doorbell must reach for a peer connecting in `order`. */
const expectedBell = (order: Order): string => (order === 'never' ? 'waiting' : 'connected');

/** Files of one window and its socket still on disk (the window, its `.building-` name, the socket). */
function leftovers(p: { path: string; sock: string }): string[] {
  const stem = basename(p.path);
  const files = readdirSync(dirname(p.path)).filter((f) => f === stem || f.startsWith(`${stem}.`)).map((f) => `${dirname(p.path)}/${f}`);
  return existsSync(p.sock) ? [...files, p.sock] : files;
}

/** `key N` from the C device's summary line on stderr. */
function deviceCounter(stderr: string, key: string): number {
  const m = new RegExp(`${key} (\\d+)`).exec(stderr);
  if (m === null) throw new Error(`no "${key}" in the C device's output: ${stderr}`);
  return Number(m[1]);
}

describe.skipIf(peerSkipReason !== null)('shared-memory bring-up in any connect order, with a C peer process', () => {
  let router: Router;
  let echo: EchoDevice;
  beforeAll(async () => {
    router = await Router.create({ shards: 1, timeoutMs: 10_000 });
    echo = await startEcho(router, [1, 2]);
  });
  afterAll(async () => {
    await echo?.stop();
    await router?.close();
  });

  it.each(cases)('$bus $size B, we build the window, the C driver connects $order: all frames answered in order', async ({ bus, order, size }) => {
    const p = freshPaths(`order-drv-${bus}-${order}`);
    const events: string[] = [];
    const opening = openBusLink(router, linkUri(bus, 'device', p, size, true), 'driver', { waitMs: 20_000, log: (l) => void events.push(l) });
    // A doorbell wait of 1 s: a wake-up lost at the switch from polling would show as work found after a timeout.
    const peer = startPeer([
      ...peerArgs(bus, 'driver', p, size, true), ...orderArgs(order),
      '--discover', '--dev', '2', '--count', String(COUNT), '--outstanding', '8', '--bell-timeout-ms', '1000',
    ]);
    const link = (await opening) as ShmBusLink;
    try {
      const out = await peer.done;
      expect(out.code, out.stderr + events.join('\n')).toBe(0);
      const res = JSON.parse(out.stdout.trim()) as Record<string, unknown>;
      expect(res).toMatchObject({ mode: 'req', sent: COUNT, received: COUNT, errors: 0, order_violations: 0, timeouts_with_work: 0 });
      expect(res.devices).toEqual(expect.arrayContaining([1, 2])); // GET_DEVICES answered, socket or not
      if (order === 'late') {
        const after = Number(/connected late, after (\d+) frames/.exec(out.stderr)?.[1]);
        expect(after).toBeGreaterThanOrEqual(LATE_AFTER);
        expect(after).toBeLessThan(COUNT); // the switch happened with traffic before and after it
      }
      if (order === 'never') expect(res.bells_heard).toBe(0);
      else expect(res.bells_heard as number).toBeGreaterThan(0); // the router rang the adopted socket
      await vi.waitFor(() => expect(link.doorbellState).toBe(expectedBell(order)), { timeout: 5000, interval: 10 });
    } finally {
      await link.close();
      peer.proc.kill('SIGKILL');
      await peer.done;
    }
    // A link we closed takes our window with it; one whose peer left first keeps the window for
    // the next peer (vmsg route rebuilds it in place), so the test removes that one itself.
    if ((await link.down).cause !== 'closed') rmSync(p.path, { force: true });
    expect(leftovers(p)).toEqual([]); // no window, no half-built window, no socket
  }, 60_000);

  it.each(cases)('$bus $size B, the C device side builds the window and takes the socket $order: its devices discovered, all frames answered in order', async ({ bus, order, size }) => {
    const p = freshPaths(`order-dev-${bus}-${order}`);
    const peer = startPeer([...peerArgs(bus, 'device', p, size, true), ...orderArgs(order), '--devices', '7,300', '--bell-timeout-ms', '1000']);
    let link: ShmBusLink | null = null;
    try {
      link = (await openBusLink(router, linkUri(bus, 'driver', p, size, true), 'device', { waitMs: 20_000 })) as ShmBusLink;
      expect([...link.devices].sort((a, b) => a - b)).toEqual([7, 300]);
      const drv = new EndpointPort(await router.attachDriver());
      const req = await driveRequests(drv, 300, COUNT, 8);
      expect(req, req.failures.join(' ')).toMatchObject({ sent: COUNT, answered: COUNT, failed: 0, orderViolations: 0, errors: [] });
      expect(await driveRequests(drv, 7, 1, 1)).toMatchObject({ answered: 1 });
      const avail = await driveRequests(drv, 7, 300, 4, { avail: true });
      expect(avail).toMatchObject({ sent: 300, answered: 300, orderViolations: 0, errors: [] });
      await router.detach(drv.link);
      const l = link;
      await vi.waitFor(() => expect(l.doorbellState).toBe(expectedBell(order)), { timeout: 5000, interval: 10 });
    } finally {
      await link?.close();
      // vmamp peers see our SHUTDOWN and leave by themselves
      if (bus === 'spsc' || link === null) peer.proc.kill('SIGTERM');
    }
    const out = await peer.done;
    if (order === 'late') expect(out.stderr).toMatch(/connected late, after \d+ frames/);
    if (order === 'never') expect(deviceCounter(out.stderr, 'heard')).toBe(0);
    else expect(deviceCounter(out.stderr, 'heard')).toBeGreaterThan(0);
    expect(deviceCounter(out.stderr, 'timeouts_with_work')).toBe(0);
    rmSync(p.path, { force: true }); // the C device side's window: the device side owns it
    expect(leftovers(p)).toEqual([]); // no socket, no half-built window left
  }, 60_000);

  it.each(BUSES)('%s: a C peer with a socket nobody connects to keeps polling, and so do we (no sock=), both roles', async (bus) => {
    // The C driver keeps trying to connect, the C device keeps listening: neither may wait on it.
    const pd = freshPaths(`order-poll-drv-${bus}`);
    const opening = openBusLink(router, linkUri(bus, 'device', pd, SIZE, false), 'driver', { waitMs: 20_000 });
    const driver = startPeer([...peerArgs(bus, 'driver', pd, SIZE, true), ...orderArgs('late').slice(0, 2), '--dev', '1', '--count', String(COUNT), '--outstanding', '8']);
    const dlink = (await opening) as ShmBusLink;
    try {
      const dout = await driver.done;
      expect(dout.code, dout.stderr).toBe(0);
      expect(JSON.parse(dout.stdout.trim())).toMatchObject({ sent: COUNT, received: COUNT, errors: 0, order_violations: 0, bells_heard: 0 });
      expect(dlink.doorbellState).toBe('none');
    } finally {
      await dlink.close();
      driver.proc.kill('SIGKILL');
    }
    expect(leftovers(pd)).toEqual([]);

    const pv = freshPaths(`order-poll-dev-${bus}`);
    const device = startPeer([...peerArgs(bus, 'device', pv, SIZE, true), '--sock-order', 'late', '--devices', '9']);
    const vlink = await openBusLink(router, linkUri(bus, 'driver', pv, SIZE, false), 'device', { waitMs: 20_000 });
    try {
      const drv = new EndpointPort(await router.attachDriver());
      const req = await driveRequests(drv, 9, COUNT, 8);
      expect(req, req.failures.join(' ')).toMatchObject({ sent: COUNT, answered: COUNT, failed: 0, orderViolations: 0, errors: [] });
      await router.detach(drv.link);
    } finally {
      await vlink.close();
      if (bus === 'spsc') device.proc.kill('SIGTERM');
    }
    await device.done;
    rmSync(pv.path, { force: true });
    expect(leftovers(pv)).toEqual([]); // the C device removed the socket it listened on
  }, 60_000);
});
