// Codec rules beyond the vectors (docs/PROTOCOL.md §3 header, §4 ids, §5/§6 payload sizes, §9 item 11).
import { describe, expect, it } from 'vitest';
import {
  decode, decodeHeader, encode, encodeHeader, reasonName,
  type DecodeResult, type Message,
} from '../../src/protocol/index.js';
import { bytesOf, hexOf } from './load-vectors.js';

/** Header hex for type/msg_id/dev_num/token with msg_size = 8 + payload bytes. */
function frame(type: number, msgId: number, payloadHex = '', devNum = 1, token = 7): Uint8Array {
  const payload = bytesOf(payloadHex);
  const out = new Uint8Array(8 + payload.length);
  encodeHeader({ type, msg_id: msgId, dev_num: devNum, token, msg_size: out.length }, out);
  out.set(payload, 8);
  return out;
}

const code = (r: DecodeResult): string => (r.ok ? 'OK' : reasonName(r.reason));
const u32 = (n: number): string => hexOf(new Uint8Array(new Uint32Array([n]).buffer));

describe('common header (docs/PROTOCOL.md §3)', () => {
  it('is little-endian type, msg_id, dev_num, token, msg_size', () => {
    expect(decodeHeader(bytesOf('0107010006000c000f000000'))).toEqual({ type: 1, msg_id: 7, dev_num: 1, token: 6, msg_size: 12 });
    expect(hexOf(encodeHeader({ type: 0x03, msg_id: 0x02, dev_num: 0x1234, token: 0xabcd, msg_size: 0x0110 }))).toBe('03023412cdab1001');
  });

  it('is read at any offset, and needs all 8 bytes', () => {
    const b = bytesOf('ffff0002010001000800');
    expect(decodeHeader(b, 2)).toEqual({ type: 0, msg_id: 2, dev_num: 1, token: 1, msg_size: 8 });
    expect(decodeHeader(b, 3)).toBeUndefined();
    expect(decodeHeader(new Uint8Array(7))).toBeUndefined();
  });

  it('rejects field values that do not fit when encoding', () => {
    expect(() => encodeHeader({ type: 0, msg_id: 2, dev_num: 0x10000, token: 0, msg_size: 8 })).toThrow(/dev_num/);
    expect(() => encodeHeader({ type: 0, msg_id: 2, dev_num: 0, token: -1, msg_size: 8 })).toThrow(/token/);
  });

  it('bytes after msg_size are bus padding, not message', () => {
    const r = decode(bytesOf('0042010000000c000300000000000000'));
    expect(r.ok && r.msg).toEqual({ message: 'EVENT_USED', response: false, dev_num: 1, token: 0, vq_index: 3 });
  });

  it('msg_size below 8 or above the bytes received is malformed', () => {
    expect(code(decode(bytesOf('0007010030000400')))).toBe('MSG_SIZE_LT_HEADER');
    expect(code(decode(bytesOf('0007010030000900')))).toBe('MSG_SIZE_GT_BUFFER');
    expect(code(decode(bytesOf('00070100')))).toBe('HDR_TRUNCATED');
  });

  it('reserved type bits are ignored on receive and survive a re-encode', () => {
    const b = bytesOf('fc07010010000800');
    const r = decode(b);
    expect(r.ok && r.msg).toMatchObject({ message: 'GET_DEVICE_STATUS', response: false, reserved_type_bits: 0xfc });
    if (r.ok) expect(hexOf(encode(r.msg))).toBe(hexOf(b));
  });
});

describe('msg_id ranges (docs/PROTOCOL.md §4)', () => {
  it('0x00 and 0x01 are reserved', () => {
    expect(code(decode(frame(0, 0x00)))).toBe('UNSUPPORTED_MSG_ID');
    expect(code(decode(frame(0, 0x01)))).toBe('UNSUPPORTED_MSG_ID');
    expect(code(decode(frame(2, 0x01, '', 0)))).toBe('UNSUPPORTED_MSG_ID');
  });

  it('standard ids outside the defined ones are unsupported, transport and bus', () => {
    for (const id of [0x0d, 0x20, 0x3f]) expect(code(decode(frame(0, id)))).toBe('UNSUPPORTED_MSG_ID');
    for (const id of [0x43, 0x7f]) expect(code(decode(frame(0, id)))).toBe('UNSUPPORTED_MSG_ID');
    for (const id of [0x04, 0x05, 0x41]) expect(code(decode(frame(2, id, '00000000', 0)))).toBe('UNSUPPORTED_MSG_ID');
  });

  it('a response-typed event id is malformed, even an unknown or implementation-defined one', () => {
    for (const id of [0x40, 0x42, 0x55, 0xc0, 0xff]) {
      expect(code(decode(frame(1, id, '00000000')))).toBe('RESPONSE_TO_EVENT');
      expect(code(decode(frame(3, id, '00000000', 0)))).toBe('RESPONSE_TO_EVENT');
    }
  });

  it('0x80–0xFF are implementation-defined with an opaque payload, requests, responses and events', () => {
    for (const [type, id] of [[0, 0x80], [1, 0xbf], [0, 0xc1], [2, 0x85], [3, 0x80], [2, 0xff]] as const) {
      const b = frame(type, id, 'a1b2c3', type & 2 ? 0 : 4);
      const r = decode(b);
      expect(r.ok && r.msg).toEqual({
        message: 'IMPL_DEFINED', bus: (type & 2) !== 0, msg_id: id, response: (type & 1) === 1,
        dev_num: type & 2 ? 0 : 4, token: 7, payload: bytesOf('a1b2c3'),
      });
      if (r.ok) expect(hexOf(encode(r.msg))).toBe(hexOf(b));
    }
  });
});

describe('payload sizes (docs/PROTOCOL.md §5, §6, §9 item 11)', () => {
  it('a payload shorter than the fixed part is truncated', () => {
    expect(code(decode(frame(0, 0x09)))).toBe('PAYLOAD_TRUNCATED'); // GET_VQUEUE without index
    expect(code(decode(frame(1, 0x09, '00'.repeat(39))))).toBe('PAYLOAD_TRUNCATED'); // GET_VQUEUE resp 47 bytes
    expect(code(decode(frame(2, 0x03, '000000', 0)))).toBe('PAYLOAD_TRUNCATED'); // PING with 3 data bytes
  });

  it('requests and events must be exactly their size', () => {
    expect(code(decode(frame(0, 0x07, '00')))).toBe('PAYLOAD_LENGTH_MISMATCH'); // GET_DEVICE_STATUS + 1
    expect(code(decode(frame(0, 0x42, u32(3) + '00')))).toBe('PAYLOAD_LENGTH_MISMATCH'); // EVENT_USED 13 bytes
    expect(code(decode(frame(0, 0x05, u32(0) + u32(8) + '00000000')))).toBe('PAYLOAD_LENGTH_MISMATCH');
  });

  it('bus messages must be exactly their size', () => {
    expect(code(decode(frame(2, 0x03, u32(1) + '00', 0)))).toBe('PAYLOAD_LENGTH_MISMATCH'); // PING 13 bytes
    expect(code(decode(frame(2, 0x40, '0500020000', 0)))).toBe('PAYLOAD_LENGTH_MISMATCH'); // EVENT_DEVICE 13 bytes
  });

  it('a transport response may carry bytes after its payload; they are kept and re-encoded', () => {
    const b = frame(1, 0x07, u32(0x0f) + 'eeff');
    const r = decode(b);
    expect(r.ok && r.msg).toMatchObject({ message: 'GET_DEVICE_STATUS', response: true, status: 0x0f, trailing: bytesOf('eeff') });
    if (r.ok) expect(hexOf(encode(r.msg))).toBe(hexOf(b));
  });

  it('a response whose layout depends on the profile must be exact: its size tells the profiles apart (§9 item 22)', () => {
    const info2026 = bytesOf('01020100010034000200000051454d556f2d8e1a4c3b4e0f9a7d3c2b1a098877020000003c000000010000000000000000000000');
    const r = decode(info2026, { profile: 'rev1' });
    expect(code(r)).toBe('PAYLOAD_LENGTH_MISMATCH');
    expect(!r.ok && r.detail).toMatch(/rev1-2026 layout/);
    expect(code(decode(frame(1, 0x0c, '00'.repeat(24)), { profile: 'rev1' }))).toBe('PAYLOAD_LENGTH_MISMATCH'); // 2026 GET_SHM
  });

  it('msg_size must be 16 + 4·num_blocks for feature blocks', () => {
    expect(code(decode(frame(0, 0x04, u32(0) + u32(2) + u32(1))))).toBe('PAYLOAD_LENGTH_MISMATCH');
    expect(code(decode(frame(1, 0x03, u32(0) + u32(0xffffffff))))).toBe('PAYLOAD_LENGTH_MISMATCH'); // huge count, no allocation
    const r = decode(frame(1, 0x03, u32(1) + u32(1) + u32(0x1)));
    expect(r.ok && r.msg).toMatchObject({ block_index: 1, num_blocks: 1, features: [1] });
  });

  it('msg_size must be 20 + length for config data, and a SET_CONFIG reply echoes all of it or nothing', () => {
    const fixed = (len: number): string => u32(4) + u32(32) + u32(len);
    expect(code(decode(frame(0, 0x06, fixed(2) + 'aa')))).toBe('PAYLOAD_LENGTH_MISMATCH');
    expect(decode(frame(1, 0x06, fixed(2))).ok).toBe(true); // no echo
    expect(decode(frame(1, 0x06, fixed(2) + 'aabb')).ok).toBe(true); // full echo
    expect(code(decode(frame(1, 0x06, fixed(2) + 'aa')))).toBe('PAYLOAD_LENGTH_MISMATCH'); // partial echo
    expect(code(decode(frame(0, 0x40, u32(0) + u32(1) + u32(0) + u32(3) + 'aabb')))).toBe('PAYLOAD_LENGTH_MISMATCH');
  });

  it('a GET_DEVICES response bitmap is count/8 bytes, so count must be a multiple of 8', () => {
    expect(code(decode(frame(3, 0x02, '00000c000000' + '0000', 0)))).toBe('GET_DEVICES_ALIGNMENT');
    expect(code(decode(frame(3, 0x02, '000010000000' + '00', 0)))).toBe('GET_DEVICES_BITMAP_LENGTH');
    expect(code(decode(frame(3, 0x02, '000010000000' + '000000', 0)))).toBe('GET_DEVICES_BITMAP_LENGTH');
  });
});

describe('profiles (docs/PROTOCOL.md §2)', () => {
  const vq = u32(0) + u32(1) + u32(128) + u32(0) + '00'.repeat(24);
  it('the SET_VQUEUE word at +4 is reserved0 in rev1 and flags in rev1-2026', () => {
    const b = frame(0, 0x0a, vq);
    expect(decode(b, { profile: 'rev1' })).toMatchObject({ ok: true, msg: { profile: 'rev1', reserved0: 1, size: 128, reserved1: 0 } });
    expect(decode(b, { profile: 'rev1-2026' })).toMatchObject({ ok: true, msg: { profile: 'rev1-2026', flags: 1, size: 128, reserved: 0 } });
  });

  it('GET_SHM is index/length/address u32 in rev1 and shmid/reserved/u64 length and address in rev1-2026', () => {
    const r = decode(frame(1, 0x0c, u32(2) + u32(0) + '0000100000000000' + '0000009001000000'), { profile: 'rev1-2026' });
    expect(r.ok && r.msg).toMatchObject({ shmid: 2, reserved: 0, length: 0x100000n, address: 0x190000000n });
    expect(decode(frame(0, 0x0c, u32(2)), { profile: 'rev1-2026' })).toMatchObject({ ok: true, msg: { shmid: 2 } });
  });

  it('messages whose layout does not change carry no profile', () => {
    const r = decode(frame(0, 0x09, u32(0)), { profile: 'rev1-2026' });
    expect(r.ok && 'profile' in r.msg).toBe(false);
  });
});

describe('encode', () => {
  const base = { dev_num: 1, token: 2 } as const;
  it('writes the exact msg_size', () => {
    const b = encode({ ...base, message: 'GET_CONFIG', response: true, generation: 1, offset: 0, length: 3, data: bytesOf('010203') });
    expect(b.length).toBe(23);
    expect(decodeHeader(b)?.msg_size).toBe(23);
  });

  it('copies, never aliases: decoded byte fields do not change with the input buffer', () => {
    const b = frame(1, 0x05, u32(1) + u32(0) + u32(2) + 'aabb');
    const r = decode(b);
    b[20] = 0;
    expect(r.ok && r.msg).toMatchObject({ data: bytesOf('aabb') });
  });

  const throws: [string, Message, RegExp][] = [
    ['a count field that disagrees with its array', { ...base, message: 'SET_DRIVER_FEATURES', response: false, block_index: 0, num_blocks: 2, features: [1] }, /num_blocks 2 but 1 feature/],
    ['a length that disagrees with its data', { ...base, message: 'SET_CONFIG', response: false, generation: 0, offset: 0, length: 4, data: bytesOf('01') }, /length 4 needs 4 data/],
    ['a u16 field out of range', { ...base, message: 'GET_DEVICES', response: false, offset: 0x10000, count: 8 }, /offset must be an integer 0\.\.65535/],
    ['a u32 field that is not an integer', { ...base, message: 'SET_DEVICE_STATUS', response: false, status: 1.5 }, /status/],
    ['a negative u64', { ...base, message: 'GET_VQUEUE', response: true, profile: 'rev1', index: 0, max_size: 1, cur_size: 0, reserved: 0, desc_addr: -1n, driver_addr: 0n, device_addr: 0n }, /desc_addr/],
    ['a frame over 65535 bytes', { ...base, message: 'EVENT_CONFIG', response: false, device_status: 0, generation: 0, offset: 0, length: 65520, data: new Uint8Array(65520) }, /16 bits/],
    ['a profiled message without its profile', { ...base, message: 'GET_SHM', response: false, index: 0 } as unknown as Message, /profile/],
    ['trailing bytes on a request', { ...base, message: 'GET_VQUEUE', response: false, index: 0, trailing: bytesOf('00') } as unknown as Message, /trailing/],
    ['an implementation-defined id below 0x80', { ...base, message: 'IMPL_DEFINED', bus: false, msg_id: 0x42, response: false, payload: new Uint8Array(0) }, /0x80\.\.0xff/],
    ['a response to an event', { ...base, message: 'IMPL_DEFINED', bus: true, msg_id: 0xc0, response: true, payload: new Uint8Array(0) }, /events have no response/],
    ['reserved_type_bits in bits 0-1', { ...base, message: 'GET_DEVICE_STATUS', response: false, reserved_type_bits: 0x01 }, /bits 2-7/],
    ['trailing bytes on a SET_CONFIG reply without echo (they would read as the echo)', { ...base, message: 'SET_CONFIG', response: true, generation: 0, offset: 0, length: 1, data: new Uint8Array(0), trailing: bytesOf('00') }, /without echo/],
    ['a GET_DEVICES count not a multiple of 8', { ...base, message: 'GET_DEVICES', response: true, offset: 0, count: 4, next_offset: 0, bitmap: new Uint8Array(0) }, /multiple of 8/],
  ];
  it.each(throws)('refuses %s, naming the field', (_, msg, re) => {
    expect(() => encode(msg)).toThrow(re);
  });
});
