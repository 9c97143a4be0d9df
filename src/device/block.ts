// The block reference device: virtio-blk (virtio 1.2 §5.2, device id 2) backed by a real file.
// One request queue; IN, OUT, FLUSH and GET_ID; capacity (file size / 512) in config space, with
// EVENT_CONFIG when it changes (resize); the writeback byte driver-writable with CONFIG_WCE.
// Data moves through the device's DMA engine: inline, or in a pool (DMA-decoupled mode).
import { fstatSync, openSync, closeSync } from 'node:fs';
import { VirtioDevice, type ChainResult } from './device.js';
import { segmentsIn, type DmaJob, type DmaOptions, type DmaResult } from './dma.js';
import type { DescriptorChain, DeviceQueue } from '../virtqueue/device-queue.js';
import { featureBit, hasFeature } from '../virtqueue/feature-bits.js';
import {
  BLK_CFG_BLK_SIZE, BLK_CFG_CAPACITY, BLK_CFG_SEG_MAX, BLK_CFG_SIZE_MAX, BLK_CFG_WRITEBACK, BLK_CONFIG_SIZE,
  BLK_REQ_HEADER_SIZE, BLK_REQ_SECTOR, BLK_REQ_TYPE, SECTOR_SIZE, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_CONFIG_WCE,
  VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_SIZE_MAX, VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT, VIRTIO_ID_BLOCK,
} from './virtio-blk.js';

export interface BlockDeviceOptions {
  /** Backing file; its size rounded down to 512 bytes is the capacity. */
  path: string;
  /** Offer VIRTIO_BLK_F_RO and fail writes. Default false. */
  readOnly?: boolean;
  /** Where buffer processing runs. Default inline. */
  dma?: DmaOptions;
  /** max_size of the request queue. Default 256. */
  queueMaxSize?: number;
  /** GET_ID answer (at most 20 bytes). Default "vmsg-blk". */
  serial?: string;
  /** EVENT_USED for every request, ignoring suppression (stress profiles). Default false. */
  interruptEveryBuffer?: boolean;
}

export interface BlockCounters {
  reads: number;
  writes: number;
  flushes: number;
  bytesRead: number;
  bytesWritten: number;
  ioErrors: number;
  /** Requests too short to carry a header and a status byte: used with length 0. */
  badRequests: number;
}

/** Largest data segment and segment count we advertise (SIZE_MAX / SEG_MAX). */
const SIZE_MAX = 1 << 20;
const SEG_MAX = 126;

export class BlockDevice extends VirtioDevice {
  readonly path: string;
  readonly readOnly: boolean;
  readonly blockCounters: BlockCounters = { reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0, ioErrors: 0, badRequests: 0 };
  private capacitySectors: number;
  private readonly serial: Uint8Array;

  constructor(opts: BlockDeviceOptions) {
    if (typeof opts.path !== 'string' || opts.path === '') throw new TypeError('block device: path must name the backing file');
    const fd = openSync(opts.path, 'r');
    const bytes = fstatSync(fd).size;
    closeSync(fd);
    const capacity = Math.floor(bytes / SECTOR_SIZE);
    const readOnly = opts.readOnly ?? false;
    let features = featureBit(VIRTIO_BLK_F_SIZE_MAX) | featureBit(VIRTIO_BLK_F_SEG_MAX) | featureBit(VIRTIO_BLK_F_BLK_SIZE) |
      featureBit(VIRTIO_BLK_F_FLUSH) | featureBit(VIRTIO_BLK_F_CONFIG_WCE);
    if (readOnly) features |= featureBit(VIRTIO_BLK_F_RO);
    const config = new Uint8Array(BLK_CONFIG_SIZE);
    const dv = new DataView(config.buffer);
    dv.setBigUint64(BLK_CFG_CAPACITY, BigInt(capacity), true);
    dv.setUint32(BLK_CFG_SIZE_MAX, SIZE_MAX, true);
    dv.setUint32(BLK_CFG_SEG_MAX, SEG_MAX, true);
    dv.setUint32(BLK_CFG_BLK_SIZE, SECTOR_SIZE, true);
    config[BLK_CFG_WRITEBACK] = 1;
    super({ deviceId: VIRTIO_ID_BLOCK, features, config, queues: 1, queueMaxSize: opts.queueMaxSize ?? 256, dma: opts.dma, interruptEveryBuffer: opts.interruptEveryBuffer });
    this.path = opts.path;
    this.readOnly = readOnly;
    this.capacitySectors = capacity;
    this.serial = new TextEncoder().encode((opts.serial ?? 'vmsg-blk').slice(0, VIRTIO_BLK_ID_BYTES));
  }

  get capacity(): number {
    return this.capacitySectors;
  }

  /** The backing store changed size: new capacity in config space, EVENT_CONFIG to the driver. */
  resize(sectors: number): void {
    if (!Number.isSafeInteger(sectors) || sectors < 0) throw new RangeError(`resize: sectors must be a non-negative integer, got ${sectors}`);
    this.capacitySectors = sectors;
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(sectors), true);
    this.updateConfig(BLK_CFG_CAPACITY, bytes);
  }

  protected override writeConfig(offset: number, data: Uint8Array): boolean {
    // Only the writeback byte, and only with CONFIG_WCE (virtio 1.2 §5.2.5).
    return offset === BLK_CFG_WRITEBACK && data.length === 1 && data[0]! <= 1 &&
      hasFeature(this.negotiatedFeatures, VIRTIO_BLK_F_CONFIG_WCE);
  }

  protected override onReset(): void {
    this.config[BLK_CFG_WRITEBACK] = 1;
  }

  protected handleChain(_q: number, chain: DescriptorChain, queue: DeviceQueue): ChainResult {
    if (chain.readableBytes < BLK_REQ_HEADER_SIZE || chain.writableBytes < 1) {
      this.blockCounters.badRequests++;
      return 0;
    }
    const header = new DataView(queue.read(chain, 0, BLK_REQ_HEADER_SIZE).buffer);
    const type = header.getUint32(BLK_REQ_TYPE, true);
    const sector = header.getBigUint64(BLK_REQ_SECTOR, true);
    const statusAt = chain.writableBytes - 1;
    const status = (s: number): void => queue.write(chain, statusAt, Uint8Array.of(s));
    const ioError = (): number => {
      this.blockCounters.ioErrors++;
      status(VIRTIO_BLK_S_IOERR);
      return 1;
    };
    switch (type) {
      case VIRTIO_BLK_T_OUT: {
        const length = chain.readableBytes - BLK_REQ_HEADER_SIZE;
        if (this.readOnly || !this.inRange(sector, length)) return ioError();
        this.blockCounters.writes++;
        this.blockCounters.bytesWritten += length;
        const job: DmaJob = { op: 'file-write', path: this.path, position: Number(sector) * SECTOR_SIZE, segments: segmentsIn(chain.readable, BLK_REQ_HEADER_SIZE, length) };
        return this.transfer(job, () => {
          status(VIRTIO_BLK_S_OK);
          return 1;
        }, ioError);
      }
      case VIRTIO_BLK_T_IN: {
        const length = chain.writableBytes - 1;
        if (!this.inRange(sector, length)) return ioError();
        this.blockCounters.reads++;
        this.blockCounters.bytesRead += length;
        const job: DmaJob = { op: 'file-read', path: this.path, position: Number(sector) * SECTOR_SIZE, segments: segmentsIn(chain.writable, 0, length) };
        return this.transfer(job, () => {
          status(VIRTIO_BLK_S_OK);
          return length + 1;
        }, ioError);
      }
      case VIRTIO_BLK_T_FLUSH:
        this.blockCounters.flushes++;
        return this.transfer({ op: 'file-sync', path: this.path }, () => {
          status(VIRTIO_BLK_S_OK);
          return 1;
        }, ioError);
      case VIRTIO_BLK_T_GET_ID: {
        const n = Math.min(VIRTIO_BLK_ID_BYTES, chain.writableBytes - 1);
        const id = new Uint8Array(n);
        id.set(this.serial.subarray(0, n));
        queue.write(chain, 0, id);
        status(VIRTIO_BLK_S_OK);
        return n + 1;
      }
      default:
        status(VIRTIO_BLK_S_UNSUPP);
        return 1;
    }
  }

  /** A data length that is whole sectors inside the capacity. */
  private inRange(sector: bigint, length: number): boolean {
    return length % SECTOR_SIZE === 0 && sector + BigInt(length / SECTOR_SIZE) <= BigInt(this.capacitySectors);
  }

  /** Run a DMA job; `done` gives the used length on success, `failed` on an I/O error. */
  private transfer(job: DmaJob, done: () => number, failed: () => number): ChainResult {
    let result: DmaResult | Promise<DmaResult>;
    try {
      result = this.dma.run(job);
    } catch {
      return failed();
    }
    return result instanceof Promise ? result.then(done, failed) : done();
  }
}
