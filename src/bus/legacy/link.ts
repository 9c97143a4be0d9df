// A legacy v0 device side (QEMU linux-user, OpenAMP amp_static_queue) joined to the router as a
// device link, or opened as a tool's frame channel (`vmsg bench --target`): the bus (qemu-v0.ts,
// openamp.ts) with the revision-1 translation (translate.ts) in front of it.
//
// As a router link, the device is attached under its router number (dev= or the lowest free
// from 1) on a device endpoint served from this thread's event loop. The router answers
// GET_DEVICES and PING for it, as for any device; what the translator cannot bring to an end
// with a response is reported to the router as VMSG_EVT_REQUEST_FAILED with the router's token,
// which ends the request as one transport failure with the translator's reason.
import type { Router } from '../../router/router.js';
import type { LinkDescriptor } from '../../endpoint/link.js';
import { AsyncEndpoint } from '../../endpoint/async-endpoint.js';
import { decode, encode } from '../../protocol/codec.js';
import { GET_DEVICES_ALIGN, HDR_TYPE, TYPE_BUS, TYPE_RESPONSE } from '../../protocol/constants.js';
import { Reason } from '../../protocol/reasons.js';
import type { BusModel } from '../model/bus-model.js';
import type { BusLink, FrameChannel, LinkDown } from '../bus-link.js';
import type { OpenDeadline } from '../open-deadline.js';
import { LegacyTranslator, type TranslateSink } from './translate.js';
import { openQemuV0Wire } from './qemu-v0.js';
import { openOpenampWire } from './openamp.js';
import type { LegacyOptions } from './options.js';
import type { LegacyWire } from './wire.js';
import { requestFailedFrame } from '../../protocol/request-failed.js';

/** Largest frame the translator sends towards the driver side (a 48-byte GET_VQUEUE reply, features, config). */
export const LEGACY_LINK_MAX_MESSAGE = 264;

export function openLegacyWire(o: LegacyOptions, deadline: OpenDeadline): Promise<LegacyWire> {
  return o.scheme === 'qemu-v0' ? openQemuV0Wire(o, deadline) : openOpenampWire(o, deadline);
}

function translateOptions(o: LegacyOptions, devNum: number): ConstructorParameters<typeof LegacyTranslator>[1] {
  return {
    devNum, wireDevId: o.wireDevId, replyTimeoutMs: o.replyMs, version1: o.scheme === 'openamp' ? o.version1 : 'offer',
    configSize: o.configSize, vqs: o.vqs,
  };
}

/** A legacy device side behind the router. */
export class LegacyLink implements BusLink {
  readonly side = 'device' as const;
  readonly down: Promise<LinkDown>;
  readonly translator: LegacyTranslator;
  private settleDown!: (d: LinkDown) => void;
  private readonly endpoint: AsyncEndpoint;
  private readonly loop: Promise<void>;
  private closed = false;
  private attached = true;

  private constructor(readonly uri: string, private readonly router: Router, private readonly desc: LinkDescriptor, readonly dev: number, readonly wire: LegacyWire, o: LegacyOptions, log?: (line: string) => void) {
    this.down = new Promise((r) => (this.settleDown = r));
    this.endpoint = new AsyncEndpoint(desc, { spinBeforeSleep: 0 });
    const endpoint = this.endpoint;
    const sink: TranslateSink = {
      toDriver: (f) => {
        // An answer larger than the link carries (a bus model's frame limit) cannot reach the
        // driver: its request ends as a transport failure instead.
        if (f.length > desc.maxMessageSize && (f[HDR_TYPE]! & TYPE_RESPONSE) !== 0) {
          endpoint.send(requestFailedFrame(f[2]! | (f[3]! << 8), f[1]!, f[4]! | (f[5]! << 8), Reason.MSG_SIZE_GT_BUS_MAX));
        } else if (f.length <= desc.maxMessageSize) {
          endpoint.send(f);
        }
        endpoint.flush();
      },
      fail: (dev, msgId, token, reason) => {
        endpoint.send(requestFailedFrame(dev, msgId, token, reason));
        endpoint.flush();
      },
    };
    this.translator = new LegacyTranslator(wire, translateOptions(o, dev), sink);
    this.loop = endpoint.run(
      () => endpoint.receive((f) => this.translator.push(f)) + endpoint.flush(),
      () => endpoint.readable(),
      () => this.closed,
    );
    void wire.down.then(async (why) => {
      if (this.closed) return;
      log?.(`${uri}: ${why}; device ${dev} removed`);
      // Requests in flight fail (DEVICE_REMOVED) and drivers hear REMOVED.
      await this.shutdown();
      this.settleDown({ cause: 'peer-dead', detail: why });
    });
  }

  /** Open the legacy bus behind `o` and attach its device to `router`. */
  static async open(router: Router, o: LegacyOptions, deadline: OpenDeadline, log?: (line: string) => void, model?: BusModel): Promise<LegacyLink> {
    const wire = await openLegacyWire(o, deadline);
    try {
      const dev = o.dev ?? lowestFreeDevice(router);
      const desc = await router.attachDevice({ devices: [dev], maxMessageSize: LEGACY_LINK_MAX_MESSAGE, model });
      return new LegacyLink(o.uri.text, router, desc, dev, wire, o, log);
    } catch (e) {
      wire.close();
      throw e;
    }
  }

  get devices(): readonly number[] {
    return this.attached ? [this.dev] : [];
  }

  /** Where the device sees the memory the driver's virtqueues must live in. */
  get memory(): { base: number; size: number } | undefined {
    return this.wire.memory;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.translator.close();
    this.endpoint.wake();
    await this.loop;
    if (this.attached) {
      this.attached = false;
      await this.router.detach(this.desc).catch(() => undefined); // the router may be closing
    }
    this.wire.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.shutdown();
    this.settleDown({ cause: 'closed', detail: 'closed' });
  }
}

function lowestFreeDevice(router: Router): number {
  const taken = new Set(router.stats().devices.map((d) => d.dev));
  for (let d = 1; d < 65536; d++) if (!taken.has(d)) return d;
  throw new Error('no free device number for the legacy device');
}

/**
 * A tool's frame channel straight to a legacy device side: revision-1 frames in and out, the
 * bus messages answered here for the one device (GET_DEVICES, PING), a request that cannot end
 * in a response answered with VMSG_EVT_REQUEST_FAILED carrying the tool's token.
 */
export class LegacyChannel implements FrameChannel {
  readonly maxMessageSize = LEGACY_LINK_MAX_MESSAGE;
  readonly eventDriven = true;
  private readonly out: Uint8Array[] = [];
  private wake: (() => void) | null = null;
  private readonly translator: LegacyTranslator;
  private closed = false;

  private constructor(private readonly wire: LegacyWire, readonly dev: number, o: LegacyOptions) {
    this.translator = new LegacyTranslator(wire, translateOptions(o, dev), {
      toDriver: (f) => this.deliver(f),
      fail: (d, msgId, token, reason) => this.deliver(requestFailedFrame(d, msgId, token, reason)),
    });
  }

  static async open(o: LegacyOptions, deadline: OpenDeadline): Promise<LegacyChannel> {
    return new LegacyChannel(await openLegacyWire(o, deadline), o.dev ?? 1, o);
  }

  private deliver(f: Uint8Array): void {
    this.out.push(f);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    if ((frame[HDR_TYPE]! & TYPE_BUS) === 0) {
      this.translator.push(frame);
      return true;
    }
    const got = decode(frame);
    if (!got.ok || got.msg.response) return true; // nothing to answer
    const m = got.msg;
    if (m.message === 'PING') this.deliver(encode({ ...m, response: true }));
    else if (m.message === 'GET_DEVICES' && m.offset % GET_DEVICES_ALIGN === 0 && m.count % GET_DEVICES_ALIGN === 0) {
      const count = Math.min(m.count, (this.maxMessageSize - 14) * 8);
      const bitmap = new Uint8Array(count / 8);
      const i = this.dev - m.offset;
      if (i >= 0 && i < count) bitmap[i >> 3] = 1 << (i & 7);
      const next = this.dev >= m.offset + count ? this.dev - (this.dev % GET_DEVICES_ALIGN) : 0;
      this.deliver(encode({ message: 'GET_DEVICES', response: true, dev_num: 0, token: m.token, offset: m.offset, count, next_offset: next, bitmap }));
    }
    return true;
  }

  flush(): void {}

  recv(): Uint8Array | null {
    return this.out.shift() ?? null;
  }

  wait(timeoutMs: number): Promise<boolean> {
    if (this.out.length > 0) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve(this.out.length > 0);
      }, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.translator.close();
    this.wire.close();
    this.wake?.();
  }
}
