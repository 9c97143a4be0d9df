// Endpoints over caller-supplied cursors (the attach path of the external buses): the router
// routes straight through a vmamp window in its memory, remaps a link's own device numbers,
// sends bus requests of its own and hands the peer's bus answers to the control plane. The peer
// here is JavaScript in this thread; test/bus runs the real thing (a C process over /dev/shm).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router, type ExternalEndpoint } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import {
  vmampDeviceInit, vmampDriverInit, VmampBringUp, vmampProducer, vmampConsumer, VMAMP_ROLE_DEVICE, VMAMP_ROLE_DRIVER,
  type VmampLayout, type VmampRole,
} from '../../src/ring/vmamp.js';
import { CURSOR_CONSUMER, CURSOR_PRODUCER, type CursorConsumer, type CursorProducer } from '../../src/ring/cursor.js';
import { bytes, hex, receive, sendAll, silence, failureEvent, sleep, until } from './helpers.js';

const WINDOW = 8192;

interface Peer { tx: CursorProducer; rx: CursorConsumer }

/** A vmamp window in the router's memory, brought up; the router takes side `routerRole`. */
async function windowLink(router: Router, routerRole: VmampRole, kind: 'driver' | 'device', ownNumbering = false): Promise<{ ext: ExternalEndpoint; peer: Peer }> {
  const { mem } = router;
  const base = mem.alloc(WINDOW, 64);
  const peerRole: VmampRole = routerRole === VMAMP_ROLE_DEVICE ? VMAMP_ROLE_DRIVER : VMAMP_ROLE_DEVICE;
  vmampDeviceInit(mem, base, WINDOW);
  const layout: VmampLayout = vmampDriverInit(mem.buffer, base, WINDOW)!;
  const ours = new VmampBringUp(mem.buffer, layout, routerRole);
  const theirs = new VmampBringUp(mem.buffer, layout, peerRole);
  for (let i = 0; i < 10 && (ours.step() !== 'running' || theirs.step() !== 'running'); i++);
  const inCursor = mem.alloc(64);
  const outCursor = mem.alloc(64);
  expect(mem.wasm.vmampCursorInit(inCursor, base, WINDOW, routerRole, CURSOR_CONSUMER, 16, 0)).toBe(1);
  expect(mem.wasm.vmampCursorInit(outCursor, base, WINDOW, routerRole, CURSOR_PRODUCER, 16, 0)).toBe(1);
  const ext = await router.attachExternal({ kind, inCursor, outCursor, maxMessageSize: 64, busyPoll: true, ownNumbering });
  return { ext, peer: { tx: vmampProducer(mem, layout, peerRole), rx: vmampConsumer(mem, layout, peerRole) } };
}

async function peerReceive(peer: Peer, n: number, ms = 5000): Promise<string[]> {
  const out: string[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n && Date.now() < deadline) {
    const f = peer.rx.tryPop();
    if (f) out.push(hex(f));
    else await sleep(1);
  }
  return out;
}

function peerSend(peer: Peer, ...frames: string[]): void {
  for (const f of frames) if (!peer.tx.tryPush(bytes(f))) throw new Error('window full');
  peer.tx.flush();
}

describe('external endpoints (caller-supplied cursors)', () => {
  let router: Router;
  beforeAll(async () => {
    router = await Router.create({ shards: 1, timeoutMs: 1000, spinBeforeSleep: 50 });
  });
  afterAll(async () => {
    await router.close();
  });

  it('an external driver reaches an in-process device straight through the window, tokens restored, EVENT_DEVICE announced', async () => {
    const dev = new EndpointPort(await router.attachDevice({ devices: [1] }));
    const { ext, peer } = await windowLink(router, VMAMP_ROLE_DEVICE, 'driver');
    peerSend(peer, '0007010011000800', '0007010012000800');
    const fwd = await receive(dev, 2);
    expect(fwd.map((f) => f.slice(0, 8))).toEqual(['00070100', '00070100']);
    sendAll(dev, `01070100${fwd[0]!.slice(8, 12)}0c000f000000`, `01070100${fwd[1]!.slice(8, 12)}0c000f000000`);
    expect(await peerReceive(peer, 2)).toEqual(['0107010011000c000f000000', '0107010012000c000f000000']);
    // Hotplug reaches the external driver as EVENT_DEVICE READY.
    const dev2 = new EndpointPort(await router.attachDevice({ devices: [2] }));
    expect(await peerReceive(peer, 1)).toEqual(['0240000000000c0002000100']); // device 2, READY
    // The router's own PING reaches the peer; its answer comes back through the control inbox.
    const answers: string[] = [];
    router.onControlFrame(ext, (f) => answers.push(hex(f)));
    await router.sendAsRouter(ext, bytes('020300000700' + '0c00' + 'efbeadde'));
    expect(await peerReceive(peer, 1)).toEqual(['0203000007000c00efbeadde']);
    peerSend(peer, '0303000007000c00efbeadde');
    for (let i = 0; i < 200 && answers.length === 0; i++) await sleep(5);
    expect(answers).toEqual(['0303000007000c00efbeadde']);
    await router.detach(ext);
    await router.detach(dev.link);
    await router.detach(dev2.link);
  });

  it('a device link with its own numbering is remapped both ways; frames larger than its elements fail at the router', async () => {
    const drv = new EndpointPort(await router.attachDriver());
    const { ext, peer } = await windowLink(router, VMAMP_ROLE_DRIVER, 'device', true);
    await router.addDevice(ext, 9, 1); // the peer's device 1 is the router's device 9
    await silence(drv, 20); // EVENT_DEVICE READY 9
    sendAll(drv, '0007090021000800');
    const [req] = await peerReceive(peer, 1);
    expect(req!.slice(0, 8)).toBe('00070100'); // the peer hears its own number
    peerSend(peer, `01070100${req!.slice(8, 12)}0c000f000000`);
    expect(await receive(drv, 1)).toEqual(['0107090021000c000f000000']); // the driver hears the router's
    // 100 bytes cannot cross a 64-byte element: failed at once, never written to the window.
    const big = new Uint8Array(100);
    big.set(bytes('0006090022006400'));
    sendAll(drv, big);
    expect(await receive(drv, 1)).toEqual([failureEvent(9, 0x06, 4, 0x22)]);
    expect(await peerReceive(peer, 1, 100)).toEqual([]);
    // An event for a number the link does not carry is dropped (unvalidated), not misrouted.
    peerSend(peer, '0042020000000c0000000000');
    await until(() => (router.stats().endpoints.find((e) => e.id === ext.id)!.drops.UNVALIDATED_DEV_NUM ?? 0) > 0, 'the event dropped');
    const st = router.stats().endpoints.find((e) => e.id === ext.id)!;
    expect(st.drops).toMatchObject({ UNVALIDATED_DEV_NUM: 1 });
    await router.detach(ext);
    expect(await receive(drv, 1)).toEqual(['0240000000000c0009000200']); // EVENT_DEVICE REMOVED 9
    await router.detach(drv.link);
  });
});
