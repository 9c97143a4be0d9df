// Busy-poll mode (spinBeforeSleep BUSY_POLL_SPINS): the shard and the ports mark their doorbell
// DOORBELL_BUSY_POLL so rings into them may publish with plain stores (src/wait/fence.ts), never
// sleep, and a port made later without it leaves the state so it can sleep again.
import { afterEach, describe, expect, test } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { DOORBELL_AWAKE, DOORBELL_BUSY_POLL } from '../../src/wait/doorbell.js';
import { BUSY_POLL_SPINS } from '../../src/wait/idle-strategy.js';
import { publishMode } from '../../src/wait/fence.js';
import { bytes, hex } from './helpers.js';

let router: Router | undefined;
afterEach(async () => {
  await router?.close();
  router = undefined;
});

const relaxed = publishMode() === 'relaxed';

describe('busy-poll doorbells', () => {
  test('a busy-polling router and ports route 2000 requests with no sleep; a later port can sleep again', async () => {
    router = await Router.create({ shards: 1, spinBeforeSleep: BUSY_POLL_SPINS });
    const dev = await router.attachDevice({ devices: [5] });
    const drvLink = await router.attachDriver();
    const drv = new EndpointPort(drvLink, { spinBeforeSleep: BUSY_POLL_SPINS });
    const devPort = new EndpointPort(dev, { spinBeforeSleep: BUSY_POLL_SPINS });
    const i32 = new Int32Array(drvLink.memory.buffer);
    const expected = relaxed ? DOORBELL_BUSY_POLL : DOORBELL_AWAKE;
    expect(Atomics.load(i32, drvLink.bell >>> 2)).toBe(expected);
    expect(Atomics.load(i32, dev.bell >>> 2)).toBe(expected);
    for (let i = 0; i < 2000; i++) {
      const token = (i % 0xfffe) + 1;
      // GET_DEVICE_STATUS (0x07) to device 5, the driver's token; the device answers status 0x0f.
      expect(drv.send(bytes(`00070500${hex(new Uint8Array([token & 0xff, token >> 8]))}0800`))).toBe(true);
      drv.flush();
      expect(devPort.wait(1000)).toBe(true);
      const req = devPort.recv()!;
      expect(req[1]).toBe(0x07);
      const answer = new Uint8Array(12);
      answer.set(req.subarray(0, 6));
      answer[0] = 0x01;
      answer[6] = 12;
      answer[8] = 0x0f;
      expect(devPort.send(answer)).toBe(true);
      devPort.flush();
      expect(drv.wait(1000)).toBe(true);
      const resp = drv.recv()!;
      expect([resp[0], resp[1], resp[4]! | (resp[5]! << 8), resp[8]]).toEqual([0x01, 0x07, token, 0x0f]);
    }
    // Busy-poll ports never sleep: an empty wait spins to its deadline and the bell keeps saying so.
    const t0 = performance.now();
    expect(drv.wait(20)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
    expect(Atomics.load(i32, drvLink.bell >>> 2)).toBe(expected);
    // A port without busy-poll takes the link over: the bell says AWAKE again (after the exit
    // fence), and traffic flows on.
    const sleeper = new EndpointPort(drvLink, { spinBeforeSleep: 0 });
    expect(Atomics.load(i32, drvLink.bell >>> 2)).toBe(DOORBELL_AWAKE);
    expect(sleeper.send(bytes('0007050001000800'))).toBe(true);
    sleeper.flush();
    expect(devPort.wait(1000)).toBe(true);
    const req = devPort.recv()!;
    const answer = new Uint8Array(12);
    answer.set(req.subarray(0, 6));
    answer[0] = 0x01;
    answer[6] = 12;
    devPort.send(answer);
    devPort.flush();
    expect(sleeper.wait(1000)).toBe(true);
    expect(hex(sleeper.recv()!.subarray(0, 6))).toBe('010705000100');
  });

  test('a busy-polling shard routes parked bursts, runs commands while it spins, answers each request once', async () => {
    // window 4: of each burst of 16 requests, 12 wait parked at the device, so the shard's passes
    // must see parked work as well as ring indices.
    router = await Router.create({ shards: 1, spinBeforeSleep: BUSY_POLL_SPINS, window: 4, timeoutMs: 60_000 });
    const devLinks = [await router.attachDevice({ devices: [5] })];
    const drv = new EndpointPort(await router.attachDriver(), { spinBeforeSleep: BUSY_POLL_SPINS });
    const devPorts = [new EndpointPort(devLinks[0]!, { spinBeforeSleep: BUSY_POLL_SPINS })];
    let token = 0;
    const deadline = performance.now() + 20_000;
    for (let round = 0; round < 24; round++) {
      if (round === 12) {
        // A command (attach) while the shard spins: it must take it between two passes.
        devLinks.push(await router.attachDevice({ devices: [6] }));
        devPorts.push(new EndpointPort(devLinks[1]!, { spinBeforeSleep: BUSY_POLL_SPINS }));
      }
      const dev = devPorts.length === 1 || round % 2 === 0 ? 0 : 1;
      const sent: number[] = [];
      for (let i = 0; i < 16; i++) {
        token = (token % 0xfffe) + 1;
        sent.push(token);
        expect(drv.send(bytes(`0007${hex(new Uint8Array([5 + dev, 0, token & 0xff, token >> 8]))}0800`))).toBe(true);
      }
      drv.flush();
      // The device answers each request as it comes (the window lets 4 through at a time).
      const got: number[] = [];
      for (let answered = 0; answered < 16 || got.length < 16;) {
        const req = devPorts[dev]!.recv();
        if (req !== null) {
          const answer = new Uint8Array(12);
          answer.set(req.subarray(0, 6));
          answer[0] = 0x01;
          answer[6] = 12;
          expect(devPorts[dev]!.send(answer)).toBe(true);
          devPorts[dev]!.flush();
          answered++;
        }
        const resp = drv.recv();
        // EVENT_DEVICE (bus message 0x40) news of the second device is not an answer.
        if (resp !== null && !(resp[0] === 0x02 && resp[1] === 0x40)) {
          expect([resp[0], resp[1], resp[2]]).toEqual([0x01, 0x07, 5 + dev]);
          got.push(resp[4]! | (resp[5]! << 8));
        }
        if (req === null && resp === null) expect(performance.now()).toBeLessThan(deadline);
      }
      expect(got).toEqual(sent);
    }
    const totals = router.stats().totals;
    expect(totals.dropped).toBe(0);
  });

  test('without busy-poll the shard and ports keep the plain sleep protocol', async () => {
    router = await Router.create({ shards: 1, spinBeforeSleep: 100 });
    const drvLink = await router.attachDriver();
    new EndpointPort(drvLink, { spinBeforeSleep: 100 });
    expect(Atomics.load(new Int32Array(drvLink.memory.buffer), drvLink.bell >>> 2)).toBe(DOORBELL_AWAKE);
  });
});
