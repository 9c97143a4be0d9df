// Device SDK: the device-side rules of virtio-msg (docs/PROTOCOL.md §8 "Device") for one device number, as a
// base class. A subclass says what it is (ids, features, config bytes, queues) and serves its
// virtqueue buffers (handleChain); this class does everything else: GET_DEVICE_INFO at any time,
// feature blocks (zero beyond what is offered), the status state machine and reset on 0,
// FEATURES_OK acceptance, config space with a generation count (SET_CONFIG rejected on a
// generation mismatch in the strict profile), EVENT_CONFIG on every device-made change,
// GET/SET/RESET_VQUEUE (cur_size 0 while unconfigured), GET_SHM, DEVICE_NEEDS_RESET on a
// virtqueue fault, and no queue work before DRIVER_OK. DeviceHost (host.ts) carries the frames.
import {
  STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK, STATUS_DEVICE_NEEDS_RESET, STATUS_FAILED,
  HDR_SIZE, HDR_TYPE, HDR_MSG_ID, HDR_DEV_NUM, HDR_TOKEN, HDR_MSG_SIZE, TYPE_RESPONSE,
  T_GET_DEVICE_INFO, T_GET_DEVICE_FEATURES, T_SET_DRIVER_FEATURES, T_GET_CONFIG, T_GET_DEVICE_STATUS,
  T_SET_DEVICE_STATUS, T_GET_VQUEUE, T_SET_VQUEUE, T_RESET_VQUEUE,
} from '../protocol/constants.js';
import type { Message, Profile } from '../protocol/codec.js';
import { Reason, type ReasonCode } from '../protocol/reasons.js';
import { DeviceQueue, type DescriptorChain } from '../virtqueue/device-queue.js';
import { VirtqueueFault } from '../virtqueue/fault.js';
import type { GuestMemory } from '../virtqueue/guest-memory.js';
import { Dma, type DmaCounters, type DmaOptions } from './dma.js';
import {
  VIRTIO_F_EVENT_IDX, VIRTIO_F_RING_RESET, VIRTIO_F_VERSION_1, featureBit, featureBlockCount, featureWords,
  hasFeature,
} from '../virtqueue/feature-bits.js';

/** Vendor id of this package's reference devices: "VMSG" in little-endian bytes. */
export const VMSG_VENDOR_ID = 0x47534d56;

/** Status bits a driver may set; DEVICE_NEEDS_RESET is the device's alone. */
const DRIVER_STATUS_BITS = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK | STATUS_FAILED;
/** Bytes of GET_CONFIG / SET_CONFIG / EVENT_CONFIG before the data (header included). */
const CONFIG_REPLY_OVERHEAD = HDR_SIZE + 12;
const EVENT_CONFIG_OVERHEAD = HDR_SIZE + 16;
const FEATURES_REPLY_OVERHEAD = HDR_SIZE + 8;
/** Payload offsets (from the frame start) of the in-place request path (codec.ts layouts). */
const P0 = HDR_SIZE;
const P4 = HDR_SIZE + 4;
const P8 = HDR_SIZE + 8;
const P12 = HDR_SIZE + 12;

/** A device-owned shared memory region (virtio 1.3 "shared memory"), reported by GET_SHM. */
export interface SharedMemoryRegion {
  address: bigint;
  length: bigint;
}

/** What a device is. Validated by the constructor; errors name the field. */
export interface VirtioDeviceSpec {
  /** virtio device id (virtio 1.2 §5: 2 block, 4 entropy, ...). */
  deviceId: number;
  /** Default VMSG_VENDOR_ID. */
  vendorId?: number;
  /** Device-type feature bits offered. VERSION_1, EVENT_IDX and RING_RESET are added. */
  features?: bigint;
  /** Initial config space; its length is config_size. Default empty. */
  config?: Uint8Array;
  /** Number of virtqueues (max_virtqueues). */
  queues: number;
  /** max_size of every queue: a power of two up to 32768. Default 256. */
  queueMaxSize?: number;
  /** GET_SHM regions by index. Default none. */
  shm?: SharedMemoryRegion[];
  /**
   * Reject SET_CONFIG whose generation differs from the current one (PR28, 2026 strict profile).
   * False = the 2026 baseline profile: the generation of SET_CONFIG is ignored. Default true.
   */
  strictConfigGeneration?: boolean;
  /** Where buffer processing through this.dma runs: inline (default) or in a pool (DMA-decoupled mode). */
  dma?: DmaOptions;
  /**
   * Signal EVENT_USED for every used buffer, ignoring the driver's suppression (allowed: a
   * suppression request is a SHOULD). For stress profiles that want the most events. Default false.
   */
  interruptEveryBuffer?: boolean;
}

/** What a device needs from whoever carries its frames (DeviceHost). */
export interface DeviceTransport {
  readonly memory: GuestMemory;
  /** Largest frame on the link: no reply or event may be larger (docs/PROTOCOL.md §8 device rule 15). */
  readonly maxMessageSize: number;
  readonly profile: Profile;
  /** Send an event (token 0) or a response (the host sets the token). */
  sendEvent(msg: Message): void;
  /** Notify the driver that queue `q` has used buffers (EVENT_USED in-band or out of band). */
  signalUsed(q: number): void;
  /** Publish what was sent (after work done outside a frame, e.g. a DMA completion). */
  flush(): void;
}

/** What handleChain returns: bytes written to the chain's writable buffers, now or later. */
export type ChainResult = number | Promise<number>;

/** Counters of one device. */
export interface DeviceCounters {
  requests: number;
  chains: number;
  usedEvents: number;
  configEvents: number;
  resets: number;
  faults: number;
  /** Asynchronous completions dropped because the queue was reset meanwhile. */
  staleCompletions: number;
}

interface QueueState {
  size: number;
  descAddr: bigint;
  driverAddr: bigint;
  deviceAddr: bigint;
  queue: DeviceQueue;
}

export abstract class VirtioDevice {
  readonly deviceId: number;
  readonly vendorId: number;
  /** Everything offered, SDK bits included. */
  readonly offeredFeatures: bigint;
  readonly configSize: number;
  readonly numQueues: number;
  readonly queueMaxSize: number;
  readonly strictConfigGeneration: boolean;
  readonly counters: DeviceCounters = { requests: 0, chains: 0, usedEvents: 0, configEvents: 0, resets: 0, faults: 0, staleCompletions: 0 };
  /** The config space; subclasses change it only through updateConfig (generation, EVENT_CONFIG). */
  protected readonly config: Uint8Array;
  private readonly shm: SharedMemoryRegion[];
  private devNum = -1;
  private transport: DeviceTransport | undefined;
  private statusBits = 0;
  private generationCount = 0;
  /**
   * What SET_DRIVER_FEATURES wrote, as u32 blocks of the offer (no bigint per request); fixed
   * once FEATURES_OK is accepted.
   */
  private readonly driverWords: Uint32Array;
  private unofferedAcked = false;
  private readonly queueStates: (QueueState | null)[];
  /** Bumped on reset and RESET_VQUEUE: completions of older work are dropped. */
  private readonly queueEpochs: Uint32Array;
  private readonly interruptPending: Uint8Array;
  private interruptCheckScheduled = false;
  private readonly dmaOptions: DmaOptions;
  private dmaEngine: Dma | undefined;
  private readonly interruptEveryBuffer: boolean;
  /** offeredFeatures as u32 blocks, for answers written in place (no bigint per request). */
  private readonly offeredWords: Uint32Array;
  /** Reused for SET_DRIVER_FEATURES read in place. */
  private readonly featureScratch: number[] = [];
  /** Why the device last set DEVICE_NEEDS_RESET (diagnostics). */
  lastFault = '';

  constructor(spec: VirtioDeviceSpec) {
    const int = (name: string, v: unknown, min: number, max: number): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw new RangeError(`device spec: ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
      }
      return v;
    };
    this.deviceId = int('deviceId', spec.deviceId, 1, 0xffff_ffff);
    this.vendorId = int('vendorId', spec.vendorId ?? VMSG_VENDOR_ID, 0, 0xffff_ffff);
    this.numQueues = int('queues', spec.queues, 0, 65535);
    this.queueMaxSize = int('queueMaxSize', spec.queueMaxSize ?? 256, 1, 32768);
    if ((this.queueMaxSize & (this.queueMaxSize - 1)) !== 0) throw new RangeError(`device spec: queueMaxSize must be a power of two, got ${this.queueMaxSize}`);
    const features = spec.features ?? 0n;
    if (typeof features !== 'bigint' || features < 0n) throw new TypeError('device spec: features must be a non-negative bigint (bit n = 1n << BigInt(n))');
    if (hasFeature(features, 39)) throw new RangeError('device spec: VIRTIO_F_NOTIF_CONFIG_DATA (bit 39) must not be offered over virtio-msg');
    this.offeredFeatures = features | featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_F_EVENT_IDX) | featureBit(VIRTIO_F_RING_RESET);
    this.config = new Uint8Array(spec.config ?? new Uint8Array(0));
    this.configSize = this.config.length;
    this.shm = spec.shm ?? [];
    this.strictConfigGeneration = spec.strictConfigGeneration ?? true;
    this.dmaOptions = spec.dma ?? {};
    this.interruptEveryBuffer = spec.interruptEveryBuffer ?? false;
    this.queueStates = new Array<QueueState | null>(this.numQueues).fill(null);
    this.queueEpochs = new Uint32Array(this.numQueues);
    this.interruptPending = new Uint8Array(this.numQueues);
    const blocks = featureBlockCount(this.offeredFeatures);
    this.offeredWords = Uint32Array.from(featureWords(this.offeredFeatures, 0, blocks));
    this.driverWords = new Uint32Array(blocks);
  }

  // ------------------------------------------------------------ what subclasses provide

  /**
   * Serve one chain popped from queue `q` (only after DRIVER_OK). Return the bytes written to
   * its writable buffers, or a promise of them (the loop does not wait: the used entry and
   * EVENT_USED are posted when it settles). Throwing (or rejecting) is a device error: the
   * device sets DEVICE_NEEDS_RESET.
   */
  protected abstract handleChain(q: number, chain: DescriptorChain, queue: DeviceQueue): ChainResult;

  /** Decide on the feature set the driver acknowledged (already a subset of the offer with VERSION_1). */
  protected acceptFeatures(_features: bigint): boolean {
    return true;
  }

  /** The driver wrote config bytes (SET_CONFIG). Return false to refuse (reply length 0). Default: read-only. */
  protected writeConfig(_offset: number, _data: Uint8Array): boolean {
    return false;
  }

  /** The device was reset (SET_DEVICE_STATUS 0): restore driver-writable config, drop pending work. */
  protected onReset(): void {}

  /** DRIVER_OK was accepted. */
  protected onDriverOk(): void {}

  /** Release what the device holds (the DMA pool). DeviceHost.close() calls it. */
  async close(): Promise<void> {
    await this.dmaEngine?.close();
  }

  // ------------------------------------------------------------ helpers for subclasses

  /** The device number it serves (after DeviceHost.add). */
  get dev(): number {
    return this.devNum;
  }

  get status(): number {
    return this.statusBits;
  }

  get generation(): number {
    return this.generationCount;
  }

  /** The feature set in effect (0 until FEATURES_OK is accepted). */
  get negotiatedFeatures(): bigint {
    return (this.statusBits & STATUS_FEATURES_OK) !== 0 ? this.driverFeatures : 0n;
  }

  /** The guest memory its virtqueues live in. */
  protected get memory(): GuestMemory {
    return this.link().memory;
  }

  /** The device's DMA engine (made on first use, over the host's guest memory). */
  protected get dma(): Dma {
    return (this.dmaEngine ??= new Dma(this.memory, this.dmaOptions));
  }

  /** What the DMA engine has done (zeros before its first job). */
  get dmaCounters(): DmaCounters {
    return this.dmaEngine?.counters ?? { jobs: 0, offloaded: 0, inFlight: 0, maxInFlight: 0, bytes: 0, checksum: 0 };
  }

  /**
   * A driver-visible config change made by the device: bump the generation first, write the
   * bytes, then tell the driver with EVENT_CONFIG carrying the new generation (and the data
   * when it fits the link's maximum message size, else length 0: "re-read").
   */
  protected updateConfig(offset: number, bytes: Uint8Array): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + bytes.length > this.configSize) {
      throw new RangeError(`updateConfig: [${offset}, +${bytes.length}) is outside the ${this.configSize}-byte config space`);
    }
    this.generationCount = (this.generationCount + 1) >>> 0;
    this.config.set(bytes, offset);
    this.sendConfigEvent(offset, bytes);
  }

  /**
   * An unrecoverable error: set DEVICE_NEEDS_RESET, stop serving queues, and tell the driver
   * (EVENT_CONFIG with the new status, docs/PROTOCOL.md §8 device rule 13). The driver resets the device.
   */
  protected needsReset(why: string): void {
    this.lastFault = why;
    this.counters.faults++;
    if ((this.statusBits & STATUS_DEVICE_NEEDS_RESET) !== 0) return;
    this.statusBits |= STATUS_DEVICE_NEEDS_RESET;
    this.sendConfigEvent(0, new Uint8Array(0));
  }

  // ------------------------------------------------------------ host side

  /** Bind to device number `dev` on `transport` (DeviceHost.add does this). */
  attach(dev: number, transport: DeviceTransport): void {
    if (this.transport !== undefined) throw new Error(`device is already attached as device number ${this.devNum}`);
    this.devNum = dev;
    this.transport = transport;
    // A pool takes a while to boot its threads: start it now rather than at the first buffer.
    if (this.dmaOptions.mode === 'offload') this.dma.warmUp().catch(() => undefined);
  }

  private link(): DeviceTransport {
    if (this.transport === undefined) throw new Error('device is not attached to a DeviceHost');
    return this.transport;
  }

  /**
   * Answer one decoded transport request, or return the reason to discard it silently
   * (malformed for this device, or a reply that would exceed the link's maximum). Spec §8
   * device rules 2–15.
   */
  handleRequest(msg: Message): Message | ReasonCode {
    if (msg.response) return Reason.WRONG_DIRECTION;
    this.counters.requests++;
    const { maxMessageSize, profile } = this.link();
    const base = { dev_num: this.devNum, token: 0, response: true as const };
    switch (msg.message) {
      case 'GET_DEVICE_INFO': {
        const blocks = featureBlockCount(this.offeredFeatures);
        if (profile === 'rev1-2026') {
          return {
            ...base, message: 'GET_DEVICE_INFO', profile, device_id: this.deviceId, vendor_id: this.vendorId,
            device_uuid: new Uint8Array(16), num_feature_blocks: blocks, config_size: this.configSize,
            max_virtqueues: this.numQueues, admin_vq_start: 0, admin_vq_count: 0,
          };
        }
        return {
          ...base, message: 'GET_DEVICE_INFO', profile: 'rev1', device_id: this.deviceId, vendor_id: this.vendorId,
          num_feature_bits: 32 * blocks, config_size: this.configSize, max_virtqueues: this.numQueues,
          admin_vq_start: 0, admin_vq_count: 0,
        };
      }
      case 'GET_DEVICE_FEATURES': {
        if (FEATURES_REPLY_OVERHEAD + 4 * msg.num_blocks > maxMessageSize) return Reason.MSG_SIZE_GT_BUS_MAX;
        return {
          ...base, message: 'GET_DEVICE_FEATURES', block_index: msg.block_index, num_blocks: msg.num_blocks,
          features: featureWords(this.offeredFeatures, msg.block_index, msg.num_blocks),
        };
      }
      case 'SET_DRIVER_FEATURES':
        // Features are fixed once FEATURES_OK is set (virtio 1.2 §3.1.1); the request is still answered.
        if ((this.statusBits & STATUS_FEATURES_OK) === 0) this.recordDriverFeatures(msg.block_index, msg.features);
        return { ...base, message: 'SET_DRIVER_FEATURES' };
      case 'GET_CONFIG': {
        if (!this.inConfig(msg.offset, msg.length)) return Reason.CONFIG_RANGE;
        if (CONFIG_REPLY_OVERHEAD + msg.length > maxMessageSize) return Reason.MSG_SIZE_GT_BUS_MAX;
        return {
          ...base, message: 'GET_CONFIG', generation: this.generationCount, offset: msg.offset, length: msg.length,
          data: this.config.slice(msg.offset, msg.offset + msg.length),
        };
      }
      case 'SET_CONFIG': {
        if (!this.inConfig(msg.offset, msg.length)) return Reason.CONFIG_RANGE;
        const stale = this.strictConfigGeneration && msg.generation !== this.generationCount;
        // Either the whole write is applied or none of it (2026: no partial writes).
        const applied = !stale && this.writeConfig(msg.offset, msg.data);
        if (applied) this.config.set(msg.data, msg.offset);
        return {
          ...base, message: 'SET_CONFIG', generation: this.generationCount, offset: msg.offset,
          length: applied ? msg.length : 0, data: new Uint8Array(0),
        };
      }
      case 'GET_DEVICE_STATUS':
        return { ...base, message: 'GET_DEVICE_STATUS', status: this.statusBits };
      case 'SET_DEVICE_STATUS':
        return { ...base, message: 'SET_DEVICE_STATUS', status: this.setStatus(msg.status) };
      case 'GET_VQUEUE':
        return this.getVqueue(msg.index, base);
      case 'SET_VQUEUE':
        this.setVqueue(msg.index, msg.size, msg.desc_addr, msg.driver_addr, msg.device_addr);
        return { ...base, message: 'SET_VQUEUE' };
      case 'RESET_VQUEUE':
        if (msg.index < this.numQueues && hasFeature(this.negotiatedFeatures, VIRTIO_F_RING_RESET)) this.dropQueue(msg.index);
        return { ...base, message: 'RESET_VQUEUE' };
      case 'GET_SHM': {
        if (msg.profile === 'rev1-2026') {
          const r = this.shm[msg.shmid];
          return { ...base, message: 'GET_SHM', profile: 'rev1-2026', shmid: msg.shmid, reserved: 0, length: r?.length ?? 0n, address: r?.address ?? 0n };
        }
        const r = this.shm[msg.index];
        // rev1 carries u32 fields: a region that does not fit them is reported absent.
        const fits = r !== undefined && r.length <= 0xffff_ffffn && r.address <= 0xffff_ffffn;
        return { ...base, message: 'GET_SHM', profile: 'rev1', index: msg.index, length: fits ? Number(r.length) : 0, address: fits ? Number(r.address) : 0 };
      }
      default:
        return Reason.WRONG_DIRECTION; // responses, bus messages and events are not requests
    }
  }

  /**
   * The request frame at `at` of `src` (`size` = its msg_size, all of it readable) answered in
   * place: the reply written at `out` of `dst`, which has room for the link's largest frame, with
   * token 0 (the host stamps the request's). `dst` must not be the ring the device sends into:
   * a hook may send an event while the request is handled. The same rules and answers as handleRequest, for
   * the control requests a driver repeats (initialisation, status, queue set-up, config reads),
   * without a message object per request: DeviceHost's per-frame path. Returns the reply's
   * bytes; 0 = take the decoded path (handleRequest) instead, for everything else and anything
   * malformed (it names the exact reason); a negative number = discard, -reason.
   */
  answerInPlace(src: DataView, at: number, size: number, dst: DataView, out: number): number {
    if ((src.getUint8(at + HDR_TYPE) & TYPE_RESPONSE) !== 0) return 0;
    const id = src.getUint8(at + HDR_MSG_ID);
    const { maxMessageSize, profile } = this.link();
    let n: number;
    switch (id) {
      case T_GET_DEVICE_INFO: {
        if (size !== HDR_SIZE) return 0;
        this.counters.requests++;
        const blocks = this.offeredWords.length;
        dst.setUint32(out + P0, this.deviceId, true);
        dst.setUint32(out + P4, this.vendorId, true);
        if (profile === 'rev1-2026') {
          n = HDR_SIZE + 44;
          if (n > maxMessageSize) return -Reason.MSG_SIZE_GT_BUS_MAX;
          for (let i = 8; i < 24; i += 4) dst.setUint32(out + HDR_SIZE + i, 0, true); // device_uuid
          dst.setUint32(out + HDR_SIZE + 24, blocks, true);
          dst.setUint32(out + HDR_SIZE + 28, this.configSize, true);
          dst.setUint32(out + HDR_SIZE + 32, this.numQueues, true);
          dst.setUint32(out + HDR_SIZE + 36, 0, true);
          dst.setUint32(out + HDR_SIZE + 40, 0, true);
        } else {
          n = HDR_SIZE + 24;
          if (n > maxMessageSize) return -Reason.MSG_SIZE_GT_BUS_MAX;
          dst.setUint32(out + P8, 32 * blocks, true);
          dst.setUint32(out + P12, this.configSize, true);
          dst.setUint32(out + HDR_SIZE + 16, this.numQueues, true);
          dst.setUint32(out + HDR_SIZE + 20, 0, true); // admin_vq_start, admin_vq_count (u16 each)
        }
        break;
      }
      case T_GET_DEVICE_FEATURES: {
        if (size !== HDR_SIZE + 8) return 0;
        this.counters.requests++;
        const first = src.getUint32(at + P0, true);
        const count = src.getUint32(at + P4, true);
        n = FEATURES_REPLY_OVERHEAD + 4 * count;
        if (n > maxMessageSize) return -Reason.MSG_SIZE_GT_BUS_MAX;
        dst.setUint32(out + P0, first, true);
        dst.setUint32(out + P4, count, true);
        const words = this.offeredWords;
        for (let i = 0; i < count; i++) dst.setUint32(out + P8 + 4 * i, first + i < words.length ? words[first + i]! : 0, true);
        break;
      }
      case T_SET_DRIVER_FEATURES: {
        if (size < HDR_SIZE + 8) return 0;
        const count = src.getUint32(at + P4, true);
        if (size !== HDR_SIZE + 8 + 4 * count) return 0;
        this.counters.requests++;
        if ((this.statusBits & STATUS_FEATURES_OK) === 0) {
          const words = this.featureScratch;
          words.length = count;
          for (let i = 0; i < count; i++) words[i] = src.getUint32(at + P8 + 4 * i, true);
          this.recordDriverFeatures(src.getUint32(at + P0, true), words);
        }
        n = HDR_SIZE;
        break;
      }
      case T_GET_CONFIG: {
        if (size !== HDR_SIZE + 8) return 0;
        this.counters.requests++;
        const offset = src.getUint32(at + P0, true);
        const length = src.getUint32(at + P4, true);
        if (!this.inConfig(offset, length)) return -Reason.CONFIG_RANGE;
        n = CONFIG_REPLY_OVERHEAD + length;
        if (n > maxMessageSize) return -Reason.MSG_SIZE_GT_BUS_MAX;
        dst.setUint32(out + P0, this.generationCount, true);
        dst.setUint32(out + P4, offset, true);
        dst.setUint32(out + P8, length, true);
        for (let i = 0; i < length; i++) dst.setUint8(out + P12 + i, this.config[offset + i]!);
        break;
      }
      case T_GET_DEVICE_STATUS:
        if (size !== HDR_SIZE) return 0;
        this.counters.requests++;
        dst.setUint32(out + P0, this.statusBits, true);
        n = HDR_SIZE + 4;
        break;
      case T_SET_DEVICE_STATUS:
        if (size !== HDR_SIZE + 4) return 0;
        this.counters.requests++;
        dst.setUint32(out + P0, this.setStatus(src.getUint32(at + P0, true)), true);
        n = HDR_SIZE + 4;
        break;
      case T_GET_VQUEUE: {
        if (size !== HDR_SIZE + 4) return 0;
        n = HDR_SIZE + 40;
        this.counters.requests++;
        if (n > maxMessageSize) return -Reason.MSG_SIZE_GT_BUS_MAX;
        const index = src.getUint32(at + P0, true);
        const state = index < this.numQueues ? this.queueStates[index] ?? null : null;
        dst.setUint32(out + P0, index, true);
        dst.setUint32(out + P4, index < this.numQueues ? this.queueMaxSize : 0, true);
        dst.setUint32(out + P8, state?.size ?? 0, true);
        // rev1: reserved; 2026: flags (bit 0: the queue is configured).
        dst.setUint32(out + P12, profile === 'rev1-2026' && state !== null ? 1 : 0, true);
        dst.setBigUint64(out + HDR_SIZE + 16, state?.descAddr ?? 0n, true);
        dst.setBigUint64(out + HDR_SIZE + 24, state?.driverAddr ?? 0n, true);
        dst.setBigUint64(out + HDR_SIZE + 32, state?.deviceAddr ?? 0n, true);
        break;
      }
      case T_SET_VQUEUE: {
        if (size !== HDR_SIZE + 40) return 0;
        this.counters.requests++;
        const index = src.getUint32(at + P0, true);
        const qsize = src.getUint32(at + P8, true);
        // The addresses (bigints) are read only when the queue can be set: a repeated set-up costs none.
        if (this.canSetVqueue(index, qsize)) {
          this.setVqueue(index, qsize, src.getBigUint64(at + HDR_SIZE + 16, true), src.getBigUint64(at + HDR_SIZE + 24, true), src.getBigUint64(at + HDR_SIZE + 32, true));
        }
        n = HDR_SIZE;
        break;
      }
      case T_RESET_VQUEUE: {
        if (size !== HDR_SIZE + 4) return 0;
        this.counters.requests++;
        const index = src.getUint32(at + P0, true);
        if (index < this.numQueues && hasFeature(this.negotiatedFeatures, VIRTIO_F_RING_RESET)) this.dropQueue(index);
        n = HDR_SIZE;
        break;
      }
      default:
        return 0;
    }
    dst.setUint8(out + HDR_TYPE, TYPE_RESPONSE);
    dst.setUint8(out + HDR_MSG_ID, id);
    dst.setUint16(out + HDR_DEV_NUM, this.devNum, true);
    dst.setUint16(out + HDR_TOKEN, 0, true);
    dst.setUint16(out + HDR_MSG_SIZE, n, true);
    return n;
  }

  /** The driver made buffers available on queue `q` (EVENT_AVAIL, or its out-of-band signal). */
  handleAvail(q: number): void {
    const state = q < this.numQueues ? this.queueStates[q] : null;
    if (state === null || state === undefined || !this.serving()) return;
    const { queue } = state;
    queue.disableNotifications();
    do {
      for (let chain = queue.pop(); chain !== null; chain = queue.pop()) {
        if (chain instanceof VirtqueueFault) {
          this.needsReset(`virtqueue ${q}: ${chain.kind}: ${chain.message}`);
          return;
        }
        this.startChain(q, queue, chain);
        if (!this.serving()) return;
      }
    } while (!queue.enableNotifications());
    this.checkInterrupts();
  }

  // ------------------------------------------------------------ internals

  private serving(): boolean {
    return (this.statusBits & (STATUS_DRIVER_OK | STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED)) === STATUS_DRIVER_OK;
  }

  private inConfig(offset: number, length: number): boolean {
    return offset + length <= this.configSize;
  }

  private startChain(q: number, queue: DeviceQueue, chain: DescriptorChain): void {
    this.counters.chains++;
    let result: ChainResult;
    try {
      result = this.handleChain(q, chain, queue);
    } catch (e) {
      this.needsReset(`queue ${q} head ${chain.head}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (typeof result === 'number') {
      this.complete(q, queue, chain.head, result);
      return;
    }
    const epoch = this.queueEpochs[q]!;
    result.then(
      (written) => {
        if (this.queueEpochs[q] !== epoch) {
          this.counters.staleCompletions++;
          return;
        }
        this.complete(q, queue, chain.head, written);
        this.scheduleInterruptCheck();
      },
      (e: unknown) => {
        if (this.queueEpochs[q] !== epoch) return;
        this.needsReset(`queue ${q} head ${chain.head}: ${e instanceof Error ? e.message : String(e)}`);
        this.link().flush();
      },
    );
  }

  private complete(q: number, queue: DeviceQueue, head: number, written: number): void {
    try {
      queue.push(head, written);
    } catch (e) {
      this.needsReset(`queue ${q}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (this.interruptEveryBuffer) {
      this.counters.usedEvents++;
      this.link().signalUsed(q);
      return;
    }
    this.interruptPending[q] = 1;
  }

  /** Completions that settle in one event-loop turn share one EVENT_USED per queue. */
  private scheduleInterruptCheck(): void {
    if (this.interruptCheckScheduled) return;
    this.interruptCheckScheduled = true;
    queueMicrotask(() => {
      this.interruptCheckScheduled = false;
      this.checkInterrupts();
      this.link().flush();
    });
  }

  private checkInterrupts(): void {
    for (let q = 0; q < this.numQueues; q++) {
      if (this.interruptPending[q] === 0) continue;
      this.interruptPending[q] = 0;
      const state = this.queueStates[q];
      if (state !== null && state !== undefined && state.queue.needsInterrupt()) {
        this.counters.usedEvents++;
        this.link().signalUsed(q);
      }
    }
  }

  private sendConfigEvent(offset: number, data: Uint8Array): void {
    const fits = EVENT_CONFIG_OVERHEAD + data.length <= this.link().maxMessageSize;
    this.counters.configEvents++;
    this.link().sendEvent({
      message: 'EVENT_CONFIG', response: false, dev_num: this.devNum, token: 0,
      device_status: this.statusBits, generation: this.generationCount,
      offset: fits ? offset : 0, length: fits ? data.length : 0, data: fits ? data : new Uint8Array(0),
    });
  }

  /** SET_DEVICE_STATUS: returns the status in effect afterwards (docs/PROTOCOL.md §8 device rules 5, 7, 8). */
  private setStatus(requested: number): number {
    if (requested === 0) {
      this.reset();
      return 0;
    }
    const current = this.statusBits & DRIVER_STATUS_BITS;
    let next = requested & DRIVER_STATUS_BITS;
    // Only a reset clears bits: a request that drops one changes nothing.
    if ((current & ~next) !== 0) return this.statusBits;
    const added = next & ~current;
    if ((added & STATUS_FEATURES_OK) !== 0 && !this.featuresAcceptable(next)) next &= ~STATUS_FEATURES_OK;
    if ((added & STATUS_DRIVER_OK) !== 0 && (next & STATUS_FEATURES_OK) === 0) next &= ~STATUS_DRIVER_OK;
    this.statusBits = next | (this.statusBits & STATUS_DEVICE_NEEDS_RESET);
    if ((added & next & STATUS_DRIVER_OK) !== 0) {
      this.onDriverOk();
      // Buffers made available before DRIVER_OK wait for it (docs/PROTOCOL.md §8 device rule 12).
      queueMicrotask(() => {
        for (let q = 0; q < this.numQueues; q++) this.handleAvail(q);
        this.link().flush();
      });
    }
    return this.statusBits;
  }

  /**
   * Keep what SET_DRIVER_FEATURES acknowledged. Blocks past the offer are only remembered as
   * "something unoffered was acknowledged" (FEATURES_OK is then refused): a hostile block_index
   * must not grow anything without bound.
   */
  private recordDriverFeatures(first: number, words: readonly number[]): void {
    const held = this.driverWords;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]! >>> 0;
      if (first + i < held.length) held[first + i] = w;
      else if (w !== 0) this.unofferedAcked = true;
    }
  }

  /** The acknowledged feature set as a bigint (made on demand: the checks below work on blocks). */
  private get driverFeatures(): bigint {
    let f = 0n;
    for (let i = this.driverWords.length - 1; i >= 0; i--) f = (f << 32n) | BigInt(this.driverWords[i]!);
    return f;
  }

  private featuresAcceptable(next: number): boolean {
    if ((next & (STATUS_ACKNOWLEDGE | STATUS_DRIVER)) !== (STATUS_ACKNOWLEDGE | STATUS_DRIVER) || this.unofferedAcked) return false;
    const held = this.driverWords;
    for (let i = 0; i < held.length; i++) if ((held[i]! & ~this.offeredWords[i]!) !== 0) return false;
    // VERSION_1 is bit 0 of block 1 (always offered, so the block exists).
    return (held[VIRTIO_F_VERSION_1 >>> 5]! & (1 << (VIRTIO_F_VERSION_1 & 31))) !== 0 && this.acceptFeatures(this.driverFeatures);
  }

  /** Reset: status 0, features, queues and pending queue work dropped; the generation keeps counting. */
  private reset(): void {
    this.counters.resets++;
    this.statusBits = 0;
    this.driverWords.fill(0);
    this.unofferedAcked = false;
    for (let q = 0; q < this.numQueues; q++) this.dropQueue(q);
    this.onReset();
  }

  private dropQueue(q: number): void {
    this.queueStates[q] = null;
    this.queueEpochs[q] = (this.queueEpochs[q]! + 1) >>> 0;
    this.interruptPending[q] = 0;
  }

  private getVqueue(index: number, base: { dev_num: number; token: number; response: true }): Message {
    const state = index < this.numQueues ? this.queueStates[index] ?? null : null;
    const common = {
      ...base, message: 'GET_VQUEUE' as const, index,
      max_size: index < this.numQueues ? this.queueMaxSize : 0,
      cur_size: state?.size ?? 0,
      desc_addr: state?.descAddr ?? 0n, driver_addr: state?.driverAddr ?? 0n, device_addr: state?.deviceAddr ?? 0n,
    };
    return this.link().profile === 'rev1-2026'
      ? { ...common, profile: 'rev1-2026', flags: state === null ? 0 : 1 }
      : { ...common, profile: 'rev1', reserved: 0 };
  }

  /** Whether SET_VQUEUE of queue `index` with `size` is taken now (setVqueue's rules, before any address). */
  private canSetVqueue(index: number, size: number): boolean {
    if (index >= this.numQueues || (this.statusBits & STATUS_FEATURES_OK) === 0) return false;
    if ((this.statusBits & STATUS_DRIVER_OK) !== 0 && this.queueStates[index] !== null) return false;
    return size >= 1 && size <= this.queueMaxSize;
  }

  /**
   * SET_VQUEUE (docs/PROTOCOL.md §8 device rule 9): accepted between FEATURES_OK and DRIVER_OK, or for a queue
   * reset with RESET_VQUEUE. A size the device cannot take leaves the queue unconfigured (the
   * driver sees cur_size 0 when it confirms with GET_VQUEUE); rings outside guest memory are a
   * device error (DEVICE_NEEDS_RESET).
   */
  private setVqueue(index: number, size: number, descAddr: bigint, driverAddr: bigint, deviceAddr: bigint): void {
    if (!this.canSetVqueue(index, size)) return;
    const eventIdx = (this.driverWords[VIRTIO_F_EVENT_IDX >>> 5]! & (1 << (VIRTIO_F_EVENT_IDX & 31))) !== 0;
    const opened = DeviceQueue.open(this.memory, { size, addresses: { descAddr, driverAddr, deviceAddr }, eventIdx });
    if (opened instanceof VirtqueueFault) {
      if (opened.kind !== 'queue-config') this.needsReset(`SET_VQUEUE ${index}: ${opened.message}`);
      return;
    }
    this.dropQueue(index);
    this.queueStates[index] = { size, descAddr, driverAddr, deviceAddr, queue: opened };
  }
}
