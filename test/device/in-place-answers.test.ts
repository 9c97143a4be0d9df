// DeviceHost answers the common control requests in place (no message object per frame). The
// answers must be the decoded path's, byte for byte: two identical devices get the same request
// frames, one on the in-place path, the other forced onto the decoded one (a subclass that
// answers requests its own way, here by calling the base), and every reply and every drop
// counter must agree — well-formed requests, wrong sizes, out-of-range fields, both profiles.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInprocPair } from '../../src/bus/inproc-channel.js';
import { EndpointPort } from '../../src/endpoint/port.js';
import { DeviceHost } from '../../src/device/host.js';
import { VirtioDevice, type ChainResult } from '../../src/device/device.js';
import { GuestMemory } from '../../src/virtqueue/guest-memory.js';
import { encodeHeader, type Message, type Profile } from '../../src/protocol/codec.js';
import { splitQueueBytes } from '../../src/virtqueue/split-layout.js';
import {
  T_GET_DEVICE_INFO, T_GET_DEVICE_FEATURES, T_SET_DRIVER_FEATURES, T_GET_CONFIG, T_GET_DEVICE_STATUS, T_SET_DEVICE_STATUS,
  T_GET_VQUEUE, T_SET_VQUEUE, T_RESET_VQUEUE, HDR_SIZE,
} from '../../src/protocol/constants.js';
import type { ReasonCode } from '../../src/protocol/reasons.js';

const DEV = 3;
const ACK = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8;

class ConfigDevice extends VirtioDevice {
  constructor() {
    super({ deviceId: 0x1234, features: (1n << 0n) | (1n << 35n), config: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), queues: 2, queueMaxSize: 64 });
  }
  protected handleChain(): ChainResult {
    return 0;
  }
}

/** The same device, answering requests through the decoded path. */
class DecodedConfigDevice extends ConfigDevice {
  override handleRequest(msg: Message): Message | ReasonCode {
    return super.handleRequest(msg);
  }
}

const u32 = (...v: number[]): number[] => v.flatMap((x) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24]);
const u64 = (v: number): number[] => u32(v % 2 ** 32, Math.floor(v / 2 ** 32));

function frame(id: number, payload: number[], token: number, type = 0): Uint8Array {
  const f = new Uint8Array(HDR_SIZE + payload.length);
  encodeHeader({ type, msg_id: id, dev_num: DEV, token, msg_size: f.length }, f);
  f.set(payload, HDR_SIZE);
  return f;
}

/** A device behind a DeviceHost on a router-less pair, stepped in this thread. */
function served(device: VirtioDevice, memory: GuestMemory, profile: Profile) {
  const pair = createInprocPair({ maxMessageSize: 264, ringCapacity: 64 });
  const host = new DeviceHost(pair.device, { memory, profile });
  host.add(DEV, device);
  const driver = new EndpointPort(pair.driver, { spinBeforeSleep: 0 });
  return {
    host,
    /** Send one frame, let the host take it, return every frame it sent back (hex). */
    async exchange(f: Uint8Array): Promise<string[]> {
      expect(driver.send(f)).toBe(true);
      driver.flush();
      while (host.step() > 0);
      await Promise.resolve(); // microtasks the device queued (DRIVER_OK: queued buffers)
      while (host.step() > 0);
      const got: string[] = [];
      for (let r = driver.recv(); r !== null; r = driver.recv()) got.push(Buffer.from(r).toString('hex'));
      return got;
    },
  };
}

function requests(memory: GuestMemory, profile: Profile): Uint8Array[] {
  const q = splitQueueBytes(16);
  const desc = memory.alloc(q.descTable, 16), avail = memory.alloc(q.availRing, 2), used = memory.alloc(q.usedRing, 4);
  const setVq = (index: number, size: number) => [...u32(index, 0, size, 0), ...u64(desc), ...u64(avail), ...u64(used)];
  const list: [number, number[], number?][] = [
    [T_GET_DEVICE_INFO, []],
    [T_GET_DEVICE_INFO, [0, 0, 0, 0]], // extra bytes
    [T_GET_DEVICE_FEATURES, u32(0, 2)],
    [T_GET_DEVICE_FEATURES, u32(1, 3)],
    [T_GET_DEVICE_FEATURES, u32(7, 1)],
    [T_GET_DEVICE_FEATURES, u32(0, 70)], // reply above the bus maximum
    [T_GET_DEVICE_FEATURES, u32(0)], // truncated
    [T_GET_VQUEUE, u32(0)],
    [T_GET_VQUEUE, u32(5)],
    [T_SET_VQUEUE, setVq(0, 16)], // before FEATURES_OK: ignored
    [T_SET_DEVICE_STATUS, u32(ACK)],
    [T_SET_DEVICE_STATUS, u32(ACK | DRIVER)],
    [T_SET_DRIVER_FEATURES, u32(0, 2, 1, 1 | (1 << 3))], // VERSION_1 and bit 35
    [T_SET_DRIVER_FEATURES, u32(0, 2, 1)], // count disagrees with msg_size
    [T_SET_DRIVER_FEATURES, u32(1, 1, 1 | (1 << 3) | (1 << 8))], // RING_RESET too
    [T_SET_DRIVER_FEATURES, u32(4, 1, 1)], // a block beyond the offer: FEATURES_OK refused...
    [T_SET_DEVICE_STATUS, u32(ACK | DRIVER | FEATURES_OK)],
    [T_SET_DEVICE_STATUS, u32(0)], // ...until a reset
    [T_SET_DEVICE_STATUS, u32(ACK | DRIVER)],
    [T_SET_DRIVER_FEATURES, u32(0, 2, 1, 1 | (1 << 3) | (1 << 8))],
    [T_SET_DEVICE_STATUS, u32(ACK | DRIVER | FEATURES_OK)],
    [T_GET_DEVICE_STATUS, []],
    [T_SET_VQUEUE, setVq(0, 128)], // larger than the maximum
    [T_SET_VQUEUE, setVq(0, 16)],
    [T_SET_VQUEUE, setVq(9, 16)],
    [T_GET_VQUEUE, u32(0)],
    [T_GET_CONFIG, u32(2, 4)],
    [T_GET_CONFIG, u32(8, 4)], // beyond config_size
    [T_GET_CONFIG, u32(0, 10)],
    [T_SET_DEVICE_STATUS, u32(ACK | DRIVER | FEATURES_OK | DRIVER_OK)],
    [T_SET_DEVICE_STATUS, u32(ACK)], // clears bits: no change
    [T_SET_VQUEUE, setVq(0, 8)], // after DRIVER_OK: ignored
    [T_RESET_VQUEUE, u32(0)],
    [T_GET_VQUEUE, u32(0)],
    [T_SET_VQUEUE, setVq(0, 8)], // after RESET_VQUEUE: taken
    [T_GET_VQUEUE, u32(0)],
    [T_GET_DEVICE_STATUS, [], 0x04], // reserved type bit: ignored
    [T_SET_DEVICE_STATUS, u32(0)], // reset
    [T_GET_VQUEUE, u32(0)],
    [T_GET_DEVICE_STATUS, []],
  ];
  return list.map(([id, payload, type], i) => frame(id, payload, 100 + i, type ?? 0));
}

describe('DeviceHost: control requests answered in place', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  for (const profile of ['rev1', 'rev1-2026'] as const) {
    it(`gives the decoded path's answers byte for byte and drops the same frames (${profile})`, async () => {
      const memory = new GuestMemory({ buffer: new SharedArrayBuffer(1 << 16), offset: 0, length: 1 << 16, base: 0x1_0000_0000 });
      const decodedPath = vi.spyOn(VirtioDevice.prototype, 'handleRequest');
      const fastDevice = new ConfigDevice();
      const fast = served(fastDevice, memory, profile);
      const decoded = served(new DecodedConfigDevice(), memory, profile);
      let answered = 0;
      for (const f of requests(memory, profile)) {
        const a = await fast.exchange(f);
        const b = await decoded.exchange(f);
        expect(a, `answers to ${Buffer.from(f).toString('hex')}`).toEqual(b);
        answered += a.length;
      }
      expect(fast.host.counters.drops).toEqual(decoded.host.counters.drops);
      expect(Object.keys(fast.host.counters.drops).sort()).toEqual(['CONFIG_RANGE', 'MSG_SIZE_GT_BUS_MAX', 'PAYLOAD_LENGTH_MISMATCH', 'PAYLOAD_TRUNCATED']);
      expect(fast.host.device(DEV)!.counters).toEqual(decoded.host.device(DEV)!.counters);
      expect(answered).toBeGreaterThan(30);
      expect(decodedPath.mock.contexts.filter((c) => c === fastDevice)).toEqual([]); // every one took the in-place path
      expect(fastDevice.status).toBe(0);
      expect(fastDevice.counters.resets).toBe(2);
    });
  }
});
