// Opening link URIs: what is refused (with a message naming the problem), device numbers kept or
// remapped when two device-side buses collide, and a frame channel driving a C device side.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { openBusLink, openFrameChannel } from '../../src/bus/open.js';
import { VmampLayoutError } from '../../src/ring/vmamp.js';
import { DeviceRemap } from '../../src/bus/remap.js';
import { driveRequests, freshPaths, linkUri, peerArgs, peerSkipReason, startEcho, startPeer, type EchoDevice } from './helpers.js';

/** A QEMU-built 8 KiB vmamp descriptor (docs/BUSES.md §2.2), optionally with one field broken. */
function vmampWindow(patch?: (dv: DataView) => void): Buffer {
  const b = Buffer.alloc(8192);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  b.set([0x4f, 0x4c, 0x40, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x40, 0x00, 0x00, 0x00]);
  dv.setBigUint64(0x18, 0x40n, true);
  dv.setBigUint64(0x20, 0x50n, true);
  dv.setBigUint64(0x30, 0x48n, true);
  dv.setBigUint64(0x38, 0x1010n, true);
  patch?.(dv);
  return b;
}

describe('opening links', () => {
  let router: Router;
  beforeAll(async () => {
    router = await Router.create({ shards: 1 });
  });
  afterAll(async () => {
    await router.close();
  });

  it('a vmamp layout that breaks a validator rule is refused, naming the rule, the field and the value', async () => {
    const p = freshPaths('bad-layout');
    writeFileSync(p.path, vmampWindow((dv) => dv.setBigUint64(0x30, 0x49n, true))); // drv_queue_head_offset misaligned
    const err = await openBusLink(router, `vmamp:${p.path}?size=8192&role=driver`, 'device', { waitMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmampLayoutError);
    expect((err as Error).message).toMatch(/rule "alignment": drv_queue_head_offset = 0x49 \(must be 2-aligned\)/);
    expect((err as Error).message).toContain(p.path);
  });

  it('a window with no layout yet is waited for, then the wait ends with a clear timeout', async () => {
    const p = freshPaths('no-magic');
    writeFileSync(p.path, Buffer.alloc(8192));
    await expect(openBusLink(router, `vmamp:${p.path}?size=8192&role=driver`, 'device', { waitMs: 300 })).rejects.toThrow(/timed out after 300 ms waiting for the vmamp layout/);
  });

  it.each([
    ['spsc:/dev/shm/x?size=496&role=device', 'driver', /SPSC window of 496 bytes .* size >= 512/],
    ['vmamp:/dev/shm/x?size=200&role=device', 'driver', /holds no 2 elements/],
    ['vmamp:/dev/shm/x?role=device', 'driver', /needs size=BYTES/],
    ['vmamp:/dev/shm/x?size=8192&role=driver', 'driver', /--driver-link attaches an external driver, so our role on that bus is device/],
    ['spsc:/dev/shm/x?size=8192&role=device', 'device', /our role on that bus is driver/],
    ['vmamp:/dev/shm/x?size=8192&role=device&ping=fast', 'driver', /ping= must be an integer/],
    ['vmamp:/dev/shm/x?size=8192&role=device&colour=blue', 'driver', /unknown parameter "colour" for vmamp \(known: size, role, sock, ping, wait, remap_base\)/],
    ['tcp:127.0.0.1:1', 'device', /ECONNREFUSED|refused/],
    ['unix-listen:/tmp/x.sock?colour=blue', 'driver', /colour/],
  ] as const)('%s as a %s link is refused: %s', async (uri, side, why) => {
    await expect(openBusLink(router, uri, side, { waitMs: 500 })).rejects.toThrow(why);
  });

  it('remap rule: kept if free, else the number it had before on this link, else the lowest free from remap_base', () => {
    const taken = new Set([1, 2, 4, 300, 301, 65535]);
    const has = (n: number): boolean => taken.has(n);
    const own = {} as Router; // claims are shared per router: keep these off the suite's router
    const remap = new DeviceRemap(own, 300);
    expect(remap.claim(3, has)).toBe(3); // rule 1
    expect(remap.claim(1, has)).toBe(302); // rule 3, above the taken 300, 301
    remap.release(302);
    remap.release(3);
    expect(remap.claim(1, has)).toBe(302); // rule 2: its old number again
    expect(remap.claim(2, has)).toBe(303); // 302 is claimed by device 1 meanwhile
    const top = new DeviceRemap({} as Router, 65535);
    expect(top.claim(4, has)).toBe(0); // wraps below the base at the end
    // Rule 2 outlives one opened link: the same link URI opened again (a restarted peer) remembers.
    const r = {} as Router;
    const first = new DeviceRemap(r, 300, 'shm vmamp:/dev/shm/x');
    expect(first.claim(1, has)).toBe(302);
    first.release(302);
    const other = new DeviceRemap(r, 300, 'shm vmamp:/dev/shm/y');
    expect(other.claim(2, has)).toBe(302); // another link: rule 3
    other.release(302);
    const again = new DeviceRemap(r, 300, 'shm vmamp:/dev/shm/x');
    expect(again.claim(1, (n) => has(n) || n === 302)).toBe(303); // its old number is taken now: rule 3
    again.release(303);
    expect(new DeviceRemap(r, 300, 'shm vmamp:/dev/shm/x').claim(1, has)).toBe(303); // the newest assignment is remembered
  });
});

describe.skipIf(peerSkipReason !== null)('device numbers across device-side buses (C peers)', () => {
  let router: Router;
  let echo: EchoDevice;
  beforeAll(async () => {
    // Generous: on a loaded 2-core machine a slow answer must not turn into a timeout.
    router = await Router.create({ shards: 1, timeoutMs: 10_000 });
    echo = await startEcho(router, [1]);
  });
  afterAll(async () => {
    await echo?.stop();
    await router?.close();
  });

  it('two device-side buses that both have device 1 and 2: the later one is remapped (and says so), requests reach the right process', async () => {
    const a = freshPaths('remap-a');
    const b = freshPaths('remap-b');
    const peerA = startPeer([...peerArgs('vmamp', 'device', a, 8192, true), '--devices', '2']);
    const peerB = startPeer([...peerArgs('spsc', 'device', b, 8192, true), '--devices', '1,2']);
    const lines: string[] = [];
    const log = (l: string): void => void lines.push(l);
    const linkA = await openBusLink(router, linkUri('vmamp', 'driver', a, 8192, true), 'device', { waitMs: 20_000, log });
    const linkB = await openBusLink(router, linkUri('spsc', 'driver', b, 8192, true), 'device', { waitMs: 20_000, log });
    expect(linkA.devices).toEqual([2]); // kept
    // 1 (the echo device) and 2 (link A) are taken: rule 3 from the default remap_base 256.
    expect([...linkB.devices].sort((x, y) => x - y)).toEqual([256, 257]);
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/device 1 is device 256 on this router \(remapped: 1 was taken\)/),
      expect.stringMatching(/device 2 is device 257 on this router \(remapped: 2 was taken\)/),
    ]));
    const drv = new EndpointPort(await router.attachDriver());
    for (const dev of [1, 2, 256, 257]) {
      const r = await driveRequests(drv, dev, 200, 4);
      expect(r, `device ${dev}: ${r.failures.join(' ')}`).toMatchObject({ answered: 200, errors: [] });
    }
    await router.detach(drv.link);
    await linkA.close();
    await linkB.close();
    peerB.proc.kill('SIGTERM');
    const [outA, outB] = await Promise.all([peerA.done, peerB.done]);
    // Each process handled its own share: 200 requests + discovery + keep-alives, A for device 2, B for 1 and 2.
    expect(outA.stderr).toMatch(/handled (2\d\d) frames/);
    expect(outB.stderr).toMatch(/handled (4\d\d) frames/);
  }, 60_000);

  it.each([
    { bus: 'vmamp', size: 496, doorbell: true },
    { bus: 'spsc', size: 640, doorbell: false },
  ])('a frame channel (what vmsg bench drives) talks to a C device side directly: $bus $size B doorbell=$doorbell', async (c) => {
    const p = freshPaths('channel');
    const peer = startPeer([...peerArgs(c.bus, 'device', p, c.size, c.doorbell), '--devices', '9']);
    const ch = await openFrameChannel(linkUri(c.bus, 'driver', p, c.size, c.doorbell));
    expect(ch.maxMessageSize).toBe(64);
    expect(() => ch.send(new Uint8Array(100).fill(0).map((_, i) => (i === 6 ? 100 : 0)))).toThrow(/maximum of 64/);
    let got = 0;
    for (let i = 0; i < 50; i++) {
      expect(ch.send(Uint8Array.from([0, 0x07, 9, 0, i + 1, 0, 8, 0]))).toBe(true);
      ch.flush();
      while (!(await ch.wait(5000)));
      const f = ch.recv()!;
      expect([...f.subarray(0, 6)]).toEqual([1, 0x07, 9, 0, i + 1, 0]);
      got++;
    }
    expect(got).toBe(50);
    await ch.close();
    if (c.bus === 'spsc') peer.proc.kill('SIGTERM'); // SPSC has no state to say we left
    const out = await peer.done;
    if (c.bus === 'vmamp') expect(out.code).toBe(3); // the device side saw us shut down
  }, 30_000);
});
