// Codec invariants (docs/PROTOCOL.md §3–§6), checked with fast-check: every message kind round-trips in
// both profiles; any bytes at all decode/validate without throwing to OK or a known reason;
// whatever decodes re-encodes to the same bytes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decode, encode, validate, validateRouter, summary, toJson, reasonName, REASONS,
  type Message, type Profile, type ValidateContext,
} from '../../src/protocol/index.js';
import { loadVectors, bytesOf, hexOf } from './load-vectors.js';

const RUNS = 400;
const KNOWN_REASONS = new Set(REASONS.map((r) => r.code));

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.oneof(
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.tuple(u16, u16).map(([hi, lo]) => hi * 0x10000 + lo),
);
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const bytes = (max: number, min = 0): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });
const words = fc.array(u32, { maxLength: 24 });

/** Header fields every message has; reserved type bits only sometimes (senders must send 0). */
const base = fc.record({
  dev_num: u16,
  token: u16,
  reserved_type_bits: fc.option(fc.integer({ min: 1, max: 0x3f }).map((b) => b << 2), { nil: undefined, freq: 4 }),
});
/** Transport responses of a profile-independent layout may carry trailing bytes. */
const trailing = fc.option(bytes(8, 1), { nil: undefined, freq: 4 });

type Arb = fc.Arbitrary<Message>;
const req = <T extends object>(message: string, fields: fc.Arbitrary<T>): Arb =>
  fc.tuple(base, fields).map(([b, f]) => ({ ...b, message, response: false, ...f }) as unknown as Message);
const resp = <T extends object>(message: string, fields: fc.Arbitrary<T>, withTrailing = true): Arb =>
  fc.tuple(base, fields, withTrailing ? trailing : fc.constant(undefined)).map(
    ([b, f, t]) => ({ ...b, message, response: true, ...f, trailing: t }) as unknown as Message,
  );
const none = fc.constant({});
const features = fc.record({ block_index: u32, features: words }).map((f) => ({ ...f, num_blocks: f.features.length }));
const configData = fc.record({ generation: u32, offset: u32, data: bytes(48) }).map((f) => ({ ...f, length: f.data.length }));
const vqAddrs = { desc_addr: u64, driver_addr: u64, device_addr: u64 };

/** One arbitrary per message kind (docs/PROTOCOL.md §5 and §6 tables, §2.6 deltas per profile). */
function kinds(profile: Profile): Record<string, Arb> {
  const p = { profile: fc.constant(profile) };
  const r26 = profile === 'rev1-2026';
  return {
    'GET_DEVICE_INFO req': req('GET_DEVICE_INFO', none),
    'GET_DEVICE_INFO resp': r26
      ? resp('GET_DEVICE_INFO', fc.record({ ...p, device_id: u32, vendor_id: u32, device_uuid: bytes(16, 16), num_feature_blocks: u32, config_size: u32, max_virtqueues: u32, admin_vq_start: u32, admin_vq_count: u32 }), false)
      : resp('GET_DEVICE_INFO', fc.record({ ...p, device_id: u32, vendor_id: u32, num_feature_bits: u32, config_size: u32, max_virtqueues: u32, admin_vq_start: u16, admin_vq_count: u16 }), false),
    'GET_DEVICE_FEATURES req': req('GET_DEVICE_FEATURES', fc.record({ block_index: u32, num_blocks: u32 })),
    'GET_DEVICE_FEATURES resp': resp('GET_DEVICE_FEATURES', features),
    'SET_DRIVER_FEATURES req': req('SET_DRIVER_FEATURES', features),
    'SET_DRIVER_FEATURES resp': resp('SET_DRIVER_FEATURES', none),
    'GET_CONFIG req': req('GET_CONFIG', fc.record({ offset: u32, length: u32 })),
    'GET_CONFIG resp': resp('GET_CONFIG', configData),
    'SET_CONFIG req': req('SET_CONFIG', configData),
    'SET_CONFIG resp (echo)': resp('SET_CONFIG', configData),
    // Without the echo there can be no trailing bytes: they would read as the echo.
    'SET_CONFIG resp (no echo)': resp('SET_CONFIG', fc.record({ generation: u32, offset: u32, length: u32, data: fc.constant(new Uint8Array(0)) }), false),
    'GET_DEVICE_STATUS req': req('GET_DEVICE_STATUS', none),
    'GET_DEVICE_STATUS resp': resp('GET_DEVICE_STATUS', fc.record({ status: u32 })),
    'SET_DEVICE_STATUS req': req('SET_DEVICE_STATUS', fc.record({ status: u32 })),
    'SET_DEVICE_STATUS resp': resp('SET_DEVICE_STATUS', fc.record({ status: u32 })),
    'GET_VQUEUE req': req('GET_VQUEUE', fc.record({ index: u32 })),
    'GET_VQUEUE resp': r26
      ? resp('GET_VQUEUE', fc.record({ ...p, index: u32, max_size: u32, cur_size: u32, flags: u32, ...vqAddrs }), false)
      : resp('GET_VQUEUE', fc.record({ ...p, index: u32, max_size: u32, cur_size: u32, reserved: u32, ...vqAddrs }), false),
    'SET_VQUEUE req': r26
      ? req('SET_VQUEUE', fc.record({ ...p, index: u32, flags: u32, size: u32, reserved: u32, ...vqAddrs }))
      : req('SET_VQUEUE', fc.record({ ...p, index: u32, reserved0: u32, size: u32, reserved1: u32, ...vqAddrs })),
    'SET_VQUEUE resp': resp('SET_VQUEUE', none),
    'RESET_VQUEUE req': req('RESET_VQUEUE', fc.record({ index: u32 })),
    'RESET_VQUEUE resp': resp('RESET_VQUEUE', none),
    'GET_SHM req': r26 ? req('GET_SHM', fc.record({ ...p, shmid: u32 })) : req('GET_SHM', fc.record({ ...p, index: u32 })),
    'GET_SHM resp': r26
      ? resp('GET_SHM', fc.record({ ...p, shmid: u32, reserved: u32, length: u64, address: u64 }), false)
      : resp('GET_SHM', fc.record({ ...p, index: u32, length: u32, address: u32 }), false),
    'EVENT_CONFIG': req('EVENT_CONFIG', fc.record({ device_status: u32, generation: u32, offset: u32, data: bytes(48) }).map((f) => ({ ...f, length: f.data.length }))),
    'EVENT_AVAIL': req('EVENT_AVAIL', fc.record({ vq_index: u32, next_offset: u32 })),
    'EVENT_USED': req('EVENT_USED', fc.record({ vq_index: u32 })),
    'GET_DEVICES req': req('GET_DEVICES', fc.record({ offset: u16, count: u16 })),
    'GET_DEVICES resp': resp('GET_DEVICES', fc.record({ offset: u16, next_offset: u16, bitmap: fc.oneof(bytes(40), bytes(1000, 900)) }).map((f) => ({ ...f, count: 8 * f.bitmap.length })), false),
    'PING req': req('PING', fc.record({ data: u32 })),
    'PING resp': resp('PING', fc.record({ data: u32 }), false),
    'EVENT_DEVICE': req('EVENT_DEVICE', fc.record({ device_number: u16, device_bus_state: u16 })),
    'IMPL_DEFINED': fc.tuple(base, fc.boolean(), fc.integer({ min: 0x80, max: 0xff }), fc.boolean(), bytes(64)).map(
      ([b, bus, msg_id, r, payload]) => ({ ...b, message: 'IMPL_DEFINED', bus, msg_id, response: r && msg_id < 0xc0, payload }) as Message,
    ),
  };
}

/** Drop keys whose value is undefined: decode leaves optional keys out. */
function clean(m: Message): Message {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as unknown as Message;
}

describe('encode then decode gives the message back, for every message kind', () => {
  for (const profile of ['rev1', 'rev1-2026'] as const) {
    for (const getdevAlt of [false, true]) {
      for (const [kind, arb] of Object.entries(kinds(profile))) {
        if (getdevAlt && kind !== 'GET_DEVICES resp') continue;
        it(`${kind} (${profile}${getdevAlt ? ', GET_DEVICES alt order' : ''})`, () => {
          fc.assert(fc.property(arb, (m) => {
            const msg = clean(m);
            const b = encode(msg, { getdevAlt });
            const r = decode(b, { profile, getdevAlt });
            if (!r.ok) throw new Error(`${reasonName(r.reason)}: ${r.detail}`);
            expect(r.msg).toEqual(msg);
            expect(r.header.msg_size).toBe(b.length);
          }), { numRuns: RUNS / 4 });
        });
      }
    }
  }
});

/** Everything a receiver may run on untrusted bytes: none of it may throw. */
function receiveAll(b: Uint8Array, ctx: ValidateContext): void {
  for (const opts of [ctx, { ...ctx, strictReservedBits: true, direction: 'device_to_driver' as const, knownDevices: new Set([1]) }]) {
    const d = decode(b, opts);
    const v = validate(b, opts);
    const rv = validateRouter(b, opts);
    for (const r of [d, v, rv]) {
      if (!r.ok) expect(KNOWN_REASONS.has(r.reason)).toBe(true);
    }
    toJson(d, opts);
    summary(v, opts);
    // validate is decode plus rules: it never accepts what decode rejects, and agrees when both accept.
    if (v.ok) expect(d.ok && d.msg).toEqual(v.msg);
    // Whatever decodes is re-encoded to exactly its first msg_size bytes.
    if (d.ok) expect(hexOf(encode(d.msg, opts))).toBe(hexOf(b.subarray(0, d.header.msg_size)));
  }
}

const contexts = fc.record({
  profile: fc.constantFrom<Profile>('rev1', 'rev1-2026'),
  getdevAlt: fc.boolean(),
  busMaxSize: fc.constantFrom(52, 264, 65535),
  configSize: fc.option(u32, { nil: undefined }),
  notificationData: fc.option(fc.boolean(), { nil: undefined }),
  pingSent: fc.option(u32, { nil: undefined }),
});

/** Frames with a plausible header (real ids, msg_size mostly matching) so decoding goes deep. */
const plausibleFrame = fc
  .record({
    type: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xff })),
    msg_id: fc.oneof(fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x40, 0x41, 0x42, 0x43), fc.integer({ min: 0, max: 0xff })),
    dev_num: fc.oneof(fc.constant(0), fc.constant(1), u16),
    token: u16,
    payload: fc.oneof(bytes(64), bytes(300)),
    sizeDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -12, max: 12 })),
    padding: fc.integer({ min: 0, max: 8 }),
  })
  .map((f) => {
    const b = new Uint8Array(8 + f.payload.length + f.padding);
    const size = Math.max(0, Math.min(0xffff, 8 + f.payload.length + f.sizeDelta));
    b.set([f.type, f.msg_id, f.dev_num & 0xff, f.dev_num >> 8, f.token & 0xff, f.token >> 8, size & 0xff, size >> 8]);
    b.set(f.payload, 8);
    return b;
  });

describe('receiving untrusted bytes never throws and yields OK or a known reason', () => {
  it('arbitrary bytes', () => {
    fc.assert(fc.property(bytes(80), contexts, (b, ctx) => receiveAll(b, ctx)), { numRuns: RUNS * 2 });
  });

  it('frames with plausible headers and random payloads', () => {
    fc.assert(fc.property(plausibleFrame, contexts, (b, ctx) => receiveAll(b, ctx)), { numRuns: RUNS * 5 });
  });

  const vectors = loadVectors();
  const vector = fc.constantFrom(...vectors);
  it('vectors with bit flips', () => {
    fc.assert(fc.property(vector, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), contexts, (v, flips, ctx) => {
      const b = bytesOf(v.hex);
      for (const f of flips) b[(f >>> 3) % b.length]! ^= 1 << (f & 7);
      receiveAll(b, { ...ctx, profile: v.profile });
    }), { numRuns: RUNS * 2 });
  });

  it('vectors truncated or extended', () => {
    fc.assert(fc.property(vector, fc.integer({ min: -300, max: 16 }), bytes(16), contexts, (v, delta, extra, ctx) => {
      const b = bytesOf(v.hex);
      const cut = delta <= 0 ? b.subarray(0, Math.max(0, b.length + delta)) : Uint8Array.from([...b, ...extra.subarray(0, delta)]);
      receiveAll(cut, { ...ctx, profile: v.profile });
    }), { numRuns: RUNS * 2 });
  });

  it('vectors with msg_size rewritten (inside msg_size: trailing bytes, cut payloads)', () => {
    fc.assert(fc.property(vector, u16, bytes(32), contexts, (v, size, extra, ctx) => {
      const b = Uint8Array.from([...bytesOf(v.hex), ...extra]);
      if (b.length >= 8) { b[6] = size & 0xff; b[7] = size >> 8; }
      receiveAll(b, { ...ctx, profile: v.profile });
    }), { numRuns: RUNS * 2 });
  });
});
