// The virtio-blk driver (virtio 1.2 §5.2) on the Driver SDK: initialises a block device, keeps its
// capacity current (EVENT_CONFIG), and turns read/write/flush into request chains
// header | data | status on its request queue, large transfers split into parallel requests.
import { VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_CONFIG_WCE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX, VIRTIO_ID_BLOCK, BLK_CFG_CAPACITY, BLK_CFG_WRITEBACK, BLK_REQ_HEADER_SIZE, BLK_REQ_SECTOR,
  BLK_REQ_TYPE, BLK_STATUS_SIZE, SECTOR_SIZE, VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S_OK, VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT } from '../device/virtio-blk.js';
import { featureBit, hasFeature } from '../virtqueue/feature-bits.js';
import type { DriverBuffer } from '../virtqueue/driver-queue.js';
import { GuestBufferPool, type GuestBuffer } from './buffer-pool.js';
import type { DriverDevice } from './driver-device.js';
import type { VirtioDriver } from './driver.js';
import { DeviceResetError } from './errors.js';

export interface BlockDriverOptions {
  /** Request queue entries (three descriptors per request). Default 128. */
  queueSize?: number;
  /** Largest data transfer per request, a multiple of 512. Default 64 KiB. */
  maxTransfer?: number;
  /** Requests that fail because the device was reset are sent again after it recovers, this many times. Default 3. */
  retriesAfterReset?: number;
  /** Oob doorbell area for the device, if notifications go out of band. */
  oob?: number;
  /** EVENT_AVAIL for every request, ignoring suppression (stress profiles). Default false. */
  notifyEveryBuffer?: boolean;
}

/** The device answered a request with a status other than OK. */
export class BlockIoError extends Error {
  override readonly name = 'BlockIoError';
  constructor(readonly dev: number, readonly op: string, readonly status: number) {
    super(`block device ${dev}: ${op} failed with status ${status} (${status === 1 ? 'IOERR' : status === 2 ? 'UNSUPP' : 'unknown'})`);
  }
}

interface Slot {
  header: GuestBuffer;
  data: GuestBuffer;
}

export class BlockDriver {
  readonly device: DriverDevice;
  readonly maxTransfer: number;
  /** Capacity in 512-byte sectors, kept current by EVENT_CONFIG. */
  capacity = 0;
  private readonly slots: GuestBufferPool;
  private readonly headers: GuestBufferPool;
  private readonly retries: number;

  private constructor(device: DriverDevice, slots: number, maxTransfer: number, retries: number) {
    this.device = device;
    this.maxTransfer = maxTransfer;
    this.retries = retries;
    // Header (16) and status (1) share one 64-byte buffer: status at byte 16.
    this.headers = new GuestBufferPool(device.memory, slots, 64);
    this.slots = new GuestBufferPool(device.memory, slots, maxTransfer, 4096);
  }

  /** Initialise block device `dev` through `driver` and read its capacity. */
  static async open(driver: VirtioDriver, dev: number, opts: BlockDriverOptions = {}): Promise<BlockDriver> {
    const queueSize = opts.queueSize ?? 128;
    const maxTransfer = opts.maxTransfer ?? 64 * 1024;
    if (!Number.isInteger(maxTransfer) || maxTransfer < SECTOR_SIZE || maxTransfer % SECTOR_SIZE !== 0) {
      throw new RangeError(`maxTransfer must be a positive multiple of ${SECTOR_SIZE}, got ${maxTransfer}`);
    }
    const device = driver.device(dev, { oob: opts.oob });
    const features = featureBit(VIRTIO_BLK_F_SIZE_MAX) | featureBit(VIRTIO_BLK_F_SEG_MAX) | featureBit(VIRTIO_BLK_F_BLK_SIZE) |
      featureBit(VIRTIO_BLK_F_FLUSH) | featureBit(VIRTIO_BLK_F_CONFIG_WCE) | featureBit(VIRTIO_BLK_F_RO);
    const notifyEveryBuffer = opts.notifyEveryBuffer ?? false;
    await device.init({ deviceId: VIRTIO_ID_BLOCK, features, queueSizes: [queueSize], notifyEveryBuffer, eventIdx: !notifyEveryBuffer });
    const b = new BlockDriver(device, Math.max(1, Math.floor(device.queue(0).size / 3)), maxTransfer, opts.retriesAfterReset ?? 3);
    await b.refreshCapacity();
    device.onConfigChange((c) => {
      if (c.data.length >= 8 && c.offset <= BLK_CFG_CAPACITY && c.offset + c.data.length >= BLK_CFG_CAPACITY + 8) {
        b.capacity = Number(new DataView(c.data.buffer, c.data.byteOffset).getBigUint64(BLK_CFG_CAPACITY - c.offset, true));
      } else {
        void b.refreshCapacity().catch(() => undefined);
      }
    });
    return b;
  }

  get readOnly(): boolean {
    return hasFeature(this.device.features, VIRTIO_BLK_F_RO);
  }

  /** Read the capacity from config space (GET_CONFIG). */
  async refreshCapacity(): Promise<number> {
    const bytes = await this.device.readConfig(BLK_CFG_CAPACITY, 8);
    this.capacity = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    return this.capacity;
  }

  /** Write `data` (whole sectors) at `sector`. */
  async write(sector: number, data: Uint8Array): Promise<void> {
    this.checkRange(sector, data.length);
    const parts: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += this.maxTransfer) {
      const part = data.subarray(at, Math.min(data.length, at + this.maxTransfer));
      parts.push(this.request(VIRTIO_BLK_T_OUT, sector + at / SECTOR_SIZE, part.length, 'write', (slot) => slot.data.bytes.set(part)).then(() => undefined));
    }
    await Promise.all(parts);
  }

  /** Read `length` bytes (whole sectors) at `sector`. */
  async read(sector: number, length: number): Promise<Uint8Array> {
    this.checkRange(sector, length);
    const out = new Uint8Array(length);
    const parts: Promise<void>[] = [];
    for (let at = 0; at < length; at += this.maxTransfer) {
      const n = Math.min(this.maxTransfer, length - at);
      parts.push(this.request(VIRTIO_BLK_T_IN, sector + at / SECTOR_SIZE, n, 'read', undefined, (slot) => out.set(slot.data.bytes.subarray(0, n), at)).then(() => undefined));
    }
    await Promise.all(parts);
    return out;
  }

  /** Make completed writes durable (VIRTIO_BLK_T_FLUSH). */
  async flush(): Promise<void> {
    await this.request(VIRTIO_BLK_T_FLUSH, 0, 0, 'flush');
  }

  /** The device's identification string (VIRTIO_BLK_T_GET_ID). */
  async id(): Promise<string> {
    let id = '';
    await this.request(VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, 'get-id', undefined, (slot) => {
      const b = slot.data.bytes.subarray(0, VIRTIO_BLK_ID_BYTES);
      const end = b.indexOf(0);
      id = new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
    }, true);
    return id;
  }

  /** Turn the device's write cache on or off (the config writeback byte, CONFIG_WCE). */
  async setWriteback(on: boolean): Promise<void> {
    await this.device.writeConfig(BLK_CFG_WRITEBACK, Uint8Array.of(on ? 1 : 0));
  }

  private checkRange(sector: number, length: number): void {
    if (!Number.isSafeInteger(sector) || sector < 0 || !Number.isInteger(length) || length % SECTOR_SIZE !== 0) {
      throw new RangeError(`block I/O needs a sector number and a length in whole ${SECTOR_SIZE}-byte sectors, got sector ${sector} length ${length}`);
    }
    if (sector + length / SECTOR_SIZE > this.capacity) {
      throw new RangeError(`block I/O [sector ${sector}, +${length / SECTOR_SIZE}) is beyond the capacity of ${this.capacity} sectors`);
    }
  }

  /**
   * One request chain: header | data (readable for OUT, writable for IN and GET_ID) | status.
   * Sent again after a device reset (the same bytes to the same sectors: idempotent).
   */
  private async request(type: number, sector: number, length: number, op: string, fill?: (s: Slot) => void, take?: (s: Slot) => void, dataWritable = type === VIRTIO_BLK_T_IN): Promise<number> {
    const header = await this.headers.acquire();
    const data = length > 0 ? await this.slots.acquire() : undefined;
    try {
      const slot = { header, data: data ?? header };
      for (let attempt = 0; ; attempt++) {
        const dv = new DataView(header.bytes.buffer, header.bytes.byteOffset, BLK_REQ_HEADER_SIZE);
        dv.setUint32(BLK_REQ_TYPE, type, true);
        dv.setUint32(BLK_REQ_TYPE + 4, 0, true);
        dv.setBigUint64(BLK_REQ_SECTOR, BigInt(sector), true);
        header.bytes[BLK_REQ_HEADER_SIZE] = 0xff; // status: anything but OK until the device writes it
        fill?.(slot);
        const chain: DriverBuffer[] = [{ gpa: header.gpa, len: BLK_REQ_HEADER_SIZE, writable: false }];
        if (data !== undefined) chain.push({ gpa: data.gpa, len: length, writable: dataWritable });
        chain.push({ gpa: header.gpa + BLK_REQ_HEADER_SIZE, len: BLK_STATUS_SIZE, writable: true });
        let used: number;
        try {
          used = await this.device.queue(0).submit(chain);
        } catch (e) {
          if (e instanceof DeviceResetError && attempt < this.retries) continue;
          throw e;
        }
        const status = header.bytes[BLK_REQ_HEADER_SIZE]!;
        if (status !== VIRTIO_BLK_S_OK) throw new BlockIoError(this.device.dev, op, status);
        take?.(slot);
        return used;
      }
    } finally {
      if (data !== undefined) this.slots.release(data);
      this.headers.release(header);
    }
  }
}
