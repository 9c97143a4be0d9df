// Bus models enforced at a link (src/bus/model/): a device or driver on a modelled link sees
// what the real bus would give it — the window of outstanding requests, the tokens, the slots
// and the sender's full-queue policy with its timings, the frame size limit — observed through
// the API with the endpoints in real worker threads.
import { describe, it, expect, afterEach } from 'vitest';
import { Router } from '../../src/router/router.js';
import { ModelLink } from '../../src/bus/model/model-link.js';
import { InprocChannel } from '../../src/bus/inproc-channel.js';
import type { BusModel } from '../../src/model/bus-model.js';
import { startProbe, frame, statusReq, avail, answers, withModel, GET_DEVICE_STATUS, EVENT_AVAIL } from './model-helpers.js';
import { until } from '../helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  cleanup = [];
});

async function setup(model: string | BusModel, devices: number[], mode: 'answer' | 'hold' | 'noread') {
  const router = await Router.create({ shards: 1, timeoutMs: 20_000 });
  cleanup.push(() => router.close());
  const dev = await ModelLink.attachDevice(router, { devices, model });
  cleanup.push(() => dev.close());
  const probe = startProbe(dev.link, mode);
  cleanup.push(() => probe.stop());
  const ch = await InprocChannel.attach(router);
  cleanup.push(() => ch.close());
  return { router, dev, probe, ch };
}

describe('bus models at a device link', () => {
  it('vmamp-pci: one request in flight per device, token 1 toward the device, the driver gets its own tokens back', async () => {
    const { dev, probe, ch } = await setup('vmamp-pci', [1], 'hold');
    for (let t = 0; t < 8; t++) expect(ch.send(statusReq(1, 0x100 + t))).toBe(true);
    ch.flush();
    await until(() => dev.counters().windowHeld === 7 && probe.seen().length === 1, 'the window to hold 7 requests', 5000);
    expect(probe.seen()[0]).toMatchObject({ msgId: GET_DEVICE_STATUS, dev: 1, token: 1 });
    probe.release();
    const got = await answers(ch, 8);
    expect(got.map((f) => f[4]! | (f[5]! << 8))).toEqual([0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107]);
    expect(probe.seen().map((s) => s.token)).toEqual(new Array(8).fill(1));
    expect(dev.counters()).toMatchObject({ requests: 8, responses: 8, inFlightMax: 1, heldNow: 0, tooLarge: 0 });
  });

  it('ffa-fifo: a per-endpoint table lets every request through, tokens count from 2 across devices', async () => {
    const { dev, probe, ch } = await setup('ffa-fifo', [1, 2], 'hold');
    for (let t = 0; t < 6; t++) ch.send(statusReq(1 + (t & 1), 0x200 + t));
    ch.flush();
    await until(() => probe.seen().length === 6, 'all 6 requests at the device', 5000);
    expect(probe.seen().map((s) => s.token)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(dev.counters().windowHeld).toBe(0);
    probe.release();
    const got = await answers(ch, 6);
    expect(got.map((f) => f[4]! | (f[5]! << 8)).sort()).toEqual([0x200, 0x201, 0x202, 0x203, 0x204, 0x205]);
    expect(dev.counters()).toMatchObject({ requests: 6, responses: 6, inFlightMax: 6, unknownToken: 0 });
  });

  it('ffa-direct: one synchronous call per endpoint, the counter from 2 across devices', async () => {
    const { dev, probe, ch } = await setup('ffa-direct', [1, 2], 'hold');
    ch.send(statusReq(1, 0x21));
    ch.send(statusReq(2, 0x22));
    ch.flush();
    await until(() => dev.counters().windowHeld === 1 && probe.seen().length === 1, 'the second call to wait for the first', 5000);
    probe.release();
    const got = await answers(ch, 2);
    expect(got.map((f) => [f[2], f[4]])).toEqual([[1, 0x21], [2, 0x22]]);
    expect(probe.seen().map((s) => [s.dev, s.token])).toEqual([[1, 2], [2, 3]]);
    expect(dev.counters().inFlightMax).toBe(1);
  });

  it('openamp-st: one request in flight for the whole bus, token 0 (none) toward the device', async () => {
    const { dev, probe, ch } = await setup('openamp-st', [1, 2], 'hold');
    ch.send(statusReq(1, 0x31));
    ch.send(statusReq(2, 0x32));
    ch.flush();
    await until(() => dev.counters().windowHeld === 1 && probe.seen().length === 1, 'the bus window to hold the second device\'s request', 5000);
    expect(probe.seen()[0]).toMatchObject({ dev: 1, token: 0 });
    probe.release();
    const got = await answers(ch, 2);
    expect(got.map((f) => [f[2], f[4]])).toEqual([[1, 0x31], [2, 0x32]]);
    expect(dev.counters().inFlightMax).toBe(1);
  });

  it('sram-496: two slots toward the device, then the kernel\'s policy: a retry every 10 ms, counted as a stall, nothing lost', async () => {
    const { dev, probe, ch } = await setup('sram-496', [1], 'noread');
    const t0 = performance.now();
    for (let q = 0; q < 6; q++) ch.send(avail(1, q));
    ch.flush();
    await until(() => dev.counters().retries >= 3, 'three retries', 5000);
    const elapsed = performance.now() - t0;
    const c = dev.counters();
    expect(c.queueFull).toBe(1);
    // Never faster than the model's 10 ms between tries.
    expect(c.retries).toBeLessThanOrEqual(Math.floor(elapsed / 10) + 1);
    probe.release();
    await until(() => probe.seen().length === 6, 'all six events at the device', 5000);
    expect(probe.seen().map((s) => s.msgId)).toEqual(new Array(6).fill(EVENT_AVAIL));
    const after = dev.counters();
    expect(after.stallUs).toBeGreaterThanOrEqual(30_000);
    expect(after.sendFailures).toBe(0);
  });

  it('openamp-st: a full queue fails the send at once (EBUSY), counted', async () => {
    const { dev, probe, ch } = await setup('openamp-st', [1], 'noread');
    for (let q = 0; q < 5; q++) ch.send(avail(1, q));
    ch.flush();
    await until(() => dev.counters().sendFailures === 2, 'two failed sends', 5000);
    probe.release();
    await until(() => probe.seen().length === 3, 'the three that fit', 5000);
    expect(dev.counters()).toMatchObject({ queueFull: 2, sendFailures: 2 });
  });

  it('a device answer larger than the model\'s frame cannot be sent: the link refuses it', async () => {
    const router = await Router.create({ shards: 1 });
    cleanup.push(() => router.close());
    const dev = await ModelLink.attachDevice(router, { devices: [1], model: 'openamp-st' });
    cleanup.push(() => dev.close());
    expect(dev.link.maxMessageSize).toBe(40);
    expect(dev.routerLink.maxMessageSize).toBe(40);
    const { EndpointPort } = await import('../../src/endpoint/port.js');
    const port = new EndpointPort(dev.link);
    expect(() => port.send(frame(1, 0x09, 1, 1, new Array(40).fill(0)))).toThrow(/exceeds this link's maximum of 40/);
    // A driver's request larger than the bus carries never reaches the device: a transport failure at once.
    const ch = await InprocChannel.attach(router);
    cleanup.push(() => ch.close());
    ch.send(frame(0, 0x0a, 1, 0x66, new Array(40).fill(0))); // SET_VQUEUE, 48 bytes
    ch.flush();
    let failure: Uint8Array | null = null;
    for (let i = 0; i < 100 && failure === null; i++) {
      const f = ch.recv();
      if (f === null) await ch.wait(50);
      else if (f[0] === 2 && f[1] === 0xc1) failure = f;
    }
    expect(failure).not.toBeNull();
    expect([failure![8], failure![10], failure![11], failure![12]]).toEqual([1, 0x0a, 4, 0x66]); // dev 1, SET_VQUEUE, MSG_SIZE_GT_BUS_MAX, driver token
  });
});

describe('bus models at a driver link', () => {
  it('vmamp-pci: the driver\'s requests to one device cross one at a time; all answered in order', async () => {
    const router = await Router.create({ shards: 1, timeoutMs: 20_000 });
    cleanup.push(() => router.close());
    const devLink = await router.attachDevice({ devices: [1] });
    const probe = startProbe(devLink, 'answer');
    cleanup.push(() => probe.stop());
    const drv = await ModelLink.attachDriver(router, { model: 'vmamp-pci' });
    cleanup.push(() => drv.close());
    const ch = new InprocChannel(drv.link);
    for (let t = 0; t < 10; t++) expect(ch.send(statusReq(1, 0x40 + t))).toBe(true);
    ch.flush();
    const got = await answers(ch, 10);
    expect(got.map((f) => f[4])).toEqual([0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49]);
    const c = drv.counters();
    expect(c.inFlightMax).toBe(1);
    expect(c.windowHeld).toBeGreaterThan(0);
    expect(c.responses).toBe(10);
  });

  it('spsc-v1: bus answers reach the driver with token 0, as QEMU sends them', async () => {
    const router = await Router.create({ shards: 1 });
    cleanup.push(() => router.close());
    const drv = await ModelLink.attachDriver(router, { model: 'spsc-v1' });
    cleanup.push(() => drv.close());
    const ch = new InprocChannel(drv.link);
    ch.send(frame(2, 0x03, 0, 0x77, [1, 2, 3, 4])); // bus PING
    ch.flush();
    const [pong] = await answers(ch, 1);
    expect(pong![1]).toBe(0x03);
    expect(pong![4] | (pong![5]! << 8)).toBe(0);
  });

  it('slots: the driver\'s send fails once the model\'s queue is full and nothing drains it', async () => {
    const router = await Router.create({ shards: 1 });
    cleanup.push(() => router.close());
    // Notifications of a second each: nothing leaves the driver's ring within the test.
    const drv = await ModelLink.attachDriver(router, { model: withModel('sram-496', (m) => { m.notify.toDeviceUs = 1e6; }) });
    cleanup.push(() => drv.close());
    const ch = new InprocChannel(drv.link);
    expect([ch.send(avail(1, 0)), ch.send(avail(1, 1)), ch.send(avail(1, 2))]).toEqual([true, true, false]);
  });
});
