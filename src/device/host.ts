// Device SDK, transport side: carries the frames of one router device link to the VirtioDevices
// behind it (one per device number). Decodes each request, discards what is malformed or not
// meant for a device (counted by reason, never answered: docs/PROTOCOL.md §8 device rule 2), answers with the
// request's token (2026: the device copies it), and turns EVENT_AVAIL — in-band, or an
// out-of-band doorbell — into queue work. Runs on the event loop of its worker thread.
import { AsyncEndpoint, queueEventKey, type AsyncEndpointOptions, type EndpointCounters } from '../endpoint/async-endpoint.js';
import { OobDoorbell } from '../endpoint/oob-doorbell.js';
import { decode, encode, type Message, type Profile } from '../protocol/codec.js';
import { HDR_DEV_NUM, HDR_MSG_ID, HDR_MSG_SIZE, HDR_SIZE, HDR_TOKEN, HDR_TYPE, T_EVENT_AVAIL, T_EVENT_USED, TYPE_BUS, TYPE_RESPONSE } from '../protocol/constants.js';
import { Reason, reasonName } from '../protocol/reasons.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import { GuestMemory, type GuestMemoryDescriptor } from '../virtqueue/guest-memory.js';
import { VirtioDevice, type DeviceTransport } from './device.js';

export interface DeviceHostOptions extends AsyncEndpointOptions {
  /** The guest memory the drivers' virtqueues live in. */
  memory: GuestMemory | GuestMemoryDescriptor;
  /** Payload layouts (default "rev1"). */
  profile?: Profile;
}

export interface AddDeviceOptions {
  /** Address (in the link's shared memory) of an oob doorbell area (endpoint/oob-doorbell.ts) for this device. */
  oob?: number;
}

export interface DeviceHostCounters extends EndpointCounters {
  /** Frames discarded without a reply, by reason name. */
  drops: Record<string, number>;
  /** EVENT_AVAIL taken from oob doorbells. */
  oobAvail: number;
}

interface Served {
  device: VirtioDevice;
  oob: OobDoorbell | undefined;
}

export class DeviceHost {
  readonly endpoint: AsyncEndpoint;
  readonly memory: GuestMemory;
  readonly profile: Profile;
  private readonly served = new Map<number, Served>();
  private readonly oobServed: { dev: number; bell: OobDoorbell }[] = [];
  private readonly drops: Record<string, number> = {};
  private oobAvail = 0;
  private held = false;
  /** Bound once: a closure per pass would be garbage per pass. */
  private readonly onFrameAt = (at: number, size: number): void => this.onFrame(at, size);
  /** Where an in-place answer is built before it goes into a ring slot. */
  private readonly spare: DataView;
  private readonly spareU8: Uint8Array;

  constructor(link: LinkDescriptor, opts: DeviceHostOptions) {
    if (link.kind !== 'device') throw new TypeError(`DeviceHost needs a device link, got a ${link.kind} link`);
    this.endpoint = new AsyncEndpoint(link, opts);
    this.memory = opts.memory instanceof GuestMemory ? opts.memory : new GuestMemory(opts.memory);
    this.profile = opts.profile ?? 'rev1';
    this.spareU8 = new Uint8Array(this.endpoint.maxMessageSize);
    this.spare = new DataView(this.spareU8.buffer);
  }

  /** Serve device number `dev` with `device`. */
  add(dev: number, device: VirtioDevice, opts: AddDeviceOptions = {}): void {
    if (!Number.isInteger(dev) || dev < 0 || dev > 65535) throw new RangeError(`device number must be 0..65535, got ${dev}`);
    if (this.served.has(dev)) throw new RangeError(`device number ${dev} is already served by this host`);
    const oob = opts.oob === undefined
      ? undefined
      : new OobDoorbell(this.endpoint.link.memory.buffer as unknown as SharedArrayBuffer, opts.oob, 'device');
    const { endpoint } = this;
    const transport: DeviceTransport = {
      memory: this.memory,
      maxMessageSize: endpoint.maxMessageSize,
      profile: this.profile,
      sendEvent: (msg) => this.sendMessage(msg, 0),
      signalUsed: oob !== undefined
        ? (q) => oob.signal(q)
        : (q) => this.sendMessage({ message: 'EVENT_USED', response: false, dev_num: dev, token: 0, vq_index: q }, 0, queueEventKey(dev, T_EVENT_USED, q)),
      flush: () => endpoint.flush(),
    };
    device.attach(dev, transport);
    this.served.set(dev, { device, oob });
    if (oob !== undefined) this.oobServed.push({ dev, bell: oob });
  }

  /** The device serving `dev`. */
  device(dev: number): VirtioDevice | undefined {
    return this.served.get(dev)?.device;
  }

  /** Stop reading the ring (fault injection for tests: requests stay unanswered). */
  hold(on: boolean): void {
    this.held = on;
  }

  get counters(): DeviceHostCounters {
    return { ...this.endpoint.counters, drops: { ...this.drops }, oobAvail: this.oobAvail };
  }

  /** One pass: frames from the router, out-of-band doorbells, then the outbox. Returns work done. */
  step(): number {
    let work = this.held ? 0 : this.endpoint.receiveAt(this.onFrameAt);
    for (const { dev, bell } of this.oobServed) {
      work += bell.take((q) => {
        this.oobAvail++;
        this.served.get(dev)!.device.handleAvail(q);
      });
    }
    work += this.endpoint.flush();
    return work;
  }

  hasWork(): boolean {
    if (!this.held && this.endpoint.readable()) return true;
    for (const { bell } of this.oobServed) if (bell.pending()) return true;
    return false;
  }

  /** Serve until `stopped()` returns true. */
  run(stopped: () => boolean): Promise<void> {
    return this.endpoint.run(() => this.step(), () => this.hasWork() || stopped(), stopped);
  }

  /** Close every device (DMA pools, files). Call after run() has returned. */
  async close(): Promise<void> {
    for (const { device } of this.served.values()) await device.close();
  }

  private drop(reason: number): void {
    const name = reasonName(reason);
    this.drops[name] = (this.drops[name] ?? 0) + 1;
  }

  private sendMessage(msg: Message, token: number, mergeKey?: number): void {
    const frame = encode({ ...msg, token } as Message, {});
    if (frame.length > this.endpoint.maxMessageSize) {
      // A device never exceeds the bus maximum (docs/PROTOCOL.md §8 device rule 15): what does not fit is not sent.
      this.drop(Reason.MSG_SIZE_GT_BUS_MAX);
      return;
    }
    this.endpoint.send(frame, mergeKey);
  }

  /** One frame from the router: `size` bytes at `at` of the port's memory. */
  private onFrame(at: number, size: number): void {
    const { port } = this.endpoint;
    const u8 = port.u8;
    const type = u8[at + HDR_TYPE]!;
    if ((type & TYPE_BUS) !== 0) return this.drop(Reason.UNSUPPORTED_BUS_MSG); // the router sends devices none
    if ((type & TYPE_RESPONSE) !== 0) return this.drop(Reason.WRONG_DIRECTION); // devices get no responses
    const dev = u8[at + HDR_DEV_NUM]! | (u8[at + HDR_DEV_NUM + 1]! << 8);
    const served = this.served.get(dev);
    if (served === undefined) return this.drop(Reason.UNVALIDATED_DEV_NUM);
    const device = served.device;
    const msgSize = port.dv.getUint16(at + HDR_MSG_SIZE, true);
    // The common frames without a message object: EVENT_AVAIL, and the control requests the
    // device answers in place (unless a subclass answers requests its own way).
    if (msgSize === size) {
      const id = u8[at + HDR_MSG_ID]!;
      if (id === T_EVENT_AVAIL && size === HDR_SIZE + 8) {
        device.handleAvail(port.dv.getUint32(at + HDR_SIZE, true));
        return;
      }
      if (device.handleRequest === VirtioDevice.prototype.handleRequest && this.answerInPlace(device, at, size)) return;
    }
    const f = u8.subarray(at, at + size);
    const r = decode(f, { profile: this.profile });
    if (!r.ok) return this.drop(r.reason);
    const msg = r.msg;
    if (msg.message === 'EVENT_AVAIL') {
      served.device.handleAvail(msg.vq_index);
      return;
    }
    if (msg.message === 'EVENT_CONFIG' || msg.message === 'EVENT_USED') return this.drop(Reason.WRONG_DIRECTION); // device → driver only
    if (msg.message === 'IMPL_DEFINED') return this.drop(Reason.UNSUPPORTED_MSG_ID); // none implemented
    const reply = served.device.handleRequest(msg);
    if (typeof reply === 'number') return this.drop(reply);
    this.sendMessage(reply, f[HDR_TOKEN]! | (f[HDR_TOKEN + 1]! << 8));
  }

  /**
   * Answer the request at `at` in place, then copy the answer into a ring slot (or, behind
   * waiting frames, the outbox). The slot is taken only after the device has handled the
   * request: what it sends meanwhile (events from a hook) goes first, as on the decoded path.
   * False: the device leaves it to the decoded path.
   */
  private answerInPlace(device: VirtioDevice, at: number, size: number): boolean {
    const { endpoint, spare, spareU8 } = this;
    const { port } = endpoint;
    const n = device.answerInPlace(port.dv, at, size, spare, 0);
    if (n === 0) return false;
    if (n < 0) {
      this.drop(-n);
      return true;
    }
    spare.setUint16(HDR_TOKEN, port.dv.getUint16(at + HDR_TOKEN, true), true);
    const slot = endpoint.reserve();
    if (slot === 0) {
      endpoint.send(spareU8.slice(0, n));
      return true;
    }
    const u8 = port.u8;
    for (let i = 0; i < n; i++) u8[slot + i] = spareU8[i]!;
    endpoint.commitReserved();
    return true;
  }
}
