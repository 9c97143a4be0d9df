// Validation rules and their order (docs/PROTOCOL.md §7 bus rules, §8 endpoint rules, §9 items 5, 11, 20).
import { describe, expect, it } from 'vitest';
import {
  encodeHeader, validate, validateRouter, reasonName, ROUTER_CHECKS, ENDPOINT_CHECKS, REASONS,
  type Direction, type ValidateContext, type ValidateResult,
} from '../../src/protocol/index.js';
import { bytesOf } from './load-vectors.js';

function frame(type: number, msgId: number, payloadHex = '', devNum = 1, size?: number): Uint8Array {
  const payload = bytesOf(payloadHex);
  const out = new Uint8Array(8 + payload.length);
  encodeHeader({ type, msg_id: msgId, dev_num: devNum, token: 9, msg_size: size ?? out.length }, out);
  out.set(payload, 8);
  return out;
}
const code = (r: { ok: boolean; reason: number }): string => (r.ok ? 'OK' : reasonName(r.reason));
const check = (b: Uint8Array, ctx: ValidateContext = {}): string => code(validate(b, ctx));
const u32 = (n: number): string => Buffer.from(new Uint32Array([n]).buffer).toString('hex');

describe('check order: header limits, bus maximum, ids, bus dev_num, direction, device numbers, payload', () => {
  it('a too-large frame is MSG_SIZE_GT_BUS_MAX whatever else is wrong with it', () => {
    const b = frame(1, 0x42, '00'.repeat(300), 7); // response-typed event, unknown device, 308 bytes
    expect(check(b, { busMaxSize: 264, direction: 'driver_to_device', knownDevices: new Set([1]) })).toBe('MSG_SIZE_GT_BUS_MAX');
    expect(check(b, { busMaxSize: 512, direction: 'driver_to_device', knownDevices: new Set([1]) })).toBe('RESPONSE_TO_EVENT');
  });

  it('an unknown id is reported before a non-zero bus dev_num, which comes before direction', () => {
    expect(check(frame(2, 0x07, '', 3), { direction: 'device_to_driver' })).toBe('UNSUPPORTED_MSG_ID');
    expect(check(frame(2, 0x40, '05000200', 3), { direction: 'driver_to_device' })).toBe('BUS_DEV_NUM_NONZERO');
    expect(check(frame(2, 0x40, '05000200', 0), { direction: 'driver_to_device' })).toBe('WRONG_DIRECTION');
  });

  it('direction is checked before device numbers, and device numbers before the payload', () => {
    const truncated = frame(0, 0x09, '', 5); // GET_VQUEUE request without index, device 5
    const known = new Set([1]);
    expect(check(truncated, { direction: 'device_to_driver', knownDevices: known })).toBe('WRONG_DIRECTION');
    expect(check(truncated, { direction: 'driver_to_device', knownDevices: known })).toBe('UNVALIDATED_DEV_NUM');
    expect(check(truncated, { direction: 'driver_to_device', knownDevices: new Set([5]) })).toBe('PAYLOAD_TRUNCATED');
  });
});

describe('bus maximum (docs/PROTOCOL.md §7 rules 3-5)', () => {
  it('applies to msg_size, inclusive', () => {
    const b = frame(0, 0x06, u32(0) + u32(0) + u32(244) + '00'.repeat(244));
    expect(check(b, { busMaxSize: 264 })).toBe('OK');
    expect(check(b, { busMaxSize: 263 })).toBe('MSG_SIZE_GT_BUS_MAX');
  });

  it('an impossible bus maximum is a programming error, not a verdict', () => {
    expect(() => validate(frame(0, 0x07), { busMaxSize: 7 })).toThrow(/busMaxSize/);
    expect(() => validate(frame(0, 0x07), { busMaxSize: 70000 })).toThrow(/busMaxSize/);
  });
});

describe('reserved type bits (docs/PROTOCOL.md §3, §9 item 5)', () => {
  it('are ignored by default and rejected only in strict mode', () => {
    const b = bytesOf('8407010010000800');
    expect(check(b)).toBe('OK');
    expect(check(b, { strictReservedBits: true })).toBe('RESERVED_TYPE_BITS');
  });
});

describe('direction (docs/PROTOCOL.md §5, §6; §9 item 20)', () => {
  const d2d: Direction = 'driver_to_device';
  const d2r: Direction = 'device_to_driver';
  const cases: [string, Uint8Array, Direction | 'either'][] = [
    ['transport requests go driver→device (devices send no requests)', frame(0, 0x07), d2d],
    ['implementation-defined transport requests go driver→device', frame(0, 0x80), d2d],
    ['transport responses go device→driver (a response from the driver side is WRONG_DIRECTION)', frame(1, 0x07, u32(0)), d2r],
    ['EVENT_AVAIL goes driver→device', frame(0, 0x41, u32(0) + u32(0)), d2d],
    ['EVENT_USED goes device→driver', frame(0, 0x42, u32(0)), d2r],
    ['EVENT_CONFIG goes device→driver', frame(0, 0x40, u32(0) + u32(0) + u32(0) + u32(0)), d2r],
    ['implementation-defined transport events go either way', frame(0, 0xc0), 'either'],
    ['GET_DEVICES requests go driver→device', frame(2, 0x02, '00000800', 0), d2d],
    ['GET_DEVICES responses go device→driver', frame(3, 0x02, '000008000000' + '00', 0), d2r],
    ['PING requests go either way', frame(2, 0x03, u32(1), 0), 'either'],
    ['PING responses go either way', frame(3, 0x03, u32(1), 0), 'either'],
    ['EVENT_DEVICE goes device→driver', frame(2, 0x40, '05000100', 0), d2r],
    ['implementation-defined bus messages go either way', frame(2, 0x85, 'aa', 0), 'either'],
  ];
  it.each(cases)('%s', (_, b, way) => {
    for (const dir of [d2d, d2r]) {
      expect(check(b, { direction: dir }), dir).toBe(way === 'either' || way === dir ? 'OK' : 'WRONG_DIRECTION');
    }
    expect(check(b), 'no direction given').toBe('OK');
  });
});

describe('device numbers (docs/PROTOCOL.md §7 rules 11, 14)', () => {
  it('a transport message for a device never validated is dropped; device 0 is an ordinary device', () => {
    expect(check(frame(0, 0x07, '', 0), { knownDevices: new Set([0]) })).toBe('OK');
    expect(check(frame(0, 0x07, '', 2), { knownDevices: new Set([0, 1]) })).toBe('UNVALIDATED_DEV_NUM');
  });

  it('bus messages always carry dev_num 0 and are not subject to device validation', () => {
    expect(check(frame(2, 0x03, u32(5), 0), { knownDevices: new Set() })).toBe('OK');
    expect(check(frame(3, 0x03, u32(5), 1))).toBe('BUS_DEV_NUM_NONZERO');
  });
});

describe('bus message payload rules (docs/PROTOCOL.md §6, §7 rules 27-28)', () => {
  it('GET_DEVICES windows are 8-aligned in requests and responses', () => {
    expect(check(frame(2, 0x02, '08001000', 0))).toBe('OK');
    expect(check(frame(2, 0x02, '04000800', 0))).toBe('GET_DEVICES_ALIGNMENT');
    expect(check(frame(3, 0x02, '040008000000' + '00', 0))).toBe('GET_DEVICES_ALIGNMENT');
  });

  it('next_offset is 0 or an 8-aligned value at or past the window end', () => {
    const resp = (next: number): Uint8Array => frame(3, 0x02, '00001000' + next.toString(16).padStart(2, '0') + '00' + '0000', 0);
    expect(check(resp(0))).toBe('OK');
    expect(check(resp(16))).toBe('OK');
    expect(check(resp(0x40))).toBe('OK');
    expect(check(resp(8))).toBe('GET_DEVICES_NEXT_OFFSET');
    expect(check(resp(20))).toBe('GET_DEVICES_NEXT_OFFSET');
  });

  it('a PING response echoes the data sent, when it is known', () => {
    expect(check(frame(3, 0x03, u32(0xdeadbeef), 0), { pingSent: 0xdeadbeef })).toBe('OK');
    expect(check(frame(3, 0x03, u32(0xdeadbeef), 0), { pingSent: 1 })).toBe('PING_ECHO_MISMATCH');
    expect(check(frame(2, 0x03, u32(7), 0), { pingSent: 1 })).toBe('OK'); // requests are not echoes
  });
});

describe('endpoint payload rules (docs/PROTOCOL.md §5, §8)', () => {
  it('config ranges stay inside config_size; length 0 has no range', () => {
    const getConfig = (off: number, len: number): Uint8Array => frame(0, 0x05, u32(off) + u32(len));
    expect(check(getConfig(52, 8), { configSize: 60 })).toBe('OK');
    expect(check(getConfig(56, 8), { configSize: 60 })).toBe('CONFIG_RANGE');
    expect(check(frame(1, 0x06, u32(1) + u32(100) + u32(0)), { configSize: 60 })).toBe('OK'); // rejected SET_CONFIG
    expect(check(frame(0, 0x40, u32(0) + u32(1) + u32(60) + u32(1) + 'aa'), { configSize: 60 })).toBe('CONFIG_RANGE');
  });

  it('EVENT_AVAIL next_offset is 0 unless NOTIFICATION_DATA was negotiated', () => {
    const avail = frame(0, 0x41, u32(0) + u32(0x80001234));
    expect(check(avail, { notificationData: true })).toBe('OK');
    expect(check(avail, { notificationData: false })).toBe('NOTIF_DATA_NOT_NEGOTIATED');
  });

  it('rev1 GET_DEVICE_INFO counts feature bits in multiples of 32; 2026 counts blocks', () => {
    const info = (bits: number): Uint8Array => frame(1, 0x02, u32(2) + u32(0) + u32(bits) + u32(0) + u32(1) + '00000000');
    expect(check(info(96))).toBe('OK');
    expect(check(info(33))).toBe('FEATURE_BITS_NOT_MULT_32');
  });

  it('a response must answer the request it is matched with (msg_id, dev_num, bus or transport)', () => {
    const resp = frame(1, 0x07, u32(0x0f), 1);
    expect(check(resp, { request: { type: 0, msg_id: 0x07, dev_num: 1 } })).toBe('OK');
    expect(check(resp, { request: { type: 0, msg_id: 0x08, dev_num: 1 } })).toBe('REQUEST_RESPONSE_MISMATCH');
    expect(check(resp, { request: { type: 0, msg_id: 0x07, dev_num: 2 } })).toBe('REQUEST_RESPONSE_MISMATCH');
    expect(check(resp, { request: { type: 2, msg_id: 0x07, dev_num: 1 } })).toBe('REQUEST_RESPONSE_MISMATCH');
  });
});

describe('router vs endpoint layers', () => {
  it('every reason but OK belongs to exactly one layer', () => {
    const all = REASONS.filter((r) => r.code !== 0).map((r) => r.name);
    expect([...ROUTER_CHECKS, ...ENDPOINT_CHECKS].sort()).toEqual([...all].sort());
  });

  it('payload errors of bus messages are the router\'s, of transport messages the endpoint\'s', () => {
    const bus = validate(frame(2, 0x03, '0000', 0)) as Extract<ValidateResult, { ok: false }>;
    const transport = validate(frame(0, 0x08, '0000')) as Extract<ValidateResult, { ok: false }>;
    expect([code(bus), bus.detected_by]).toEqual(['PAYLOAD_TRUNCATED', 'router']);
    expect([code(transport), transport.detected_by]).toEqual(['PAYLOAD_TRUNCATED', 'endpoint']);
  });

  it('validateRouter forwards a malformed transport payload but drops a malformed bus payload', () => {
    expect(validateRouter(frame(0, 0x08, '0000')).ok).toBe(true);
    expect(code(validateRouter(frame(2, 0x03, '0000', 0)))).toBe('PAYLOAD_TRUNCATED');
  });
});
