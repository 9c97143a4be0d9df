// The virtio-rng driver (virtio 1.2 §5.4) on the Driver SDK: hands the device writable buffers and
// returns what it filled them with.
import { VIRTIO_ID_ENTROPY } from '../device/entropy.js';
import { GuestBufferPool } from './buffer-pool.js';
import type { DriverDevice } from './driver-device.js';
import type { VirtioDriver } from './driver.js';

export interface EntropyDriverOptions {
  /** Queue entries (one descriptor per request). Default 16. */
  queueSize?: number;
  /** Bytes per request. Default 4096. */
  bufferBytes?: number;
  oob?: number;
  /** Features to accept besides the ones the SDK takes itself (e.g. ACCESS_PLATFORM for a device behind a platform translation). */
  features?: bigint;
}

export class EntropyDriver {
  private constructor(readonly device: DriverDevice, private readonly buffers: GuestBufferPool) {}

  static async open(driver: VirtioDriver, dev: number, opts: EntropyDriverOptions = {}): Promise<EntropyDriver> {
    const device = driver.device(dev, { oob: opts.oob });
    await device.init({ deviceId: VIRTIO_ID_ENTROPY, queueSizes: [opts.queueSize ?? 16], features: opts.features });
    return new EntropyDriver(device, new GuestBufferPool(device.memory, device.queue(0).size, opts.bufferBytes ?? 4096));
  }

  /** `length` random bytes from the device. */
  async read(length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`entropy read: length must be a non-negative integer, got ${length}`);
    const out = new Uint8Array(length);
    const parts: Promise<void>[] = [];
    for (let at = 0; at < length; at += this.buffers.size) {
      const want = Math.min(this.buffers.size, length - at);
      parts.push((async () => {
        const b = await this.buffers.acquire();
        try {
          let got = 0;
          // The device may return fewer bytes than asked (virtio-rng allows it): ask again for the rest.
          while (got < want) {
            const n = await this.device.queue(0).submit([{ gpa: b.gpa, len: want - got, writable: true }]);
            out.set(b.bytes.subarray(0, n), at + got);
            got += n;
          }
        } finally {
          this.buffers.release(b);
        }
      })());
    }
    await Promise.all(parts);
    return out;
  }
}
