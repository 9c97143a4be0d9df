// The device-side rules of docs/PROTOCOL.md §8 checked on the wire: a driver made of raw frames (codec +
// EndpointPort in the test thread) talks through the router to the block device running on the
// Device SDK in its own worker thread.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointPort } from '../../src/endpoint/port.js';
import { decode, encode, type Message } from '../../src/protocol/codec.js';
import { startDevices, sleep, type Bench } from './helpers.js';
import { splitQueueBytes } from '../../src/virtqueue/split-layout.js';

const DEV = 9;
const ACK = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8;
const VERSION_1 = 1n << 32n, RING_RESET = 1n << 40n;
/** Router timeout of this file: a request the device discards ends in a TIMEOUT failure this fast. */
const TIMEOUT_MS = 300;

describe('docs/PROTOCOL.md §8 device rules on the wire (block device on the Device SDK)', () => {
  let bench: Bench;
  let port: EndpointPort;
  let token = 1;

  beforeAll(async () => {
    bench = await startDevices([{ dev: DEV, kind: 'block' }], { timeoutMs: TIMEOUT_MS });
    port = new EndpointPort(bench.driverLink);
  });
  afterAll(async () => {
    await bench.close();
  });

  /** Next frame that is not EVENT_DEVICE, or null after `ms`. */
  async function next(ms = 2000): Promise<Uint8Array | null> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const f = port.recv();
      if (f === null) {
        await sleep(1);
        continue;
      }
      if (f[0] === 0x02 && f[1] === 0x40) continue; // EVENT_DEVICE
      return f;
    }
    return null;
  }

  /** Send a request to the device and return its decoded response. */
  async function ask(msg: Record<string, unknown>): Promise<Message & Record<string, unknown>> {
    const t = token++;
    expect(port.send(encode({ response: false, dev_num: DEV, token: t, ...msg } as unknown as Message))).toBe(true);
    port.flush();
    const f = await next();
    expect(f, `answer to ${String(msg.message)}`).not.toBeNull();
    const r = decode(f!);
    if (!r.ok) throw new Error(`undecodable answer: ${r.detail}`);
    expect(r.header.token).toBe(t); // the device copied the token; the router restored ours
    return r.msg as Message & Record<string, unknown>;
  }

  const status = async (s: number): Promise<number> => (await ask({ message: 'SET_DEVICE_STATUS', status: s })).status as number;
  const features = (f: bigint) => ask({ message: 'SET_DRIVER_FEATURES', block_index: 0, num_blocks: 2, features: [Number(f & 0xffffffffn), Number(f >> 32n)] });

  it('GET_DEVICE_INFO is answered while the device is inactive, with a feature-bit count that is a multiple of 32', async () => {
    expect(await status(0)).toBe(0);
    const info = await ask({ message: 'GET_DEVICE_INFO' });
    expect(info).toMatchObject({ device_id: 2, config_size: 36, max_virtqueues: 1, admin_vq_start: 0, admin_vq_count: 0 });
    expect((info.num_feature_bits as number) % 32).toBe(0);
  });

  it('feature blocks beyond the implemented ones read as zero; the reply echoes block_index and num_blocks', async () => {
    const r = await ask({ message: 'GET_DEVICE_FEATURES', block_index: 0, num_blocks: 4 });
    expect(r).toMatchObject({ block_index: 0, num_blocks: 4 });
    const words = r.features as number[];
    expect(words[1]! & 1).toBe(1); // VERSION_1
    expect(words.slice(2)).toEqual([0, 0]);
    expect((await ask({ message: 'GET_DEVICE_FEATURES', block_index: 7, num_blocks: 1 })).features).toEqual([0]);
  });

  it('FEATURES_OK is cleared in the reply for features the device did not offer, or without VERSION_1', async () => {
    await status(0);
    await status(ACK | DRIVER);
    await features(VERSION_1 | (1n << 63n));
    expect(await status(ACK | DRIVER | FEATURES_OK)).toBe(ACK | DRIVER);
    await status(0);
    await status(ACK | DRIVER);
    await features(1n << 9n); // FLUSH alone, no VERSION_1
    expect(await status(ACK | DRIVER | FEATURES_OK)).toBe(ACK | DRIVER);
    expect((await ask({ message: 'GET_DEVICE_STATUS' })).status).toBe(ACK | DRIVER);
  });

  it('status bits only accumulate until a reset; DRIVER_OK needs FEATURES_OK; writing 0 resets and reads back 0', async () => {
    await status(0);
    await status(ACK | DRIVER);
    expect(await status(ACK | DRIVER | DRIVER_OK)).toBe(ACK | DRIVER); // no FEATURES_OK yet
    await features(VERSION_1);
    expect(await status(ACK | DRIVER | FEATURES_OK)).toBe(ACK | DRIVER | FEATURES_OK);
    expect(await status(ACK)).toBe(ACK | DRIVER | FEATURES_OK); // clearing bits is not a thing
    expect(await status(0)).toBe(0);
    expect((await ask({ message: 'GET_DEVICE_STATUS' })).status).toBe(0);
  });

  it('GET_VQUEUE: cur_size 0 until SET_VQUEUE (ignored before FEATURES_OK), max_size 0 for a queue that does not exist; reset and RESET_VQUEUE clear it', async () => {
    const size = 16;
    const bytes = splitQueueBytes(size);
    const m = bench.memory;
    const addrs = { desc_addr: BigInt(m.alloc(bytes.descTable, 16)), driver_addr: BigInt(m.alloc(bytes.availRing, 2)), device_addr: BigInt(m.alloc(bytes.usedRing, 4)) };
    const setVq = () => ask({ message: 'SET_VQUEUE', profile: 'rev1', index: 0, reserved0: 0, size, reserved1: 0, ...addrs });
    await status(0);
    await status(ACK | DRIVER);
    await setVq();
    expect(await ask({ message: 'GET_VQUEUE', index: 0 })).toMatchObject({ max_size: 256, cur_size: 0, desc_addr: 0n });
    expect(await ask({ message: 'GET_VQUEUE', index: 1 })).toMatchObject({ index: 1, max_size: 0, cur_size: 0 });
    await features(VERSION_1 | RING_RESET);
    await status(ACK | DRIVER | FEATURES_OK);
    await setVq();
    expect(await ask({ message: 'GET_VQUEUE', index: 0 })).toMatchObject({ max_size: 256, cur_size: size, ...addrs });
    await ask({ message: 'RESET_VQUEUE', index: 0 });
    expect(await ask({ message: 'GET_VQUEUE', index: 0 })).toMatchObject({ cur_size: 0, desc_addr: 0n });
    await setVq();
    await status(0);
    expect(await ask({ message: 'GET_VQUEUE', index: 0 })).toMatchObject({ cur_size: 0 });
  });

  it('SET_CONFIG with a stale generation is rejected with length 0; GET_CONFIG returns the generation', async () => {
    await status(0);
    await status(ACK | DRIVER);
    await features(VERSION_1 | (1n << 11n)); // CONFIG_WCE
    await status(ACK | DRIVER | FEATURES_OK);
    const g = (await ask({ message: 'GET_CONFIG', offset: 0, length: 8 })).generation as number;
    const write = (generation: number) => ask({ message: 'SET_CONFIG', generation, offset: 32, length: 1, data: Uint8Array.of(0) });
    expect(await write(g + 1)).toMatchObject({ generation: g, length: 0 });
    expect(await write(g)).toMatchObject({ generation: g, length: 1 });
    expect((await ask({ message: 'GET_CONFIG', offset: 32, length: 1 })).data).toEqual(Uint8Array.of(0));
    // A read-only field: refused whole (never a partial write).
    expect(await ask({ message: 'SET_CONFIG', generation: g, offset: 0, length: 8, data: new Uint8Array(8) })).toMatchObject({ length: 0 });
  });

  it('GET_SHM reports length 0 for a region the device does not have', async () => {
    expect(await ask({ message: 'GET_SHM', profile: 'rev1', index: 0 })).toMatchObject({ index: 0, length: 0, address: 0 });
  });

  it('malformed and unsupported requests are discarded silently: the only answer is the router timing them out', async () => {
    const silent = [
      { message: 'GET_CONFIG', offset: 30, length: 8 }, // beyond config_size
      { message: 'GET_DEVICE_FEATURES', block_index: 0, num_blocks: 100 }, // reply would exceed the bus maximum
      { message: 'IMPL_DEFINED', bus: false, msg_id: 0x90, payload: new Uint8Array(4) },
    ];
    for (const msg of silent) {
      const t = token++;
      port.send(encode({ response: false, dev_num: DEV, token: t, ...msg } as unknown as Message));
      port.flush();
      const f = await next(TIMEOUT_MS * 10);
      expect(f, String(msg.message)).not.toBeNull();
      expect([f![0], f![1], f![11], f![12] | (f![13]! << 8)], String(msg.message)).toEqual([0x02, 0xc1, 40, t]); // REQUEST_FAILED TIMEOUT
    }
    // A truncated request: no reply, so it times out. An EVENT_USED from the driver: the router
    // already drops it (wrong direction); events are never answered either way.
    port.send(Uint8Array.from([0x00, 0x05, DEV, 0x00, 0x33, 0x00, 0x0c, 0x00, 0, 0, 0, 0])); // GET_CONFIG without length
    port.send(encode({ message: 'EVENT_USED', response: false, dev_num: DEV, token: 0, vq_index: 0 }));
    port.flush();
    const f = await next(TIMEOUT_MS * 10);
    expect([f![1], f![11]]).toEqual([0xc1, 40]); // the truncated request timed out; the event produced nothing
    expect(await next(100)).toBeNull();
    const report = await bench.workers.get(DEV)!.stop();
    expect(report.host.drops).toEqual({ CONFIG_RANGE: 1, MSG_SIZE_GT_BUS_MAX: 1, UNSUPPORTED_MSG_ID: 1, PAYLOAD_TRUNCATED: 1 });
    expect(bench.router.stats().endpoints.find((e) => e.id === bench.driverLink.id)!.drops).toEqual({ WRONG_DIRECTION: 1 });
  });
});
