// Revision-1 ⇄ legacy v0 translation (docs/LEGACY.md "Translation"): a revision-1 driver side
// (the router's device endpoint, or a tool's frame channel) in front of one legacy v0 device.
//
// Each revision-1 frame becomes a job of v0 exchanges, run one at a time in arrival order: both
// legacy device sides serve one request at a time (QEMU synchronously, OpenAMP with one frame
// in flight) and carry no token, so the token of the revision-1 request is kept here and the
// legacy replies are matched by id, in order. A job ends in exactly one outcome: a revision-1
// response (built here, the response bit set, the token restored; synthesized where the legacy
// device never answers) or one transport failure with a documented reason
// (LEGACY_UNSUPPORTED: never sent; LEGACY_NO_REPLY: taken, unanswered by the deadline).
// Nothing the device sends is forwarded as it came: events are rebuilt, so the undefined bytes
// of a legacy EVENT_USED never reach a driver.
import { decode, encode, type Message } from '../../protocol/codec.js';
import { HDR_DEV_NUM, HDR_MSG_ID, HDR_TOKEN, HDR_TYPE, TYPE_BUS, TYPE_RESPONSE } from '../../protocol/constants.js';
import { Reason, reasonName } from '../../protocol/reasons.js';
import { VIRTIO_F_VERSION_1, featureBit, featureWords, withFeatureWords } from '../../virtqueue/feature-bits.js';
import {
  CFG_DATA, CFG_OFFSET, CFG_OFFSET_MSB, CFG_SIZE, ECFG_STATUS, EVT_INDEX, FEAT_BITS, FEAT_INDEX, GEN_VALUE, INFO_DEVICE_ID,
  INFO_VENDOR_ID, OPENAMP_SETVQ, QEMU_SETVQ, STATUS_VALUE, V0, V0_DEV_ID, V0_ID, V0_TYPE, V0_TYPE_RESPONSE, VQ_INDEX, VQ_MAX_SIZE,
  v0Frame, v0View,
} from './v0-frame.js';
import type { LegacyWire } from './wire.js';

/** Policy for VERSION_1 (bit 32) on OpenAMP, whose 32 feature bits cannot carry it though its rings are modern. */
export type Version1Policy = 'offer' | 'hide';

export interface TranslateOptions {
  /** The device's number on the revision-1 side. */
  devNum: number;
  /** The device's dev_id on the legacy wire (0 for both known implementations). */
  wireDevId: number;
  /** How long one v0 exchange may take before its request fails (LEGACY_NO_REPLY), ms. */
  replyTimeoutMs: number;
  version1: Version1Policy;
  /** GET_DEVICE_INFO config_size; default by device type (QEMU) or 0 (OpenAMP has no config). */
  configSize?: number;
  /** GET_DEVICE_INFO max_virtqueues and the bound on every queue index; default: probed (QEMU) or by device type (OpenAMP). */
  vqs?: number;
}

export interface TranslateSink {
  /** A revision-1 frame for the driver side: a response or a device event. */
  toDriver(frame: Uint8Array): void;
  /** The request (`token` as received) ends as one transport failure with `reason`. */
  fail(dev: number, msgId: number, token: number, reason: number): void;
}

/** Config bytes of the device types whose legacy implementations are known (virtio 1.2 §5). */
const CONFIG_SIZE_BY_TYPE: Readonly<Record<number, number>> = { 1: 12, 2: 60, 3: 12, 4: 0 };
/** Virtqueues by device type, where a legacy device cannot be asked (OpenAMP answers any index). */
const VQS_BY_TYPE: Readonly<Record<number, number>> = { 1: 2, 2: 1, 3: 2, 4: 1, 5: 2, 9: 1, 18: 2, 19: 3 };
/** Queues probed at most on QEMU (GET_VQUEUE until max_size 0). */
const QEMU_MAX_PROBED_VQS = 64;
/** Reads of a split config range retried when the generation changed meanwhile. */
const CONFIG_ATTEMPTS = 3;
/** Split ring sizes (virtio 1.2 §2.7): descriptor table, driver (avail) and device (used) areas. */
const ringBytes = (size: number): [number, number, number] => [16 * size, 6 + 2 * size, 6 + 8 * size];
/** While an exchange waits on a polled bus: how long to nap between looks (an Atomics.wait nobody notifies). */
const POLL_NAP_MS = 0.05;
const napWord = new Int32Array(new SharedArrayBuffer(4));
/** Idle polling of a bus without a doorbell (device events), and the safety poll of one with a doorbell, ms. */
const IDLE_POLL_MS = 1;
const IDLE_POLL_SIGNALLED_MS = 50;

class LegacyFailure extends Error {
  constructor(readonly reason: number, detail: string) {
    super(detail);
  }
}

interface Exchange {
  frame: Uint8Array;
  replyId: number | null;
  sent: boolean;
  reply: Uint8Array | null;
  deadline: number;
  resolve: (reply: Uint8Array | null) => void;
  reject: (e: Error) => void;
}

interface QueueSetting {
  size: number;
  desc: bigint;
  driver: bigint;
  device: bigint;
}

export class LegacyTranslator {
  /** Counters: frames each way, synthesized responses, failures and drops by reason. */
  readonly counters = {
    toDevice: 0, fromDevice: 0, responses: 0, synthesized: 0, events: 0, repliesWithoutResponseBit: 0,
    failures: {} as Record<string, number>, drops: {} as Record<string, number>,
  };
  private readonly jobs: Uint8Array[] = [];
  private running = false;
  private current: Exchange | null = null;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  // What the legacy device does not keep, or cannot say, remembered here.
  private deviceId: number | undefined;
  private vqCount: number | undefined;
  private readonly queues = new Map<number, QueueSetting>();
  private driverFeatures = 0n;
  private lastGeneration = 0;

  constructor(private readonly wire: LegacyWire, private readonly opts: TranslateOptions, private readonly sink: TranslateSink) {
    wire.onSignal = () => this.schedule();
    this.idle();
  }

  /** A revision-1 frame from the driver side (request or EVENT_AVAIL); handled in arrival order. */
  push(frame: Uint8Array): void {
    if (this.closed) return;
    this.jobs.push(frame.slice());
    if (!this.running) void this.run();
  }

  /** Stop: nothing more is sent or reported. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    const cur = this.current;
    this.current = null;
    cur?.reject(new Error('closed'));
  }

  // ------------------------------------------------------------ jobs

  private async run(): Promise<void> {
    this.running = true;
    while (this.jobs.length > 0 && !this.closed) {
      const f = this.jobs.shift()!;
      const msgId = f[HDR_MSG_ID]!;
      const token = f[HDR_TOKEN]! | (f[HDR_TOKEN + 1]! << 8);
      const dev = f[HDR_DEV_NUM]! | (f[HDR_DEV_NUM + 1]! << 8);
      const isRequest = (msgId & 0x40) === 0;
      try {
        await this.serve(f);
      } catch (e) {
        if (this.closed) break;
        const reason = e instanceof LegacyFailure ? e.reason : Reason.LEGACY_NO_REPLY;
        const name = reasonName(reason);
        if (isRequest) {
          this.counters.failures[name] = (this.counters.failures[name] ?? 0) + 1;
          this.sink.fail(dev, msgId, token, reason);
        } else {
          this.drop(name);
        }
      }
    }
    this.running = false;
  }

  private drop(name: string): void {
    this.counters.drops[name] = (this.counters.drops[name] ?? 0) + 1;
  }

  private respond(msg: Message, synthesized: boolean): void {
    this.counters.responses++;
    if (synthesized) this.counters.synthesized++;
    this.sink.toDriver(encode(msg));
  }

  private async serve(f: Uint8Array): Promise<void> {
    if ((f[HDR_TYPE]! & (TYPE_BUS | TYPE_RESPONSE)) !== 0) {
      // A response towards the device (QEMU exits on one) or a bus message: never sent.
      this.drop((f[HDR_TYPE]! & TYPE_BUS) !== 0 ? 'UNSUPPORTED_BUS_MSG' : 'WRONG_DIRECTION');
      return;
    }
    const got = decode(f);
    if (!got.ok) throw new LegacyFailure(got.reason, got.detail);
    const m = got.msg;
    if (m.response) {
      this.drop('WRONG_DIRECTION');
      return;
    }
    const dev = this.opts.devNum;
    if (m.dev_num !== dev) throw new LegacyFailure(Reason.UNVALIDATED_DEV_NUM, `device ${m.dev_num} is not on this link`);
    const token = m.token;
    const qemu = this.wire.dialect === 'qemu';
    switch (m.message) {
      case 'GET_DEVICE_INFO': {
        const r = await this.ask(this.frame(V0.DEVICE_INFO));
        const deviceId = r.getUint32(INFO_DEVICE_ID, true);
        this.deviceId = deviceId;
        const vqs = await this.queueCount();
        const bits = qemu || this.opts.version1 === 'offer' ? 64 : 32;
        this.respond({
          message: 'GET_DEVICE_INFO', response: true, profile: 'rev1', dev_num: dev, token,
          device_id: deviceId, vendor_id: r.getUint32(INFO_VENDOR_ID, true), num_feature_bits: bits,
          config_size: this.configSize(), max_virtqueues: vqs, admin_vq_start: 0, admin_vq_count: 0,
        }, false);
        return;
      }
      case 'GET_DEVICE_FEATURES': {
        const features = await this.deviceFeatures();
        this.respond({
          message: 'GET_DEVICE_FEATURES', response: true, dev_num: dev, token, block_index: m.block_index, num_blocks: m.num_blocks,
          features: featureWords(features, m.block_index, m.num_blocks),
        }, false);
        return;
      }
      case 'SET_DRIVER_FEATURES': {
        this.driverFeatures = withFeatureWords(this.driverFeatures, m.block_index, m.features);
        // The legacy device holds 64 (QEMU) or 32 (OpenAMP) bits; words beyond are remembered only.
        if (m.block_index < (qemu ? 2 : 1)) {
          const f = this.frame(V0.SET_FEATURES);
          const v = v0View(f);
          v.setUint32(FEAT_INDEX, 0, true);
          if (qemu) v.setBigUint64(FEAT_BITS, this.driverFeatures & 0xffff_ffff_ffff_ffffn, true);
          else v.setUint32(FEAT_BITS, Number(this.driverFeatures & 0xffff_ffffn), true);
          // QEMU answers SET_FEATURES, OpenAMP never does: the response is made here once it was taken.
          await this.tell(f);
        }
        this.respond({ message: 'SET_DRIVER_FEATURES', response: true, dev_num: dev, token }, true);
        return;
      }
      case 'GET_CONFIG': {
        this.checkConfigRange(m.offset, m.length);
        if (!qemu) {
          // OpenAMP has no config space: the router answers (zeros, generation 0).
          this.respond({ message: 'GET_CONFIG', response: true, dev_num: dev, token, generation: 0, offset: m.offset, length: m.length, data: new Uint8Array(m.length) }, true);
          return;
        }
        for (let attempt = 1; ; attempt++) {
          const before = await this.generation();
          const data = await this.readConfig(m.offset, m.length);
          const after = await this.generation();
          if (before === after || attempt === CONFIG_ATTEMPTS) {
            this.respond({ message: 'GET_CONFIG', response: true, dev_num: dev, token, generation: after, offset: m.offset, length: m.length, data }, false);
            return;
          }
        }
      }
      case 'SET_CONFIG': {
        this.checkConfigRange(m.offset, m.length);
        const gen = qemu ? await this.generation() : 0;
        // OpenAMP takes no config write; QEMU only with the current generation (else "rejected", length 0).
        const accept = qemu && m.generation === gen;
        if (accept) await this.writeConfig(m.offset, m.data);
        this.respond({ message: 'SET_CONFIG', response: true, dev_num: dev, token, generation: gen, offset: m.offset, length: accept ? m.length : 0, data: new Uint8Array(0) }, true);
        return;
      }
      case 'GET_DEVICE_STATUS': {
        const r = await this.ask(this.frame(V0.GET_DEVICE_STATUS));
        this.respond({ message: 'GET_DEVICE_STATUS', response: true, dev_num: dev, token, status: r.getUint32(STATUS_VALUE, true) }, false);
        return;
      }
      case 'SET_DEVICE_STATUS': {
        const f = this.frame(V0.SET_DEVICE_STATUS);
        v0View(f).setUint32(STATUS_VALUE, m.status, true);
        await this.tell(f);
        if (m.status === 0) {
          this.queues.clear();
          this.driverFeatures = 0n;
        }
        // The revision-1 reply is the status actually set: read it back.
        const r = await this.ask(this.frame(V0.GET_DEVICE_STATUS));
        this.respond({ message: 'SET_DEVICE_STATUS', response: true, dev_num: dev, token, status: r.getUint32(STATUS_VALUE, true) }, true);
        return;
      }
      case 'GET_VQUEUE': {
        const none = { message: 'GET_VQUEUE', response: true, profile: 'rev1', dev_num: dev, token, index: m.index, reserved: 0 } as const;
        if (m.index >= await this.queueCount()) {
          // No such queue: max_size 0, without asking a device that does not bounds-check.
          this.respond({ ...none, max_size: 0, cur_size: 0, desc_addr: 0n, driver_addr: 0n, device_addr: 0n }, true);
          return;
        }
        const max = await this.maxSize(m.index);
        const q = this.queues.get(m.index);
        this.respond({ ...none, max_size: max, cur_size: q?.size ?? 0, desc_addr: q?.desc ?? 0n, driver_addr: q?.driver ?? 0n, device_addr: q?.device ?? 0n }, false);
        return;
      }
      case 'SET_VQUEUE': {
        if (m.profile !== 'rev1') throw new LegacyFailure(Reason.LEGACY_UNSUPPORTED, 'SET_VQUEUE in the 2026 layout');
        await this.checkQueueIndex(m.index);
        const max = await this.maxSize(m.index); // on QEMU this also selects the queue SET_VQUEUE enables
        if (m.size === 0 || m.size > max) throw new LegacyFailure(Reason.LEGACY_UNSUPPORTED, `queue size ${m.size} is not 1..${max}`);
        this.checkRings(m.size, m.desc_addr, m.driver_addr, m.device_addr);
        const f = this.frame(V0.SET_VQUEUE);
        const v = v0View(f);
        const at = qemu ? QEMU_SETVQ : OPENAMP_SETVQ;
        v.setUint32(VQ_INDEX, m.index, true);
        v.setUint32(at.size, m.size, true);
        v.setBigUint64(at.desc, m.desc_addr, true);
        v.setBigUint64(at.driver, m.driver_addr, true);
        v.setBigUint64(at.device, m.device_addr, true);
        await this.tell(f);
        this.queues.set(m.index, { size: m.size, desc: m.desc_addr, driver: m.driver_addr, device: m.device_addr });
        this.respond({ message: 'SET_VQUEUE', response: true, dev_num: dev, token }, true);
        return;
      }
      case 'RESET_VQUEUE': {
        await this.checkQueueIndex(m.index);
        const f = this.frame(V0.RESET_VQUEUE);
        v0View(f).setUint32(VQ_INDEX, m.index, true);
        await this.tell(f);
        this.queues.delete(m.index);
        this.respond({ message: 'RESET_VQUEUE', response: true, dev_num: dev, token }, true);
        return;
      }
      case 'GET_SHM': {
        // v0 has no shared memory regions: "no such region".
        if (m.profile !== 'rev1') throw new LegacyFailure(Reason.LEGACY_UNSUPPORTED, 'GET_SHM in the 2026 layout');
        this.respond({ message: 'GET_SHM', response: true, profile: 'rev1', dev_num: dev, token, index: m.index, length: 0, address: 0 }, true);
        return;
      }
      case 'EVENT_AVAIL': {
        if (m.vq_index >= await this.queueCount()) throw new LegacyFailure(Reason.LEGACY_UNSUPPORTED, `queue ${m.vq_index} does not exist`);
        const f = this.frame(V0.EVENT_AVAIL);
        v0View(f).setUint32(EVT_INDEX, m.vq_index, true);
        await this.tell(f);
        return;
      }
      default:
        // Implementation-defined ids and anything v0 has no counterpart for.
        throw new LegacyFailure(Reason.LEGACY_UNSUPPORTED, `${m.message} has no v0 counterpart`);
    }
  }

  // ------------------------------------------------------------ what v0 lacks

  private configSize(): number {
    if (this.opts.configSize !== undefined) return this.opts.configSize;
    if (this.wire.dialect === 'openamp') return 0;
    return CONFIG_SIZE_BY_TYPE[this.deviceId ?? -1] ?? 0;
  }

  private checkConfigRange(offset: number, length: number): void {
    const size = this.configSize();
    if (offset + length > size) throw new LegacyFailure(Reason.CONFIG_RANGE, `config [${offset}, +${length}) is beyond config_size ${size}`);
  }

  private async queueCount(): Promise<number> {
    if (this.opts.vqs !== undefined) return this.opts.vqs;
    if (this.vqCount !== undefined) return this.vqCount;
    let n = 0;
    if (this.wire.dialect === 'qemu') {
      while (n < QEMU_MAX_PROBED_VQS && (await this.maxSize(n)) !== 0) n++;
    } else {
      if (this.deviceId === undefined) this.deviceId = (await this.ask(this.frame(V0.DEVICE_INFO))).getUint32(INFO_DEVICE_ID, true);
      n = VQS_BY_TYPE[this.deviceId] ?? 1;
    }
    this.vqCount = n;
    return n;
  }

  private async checkQueueIndex(index: number): Promise<void> {
    // Neither device bounds-checks: OpenAMP writes past its queue array.
    const n = await this.queueCount();
    if (index >= n) throw new LegacyFailure(Reason.LEGACY_UNSUPPORTED, `queue ${index} does not exist (the device has ${n})`);
  }

  /** GET_VQUEUE's max_size (on QEMU the request also selects the queue). */
  private async maxSize(index: number): Promise<number> {
    const f = this.frame(V0.GET_VQUEUE);
    v0View(f).setUint32(VQ_INDEX, index, true);
    return (await this.ask(f)).getUint32(VQ_MAX_SIZE, true);
  }

  /** Rings outside the memory both sides map would crash OpenAMP (CPU pointers) and fault QEMU. */
  private checkRings(size: number, desc: bigint, driver: bigint, device: bigint): void {
    const mem = this.wire.memory;
    if (mem === undefined) return;
    const [d, a, u] = ringBytes(size);
    for (const [name, addr, len] of [['descriptor table', desc, d], ['driver area', driver, a], ['device area', device, u]] as const) {
      if (addr < BigInt(mem.base) || addr + BigInt(len) > BigInt(mem.base + mem.size)) {
        throw new LegacyFailure(Reason.LEGACY_UNSUPPORTED, `${name} [0x${addr.toString(16)}, +${len}) is outside the shared memory [0x${mem.base.toString(16)}, +${mem.size})`);
      }
    }
  }

  private async deviceFeatures(): Promise<bigint> {
    const f = this.frame(V0.GET_FEATURES);
    v0View(f).setUint32(FEAT_INDEX, 0, true);
    const r = await this.ask(f);
    if (this.wire.dialect === 'qemu') return r.getBigUint64(FEAT_BITS, true); // bits 0-63 in one word
    const word = BigInt(r.getUint32(FEAT_BITS, true)); // the rest of the reply is the request's echo
    return this.opts.version1 === 'offer' ? word | featureBit(VIRTIO_F_VERSION_1) : word;
  }

  private async generation(): Promise<number> {
    const g = (await this.ask(this.frame(V0.GET_CONFIG_GEN))).getUint32(GEN_VALUE, true);
    this.lastGeneration = g;
    return g;
  }

  /** QEMU takes config accesses of 1, 2 or 4 bytes only (anything else aborts it): the widest aligned one each step. */
  private static accessSize(offset: number, left: number): 1 | 2 | 4 {
    if (left >= 4 && offset % 4 === 0) return 4;
    if (left >= 2 && offset % 2 === 0) return 2;
    return 1;
  }

  private configFrame(id: number, offset: number, size: number): Uint8Array {
    const f = this.frame(id);
    const v = v0View(f);
    v.setUint16(CFG_OFFSET, offset & 0xffff, true);
    f[CFG_OFFSET_MSB] = offset >>> 16;
    f[CFG_SIZE] = size;
    return f;
  }

  private async readConfig(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; ) {
      const size = LegacyTranslator.accessSize(offset + at, length - at);
      const r = await this.ask(this.configFrame(V0.GET_CONFIG, offset + at, size));
      for (let i = 0; i < size; i++) out[at + i] = r.getUint8(CFG_DATA + i);
      at += size;
    }
    return out;
  }

  private async writeConfig(offset: number, data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; ) {
      const size = LegacyTranslator.accessSize(offset + at, data.length - at);
      const f = this.configFrame(V0.SET_CONFIG, offset + at, size);
      f.set(data.subarray(at, at + size), CFG_DATA);
      await this.tell(f); // QEMU answers SET_CONFIG (unless it is one that never does): not waited for
      at += size;
    }
  }

  // ------------------------------------------------------------ device → driver side

  private fromDevice(f: Uint8Array): void {
    this.counters.fromDevice++;
    const id = f[V0_ID]!;
    if ((f[V0_DEV_ID]! | (f[V0_DEV_ID + 1]! << 8)) !== this.opts.wireDevId) return this.drop('UNVALIDATED_DEV_NUM');
    const v = v0View(f);
    const dev = this.opts.devNum;
    if (id === V0.EVENT_USED) {
      // Only the index is defined: the frame is rebuilt, the rest (stack bytes on OpenAMP) stays here.
      const q = v.getUint32(EVT_INDEX, true);
      if (this.vqCount !== undefined && q >= (this.opts.vqs ?? this.vqCount)) return this.drop('LEGACY_UNSUPPORTED');
      this.counters.events++;
      this.sink.toDriver(encode({ message: 'EVENT_USED', response: false, dev_num: dev, token: 0, vq_index: q }));
      return;
    }
    if (id === V0.EVENT_CONFIG) {
      // v0 carries no generation: announce "changed, re-read" with a generation not used before.
      this.lastGeneration = (this.lastGeneration + 1) >>> 0;
      this.counters.events++;
      this.sink.toDriver(encode({
        message: 'EVENT_CONFIG', response: false, dev_num: dev, token: 0, device_status: v.getUint32(ECFG_STATUS, true),
        generation: this.lastGeneration, offset: 0, length: 0, data: new Uint8Array(0),
      }));
      return;
    }
    const cur = this.current;
    if (cur !== null && cur.replyId === id && cur.reply === null) {
      // OpenAMP answers in place without the response bit; a QEMU reply has it. Matched by id, in order.
      if ((f[V0_TYPE]! & V0_TYPE_RESPONSE) === 0) this.counters.repliesWithoutResponseBit++;
      cur.reply = f;
      return;
    }
    // A reply nobody waits for (QEMU's SET_FEATURES / SET_CONFIG echo, a reply after its deadline) or an id we do not know.
    this.drop(id <= V0.RESET_VQUEUE ? 'UNMATCHED_RESPONSE' : 'UNSUPPORTED_MSG_ID');
  }

  // ------------------------------------------------------------ exchanges

  private frame(id: number): Uint8Array {
    return v0Frame(id, this.opts.wireDevId);
  }

  /** Send `f` and resolve with the device's reply of the same id. */
  private async ask(f: Uint8Array): Promise<DataView> {
    return v0View((await this.exchange(f, f[V0_ID]!))!);
  }

  /** Send `f`, a frame the device answers not at all (or not reliably): resolves once the device took it. */
  private async tell(f: Uint8Array): Promise<void> {
    await this.exchange(f, null);
  }

  private exchange(frame: Uint8Array, replyId: number | null): Promise<Uint8Array | null> {
    if (this.closed) return Promise.reject(new Error('closed'));
    return new Promise((resolve, reject) => {
      this.current = { frame, replyId, sent: false, reply: null, deadline: performance.now() + this.opts.replyTimeoutMs, resolve, reject };
      this.service();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.service();
    });
  }

  /** Idle: look at the device now and then (events of a device without a doorbell; a lost doorbell). */
  private idle(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.timer = setTimeout(() => this.service(), this.wire.signalled ? IDLE_POLL_SIGNALLED_MS : IDLE_POLL_MS);
    this.timer.unref();
  }

  private service(): void {
    if (this.closed) return;
    const wire = this.wire;
    for (let f = wire.recv(); f !== null; f = wire.recv()) this.fromDevice(f);
    const cur = this.current;
    if (cur === null) {
      this.idle();
      return;
    }
    if (!cur.sent && wire.send(cur.frame)) {
      cur.sent = true;
      this.counters.toDevice++;
    }
    if (cur.sent && wire.taken()) {
      // Taken: anything the device wrote while handling it is read before it counts as answered.
      for (let f = wire.recv(); f !== null; f = wire.recv()) this.fromDevice(f);
      if (cur.replyId === null || cur.reply !== null) {
        this.current = null;
        this.idle();
        cur.resolve(cur.reply);
        return;
      }
    }
    if (performance.now() > cur.deadline) {
      this.current = null;
      this.idle();
      const what = cur.sent ? 'took it but sent no reply' : 'never had room for it';
      cur.reject(new LegacyFailure(Reason.LEGACY_NO_REPLY, `v0 id 0x${cur.frame[V0_ID]!.toString(16)}: the device ${what} within ${this.opts.replyTimeoutMs} ms`));
      return;
    }
    // Waiting: the device's consumer index is polled (neither device says it took a frame).
    Atomics.wait(napWord, 0, 0, POLL_NAP_MS);
    this.schedule();
  }
}
