// A legacy v0 device side that truncates the files it shares with us (QEMU linux-user's queue
// files, OpenAMP's shared region): the router's next access to them is a SIGBUS that must not
// kill it. The link goes down saying why, the request that met the missing pages fails, and
// an echo device on another link of the same router keeps answering.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { truncateSync } from 'node:fs';
import { Router } from '../../src/router/router.js';
import { VirtioDriver } from '../../src/driver/driver.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { openBusLink } from '../../src/bus/open.js';
import { qemuQueueFiles } from '../../src/bus/legacy/qemu-v0.js';
import { openGuestMemoryFile, type GuestMemoryFile } from '../../src/virtqueue/guest-memory-file.js';
import { removeLegacyFiles, legacySkipReason, startOpenampPeer, startQemuPeer, QEMU_MEM_BASE, type PeerProcess } from './legacy-helpers.js';
import { driveRequests, startEcho } from './helpers.js';
import { until } from '../helpers/wait.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(removeLegacyFiles);

interface Setup {
  uri: string;
  peer: PeerProcess;
  memory: () => GuestMemoryFile | undefined;
  files: string[];
}

const qemu = (): Setup => {
  const q = startQemuPeer();
  const f = qemuQueueFiles(q.dir, q.name);
  return { uri: q.uri(), peer: q.peer, memory: () => openGuestMemoryFile(q.mem, QEMU_MEM_BASE), files: [f.toDevice, f.toDriver] };
};
const openamp = (): Setup => {
  const o = startOpenampPeer();
  return { uri: o.uri(), peer: o.peer, memory: () => openGuestMemoryFile(o.path, o.base, { skip: 4096 }), files: [o.path] };
};

describe.skipIf(legacySkipReason !== null)('a legacy device side that shrinks its shared files', () => {
  it.each([['QEMU linux-user', qemu], ['OpenAMP amp_static_queue', openamp]] as const)('%s: the link goes down, the router keeps routing', async (_name, make) => {
    const s = make();
    cleanups.push(async () => {
      s.peer.proc.kill('SIGCONT');
      s.peer.proc.kill('SIGKILL');
      await s.peer.done;
    });
    let memory: GuestMemoryFile | undefined;
    await until(() => {
      try {
        memory = s.memory();
        return true;
      } catch {
        return false; // the peer has not created its files yet
      }
    }, 'the peer to create its files');
    cleanups.push(() => memory!.close());
    const router = await Router.create({ shards: 1, timeoutMs: 5000 });
    cleanups.push(() => router.close());
    const echo = await startEcho(router, [1]);
    cleanups.push(() => echo.stop());
    const link = await openBusLink(router, `${s.uri}&dev=5`, 'device');
    cleanups.push(() => link.close());
    const driver = new VirtioDriver(await router.attachDriver(), { memory: memory!.memory, requestTimeoutMs: 8000 });
    cleanups.push(() => driver.close());
    expect((await driver.device(5).probe()).deviceId).toBe(4);

    // The device side stops where it is (it would die of its own SIGBUS) and shrinks the files.
    s.peer.proc.kill('SIGSTOP');
    for (const f of s.files) truncateSync(f, 0);
    await expect(driver.device(5).probe()).rejects.toThrow();
    const down = await link.down;
    expect(down).toMatchObject({ cause: 'peer-dead' });
    expect(down.detail).toMatch(/shrank under us/);
    expect(link.devices).toEqual([]);

    const drv = new EndpointPort(await router.attachDriver());
    const r = await driveRequests(drv, 1, 200, 4);
    expect(r).toMatchObject({ sent: 200, answered: 200, failed: 0, orderViolations: 0 });
  }, 60_000);
});
