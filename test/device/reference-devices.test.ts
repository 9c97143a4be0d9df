// The reference devices end to end: each device in its own worker thread,
// the router's shard in another, and a driver in a third, talking only through the router and
// the shared guest memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevices, runDriver, type Bench } from './helpers.js';
import { VMSG_VENDOR_ID } from '../../src/device/device.js';
import { VMSG_ECHO_DEVICE_ID } from '../../src/device/echo-virtio.js';

interface InitResult {
  enumerated: number[];
  devices: { dev: number; kind: string; state: string; info: { deviceId: number; vendorId: number; configSize: number; maxVirtqueues: number }; features: string; [k: string]: unknown }[];
}

describe('reference devices through the router, driver in another worker', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startDevices([{ dev: 4, kind: 'entropy' }, { dev: 2, kind: 'block' }, { dev: 7, kind: 'echo' }]);
  });
  afterAll(async () => {
    await bench.close();
  });

  it('full init of entropy, block and echo: GET_DEVICES finds them, each reaches DRIVER_OK and serves a request', async () => {
    const r = await runDriver<InitResult>(bench, 'initAll', {
      devices: [{ dev: 4, kind: 'entropy' }, { dev: 2, kind: 'block' }, { dev: 7, kind: 'echo' }],
    });
    expect(r.enumerated).toEqual([2, 4, 7]);
    const [entropy, block, echo] = r.devices;
    for (const d of r.devices) {
      expect(d.state).toBe('ready');
      expect(d.info.vendorId).toBe(VMSG_VENDOR_ID);
      expect(BigInt(d.features) & (1n << 32n)).toBe(1n << 32n); // VERSION_1 negotiated
    }
    expect(entropy!.info).toMatchObject({ deviceId: 4, configSize: 0, maxVirtqueues: 1 });
    expect(entropy!.lengths).toEqual([4096, 4096]);
    expect(entropy!.distinct).toBe(true);
    expect(entropy!.distinctBytes).toBeGreaterThan(200); // 4 KiB of random bytes use nearly every value
    expect(block!.info).toMatchObject({ deviceId: 2, configSize: 36, maxVirtqueues: 1 });
    expect(block).toMatchObject({ capacity: 32768, id: 'vmsg-blk', readOnly: false, roundTrip: true });
    expect(BigInt(block!.features) & (1n << 9n)).toBe(1n << 9n); // VIRTIO_BLK_F_FLUSH
    expect(echo!.info.deviceId).toBe(VMSG_ECHO_DEVICE_ID);
    expect(echo!.echoed).toBe('virtio-msg echo');
  });

  it('block I/O: 8 MiB written and read back byte-identical', async () => {
    const r = await runDriver<{ written: number; verified: number; mismatches: number }>(bench, 'blockIo', { dev: 2, mib: 8 });
    expect(r.written).toBe(8 << 20);
    expect(r.mismatches).toBe(0);
    expect(r.verified).toBe(8 << 20);
    const st = bench.router.stats();
    expect(st.totals.dropped).toBe(0);
    expect(st.totals.failures).toBe(0);
  });

  it('config space: SET_CONFIG writes the writeback byte, a stale generation is rejected and retried; a resize bumps the generation and reaches the driver as EVENT_CONFIG', async () => {
    const r = await runDriver<{ before: { capacity: number; generation: number }; after: { capacity: number; generation: number }; wce: number; wceAfter: number; changes: { generation: number; offset: number; length: number }[]; requestsForStaleWrite: number }>(
      bench, 'config', { dev: 2 }, async (name) => {
        if (name === 'resize') bench.workers.get(2)!.resize(2, 20_000);
      });
    expect(r.wce).toBe(0);
    expect(r.wceAfter).toBe(1);
    expect(r.requestsForStaleWrite).toBe(3); // SET_CONFIG rejected, GET_CONFIG for the generation, SET_CONFIG accepted
    expect(r.after.capacity).toBe(20_000);
    expect(r.after.generation).toBeGreaterThan(r.before.generation);
    expect(r.changes).toEqual([{ generation: r.after.generation, offset: 0, length: 8 }]);
  });
});

describe('the 2026 payload profile (docs/PROTOCOL.md §2) end to end', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startDevices([{ dev: 2, kind: 'block', profile: 'rev1-2026' }, { dev: 4, kind: 'entropy', profile: 'rev1-2026' }]);
  });
  afterAll(async () => {
    await bench.close();
  });

  it('a rev1-2026 driver initialises rev1-2026 devices (44-byte GET_DEVICE_INFO, VQUEUE flags) and uses them', async () => {
    const r = await runDriver<InitResult>(bench, 'initAll', { devices: [{ dev: 2, kind: 'block' }, { dev: 4, kind: 'entropy' }] }, undefined, 'rev1-2026');
    const [block, entropy] = r.devices;
    expect(block).toMatchObject({ state: 'ready', capacity: 32768, roundTrip: true });
    expect(block!.info).toMatchObject({ deviceId: 2, featureBlocks: 2, configSize: 36 });
    expect(entropy).toMatchObject({ state: 'ready', distinct: true });
  });
});
