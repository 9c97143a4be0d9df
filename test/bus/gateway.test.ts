// Two router processes linked over TCP on 127.0.0.1 (README "Stream links"): this process runs
// the local router, a local driver and the gateway; a second node process
// (fixtures/remote-router.mjs) runs the remote router with the echo device behind it. Requests
// cross both routers and come back with the driver's tokens, in order per device; remote
// hotplug shows up locally; killing the remote process fails what was in flight and removes
// its devices, without a hang; restarting it brings the devices back.
import { afterAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { openStreamLink, type StreamLink } from '../../src/bus/stream.js';
import { Reason } from '../../src/protocol/reasons.js';
import { DEVICE_BUS_STATE_READY as READY, DEVICE_BUS_STATE_REMOVED as REMOVED } from '../../src/protocol/constants.js';
import { Inbox, getStatus, sendAll, sleep, startRemoteRouter, type RemoteRouter } from './stream-helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

/**
 * `count` GET_DEVICE_STATUS requests spread over `devs`, at most `outstanding` unanswered.
 * Resolves with the tokens sent per device, once every one is answered or has failed.
 */
async function load(drv: Inbox, devs: number[], firstToken: number, count: number, outstanding: number, stopWhen: () => boolean = () => false): Promise<Map<number, number[]>> {
  const sent = new Map<number, number[]>(devs.map((d) => [d, []]));
  let n = 0;
  const ended = (): number => drv.responses.length + drv.failures.length;
  const base = ended();
  while (n < count && !stopWhen()) {
    while (n < count && n - (ended() - base) < outstanding) {
      const dev = devs[n % devs.length]!;
      const token = (firstToken + n) & 0xffff;
      if (!drv.port.send(getStatus(dev, token))) break;
      sent.get(dev)!.push(token);
      n++;
    }
    drv.port.flush();
    await sleep(1);
    drv.pump();
  }
  await drv.until(() => ended() - base === n, `${n} requests answered or failed`, 30_000);
  return sent;
}

describe('two router processes linked over TCP', () => {
  it('driver → local router → TCP → remote router → echo and back; remote hotplug; kill → failures and REMOVED; restart → devices back', async () => {
    let remote: RemoteRouter = await startRemoteRouter('tcp-listen:127.0.0.1:0', [1, 2]);
    cleanup.push(async () => remote.proc.kill('SIGKILL'));
    const port = remote.port!;
    const local = await Router.create({ shards: 1, spinBeforeSleep: 0, timeoutMs: 20_000 });
    cleanup.push(() => local.close());
    const drv = new Inbox(new EndpointPort(await local.attachDriver(), { spinBeforeSleep: 0 }));
    const gw: StreamLink = await openStreamLink(local, `tcp:127.0.0.1:${port}?name=test-gateway&backoff_min_ms=50&backoff_max_ms=400`, 'device');
    cleanup.push(() => gw.close());
    const drops: string[] = [];
    gw.on('drop', (_peer: string, why: string) => drops.push(why));

    // Discovery: the remote devices keep their numbers (nothing collides locally).
    expect(gw.devices.sort((a, b) => a - b)).toEqual([1, 2]);
    await drv.until(() => drv.deviceEvents.length === 2, 'READY for 1 and 2');
    expect(drv.deviceEvents).toEqual(expect.arrayContaining([{ dev: 1, state: READY }, { dev: 2, state: READY }]));

    // 2000 round trips, 64 in flight: every answer is the echo's, with the driver's token, in order per device.
    const sent = await load(drv, [1, 2], 1, 2000, 64);
    expect(drv.failures).toEqual([]);
    for (const dev of [1, 2]) {
      expect(drv.responses.filter((r) => r.dev === dev).map((r) => r.token)).toEqual(sent.get(dev));
    }
    expect(drv.responses.every((r) => r.msgId === 0x07 && r.status === 0x0f)).toBe(true);
    expect(gw.counters.writes).toBeLessThan(gw.counters.framesOut); // frames are batched per socket write

    // Remote hotplug crosses the link.
    drv.clear();
    expect(await remote.command('add 3')).toEqual({ ok: 'add 3' });
    await drv.until(() => drv.deviceEvents.some((e) => e.dev === 3 && e.state === READY), 'READY 3');
    expect(await remote.command('remove 2')).toEqual({ ok: 'remove 2' });
    await drv.until(() => drv.deviceEvents.some((e) => e.dev === 2 && e.state === REMOVED), 'REMOVED 2');
    expect(gw.devices.sort((a, b) => a - b)).toEqual([1, 3]);

    // The remote echo stops answering; ten requests go out and stay in flight; then the process dies.
    expect(await remote.command('stall')).toEqual({ ok: 'stall' });
    drv.clear();
    const outBefore = gw.counters.framesOut;
    const stuck = [getStatus(1, 0x5001), getStatus(3, 0x5002), getStatus(1, 0x5003), getStatus(3, 0x5004), getStatus(1, 0x5005)];
    await sendAll(drv.port, stuck);
    await drv.until(() => gw.counters.framesOut - outBefore === stuck.length, 'requests on the wire');
    await sleep(50); // time under test: no answer comes from a stalled far end
    expect(drv.responses).toEqual([]);
    remote.proc.kill('SIGKILL');
    await remote.exited;
    // Each in-flight request ends in exactly one transport failure (DEVICE_REMOVED), in per-device order.
    await drv.until(() => drv.failures.length === stuck.length && drv.deviceEvents.filter((e) => e.state === REMOVED).length === 2, 'failures and REMOVED');
    expect(drv.failures.filter((f) => f.dev === 1).map((f) => f.token)).toEqual([0x5001, 0x5003, 0x5005]);
    expect(drv.failures.filter((f) => f.dev === 3).map((f) => f.token)).toEqual([0x5002, 0x5004]);
    expect(drv.failures.every((f) => f.reason === Reason.DEVICE_REMOVED && f.msgId === 0x07)).toBe(true);
    expect(drv.deviceEvents.filter((e) => e.state === REMOVED).map((e) => e.dev).sort()).toEqual([1, 3]);
    expect(gw.devices).toEqual([]);
    // 'drop' is emitted once the removals are done, so a driver may hear REMOVED just before it.
    await drv.until(() => drops.length > 0, 'the drop event');
    expect(drops.length).toBe(1);
    // The local router goes on: a request to a vanished device fails at once.
    drv.clear();
    await sendAll(drv.port, [getStatus(1, 0x6001)]);
    await drv.until(() => drv.failures.length === 1, 'failure while the remote is down');
    expect(drv.failures[0]).toMatchObject({ dev: 1, token: 0x6001, reason: Reason.UNVALIDATED_DEV_NUM });

    // The remote comes back on the same port: the gateway reconnects and rediscovers.
    drv.clear();
    remote = await startRemoteRouter(`tcp-listen:127.0.0.1:${port}`, [1, 2]);
    await drv.until(() => drv.deviceEvents.filter((e) => e.state === READY).length === 2, 'READY after the restart', 20_000);
    expect(gw.devices.sort((a, b) => a - b)).toEqual([1, 2]);
    drv.clear();
    const again = await load(drv, [1, 2], 0x7000, 500, 32);
    expect(drv.failures).toEqual([]);
    for (const dev of [1, 2]) expect(drv.responses.filter((r) => r.dev === dev).map((r) => r.token)).toEqual(again.get(dev));

    // Killed under load: every request still ends exactly once (answer or failure), nothing hangs.
    drv.clear();
    let killed = false;
    setTimeout(() => {
      killed = true;
      remote.proc.kill('SIGKILL');
    }, 150);
    const last = await load(drv, [1, 2], 0x9000, 20_000, 64, () => killed && drv.deviceEvents.filter((e) => e.state === REMOVED).length === 2);
    const ended = [...drv.responses.map((r) => r.token), ...drv.failures.map((f) => f.token)].sort((a, b) => a - b);
    expect(ended).toEqual([...last.get(1)!, ...last.get(2)!].sort((a, b) => a - b));
    expect(drv.failures.every((f) => f.reason === Reason.DEVICE_REMOVED || f.reason === Reason.UNVALIDATED_DEV_NUM)).toBe(true);
    expect(drv.responses.length).toBeGreaterThan(0);
    expect(gw.counters.connects).toBe(2);
  });

  it('a far end that stops answering (SIGSTOP: socket open, process frozen) is found by PINGs: devices REMOVED; SIGCONT → back', async () => {
    const remote: RemoteRouter = await startRemoteRouter('tcp-listen:127.0.0.1:0', [5]);
    cleanup.push(async () => remote.proc.kill('SIGKILL'));
    const local = await Router.create({ shards: 1, spinBeforeSleep: 0 });
    cleanup.push(() => local.close());
    const drv = new Inbox(new EndpointPort(await local.attachDriver(), { spinBeforeSleep: 0 }));
    const gw: StreamLink = await openStreamLink(local, `tcp:127.0.0.1:${remote.port!}?ping=100&backoff_min_ms=50&backoff_max_ms=200`, 'device');
    cleanup.push(() => gw.close());
    const drops: string[] = [];
    gw.on('drop', (_peer: string, why: string) => drops.push(why));
    await drv.until(() => drv.deviceEvents.some((e) => e.dev === 5 && e.state === READY), 'READY 5');
    await sleep(500); // several PINGs answered: a live far end is left alone
    expect(drops).toEqual([]);

    remote.proc.kill('SIGSTOP');
    await drv.until(() => drv.deviceEvents.some((e) => e.dev === 5 && e.state === REMOVED), 'REMOVED 5 while the far end is frozen', 10_000);
    expect(drops[0]).toMatch(/answered no PING for \d+ ms/);
    expect(gw.counters.drops.PEER_SILENT).toBe(1);
    expect(gw.devices).toEqual([]);

    drv.clear();
    remote.proc.kill('SIGCONT');
    await drv.until(() => drv.deviceEvents.some((e) => e.dev === 5 && e.state === READY), 'READY 5 after SIGCONT', 20_000);
    expect(gw.devices).toEqual([5]);
  });
});
