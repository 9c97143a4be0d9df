// A FrameChannel (src/bus/bus-link.ts) over an in-process link: the tools (load engine,
// conformance checker, replay) drive an in-process router as a driver, or a device endpoint
// directly over a router-less link pair, through the same interface as an external bus.
// Frames move through the link's native rings (EndpointPort in this thread); wait() spins
// briefly, then sleeps on the link's doorbell with Atomics.waitAsync (EndpointPort.waitAsync),
// so the event loop stays free while idle.
import { EndpointPort } from '../endpoint/port.js';
import { SharedMemory } from '../memory/shared-memory.js';
import { linkRingShape } from '../router/options.js';
import { nativeCursorFlags, nativeRingBytes } from '../ring/native.js';
import type { LinkDescriptor } from '../endpoint/link.js';
import type { FrameChannel } from './bus-link.js';
import type { ChannelRings } from './shm-channel.js';
import type { Router, DriverLinkOptions } from '../router/router.js';

export interface InprocChannelOptions {
  /**
   * Polls before wait() sleeps on the doorbell. Default 256: about 25 µs of spinning, which
   * keeps a busy closed loop off the doorbell (a wake-up costs ~50 µs) without holding the
   * event loop for long.
   */
  spinBeforeSleep?: number;
  /** Called by close() after the port is done (e.g. detach from the router). */
  onClose?: () => Promise<void>;
  /**
   * The allocator of the link's memory, when this thread may allocate in it: then rings()
   * hands the rings to the load engine's WASM loop (it places its state next to them).
   */
  mem?: SharedMemory;
}

export class InprocChannel implements FrameChannel {
  readonly port: EndpointPort;
  readonly maxMessageSize: number;
  private readonly onClose: (() => Promise<void>) | undefined;
  private readonly mem: SharedMemory | undefined;
  private closed = false;

  constructor(readonly link: LinkDescriptor, opts: InprocChannelOptions = {}) {
    const spin = opts.spinBeforeSleep ?? 256;
    if (!Number.isInteger(spin) || spin < 0) throw new RangeError(`spinBeforeSleep must be an integer >= 0, got ${spin}`);
    this.port = new EndpointPort(link, { spinBeforeSleep: spin });
    this.maxMessageSize = link.maxMessageSize;
    this.onClose = opts.onClose;
    this.mem = opts.mem;
    if (this.mem !== undefined && this.mem.memory !== link.memory) throw new RangeError('mem must be the allocator of the link\'s memory');
  }

  /**
   * The port's own cursors for the load engine's WASM loop (src/loadgen/sequence-run.ts), or
   * null without `mem`. Flushing wakes the router through the link's doorbell, as the port does.
   */
  rings(): ChannelRings | null {
    if (this.mem === undefined) return null;
    this.port.flush();
    return { mem: this.mem, txCursor: this.port.out, rxCursor: this.port.in, doorbell: () => null, resume: () => {}, peerWakes: true };
  }

  /** Attach a new driver link to `router` and open a channel on it; close() detaches it. */
  static async attach(router: Router, link: DriverLinkOptions = {}, opts: InprocChannelOptions = {}): Promise<InprocChannel> {
    const d = await router.attachDriver(link);
    return new InprocChannel(d, {
      mem: router.mem,
      ...opts,
      onClose: async () => {
        await opts.onClose?.();
        await router.detach(d).catch(() => undefined); // the router may already be closed
      },
    });
  }

  send(frame: Uint8Array): boolean {
    return this.port.send(frame);
  }

  flush(): void {
    this.port.flush();
  }

  recv(): Uint8Array | null {
    return this.port.recv();
  }

  wait(timeoutMs: number): Promise<boolean> {
    return this.port.waitAsync(timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.port.flush();
    this.port.flushReceived();
    await this.onClose?.();
  }
}

/** Bytes of a pair's memory kept for a load engine's state (src/loadgen/sequence-setup.ts). */
const PAIR_ENGINE_ROOM = 8 << 20;

export interface InprocPairOptions {
  /** Largest frame on the pair. Default 264 (the spec's recommended maximum). */
  maxMessageSize?: number;
  /** Room per direction, in 64-byte frames (as the router's ringCapacity). Default 256. */
  ringCapacity?: number;
  /** Ring publication batch. Default 16. */
  batch?: number;
  /** Rings packed in 16-byte units (default true), or one frame per slot (as the router's packedRings). */
  packed?: boolean;
}

/** Both ends of a router-less in-process bus: two native rings and two doorbells. */
export interface InprocPair {
  /** The driver's end: open an InprocChannel on it. */
  driver: LinkDescriptor;
  /** The device-side bus end: open an EndpointPort on it (any thread) and answer as a device would. */
  device: LinkDescriptor;
  /** The pair's memory (this thread allocates in it: InprocChannelOptions.mem). */
  mem: SharedMemory;
}

/**
 * A point-to-point in-process bus with no router between the two ends, for driving a device
 * endpoint (a device model, or a deliberately broken one) directly: whatever the device side
 * writes reaches the driver unchanged.
 */
export function createInprocPair(opts: InprocPairOptions = {}): InprocPair {
  const max = opts.maxMessageSize ?? 264;
  const capacity = opts.ringCapacity ?? 256;
  const batch = opts.batch ?? 16;
  if (!Number.isInteger(max) || max < 12 || max > 65535) throw new RangeError(`maxMessageSize must be an integer from 12 to 65535, got ${max}`);
  if (!Number.isInteger(capacity) || capacity < 3 || capacity > 65536) throw new RangeError(`ringCapacity must be an integer from 3 to 65536, got ${capacity}`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be an integer >= 1, got ${batch}`);
  const shape = linkRingShape(max, capacity, opts.packed ?? true);
  const ringBytes = nativeRingBytes(shape.capacity, shape.slotSize, shape.frameUnits);
  // Room beyond the rings for a load engine's state next to them (untouched pages cost no RSS).
  const mem = new SharedMemory({ bytes: 2 * ringBytes + 4 * 65536 + PAIR_ENGINE_ROOM });
  const driverBell = mem.alloc(64);
  const deviceBell = mem.alloc(64);
  const toDevice = mem.alloc(ringBytes);
  const toDriver = mem.alloc(ringBytes);
  mem.wasm.nativeRingInit(toDevice, shape.capacity, shape.slotSize, batch, deviceBell, driverBell, nativeCursorFlags(), shape.frameUnits);
  mem.wasm.nativeRingInit(toDriver, shape.capacity, shape.slotSize, batch, driverBell, deviceBell, nativeCursorFlags(), shape.frameUnits);
  const common = { memory: mem.memory, maxMessageSize: max, devices: [] };
  return {
    driver: { ...common, kind: 'driver', id: 0, toRouter: toDevice, fromRouter: toDriver, bell: driverBell },
    device: { ...common, kind: 'device', id: 1, toRouter: toDriver, fromRouter: toDevice, bell: deviceBell },
    mem,
  };
}
