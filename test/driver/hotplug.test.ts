// Hotplug while the driver runs (docs/PROTOCOL.md §6 EVENT_DEVICE, §7 rules 14 and 26, §9 item 18): removing a
// device fails its outstanding requests cleanly — transport requests with the router's
// DEVICE_REMOVED failure, virtqueue buffers with DeviceRemovedError — and when it is added again
// the driver probes it and initialises it again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevices, runDriver, until, type Bench } from '../device/helpers.js';

interface Outcome { ok: boolean; name?: string; reason?: string }
interface HotplugResult {
  first: { verified: number; mismatches: number };
  failed: { config: Outcome[]; io: Outcome[] };
  stateAfterRemove: string;
  refused: Outcome;
  events: { dev: number; state: string }[];
  again: { verified: number; mismatches: number };
  reinits: number;
  counters: { transportFailures: number; deadlines: number };
}

describe('hotplug while the driver runs', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startDevices([{ dev: 3, kind: 'block' }]);
  });
  afterAll(async () => {
    await bench.close();
  });

  it('REMOVED fails outstanding requests cleanly; READY is probed and the device initialised again', async () => {
    const worker = bench.workers.get(3)!;
    const link = bench.deviceLinks.get(3)!;
    let heldRequests = 0;
    const r = await runDriver<HotplugResult>(bench, 'hotplug', { dev: 3 }, async (step) => {
      if (step === 'hold-device') worker.hold(true);
      if (step === 'remove-device') {
        heldRequests = bench.router.stats().devices.find((d) => d.dev === 3)!.inFlight;
        await bench.router.removeDevice(3);
        // The device reads what was forwarded to it before the removal and answers: the router
        // drops those answers to closed requests as late, nothing reaches the driver.
        worker.hold(false);
        const lateDrops = (): number => bench.router.stats().endpoints.find((e) => e.id === link.id)?.drops.LATE_RESPONSE ?? 0;
        await until(() => lateDrops() >= heldRequests, 'late answers dropped');
      }
      if (step === 'add-device') await bench.router.addDevice(link, 3);
    });
    expect(heldRequests).toBe(2); // the two GET_CONFIGs reached the router and waited at the device
    expect(r.first).toMatchObject({ verified: 16 * 4096, mismatches: 0 });
    expect(r.failed.config).toEqual([
      expect.objectContaining({ ok: false, name: 'TransportError', reason: 'DEVICE_REMOVED' }),
      expect.objectContaining({ ok: false, name: 'TransportError', reason: 'DEVICE_REMOVED' }),
    ]);
    expect(r.failed.io).toEqual([
      expect.objectContaining({ ok: false, name: 'DeviceRemovedError' }),
      expect.objectContaining({ ok: false, name: 'DeviceRemovedError' }),
    ]);
    expect(r.stateAfterRemove).toBe('removed');
    expect(r.refused).toMatchObject({ ok: false, name: 'DeviceRemovedError' });
    expect(r.events).toEqual([{ dev: 3, state: 'removed' }, { dev: 3, state: 'added' }]);
    expect(r.reinits).toBe(1);
    expect(r.again).toMatchObject({ verified: 16 * 4096, mismatches: 0 });
    expect(r.counters.deadlines).toBe(0); // every request ended by an answer or the router's failure, none by the driver's deadline
    const driverEndpoint = bench.router.stats().endpoints.find((e) => e.id === bench.driverLink.id)!;
    expect(driverEndpoint.failures).toBe(2); // exactly the two removed requests, each failed once
    expect(driverEndpoint.dropped).toBe(0);
  });
});
