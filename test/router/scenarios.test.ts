// The router scenarios of test/fixtures/wire-vectors.json and the bus rules of docs/PROTOCOL.md §7,
// end to end: real shard worker threads routing between endpoint ports over shared memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { injectShardCrash, waitRestarts } from '../../src/router/test-hooks.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { vector, hex, sendAll, receive, silence, failureEvent, startDeviceWorker } from './helpers.js';

const R = { TIMEOUT: 40, DEVICE_REMOVED: 38, UNVALIDATED_DEV_NUM: 10, POLICY_DENIED: 39 };

describe('router scenarios (one shard)', () => {
  let router: Router;
  beforeAll(async () => {
    // Long enough that a loaded 2-core machine never turns a slow answer into a timeout.
    router = await Router.create({ shards: 1, timeoutMs: 1000, spinBeforeSleep: 50 });
  });
  afterAll(async () => {
    await router.close();
  });

  async function pair(devices: number[]): Promise<{ drv: EndpointPort; dev: EndpointPort }> {
    const drv = new EndpointPort(await router.attachDriver());
    const dev = new EndpointPort(await router.attachDevice({ devices }));
    await silence(drv, 20); // EVENT_DEVICE READY for the new devices
    return { drv, dev };
  }

  it('bus_assigns_tokens: router stamps its own tokens and restores the driver token in responses', async () => {
    const { drv, dev } = await pair([1]);
    sendAll(drv, '0007010000000800', '0007010000000800');
    expect(await receive(dev, 2)).toEqual(['0007010001000800', '0007010002000800']);
    sendAll(dev, '0107010001000c000f000000', '0107010002000c000f000000');
    expect(await receive(drv, 2)).toEqual(['0107010000000c000f000000', '0107010000000c000f000000']);
  });

  it('per_device_response_order: responses reach the driver in forwarding order even when the device answers out of order', async () => {
    const { drv, dev } = await pair([2]);
    const req1 = hex(vector('t_get_device_status_req')).replace(/^(....)0100/, '$10200');
    const req2 = hex(vector('t_get_vqueue_req')).replace(/^(....)0100/, '$10200');
    sendAll(drv, req1, req2);
    const fwd = await receive(dev, 2);
    expect(fwd.map((f) => f.slice(0, 4))).toEqual(['0007', '0009']); // same order, dev_num unchanged
    // Device answers the second request first.
    const tok = (f: string): string => f.slice(8, 12);
    sendAll(dev, `01090200${tok(fwd[1]!)}30000000000000010000` + '00'.repeat(32), `01070200${tok(fwd[0]!)}0c000f000000`);
    const got = await receive(drv, 2);
    expect(got.map((f) => f.slice(0, 4))).toEqual(['0107', '0109']);
    expect(got.map((f) => f.slice(8, 12))).toEqual(['0600', '0900']); // the driver's own tokens
    expect(router.stats().devices.find((d) => d.dev === 2)!.held).toBe(1);
  });

  it('no_response_timeout: a request the device never answers ends in one transport failure; the late response is dropped', async () => {
    const { drv, dev } = await pair([3]);
    const bad = vector('bad_get_vqueue_req_no_payload'); // forwarded: payload is opaque to the router
    bad[2] = 3;
    sendAll(drv, bad);
    const [fwd] = await receive(dev, 1);
    expect(fwd!.slice(0, 8)).toBe('00090300');
    const got = await receive(drv, 1);
    expect(got).toEqual([failureEvent(3, 0x09, R.TIMEOUT, 0x40)]);
    // Late response: dropped and counted, nothing reaches the driver.
    sendAll(dev, `01090300${fwd!.slice(8, 12)}30000000000000010000` + '00'.repeat(32));
    expect(await silence(drv, 100)).toEqual([]);
    const st = router.stats();
    expect(st.totals.dropsByReason.LATE_RESPONSE).toBe(1);
    expect(st.devices.find((d) => d.dev === 3)!.timeouts).toBe(1);
    // The per-device FIFO is consistent afterwards: the next request is answered normally.
    sendAll(drv, '0007030011000800');
    const [next] = await receive(dev, 1);
    sendAll(dev, `01070300${next!.slice(8, 12)}0c000f000000`);
    expect(await receive(drv, 1)).toEqual(['0107030011000c000f000000']);
  });

  it('events_never_answered: events are forwarded, unknown and response-typed events dropped, nothing goes back', async () => {
    const { drv, dev } = await pair([4]);
    sendAll(drv, '0007040001000800'); // binds the device's events to this driver
    const [fwd] = await receive(dev, 1);
    sendAll(dev, `01070400${fwd!.slice(8, 12)}0c000f000000`);
    await receive(drv, 1);
    sendAll(dev, '0042040000000c0003000000', '0043040000000c0003000000', '0142040000000c0000000000');
    expect(await receive(drv, 1)).toEqual(['0042040000000c0003000000']);
    expect(await silence(drv, 50)).toEqual([]);
    expect(await silence(dev, 10)).toEqual([]);
    const drops = router.stats().endpoints.find((e) => e.id === dev.link.id)!.drops;
    expect(drops).toMatchObject({ UNSUPPORTED_MSG_ID: 1, RESPONSE_TO_EVENT: 1 });
  });

  it('ping_echo: the router answers PING from either side with the same data and token', async () => {
    const { drv, dev } = await pair([6]);
    sendAll(drv, vector('b_ping_req'));
    expect(await receive(drv, 1)).toEqual([hex(vector('b_ping_resp'))]);
    sendAll(dev, vector('b_ping_req'));
    expect(await receive(dev, 1)).toEqual([hex(vector('b_ping_resp'))]);
  });

  it('hotplug_add_remove: READY validates the device, REMOVED fails what is in flight and stops forwarding', async () => {
    const drv = new EndpointPort(await router.attachDriver());
    await silence(drv, 20);
    const devLink = await router.attachDevice({ devices: [5] });
    const dev = new EndpointPort(devLink);
    expect(await receive(drv, 1)).toEqual(['0240000000000c0005000100']); // EVENT_DEVICE READY
    sendAll(drv, '0002050050000800');
    expect(await receive(dev, 1)).toEqual(['0002050001000800']);
    await router.removeDevice(5);
    expect(await receive(drv, 2)).toEqual([failureEvent(5, 0x02, R.DEVICE_REMOVED, 0x50), hex(vector('b_event_device_removed'))]);
    sendAll(drv, '0007050051000800'); // unvalidated now: not forwarded, no fake response
    expect(await receive(drv, 1)).toEqual([failureEvent(5, 0x07, R.UNVALIDATED_DEV_NUM, 0x51)]);
    expect(await silence(dev, 50)).toEqual([]);
    // Back again: probed normally.
    await router.addDevice(devLink, 5);
    expect(await receive(drv, 1)).toEqual(['0240000000000c0005000100']);
    // Its token sequence goes on where it stopped, so the old device's late answer (router
    // token 1) cannot pass for the answer to the new request (router token 2).
    sendAll(drv, '0007050052000800');
    expect(await receive(dev, 1)).toEqual(['0007050002000800']);
    sendAll(dev, '0102050001000c0000000000', '0107050002000c000f000000');
    expect(await receive(drv, 1)).toEqual(['0107050052000c000f000000']);
    expect(await silence(drv, 50)).toEqual([]);
  });

  it('get_devices_walk: windows aligned to 8, bitmap LSB first, next_offset skips empty windows', async () => {
    const drv = new EndpointPort(await router.attachDriver({ allow: [0, 2, 5, 191] }));
    const dev = new EndpointPort(await router.attachDevice({ devices: [0, 191] }));
    void dev;
    await silence(drv, 20);
    // Devices 2 and 5 exist from earlier tests; the allow-list hides every other device.
    sendAll(drv, '0202000060000c0000004000');
    expect(await receive(drv, 1)).toEqual(['03020000600016000000400080002500000000000000']);
    sendAll(drv, '0202000061000c0080004000');
    expect(await receive(drv, 1)).toEqual(['03020000610016008000400000000000000000000080']);
    // Misaligned windows are dropped (the responder enforces multiples of 8; there is no error reply).
    sendAll(drv, vector('bad_get_devices_count_not_mult8'), vector('bad_get_devices_offset_not_mult8'));
    expect(await silence(drv, 50)).toEqual([]);
    // The largest window a 264-byte link carries is 2000 devices.
    sendAll(drv, '0202000062000c000000ffff'.replace('ffff', 'f8ff'));
    const [big] = await receive(drv, 1);
    expect(big!.length / 2).toBe(14 + 250);
    expect(big!.slice(20, 24)).toBe('d007');
  });

  it('rule 14: a transport message for a device number never validated is not forwarded', async () => {
    const { drv, dev } = await pair([7]);
    sendAll(drv, '0007090021000800', '0041090000001000' + '00'.repeat(8));
    expect(await receive(drv, 1)).toEqual([failureEvent(9, 0x07, R.UNVALIDATED_DEV_NUM, 0x21)]);
    expect(await silence(dev, 30)).toEqual([]);
  });

  it('rules 5, 11, 19: malformed headers and unsupported ids are dropped silently and counted', async () => {
    const { drv, dev } = await pair([8]);
    sendAll(
      drv,
      '0007080030000400', // msg_size < 8
      vector('bad_bus_msg_dev_num_nonzero'),
      '0001080035000800', // reserved id 0x01
      '000e080036000800', // unknown standard id
      '0042080000000c0000000000', // EVENT_USED from the driver side
      '0107080000000c0000000000', // a transport response from a driver
    );
    expect(await silence(drv, 50)).toEqual([]);
    expect(await silence(dev, 10)).toEqual([]);
    const e = router.stats().endpoints.find((x) => x.id === drv.link.id)!;
    expect(e.drops).toEqual({ MSG_SIZE_LT_HEADER: 1, BUS_DEV_NUM_NONZERO: 1, UNSUPPORTED_MSG_ID: 2, WRONG_DIRECTION: 2 });
    // A frame larger than the link's maximum never leaves the port.
    expect(() => drv.send(new Uint8Array(300).fill(0).map((_, i) => (i === 6 ? 0x2c : i === 7 ? 1 : 0)))).toThrow(/msg_size/);
  });

  it('reserved type bits of transport messages are ignored and passed through unchanged', async () => {
    const { drv, dev } = await pair([10]);
    sendAll(drv, '84070a0010000800');
    expect(await receive(dev, 1)).toEqual(['84070a0001000800']);
  });

  it('devices cannot speak for device numbers they do not serve; duplicate responses are dropped', async () => {
    const { drv, dev } = await pair([11]);
    const other = new EndpointPort(await router.attachDevice({ devices: [12] }));
    expect(await receive(drv, 1)).toEqual(['0240000000000c000c000100']);
    sendAll(drv, '00070b0042000800');
    const [fwd] = await receive(dev, 1);
    const resp = `01070b00${fwd!.slice(8, 12)}0c000f000000`;
    sendAll(other, resp); // spoofed
    sendAll(dev, resp, resp); // the second is a duplicate
    expect(await receive(drv, 1)).toEqual(['01070b0042000c000f000000']);
    expect(await silence(drv, 50)).toEqual([]);
    const st = router.stats();
    expect(st.endpoints.find((e) => e.id === other.link.id)!.drops).toEqual({ SPOOFED_DEV_NUM: 1 });
    expect(st.endpoints.find((e) => e.id === dev.link.id)!.drops).toEqual({ DUPLICATE_RESPONSE: 1 });
  });

  it('EVENT_AVAIL reaches the device with token 0 and the EVENT_USED comes back to the driver (device in a worker thread)', async () => {
    const drv = new EndpointPort(await router.attachDriver());
    const devLink = await router.attachDevice({ devices: [13] });
    await silence(drv, 20);
    const worker = startDeviceWorker(devLink, 'echo');
    sendAll(drv, '00070d0001000800', '00410d0077001000' + '0200000000000000');
    const got = await receive(drv, 2);
    expect(got).toEqual(['01070d0001000c0001000000', '00420d0000000c0002000000']);
    expect(await worker.stop()).toEqual({ requests: 1, events: 1, answered: 1 });
  });

  it('allow-lists make other devices invisible and unusable', async () => {
    const { dev } = await pair([14]);
    const drv = new EndpointPort(await router.attachDriver({ allow: [15] }));
    sendAll(drv, '00070e0001000800');
    expect(await receive(drv, 1)).toEqual([failureEvent(14, 7, R.POLICY_DENIED, 1)]);
    expect(await silence(dev, 20)).toEqual([]);
  });
});

describe('router across shards', () => {
  it('a driver on one shard reaches a device on the other; order and tokens hold', async () => {
    // A generous timeout: on a loaded machine the device worker can take over a second to start.
    const router = await Router.create({ shards: 2, spinBeforeSleep: 50, timeoutMs: 20_000 });
    try {
      const drv = new EndpointPort(await router.attachDriver({ shard: 0 }));
      const devLink = await router.attachDevice({ devices: [1], shard: 1 });
      expect(await receive(drv, 1)).toEqual(['0240000000000c0001000100']);
      const worker = startDeviceWorker(devLink, 'reverse', 4);
      const frames: string[] = [];
      for (let t = 1; t <= 8; t++) frames.push(`00070100${t.toString(16).padStart(2, '0')}000800`);
      sendAll(drv, ...frames);
      const got = await receive(drv, 8);
      expect(got.map((f) => f.slice(8, 10))).toEqual(['01', '02', '03', '04', '05', '06', '07', '08']);
      expect(router.stats().shards[0]!.crossShardSent).toBeGreaterThanOrEqual(8);
      await worker.stop();
    } finally {
      await router.close();
    }
  });
});

describe('router queues per device', () => {
  it('EVENT_AVAIL queued behind a busy device merges with one already queued for the same virtqueue', async () => {
    const router = await Router.create({ shards: 1, window: 1, parkLimit: 4, spinBeforeSleep: 50 });
    try {
      const drv = new EndpointPort(await router.attachDriver());
      const dev = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await silence(drv, 20);
      const avail = (vq: number, next: number): string =>
        `0041010000001000${vq.toString(16).padStart(2, '0')}000000${next.toString(16).padStart(2, '0')}000000`;
      // Window 1: the second request parks, so the events queue behind it.
      sendAll(drv, '0007010001000800', '0007010002000800', avail(0, 1), avail(1, 1), avail(0, 2), avail(0, 3));
      const [first] = await receive(dev, 1);
      expect(await silence(dev, 30)).toEqual([]);
      sendAll(dev, `01070100${first!.slice(8, 12)}0c000f000000`);
      expect(await receive(drv, 1)).toEqual(['0107010001000c000f000000']);
      // The parked request goes out, then one EVENT_AVAIL per virtqueue, the newest next_offset kept.
      expect(await receive(dev, 3)).toEqual(['0007010002000800', avail(0, 3), avail(1, 1)]);
      expect(router.stats().devices[0]!.coalesced).toBe(2);
    } finally {
      await router.close();
    }
  });
});

describe('router faults', () => {
  it('a crashed shard worker is restarted; its in-flight requests fail (SHARD_RESTARTED) and routing goes on', async () => {
    const router = await Router.create({ shards: 1, spinBeforeSleep: 50 });
    try {
      const drv = new EndpointPort(await router.attachDriver());
      const dev = new EndpointPort(await router.attachDevice({ devices: [1] }));
      await silence(drv, 20);
      sendAll(drv, '0007010031000800');
      const [fwd] = await receive(dev, 1);
      await injectShardCrash(router, 0);
      await waitRestarts(router, 1);
      expect(await receive(drv, 1)).toEqual([failureEvent(1, 7, 44, 0x31)]);
      // The answer to the failed request is now late; a new request goes through.
      sendAll(dev, `01070100${fwd!.slice(8, 12)}0c000f000000`);
      sendAll(drv, '0007010032000800');
      const [fwd2] = await receive(dev, 1);
      sendAll(dev, `01070100${fwd2!.slice(8, 12)}0c000f000000`);
      expect(await receive(drv, 1)).toEqual(['0107010032000c000f000000']);
      expect(router.stats().totals.dropsByReason.LATE_RESPONSE).toBe(1);
    } finally {
      await router.close();
    }
  });

  it('close() drains: requests in flight are answered, those never answered fail with ROUTER_CLOSED', async () => {
    const router = await Router.create({ shards: 1, spinBeforeSleep: 50, timeoutMs: 1000 });
    const drv = new EndpointPort(await router.attachDriver());
    const echoLink = await router.attachDevice({ devices: [1] });
    const silentDev = new EndpointPort(await router.attachDevice({ devices: [2] }));
    await silence(drv, 20);
    const worker = startDeviceWorker(echoLink, 'echo');
    // The echo worker answers before the router closes (a thread can take over a second to
    // start on a loaded machine, longer than the drain).
    sendAll(drv, '00070100c8000800');
    expect(await receive(drv, 1, 20_000)).toHaveLength(1);
    for (let t = 1; t <= 100; t++) drv.send(Uint8Array.from([0, 7, 1 + (t % 2), 0, t, 0, 8, 0]));
    drv.flush();
    await router.close();
    await worker.stop();
    const got: string[] = [];
    for (let f = drv.recv(); f; f = drv.recv()) got.push(hex(f));
    const responses = got.filter((f) => f.startsWith('0107'));
    const failures = got.filter((f) => f.startsWith('02c1'));
    expect(responses.length).toBe(50); // device 1 answered all of its 50
    expect(failures.length).toBe(50); // device 2 never answers: each of its 50 ends in one failure
    expect(failures.every((f) => f.slice(22, 24) === '28' || f.slice(22, 24) === '2f')).toBe(true); // TIMEOUT or ROUTER_CLOSED
    void silentDev;
  });
});
