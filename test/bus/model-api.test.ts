// The `model` option of Router.attachDriver / attachDevice: the link the router hands out behaves
// like the modelled bus (no ModelLink by hand), detaches like any other link, and a bus that
// refuses a request at once (its queue full, EBUSY) ends it as one transport failure towards its
// driver, in the device's order — never a silent timeout. Devices run in real worker threads.
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { ModelLink } from '../../src/bus/model/model-link.js';
import { InprocChannel } from '../../src/bus/inproc-channel.js';
import { Reason } from '../../src/protocol/reasons.js';
import { startProbe, frame, statusReq, avail, withModel, GET_DEVICE_STATUS } from './model-helpers.js';
import { until } from '../helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  cleanup = [];
});

const u16 = (f: Uint8Array, at: number): number => f[at]! | (f[at + 1]! << 8);

type Outcome = { token: number; answered: true } | { token: number; failed: number };

/** The driver's next `n` outcomes (answers and transport failures, in arrival order). */
async function outcomes(ch: InprocChannel, n: number, ms = 10_000): Promise<Outcome[]> {
  const got: Outcome[] = [];
  const end = Date.now() + ms;
  while (got.length < n && Date.now() < end) {
    const f = ch.recv();
    if (f === null) { await ch.wait(50); continue; }
    if ((f[0]! & 1) === 1) got.push({ token: u16(f, 4), answered: true });
    else if (f[0] === 2 && f[1] === 0xc1) got.push({ token: u16(f, 12), failed: f[11]! });
  }
  return got;
}

async function router(timeoutMs = 20_000): Promise<Router> {
  const r = await Router.create({ shards: 1, timeoutMs });
  cleanup.push(() => r.close());
  return r;
}

describe('Router.attachDevice / attachDriver with a bus model', () => {
  it('attachDevice({ model: "vmamp-pci" }): one request in flight per device, token 1 at the device, the driver\'s own tokens back in order', async () => {
    const r = await router();
    const link = await r.attachDevice({ devices: [1], model: 'vmamp-pci' });
    expect(link.maxMessageSize).toBe(64);
    const probe = startProbe(link, 'hold');
    cleanup.push(() => probe.stop());
    const ch = await InprocChannel.attach(r);
    cleanup.push(() => ch.close());
    for (let t = 0; t < 5; t++) ch.send(statusReq(1, 0x300 + t));
    ch.flush();
    await until(() => probe.seen().length === 1, 'the first request at the device', 5000);
    // The bus keeps the other four: nothing more reaches the device while one is open.
    await new Promise((res) => setTimeout(res, 100));
    expect(probe.seen()).toHaveLength(1);
    expect(probe.seen()[0]).toMatchObject({ msgId: GET_DEVICE_STATUS, token: 1 });
    probe.release();
    expect(await outcomes(ch, 5)).toEqual([0x300, 0x301, 0x302, 0x303, 0x304].map((token) => ({ token, answered: true })));
    expect(probe.seen().map((s) => s.token)).toEqual([1, 1, 1, 1, 1]);
  });

  it('a model file path: its slots and frame size apply; a bad model is refused before anything is attached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-model-api-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const doc = JSON.parse(readFileSync(new URL('../../models/openamp-st.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const file = join(dir, 'tiny.json');
    writeFileSync(file, JSON.stringify({ ...doc, name: 'tiny', maxFrame: 32 }));
    const r = await router();
    const drv = await r.attachDriver({ model: file });
    expect(drv.maxMessageSize).toBe(32);
    const before = r.stats().endpoints.length;
    await expect(r.attachDevice({ devices: [2], model: 'no-such-bus' })).rejects.toThrow(/unknown bus model "no-such-bus"/);
    await expect(r.attachDriver({ model: join(dir, 'missing.json') })).rejects.toThrow(/does not exist/);
    expect(r.stats().endpoints.length).toBe(before);
    expect(r.hasDevice(2)).toBe(false);
  });

  it('attachDriver({ model: "spsc-v1" }): bus answers reach the driver with token 0', async () => {
    const r = await router();
    const ch = await InprocChannel.attach(r, { model: 'spsc-v1' });
    cleanup.push(() => ch.close());
    ch.send(frame(2, 0x03, 0, 0x77, [1, 2, 3, 4])); // bus PING
    ch.flush();
    const [pong] = await outcomes(ch, 1);
    expect(pong).toEqual({ token: 0, answered: true });
  });

  it('detach of a modelled device link: its requests still open fail DEVICE_REMOVED in order, and the link can be attached again', async () => {
    const r = await router();
    const link = await r.attachDevice({ devices: [1], model: 'vmamp-pci' });
    const probe = startProbe(link, 'hold');
    cleanup.push(() => probe.stop());
    const ch = await InprocChannel.attach(r);
    cleanup.push(() => ch.close());
    for (let t = 0; t < 3; t++) ch.send(statusReq(1, 0x10 + t));
    ch.flush();
    await until(() => probe.seen().length === 1, 'the first request at the device', 5000);
    await r.detach(link);
    expect(r.hasDevice(1)).toBe(false);
    expect(await outcomes(ch, 3)).toEqual([0x10, 0x11, 0x12].map((token) => ({ token, failed: Reason.DEVICE_REMOVED })));
    await probe.stop();
    const again = await r.attachDevice({ devices: [1], model: 'vmamp-pci' });
    const probe2 = startProbe(again, 'answer');
    cleanup.push(() => probe2.stop());
    ch.send(statusReq(1, 0x20));
    ch.flush();
    expect(await outcomes(ch, 1)).toEqual([{ token: 0x20, answered: true }]);
  });
});

describe('a bus that refuses a request at once (queue full, EBUSY)', () => {
  it('ffa-direct: the call slot is busy, the sender retries 3 times, then EBUSY: the request fails BUS_QUEUE_FULL at once, not after the router\'s timeout', async () => {
    const r = await router(20_000);
    const bus = await ModelLink.attachDevice(r, { devices: [1], model: 'ffa-direct' });
    cleanup.push(() => bus.close());
    const probe = startProbe(bus.link, 'noread');
    cleanup.push(() => probe.stop());
    const ch = await InprocChannel.attach(r);
    cleanup.push(() => ch.close());
    ch.send(avail(1, 0)); // takes the one call slot: the device does not read
    ch.send(statusReq(1, 0x42));
    ch.flush();
    const t0 = performance.now();
    expect(await outcomes(ch, 1, 5000)).toEqual([{ token: 0x42, failed: Reason.BUS_QUEUE_FULL }]);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(bus.counters()).toMatchObject({ queueFull: 1, retries: 3, sendFailures: 1, reported: 1, inFlightNow: 0 });
    // The device gets the event only; the refused request never reached it, and the bus works on.
    probe.release();
    await until(() => probe.seen().length === 1, 'the event at the device', 5000);
    ch.send(statusReq(1, 0x43));
    ch.flush();
    expect(await outcomes(ch, 1)).toEqual([{ token: 0x43, answered: true }]);
    expect(probe.seen().map((s) => s.msgId)).toEqual([0x41, GET_DEVICE_STATUS]);
  });

  it('refusals keep the device\'s order: requests refused behind one the device holds end after its answer', async () => {
    const r = await router(20_000);
    // ffa-direct's slot and EBUSY, with room in the window for several calls.
    const bus = await ModelLink.attachDevice(r, { devices: [1], model: withModel('ffa-direct', (m) => { m.outstanding.limit = 4; }) });
    cleanup.push(() => bus.close());
    const probe = startProbe(bus.link, 'noread');
    cleanup.push(() => probe.stop());
    const ch = await InprocChannel.attach(r);
    cleanup.push(() => ch.close());
    for (const t of [0x51, 0x52, 0x53]) ch.send(statusReq(1, t));
    ch.flush();
    // 0x51 sits in the slot; 0x52 and 0x53 are refused (EBUSY) while the device holds it.
    await until(() => bus.counters().reported === 2, 'two refusals', 5000);
    expect(await outcomes(ch, 1, 200)).toEqual([]); // held by the router behind 0x51
    probe.release();
    expect(await outcomes(ch, 3)).toEqual([
      { token: 0x51, answered: true }, { token: 0x52, failed: Reason.BUS_QUEUE_FULL }, { token: 0x53, failed: Reason.BUS_QUEUE_FULL },
    ]);
    expect(r.stats().devices.find((d) => d.dev === 1)).toMatchObject({ requests: 3, responses: 1, failed: 2, timeouts: 0 });
  });

  it('the model\'s response timeout ends the request as a transport failure (TIMEOUT), before the router\'s own', async () => {
    const r = await router(20_000);
    const bus = await ModelLink.attachDevice(r, { devices: [1], model: withModel('vmamp-pci', (m) => { m.timeouts.responseMs = 300; }) });
    cleanup.push(() => bus.close());
    const probe = startProbe(bus.link, 'hold');
    cleanup.push(() => probe.stop());
    const ch = await InprocChannel.attach(r);
    cleanup.push(() => ch.close());
    ch.send(statusReq(1, 0x61));
    ch.send(statusReq(1, 0x62));
    ch.flush();
    expect(await outcomes(ch, 2, 10_000)).toEqual([{ token: 0x61, failed: Reason.TIMEOUT }, { token: 0x62, failed: Reason.TIMEOUT }]);
    expect(bus.counters()).toMatchObject({ timeouts: 2, reported: 2 });
  });
});
