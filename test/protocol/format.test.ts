// The one-line summary and the JSON object of a decoded frame (the conventions of
// test/fixtures/wire-vectors.json).
import { describe, expect, it } from 'vitest';
import { validate, summary, toJson, statusText, presentDevices, deviceStateName, type ValidateContext } from '../../src/protocol/index.js';
import { bytesOf } from './load-vectors.js';

const line = (hex: string, ctx: ValidateContext = {}): string => summary(validate(bytesOf(hex), ctx), { profile: ctx.profile });
const json = (hex: string, ctx: ValidateContext = {}): Record<string, unknown> => toJson(validate(bytesOf(hex), ctx), { profile: ctx.profile });

describe('summary line', () => {
  it('shows requests, responses and events like a packet dissector', () => {
    expect(line('0009010009000c0000000000')).toBe('REQ  GET_VQUEUE dev=1 tok=9 size=12 index=0');
    expect(line('03020000000110000000100000002500')).toBe('RESP GET_DEVICES dev=0 tok=256 size=16 offset=0 count=16 next=0 present=[0,2,5]');
    expect(line('00410100000010000100000034120080')).toBe('EVT  EVENT_AVAIL dev=1 vq=1 next_off=0x1234 wrap=1');
  });

  it('shows an invalid frame as its reason and detail', () => {
    const big = '0006010032002401' + '00'.repeat(284);
    expect(line(big)).toBe('INVALID MSG_SIZE_GT_BUS_MAX: msg_size 292 > bus max 264');
  });

  it('names status bits, shows PING data in hex and cuts long byte arrays', () => {
    expect(line('0107010006000c000f000000')).toBe('RESP GET_DEVICE_STATUS dev=1 tok=6 size=12 status=0x0f(ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK)');
    expect(line('0203000000020c00efbeadde')).toBe('REQ  PING dev=0 tok=512 size=12 data=0xdeadbeef');
    const data = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(2, '0')).join('');
    expect(line('000601000100' + '3c00' + '00000000' + '00000000' + '28000000' + data)).toMatch(/data=000102.*1f…\(40 bytes\) *$/);
  });

  it('names EVENT_DEVICE state 1 READY in rev1 and ADDED in rev1-2026', () => {
    expect(line('0240000000000c0005000100')).toBe('EVT  EVENT_DEVICE dev=0 device=5 state=READY');
    expect(line('0240000000000c0005000100', { profile: 'rev1-2026' })).toBe('EVT  EVENT_DEVICE dev=0 device=5 state=ADDED');
    expect(line('0240000000000c0007000180')).toBe('EVT  EVENT_DEVICE dev=0 device=7 state=IMPL_DEFINED(0x8001)');
  });
});

describe('JSON object', () => {
  it('keeps the spec name, flags responses and spells u64 as 0x + 16 hex digits', () => {
    const o = json('010901000b0030000000000000010000800000000000000000100040000000000020004000000000' + '0030004000000000');
    expect(o).toMatchObject({ valid: true, message: 'GET_VQUEUE', response: true, desc_addr: '0x0000000040001000', device_addr: '0x0000000040003000' });
  });

  it('is {valid:false, reason, detail} and nothing else for an invalid frame', () => {
    expect(json('000201000100')).toEqual({ valid: false, reason: 'HDR_TRUNCATED', detail: 'only 6 byte(s); the header needs 8' });
  });

  it('shows trailing response bytes and leaves out codec-only keys', () => {
    const o = json('0107010006000e000f000000eeff');
    expect(o).toEqual({ valid: true, type: 1, msg_id: 7, dev_num: 1, token: 6, msg_size: 14, message: 'GET_DEVICE_STATUS', response: true, status: 15, trailing: 'eeff' });
  });
});

describe('helpers', () => {
  it('statusText lists known bits and the rest in hex', () => {
    expect(statusText(0)).toBe('0x00');
    expect(statusText(0x41)).toBe('0x41(ACKNOWLEDGE|DEVICE_NEEDS_RESET)');
    expect(statusText(0x30)).toBe('0x30(0x30)');
  });

  it('presentDevices reads the bitmap LSB first from the window offset (docs/PROTOCOL.md §6)', () => {
    expect(presentDevices(0, bytesOf('2500'))).toEqual([0, 2, 5]);
    expect(presentDevices(64, bytesOf('0080'))).toEqual([79]);
  });

  it('deviceStateName covers reserved and bus-specific states', () => {
    expect(deviceStateName(2)).toBe('REMOVED');
    expect(deviceStateName(3)).toBe('RESERVED');
    expect(deviceStateName(0xffff)).toBe('IMPL_DEFINED');
  });
});
