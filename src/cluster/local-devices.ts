// The devices this router serves to the cluster, learnt as any driver would: a driver endpoint
// of its own on the router enumerates the devices (GET_DEVICES), hears EVENT_DEVICE READY and
// REMOVED, and asks each new device GET_DEVICE_INFO (device id, vendor id). Devices the cluster
// itself imported from other nodes are left out (`isImported`), so nothing is served twice.
import { EventEmitter } from 'node:events';
import type { Router } from '../router/router.js';
import { VirtioDriver } from '../driver/driver.js';
import { GuestMemory } from '../virtqueue/guest-memory.js';

export interface LocalDevice {
  dev: number;
  deviceId: number | null;
  vendorId: number | null;
}

/** GET_DEVICE_INFO of a device that does not answer it is given up after this long (ms). */
const PROBE_TIMEOUT_MS = 2000;
/**
 * Longest sleep of the driver's loop. It shares the main thread with the gateway streams' frames
 * and is woken by the router for every hotplug event and answer; the only thing a timed wake-up
 * finds is an expired probe, which may be noticed this much late. (At the endpoint default of
 * 5 ms, an idle member spent ~30 ms/s of the main thread waking up for nothing.)
 */
const DRIVER_MAX_SLEEP_MS = 500;

/**
 * Events: 'change' (LocalDevice | {dev, removed: true}) after the initial list, 'warning' (string).
 */
export class LocalDevices extends EventEmitter {
  readonly devices = new Map<number, LocalDevice>();
  private driver: VirtioDriver | undefined;
  /**
   * The READY a listed device's probe belongs to (a number unique over all events): a probe
   * answer for an older event is stale. Only listed devices have one, so imported devices
   * (never listed) leave nothing behind when they are removed.
   */
  private readonly epoch = new Map<number, number>();
  private events = 0;

  constructor(private readonly router: Router, private readonly isImported: (dev: number) => boolean) {
    super();
  }

  /** Attach the driver and learn the devices present now. */
  async start(): Promise<void> {
    // The driver reaches no virtqueue: a tiny memory of its own is enough.
    const memory = new GuestMemory({ buffer: new SharedArrayBuffer(4096), offset: 0, length: 4096, base: 0 });
    this.driver = new VirtioDriver(await this.router.attachDriver(), { memory, requestTimeoutMs: PROBE_TIMEOUT_MS, autoProbe: false, spinBeforeSleep: 0, maxSleepMs: DRIVER_MAX_SLEEP_MS });
    this.driver.onHotplug((e) => {
      if (e.state === 'removed') this.removed(e.dev);
      else if (e.state === 'ready') void this.added(e.dev);
    });
    const present = (await this.driver.enumerate()).filter((d) => !this.isImported(d));
    for (const d of present) void this.added(d, false);
  }

  /**
   * A device appeared: listed at once with unknown ids ('change'), then again with its ids once
   * GET_DEVICE_INFO answers. A device that does not answer it (it need not, to be reachable)
   * stays listed with unknown ids.
   */
  private async added(dev: number, announce = true): Promise<void> {
    if (this.isImported(dev)) return;
    const epoch = ++this.events;
    this.epoch.set(dev, epoch);
    const first: LocalDevice = { dev, deviceId: null, vendorId: null };
    this.devices.set(dev, first);
    if (announce) this.emit('change', first);
    let info;
    try {
      info = await this.driver!.device(dev).probe();
    } catch (e) {
      if (this.epoch.get(dev) === epoch) this.emit('warning', `device ${dev}: GET_DEVICE_INFO failed (${(e as Error).message}); listed without its ids`);
      return;
    }
    if (this.epoch.get(dev) !== epoch || !this.devices.has(dev)) return; // removed (or added again) meanwhile
    const d: LocalDevice = { dev, deviceId: info.deviceId, vendorId: info.vendorId };
    this.devices.set(dev, d);
    this.emit('change', d);
  }

  private removed(dev: number): void {
    this.epoch.delete(dev);
    if (!this.devices.delete(dev)) return;
    this.emit('change', { dev, removed: true });
  }

  async close(): Promise<void> {
    const d = this.driver;
    this.driver = undefined;
    if (d === undefined) return;
    await d.close();
    await this.router.detach(d.endpoint.link).catch(() => {});
  }
}
