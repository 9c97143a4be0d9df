// Driver of the SDK echo device (device/echo-virtio.ts): sends bytes in a device-readable buffer
// and gets them back in a device-writable one, one EVENT_AVAIL → EVENT_USED round per batch.
import { VMSG_ECHO_DEVICE_ID } from '../device/echo-virtio.js';
import { GuestBufferPool } from './buffer-pool.js';
import type { DriverDevice } from './driver-device.js';
import type { VirtioDriver } from './driver.js';

export interface EchoDriverOptions {
  /** Queue entries (two descriptors per request). Default 32. */
  queueSize?: number;
  /** Largest message. Default 1024. */
  bufferBytes?: number;
  oob?: number;
}

export class EchoDriver {
  private constructor(readonly device: DriverDevice, private readonly requests: GuestBufferPool, private readonly replies: GuestBufferPool) {}

  static async open(driver: VirtioDriver, dev: number, opts: EchoDriverOptions = {}): Promise<EchoDriver> {
    const device = driver.device(dev, { oob: opts.oob });
    await device.init({ deviceId: VMSG_ECHO_DEVICE_ID, queueSizes: [opts.queueSize ?? 32] });
    const slots = Math.max(1, device.queue(0).size >> 1);
    const bytes = opts.bufferBytes ?? 1024;
    return new EchoDriver(device, new GuestBufferPool(device.memory, slots, bytes), new GuestBufferPool(device.memory, slots, bytes));
  }

  /** Send `data`; resolves with what the device wrote back. */
  async echo(data: Uint8Array): Promise<Uint8Array> {
    if (data.length === 0 || data.length > this.requests.size) throw new RangeError(`echo: 1 to ${this.requests.size} bytes, got ${data.length}`);
    const req = await this.requests.acquire();
    const rep = await this.replies.acquire();
    try {
      req.bytes.set(data);
      const n = await this.device.queue(0).submit([
        { gpa: req.gpa, len: data.length, writable: false },
        { gpa: rep.gpa, len: data.length, writable: true },
      ]);
      return rep.bytes.slice(0, n);
    } finally {
      this.requests.release(req);
      this.replies.release(rep);
    }
  }
}
