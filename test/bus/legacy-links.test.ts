// Legacy v0 device sides behind the router (README "Legacy v0 devices"): the project's C
// reproductions of QEMU linux-user and OpenAMP amp_static_queue, each serving virtio-rng through
// real split virtqueues in a memory file both sides map, driven by the Driver SDK through the
// router; their quirks and missing replies, hostile frames, and one outcome per request.
import { afterEach, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { VirtioDriver } from '../../src/driver/driver.js';
import { EntropyDriver } from '../../src/driver/entropy-driver.js';
import { TransportError } from '../../src/driver/errors.js';
import { openBusLink } from '../../src/bus/open.js';
import type { LegacyLink } from '../../src/bus/legacy/link.js';
import { openGuestMemoryFile, type GuestMemoryFile } from '../../src/virtqueue/guest-memory-file.js';
import { Reason } from '../../src/protocol/reasons.js';
import { VIRTIO_F_ACCESS_PLATFORM, featureBit } from '../../src/virtqueue/feature-bits.js';
import { checkAccounting, waitQuiescent } from '../../src/router/accounting.js';
import { legacySkipReason, startOpenampPeer, startQemuPeer, QEMU_MEM_BASE, type PeerProcess } from './legacy-helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  router: Router;
  link: LegacyLink;
  driver: VirtioDriver;
  memory: GuestMemoryFile;
  peer: PeerProcess;
}

/** A router with the legacy device on `uri` attached as device 5, and an in-process Driver SDK driver using `memory`. */
async function rig(uri: string, peer: PeerProcess, memory: GuestMemoryFile): Promise<Rig> {
  cleanups.push(() => memory.close());
  cleanups.push(async () => {
    if (peer.proc.exitCode === null && peer.proc.signalCode === null) peer.proc.kill('SIGKILL');
    await peer.done;
  });
  const router = await Router.create({ shards: 1, timeoutMs: 5000 });
  cleanups.push(() => router.close());
  const link = (await openBusLink(router, `${uri}&dev=5`, 'device')) as LegacyLink;
  cleanups.push(() => link.close());
  const driver = new VirtioDriver(await router.attachDriver(), { memory: memory.memory, requestTimeoutMs: 8000 });
  cleanups.push(() => driver.close());
  return { router, link, driver, memory, peer };
}

async function qemuRig(modes: string[] = []): Promise<Rig> {
  const q = startQemuPeer(modes);
  // The peer creates its memory file; map it once it is there (the link waits for the queue files the same way).
  const link = await waitFor(() => {
    try {
      return openGuestMemoryFile(q.mem, QEMU_MEM_BASE);
    } catch {
      return undefined;
    }
  });
  return rig(q.uri(), q.peer, link);
}

async function openampRig(modes: string[] = [], extra = ''): Promise<Rig> {
  const o = startOpenampPeer(modes);
  const r = await rig(o.uri(extra), o.peer, await waitFor(() => {
    try {
      return openGuestMemoryFile(o.path, o.base, { skip: 4096 });
    } catch {
      return undefined;
    }
  }));
  return r;
}

async function waitFor<T>(f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.skipIf(legacySkipReason !== null)('legacy v0 devices behind the router', () => {
  for (const [name, make] of [['QEMU linux-user', () => qemuRig()], ['OpenAMP amp_static_queue', () => openampRig()]] as const) {
    it(`${name}: a revision-1 driver initialises virtio-rng and reads entropy through a real virtqueue`, async () => {
      const r = await make();
      const info = await r.driver.device(5).probe();
      expect(info.deviceId).toBe(4);
      expect(info.maxVirtqueues).toBe(1);
      const rng = await EntropyDriver.open(r.driver, 5, { queueSize: 16, bufferBytes: 1024, features: featureBit(VIRTIO_F_ACCESS_PLATFORM) });
      const bytes = await rng.read(64 * 1024);
      expect(bytes.length).toBe(64 * 1024);
      // Random bytes: far from all-zero (the buffers start zeroed).
      expect(bytes.filter((b) => b !== 0).length).toBeGreaterThan(60_000);
      await r.driver.close();
      const counters = await r.peer.stop();
      expect(counters.bytes_served).toBeGreaterThanOrEqual(64 * 1024);
      const st = await waitQuiescent(r.router);
      expect(checkAccounting(st).ok).toBe(true);
    }, 30_000);
  }
});

export { Reason, TransportError };
