// Driver SDK: one device as its driver sees it (docs/PROTOCOL.md §8 "Driver", virtio 1.2 §3.1 device
// initialisation): probe with GET_DEVICE_INFO, reset, ACKNOWLEDGE and DRIVER, feature negotiation
// (FEATURES_OK checked in the reply), virtqueue setup confirmed with GET_VQUEUE, DRIVER_OK; config
// reads and writes that honour the generation count; EVENT_CONFIG handling, including
// DEVICE_NEEDS_RESET → reset and initialise again with the same choices; EVENT_USED to the queues.
import type { EventConfig, Message } from '../protocol/codec.js';
import {
  HDR_SIZE, STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FAILED, STATUS_FEATURES_OK,
} from '../protocol/constants.js';
import type { OobDoorbell } from '../endpoint/oob-doorbell.js';
import type { GuestMemory } from '../virtqueue/guest-memory.js';
import {
  VIRTIO_F_EVENT_IDX, VIRTIO_F_RING_RESET, VIRTIO_F_VERSION_1, featureBit, featureWords, hasFeature, withFeatureWords,
} from '../virtqueue/feature-bits.js';
import { VIRTQ_MAX_SIZE } from '../virtqueue/split-layout.js';
import { DriverVirtqueue, type VirtqueueOwner } from './driver-virtqueue.js';
import { DeviceInitError, DeviceRemovedError, DeviceResetError, DriverClosedError } from './errors.js';
import type { DriverLink } from './driver-link.js';

/** GET_DEVICE_INFO, profile-independent. */
export interface DeviceInfo {
  deviceId: number;
  vendorId: number;
  /** 32-bit feature blocks the device has. */
  featureBlocks: number;
  configSize: number;
  maxVirtqueues: number;
  adminVqStart: number;
  adminVqCount: number;
}

export interface DeviceInitOptions {
  /** Device-type features the driver can use; VERSION_1, EVENT_IDX and RING_RESET are added and taken when offered. */
  features?: bigint;
  /** One entry per virtqueue to set up: the size wanted (rounded down to a power of two ≤ max_size). */
  queueSizes?: number[];
  /** Use VIRTIO_F_EVENT_IDX when offered. Default true. */
  eventIdx?: boolean;
  /**
   * Send EVENT_AVAIL for every buffer made available, ignoring the device's suppression (allowed:
   * it is a SHOULD NOT). For stress profiles that want the most notifications. Default false.
   */
  notifyEveryBuffer?: boolean;
  /** Expected device id: anything else fails initialisation (a wrong driver for the device). */
  deviceId?: number;
  /** Send the tracked generation in SET_CONFIG (strict profile). False: send 0 (2026 baseline). Default true. */
  strictConfigGeneration?: boolean;
}

export type DeviceState = 'new' | 'initialising' | 'ready' | 'resetting' | 'removed' | 'failed' | 'closed';

/** What EVENT_CONFIG told the driver. `data` is empty when the device said "re-read". */
export interface ConfigChange {
  generation: number;
  offset: number;
  data: Uint8Array;
  deviceStatus: number;
}

/** GET/SET_CONFIG carry 12 bytes of fields after the header. */
const CONFIG_OVERHEAD = HDR_SIZE + 12;
/** Attempts at a consistent multi-chunk read or an accepted write (2026 Linux retries 5 times). */
const CONFIG_ATTEMPTS = 5;
/** Reset polling: every 10 ms for up to 10 s (2026 Linux). */
const RESET_POLL_MS = 10;
const RESET_WAIT_MS = 10_000;

export class DriverDevice implements VirtqueueOwner {
  info: DeviceInfo | undefined;
  /** The negotiated feature set (after init). */
  features = 0n;
  /** The latest config generation seen (GET/SET_CONFIG replies, EVENT_CONFIG). */
  generation = 0;
  private stateNow: DeviceState = 'new';
  private initOptions: DeviceInitOptions | undefined;
  private readonly queues: DriverVirtqueue[] = [];
  private readonly configListeners = new Set<(c: ConfigChange) => void>();
  private readonly stateListeners = new Set<(s: DeviceState, why: string) => void>();
  private recovering: Promise<void> | undefined;
  /** Times the device was initialised again after NEEDS_RESET, a queue fault or a re-add. */
  reinits = 0;

  constructor(private readonly driver: DriverLink, readonly dev: number, private readonly oob: OobDoorbell | undefined) {}

  get memory(): GuestMemory {
    return this.driver.memory;
  }

  get state(): DeviceState {
    return this.stateNow;
  }

  get oobArea(): number | undefined {
    return this.oob?.addr;
  }

  /** Virtqueue `q` (set up by init). */
  queue(q: number): DriverVirtqueue {
    const vq = this.queues[q];
    if (vq === undefined) throw new RangeError(`device ${this.dev} has no virtqueue ${q} set up (init with queueSizes)`);
    return vq;
  }

  /** Called on every EVENT_CONFIG that is not a reset request. Returns the unsubscribe function. */
  onConfigChange(listener: (c: ConfigChange) => void): () => void {
    this.configListeners.add(listener);
    return () => this.configListeners.delete(listener);
  }

  /** Called on every state change, with why. Returns the unsubscribe function. */
  onStateChange(listener: (s: DeviceState, why: string) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** GET_DEVICE_INFO (answered even while the device is inactive). */
  async probe(): Promise<DeviceInfo> {
    const r = await this.call({ message: 'GET_DEVICE_INFO', response: false, dev_num: this.dev, token: 0 });
    if (r.message !== 'GET_DEVICE_INFO' || !r.response) throw new DeviceInitError(this.dev, 'probe', 'unexpected reply');
    const info: DeviceInfo = r.profile === 'rev1-2026'
      ? { deviceId: r.device_id, vendorId: r.vendor_id, featureBlocks: r.num_feature_blocks, configSize: r.config_size, maxVirtqueues: r.max_virtqueues, adminVqStart: r.admin_vq_start, adminVqCount: r.admin_vq_count }
      : { deviceId: r.device_id, vendorId: r.vendor_id, featureBlocks: Math.ceil(r.num_feature_bits / 32), configSize: r.config_size, maxVirtqueues: r.max_virtqueues, adminVqStart: r.admin_vq_start, adminVqCount: r.admin_vq_count };
    this.info = info;
    return info;
  }

  /** Initialise the device (virtio 1.2 §3.1.1) and remember the choices for re-initialisation. */
  async init(opts: DeviceInitOptions = {}): Promise<void> {
    if (this.stateNow === 'removed') throw new DeviceRemovedError(this.dev);
    if (this.stateNow === 'closed') throw new DriverClosedError();
    this.initOptions = opts;
    await this.initialise('init');
  }

  /** Reset the device (SET_DEVICE_STATUS 0, then wait for status 0); outstanding buffers fail. */
  async reset(): Promise<void> {
    this.deactivateQueues(new DeviceResetError(this.dev, 'reset by the driver'), false);
    this.setState('new', 'reset by the driver');
    await this.resetDevice();
  }

  /**
   * Config bytes [offset, offset + length), in chunks that fit the link; read again while the
   * chunks report different generations (the config changed in between).
   */
  async readConfig(offset: number, length: number): Promise<Uint8Array> {
    this.checkConfigRange(offset, length);
    const chunk = this.driver.maxMessageSize - CONFIG_OVERHEAD;
    for (let attempt = 0; attempt < CONFIG_ATTEMPTS; attempt++) {
      const out = new Uint8Array(length);
      let first = -1;
      let consistent = true;
      for (let at = 0; at < length || (length === 0 && at === 0); at += Math.max(chunk, 1)) {
        const n = Math.min(chunk, length - at);
        const r = await this.call({ message: 'GET_CONFIG', response: false, dev_num: this.dev, token: 0, offset: offset + at, length: n });
        if (r.message !== 'GET_CONFIG' || !r.response || r.length !== n || r.data.length !== n) {
          throw new DeviceInitError(this.dev, 'config read', `GET_CONFIG reply for ${n} byte(s) at ${offset + at} is malformed`);
        }
        out.set(r.data, at);
        this.generation = r.generation;
        if (first === -1) first = r.generation;
        else if (r.generation !== first) consistent = false;
        if (length === 0) break;
      }
      if (consistent) return out;
    }
    throw new DeviceInitError(this.dev, 'config read', `config kept changing during ${CONFIG_ATTEMPTS} attempts`);
  }

  /**
   * Write config bytes. Each chunk carries the tracked generation (strict profile); a rejected
   * write (reply length 0) re-reads the generation and is tried again.
   */
  async writeConfig(offset: number, data: Uint8Array): Promise<void> {
    this.checkConfigRange(offset, data.length);
    const strict = this.initOptions?.strictConfigGeneration ?? true;
    const chunk = this.driver.maxMessageSize - CONFIG_OVERHEAD;
    for (let at = 0; at < data.length; at += chunk) {
      const part = data.subarray(at, Math.min(data.length, at + chunk));
      for (let attempt = 0; ; attempt++) {
        const r = await this.call({
          message: 'SET_CONFIG', response: false, dev_num: this.dev, token: 0,
          generation: strict ? this.generation : 0, offset: offset + at, length: part.length, data: part.slice(),
        });
        if (r.message !== 'SET_CONFIG' || !r.response) throw new DeviceInitError(this.dev, 'config write', 'unexpected reply');
        if (r.length === part.length) break;
        if (attempt + 1 >= CONFIG_ATTEMPTS) {
          throw new DeviceInitError(this.dev, 'config write', `SET_CONFIG of ${part.length} byte(s) at ${offset + at} rejected ${CONFIG_ATTEMPTS} times (read-only field, or the config keeps changing)`);
        }
        await this.readConfig(offset + at, 0); // learn the current generation, then retry
      }
    }
  }

  // ------------------------------------------------------------ VirtqueueOwner

  notify(q: number): void {
    if (this.oob !== undefined) {
      this.oob.signal(q);
      return;
    }
    // next_offset 0: VIRTIO_F_NOTIFICATION_DATA is never negotiated (docs/PROTOCOL.md §8 driver rule 8).
    this.driver.notifyAvail(this.dev, q);
    this.driver.endpoint.flush();
  }

  fault(why: string): void {
    void this.recover(`used ring fault (${why})`).catch(() => undefined);
  }

  // ------------------------------------------------------------ from VirtioDriver

  /** EVENT_CONFIG: track the generation; DEVICE_NEEDS_RESET → reset and initialise again. */
  configEvent(msg: EventConfig): void {
    this.generation = msg.generation;
    if ((msg.device_status & STATUS_DEVICE_NEEDS_RESET) !== 0) {
      void this.recover('DEVICE_NEEDS_RESET').catch(() => undefined);
      return;
    }
    const change: ConfigChange = { generation: msg.generation, offset: msg.offset, data: msg.data, deviceStatus: msg.device_status };
    for (const l of this.configListeners) l(change);
  }

  /** EVENT_USED (or its oob doorbell) for queue `q`. */
  usedSignalled(q: number): void {
    if (this.stateNow === 'ready') this.queues[q]?.drain();
  }

  /** Safety poll of queues with chains outstanding; returns completions found. */
  pollUsed(): number {
    if (this.stateNow !== 'ready') return 0;
    let n = 0;
    for (const vq of this.queues) if (vq.outstanding > 0) n += vq.drain();
    return n;
  }

  /** EVENT_DEVICE REMOVED: stop, fail outstanding work (docs/PROTOCOL.md §8 driver rule 9). */
  removed(): void {
    this.deactivateQueues(new DeviceRemovedError(this.dev), true);
    this.setState('removed', 'EVENT_DEVICE REMOVED');
  }

  /** EVENT_DEVICE READY for a device this driver knew: initialise it again if it had been. */
  readyAgain(): void {
    if (this.stateNow !== 'removed') return;
    this.setState('new', 'EVENT_DEVICE READY');
    if (this.initOptions !== undefined) void this.recover('device added again').catch(() => undefined);
  }

  closed(): void {
    this.deactivateQueues(new DriverClosedError(), true);
    this.setState('closed', 'driver closed');
  }

  // ------------------------------------------------------------ internals

  private setState(s: DeviceState, why: string): void {
    if (this.stateNow === s) return;
    this.stateNow = s;
    for (const l of this.stateListeners) l(s, why);
  }

  private deactivateQueues(error: Error, all: boolean): void {
    for (const vq of this.queues) vq.deactivate(error, all);
  }

  /** Reset and initialise again with the remembered choices; concurrent causes share one run. */
  private recover(why: string): Promise<void> {
    if (this.recovering !== undefined) return this.recovering;
    if (this.initOptions === undefined || this.stateNow === 'removed' || this.stateNow === 'closed') return Promise.resolve();
    this.deactivateQueues(new DeviceResetError(this.dev, why), false);
    this.setState('resetting', why);
    this.recovering = (async () => {
      try {
        // A request could be in flight for the old incarnation; let this one start clean.
        await this.initialise(why);
        this.reinits++;
      } finally {
        this.recovering = undefined;
      }
    })();
    return this.recovering;
  }

  private async initialise(why: string): Promise<void> {
    const opts = this.initOptions ?? {};
    this.setState('initialising', why);
    try {
      const info = await this.probe();
      if (opts.deviceId !== undefined && info.deviceId !== opts.deviceId) {
        throw new DeviceInitError(this.dev, 'probe', `device id ${info.deviceId}, expected ${opts.deviceId}`);
      }
      await this.resetDevice();
      await this.status(STATUS_ACKNOWLEDGE);
      await this.status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
      const offered = await this.readFeatures(info.featureBlocks);
      let wanted = (opts.features ?? 0n) | featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_F_RING_RESET);
      if (opts.eventIdx ?? true) wanted |= featureBit(VIRTIO_F_EVENT_IDX);
      const chosen = offered & wanted;
      if (!hasFeature(chosen, VIRTIO_F_VERSION_1)) {
        await this.status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FAILED);
        throw new DeviceInitError(this.dev, 'features', 'the device does not offer VIRTIO_F_VERSION_1 (a legacy device)');
      }
      await this.writeFeatures(chosen, info.featureBlocks);
      const s = await this.status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
      if ((s & STATUS_FEATURES_OK) === 0) {
        await this.status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FAILED);
        throw new DeviceInitError(this.dev, 'features', `the device refused features 0x${chosen.toString(16)} (FEATURES_OK cleared)`);
      }
      this.features = chosen;
      if (info.configSize > 0) await this.readConfig(0, 0); // the current generation
      const sizes = opts.queueSizes ?? [];
      if (sizes.length > info.maxVirtqueues) {
        throw new DeviceInitError(this.dev, 'queues', `${sizes.length} queues wanted, the device has ${info.maxVirtqueues}`);
      }
      const eventIdx = hasFeature(chosen, VIRTIO_F_EVENT_IDX);
      for (let q = 0; q < sizes.length; q++) await this.setupQueue(q, sizes[q]!, eventIdx);
      const ok = await this.status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
      if ((ok & STATUS_DRIVER_OK) === 0) throw new DeviceInitError(this.dev, 'DRIVER_OK', `status after DRIVER_OK is 0x${ok.toString(16)}`);
      this.setState('ready', why);
      for (let q = 0; q < sizes.length; q++) this.queues[q]!.start();
    } catch (e) {
      if (this.stateNow === 'initialising') this.setState('failed', e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  private async setupQueue(q: number, want: number, eventIdx: boolean): Promise<void> {
    const before = await this.call({ message: 'GET_VQUEUE', response: false, dev_num: this.dev, token: 0, index: q });
    if (before.message !== 'GET_VQUEUE' || !before.response) throw new DeviceInitError(this.dev, `queue ${q}`, 'unexpected GET_VQUEUE reply');
    if (before.max_size === 0) throw new DeviceInitError(this.dev, `queue ${q}`, 'does not exist (max_size 0)');
    if (before.cur_size !== 0) throw new DeviceInitError(this.dev, `queue ${q}`, `is configured (cur_size ${before.cur_size}) after reset`);
    let size = 1;
    while (size * 2 <= Math.min(want, before.max_size, VIRTQ_MAX_SIZE)) size *= 2;
    const vq = (this.queues[q] ??= new DriverVirtqueue(this, q));
    const at = vq.place(size);
    vq.prepare(eventIdx, this.initOptions?.notifyEveryBuffer ?? false);
    const addrs = { desc_addr: BigInt(at.descAddr), driver_addr: BigInt(at.driverAddr), device_addr: BigInt(at.deviceAddr) };
    const set: Message = this.driver.profile === 'rev1-2026'
      ? { message: 'SET_VQUEUE', response: false, dev_num: this.dev, token: 0, profile: 'rev1-2026', index: q, flags: 1, size, reserved: 0, ...addrs }
      : { message: 'SET_VQUEUE', response: false, dev_num: this.dev, token: 0, profile: 'rev1', index: q, reserved0: 0, size, reserved1: 0, ...addrs };
    await this.call(set);
    const after = await this.call({ message: 'GET_VQUEUE', response: false, dev_num: this.dev, token: 0, index: q });
    if (after.message !== 'GET_VQUEUE' || !after.response || after.cur_size !== size || after.desc_addr !== addrs.desc_addr) {
      throw new DeviceInitError(this.dev, `queue ${q}`, `SET_VQUEUE of size ${size} did not take (GET_VQUEUE reports cur_size ${after.message === 'GET_VQUEUE' && after.response ? after.cur_size : '?'})`);
    }
  }

  private async status(value: number): Promise<number> {
    const r = await this.call({ message: 'SET_DEVICE_STATUS', response: false, dev_num: this.dev, token: 0, status: value });
    if (r.message !== 'SET_DEVICE_STATUS' || !r.response) throw new DeviceInitError(this.dev, 'status', 'unexpected reply');
    return r.status;
  }

  /** SET_DEVICE_STATUS 0, then poll GET_DEVICE_STATUS until it reads 0 (docs/PROTOCOL.md §8 driver rule 7). */
  private async resetDevice(): Promise<void> {
    if ((await this.status(0)) === 0) return;
    const deadline = performance.now() + RESET_WAIT_MS;
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, RESET_POLL_MS));
      const r = await this.call({ message: 'GET_DEVICE_STATUS', response: false, dev_num: this.dev, token: 0 });
      if (r.message === 'GET_DEVICE_STATUS' && r.response && r.status === 0) return;
    }
    throw new DeviceInitError(this.dev, 'reset', `status did not read 0 within ${RESET_WAIT_MS} ms`);
  }

  private async readFeatures(blocks: number): Promise<bigint> {
    let features = 0n;
    const perReply = Math.max(1, Math.floor((this.driver.maxMessageSize - HDR_SIZE - 8) / 4));
    for (let first = 0; first < blocks; first += perReply) {
      const n = Math.min(perReply, blocks - first);
      const r = await this.call({ message: 'GET_DEVICE_FEATURES', response: false, dev_num: this.dev, token: 0, block_index: first, num_blocks: n });
      if (r.message !== 'GET_DEVICE_FEATURES' || !r.response || r.block_index !== first || r.features.length !== n) {
        throw new DeviceInitError(this.dev, 'features', 'GET_DEVICE_FEATURES reply does not echo the blocks asked for');
      }
      features = withFeatureWords(features, first, r.features);
    }
    return features;
  }

  private async writeFeatures(features: bigint, blocks: number): Promise<void> {
    const perRequest = Math.max(1, Math.floor((this.driver.maxMessageSize - HDR_SIZE - 8) / 4));
    for (let first = 0; first < blocks; first += perRequest) {
      const n = Math.min(perRequest, blocks - first);
      await this.call({
        message: 'SET_DRIVER_FEATURES', response: false, dev_num: this.dev, token: 0,
        block_index: first, num_blocks: n, features: featureWords(features, first, n),
      });
    }
  }

  private checkConfigRange(offset: number, length: number): void {
    if (this.driver.maxMessageSize <= CONFIG_OVERHEAD) {
      throw new RangeError(`device ${this.dev}: the link carries at most ${this.driver.maxMessageSize} bytes, too few for any config data (GET/SET_CONFIG need ${CONFIG_OVERHEAD} + data)`);
    }
    const size = this.info?.configSize;
    if (size === undefined) throw new RangeError(`device ${this.dev}: probe() before reading or writing config`);
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new RangeError(`device ${this.dev}: config range [${offset}, +${length}) is outside config_size ${size}`);
    }
  }

  private async call(msg: Message): Promise<Message> {
    const r = await this.driver.request(msg);
    // A status that says NEEDS_RESET is as good as the event (which may have been dropped).
    if ((r.message === 'SET_DEVICE_STATUS' || r.message === 'GET_DEVICE_STATUS') && r.response &&
        (r.status & STATUS_DEVICE_NEEDS_RESET) !== 0 && this.stateNow === 'ready') {
      void this.recover('DEVICE_NEEDS_RESET (status)').catch(() => undefined);
    }
    return r;
  }
}
