// Legacy v0 device sides behind the router (README "Legacy v0 devices"): the project's C
// reproductions of QEMU linux-user and OpenAMP amp_static_queue, each serving virtio-rng through
// real split virtqueues in a memory file both sides map, driven by the Driver SDK through the
// router; their quirks and missing replies, hostile frames, and one outcome per request.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { VirtioDriver } from '../../src/driver/driver.js';
import { EntropyDriver } from '../../src/driver/entropy-driver.js';
import { openBusLink } from '../../src/bus/open.js';
import type { LegacyLink } from '../../src/bus/legacy/link.js';
import { openGuestMemoryFile, type GuestMemoryFile } from '../../src/virtqueue/guest-memory-file.js';
import { reasonName } from '../../src/protocol/reasons.js';
import { VIRTIO_F_ACCESS_PLATFORM, featureBit } from '../../src/virtqueue/feature-bits.js';
import { checkAccounting, waitQuiescent } from '../../src/router/accounting.js';
import { InprocChannel } from '../../src/bus/inproc-channel.js';
import { decode, encode, type Message } from '../../src/protocol/codec.js';
import { removeLegacyFiles, legacySkipReason, startOpenampPeer, startQemuPeer, QEMU_MEM_BASE, type PeerProcess } from './legacy-helpers.js';
import { untilDefined as waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(removeLegacyFiles);

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

  for (const [name, make, noBit] of [
    ['QEMU that never replies to SET_* either', () => qemuRig(['no-set-reply']), false],
    ['QEMU answering without the response bit', () => qemuRig(['no-response-bit']), true],
    ['QEMU with garbage EVENT_USED tails', () => qemuRig(['garbage-tail']), false],
    ['OpenAMP (in-place replies without the response bit, stack bytes in EVENT_USED)', () => openampRig(), true],
  ] as const) {
    it(`${name}: entropy still flows, every request answered once, and no legacy byte reaches the driver as it came`, async () => {
      const r = await make();
      const rng = await EntropyDriver.open(r.driver, 5, { queueSize: 8, bufferBytes: 512, features: featureBit(VIRTIO_F_ACCESS_PLATFORM) });
      expect((await rng.read(16 * 1024)).length).toBe(16 * 1024);
      const c = r.link.translator.counters;
      expect(c.events).toBeGreaterThan(0);
      expect(c.failures).toEqual({});
      if (noBit) expect(c.repliesWithoutResponseBit).toBeGreaterThan(0);
      else expect(c.repliesWithoutResponseBit).toBe(0);
      // Every EVENT_USED the driver got decoded cleanly (a 40-byte legacy frame would be PAYLOAD_LENGTH_MISMATCH).
      expect(r.driver.counters.drops).toEqual({});
      expect(r.driver.counters.events).toBeGreaterThan(0);
      const dev = r.router.stats().devices.find((d) => d.dev === 5)!;
      expect(dev.failed).toBe(0);
      expect(dev.responses).toBe(dev.requests);
    }, 30_000);
  }

  describe('requests a legacy device cannot take end in exactly one failure each, and the device lives on', () => {
    /** A raw revision-1 driver on the router (failure events on); outcomes matched by token, in arrival order. */
    async function rawDriver(r: Rig): Promise<{ ask(m: Message): Promise<Message | { failed: string }>; order: number[] }> {
      const ch = await InprocChannel.attach(r.router, { failureEvents: true });
      const waiting = new Map<number, (o: Message | { failed: string }) => void>();
      const order: number[] = [];
      let open = true;
      const reader = (async () => {
        while (open) {
          if (!(await ch.wait(50))) continue;
          for (let f = ch.recv(); f !== null; f = ch.recv()) {
            const failed = f[1] === 0xc1;
            const token = failed ? f[12]! | (f[13]! << 8) : f[4]! | (f[5]! << 8);
            const got = decode(f);
            const done = waiting.get(token);
            if (done === undefined || (!failed && !(got.ok && got.msg.response))) continue; // EVENT_DEVICE and the like
            waiting.delete(token);
            order.push(token);
            done(failed ? { failed: reasonName(f[11]!) } : (got as { msg: Message }).msg);
          }
        }
      })();
      cleanups.push(async () => {
        open = false;
        await reader;
        await ch.close();
      });
      let token = 1;
      return {
        order,
        ask(m) {
          const t = token++;
          return new Promise((resolve) => {
            waiting.set(t, resolve);
            ch.send(encode({ ...m, token: t } as Message));
            ch.flush();
          });
        },
      };
    }

    for (const [name, make] of [['QEMU', () => qemuRig()], ['OpenAMP', () => openampRig()]] as const) {
      it(`${name}: unknown ids, queue indices beyond its queues, rings outside the shared memory → LEGACY_UNSUPPORTED, never sent`, async () => {
        const r = await make();
        const d = await rawDriver(r);
        const before = r.link.translator.counters.toDevice;
        const outcomes = [
          await d.ask({ message: 'IMPL_DEFINED', bus: false, msg_id: 0x85, response: false, dev_num: 5, token: 0, payload: new Uint8Array(4) }),
          await d.ask({ message: 'SET_VQUEUE', response: false, profile: 'rev1', dev_num: 5, token: 0, index: 1, reserved0: 0, size: 8, reserved1: 0, desc_addr: 0n, driver_addr: 0n, device_addr: 0n }),
          await d.ask({ message: 'RESET_VQUEUE', response: false, dev_num: 5, token: 0, index: 9 }),
        ];
        expect(outcomes).toEqual([{ failed: 'LEGACY_UNSUPPORTED' }, { failed: 'LEGACY_UNSUPPORTED' }, { failed: 'LEGACY_UNSUPPORTED' }]);
        // A ring outside the memory both sides map: it would crash OpenAMP (CPU pointers).
        expect(await d.ask({ message: 'SET_VQUEUE', response: false, profile: 'rev1', dev_num: 5, token: 0, index: 0, reserved0: 0, size: 8, reserved1: 0, desc_addr: 0x1000n, driver_addr: 0x2000n, device_addr: 0x3000n }))
          .toEqual({ failed: 'LEGACY_UNSUPPORTED' });
        // Only the GET_VQUEUE probes (queue count, max size) went to the device, nothing of the refused frames.
        const sentIds = r.link.translator.counters.toDevice - before;
        expect(sentIds).toBeLessThanOrEqual(3);
        // Alive and well: it still answers.
        const st = await d.ask({ message: 'GET_DEVICE_STATUS', response: false, dev_num: 5, token: 0 });
        expect(st).toMatchObject({ message: 'GET_DEVICE_STATUS', status: 0 });
        expect(r.peer.proc.exitCode).toBe(null);
        const dev = r.router.stats().devices.find((x) => x.dev === 5)!;
        expect(dev.failed).toBe(4);
        expect(checkAccounting(await waitQuiescent(r.router)).ok).toBe(true);
      }, 30_000);
    }

    it('QEMU: a config range is split into the 1/2/4-byte accesses QEMU takes (any other size aborts it)', async () => {
      const q = startQemuPeer();
      const r = await rig(q.uri('&config_size=16'), q.peer, await waitFor(() => {
        try {
          return openGuestMemoryFile(q.mem, QEMU_MEM_BASE);
        } catch {
          return undefined;
        }
      }));
      const d = await rawDriver(r);
      const got = await d.ask({ message: 'GET_CONFIG', response: false, dev_num: 5, token: 0, offset: 1, length: 11 });
      expect(got).toMatchObject({ message: 'GET_CONFIG', offset: 1, length: 11, generation: 0 });
      const set = await d.ask({ message: 'SET_CONFIG', response: false, dev_num: 5, token: 0, generation: 0, offset: 3, length: 7, data: new Uint8Array(7).fill(9) });
      expect(set).toMatchObject({ message: 'SET_CONFIG', length: 7 });
      expect(await d.ask({ message: 'GET_CONFIG', response: false, dev_num: 5, token: 0, offset: 12, length: 8 })).toEqual({ failed: 'CONFIG_RANGE' });
      expect(r.peer.proc.exitCode).toBe(null);
    }, 30_000);

    it('OpenAMP: a device that takes requests and never answers (wrong dev_id) → LEGACY_NO_REPLY, one per request, in order', async () => {
      const r = await openampRig([], '&dev_id=3&reply_ms=200');
      const d = await rawDriver(r);
      const asks = [
        d.ask({ message: 'GET_DEVICE_STATUS', response: false, dev_num: 5, token: 0 }),
        d.ask({ message: 'GET_DEVICE_INFO', response: false, dev_num: 5, token: 0 }),
        d.ask({ message: 'SET_DEVICE_STATUS', response: false, dev_num: 5, token: 0, status: 1 }),
      ];
      expect(await Promise.all(asks)).toEqual([{ failed: 'LEGACY_NO_REPLY' }, { failed: 'LEGACY_NO_REPLY' }, { failed: 'LEGACY_NO_REPLY' }]);
      expect(d.order).toEqual([1, 2, 3]);
      const dev = r.router.stats().devices.find((x) => x.dev === 5)!;
      expect(dev.failed).toBe(3);
      expect(dev.responses).toBe(0);
      expect(checkAccounting(await waitQuiescent(r.router)).ok).toBe(true);
    }, 30_000);
  });
});

