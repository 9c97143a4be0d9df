// Split layout sizes and checks (§2.7), event-index arithmetic (§2.7.7/§2.7.10), notification data (§2.9, EVENT_AVAIL).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSplitQueue, splitQueueBytes, availUsedEventOffset, usedAvailEventOffset } from '../../src/virtqueue/split-layout.js';
import { decodeSplitNextOffset, encodeSplitNextOffset, needEvent } from '../../src/virtqueue/notification.js';

describe('split virtqueue layout', () => {
  it('sizes the three parts like §2.7 (256 entries: 4096 + 518 + 2054 bytes)', () => {
    expect(splitQueueBytes(256)).toEqual({ descTable: 4096, availRing: 518, usedRing: 2054 });
    expect(availUsedEventOffset(256)).toBe(516);
    expect(usedAvailEventOffset(256)).toBe(2052);
  });

  it('accepts power-of-two sizes up to 32768 and the 16/2/4 alignments', () => {
    const aligned = { descAddr: 0x1000n, driverAddr: 0x2002, deviceAddr: 0x3004 };
    for (const size of [1, 2, 256, 32768]) expect(checkSplitQueue(size, aligned)).toBeNull();
    for (const size of [0, 3, 100, 65536, 1.5]) expect(checkSplitQueue(size, aligned)).toMatch(/power of two/);
    expect(checkSplitQueue(8, { ...aligned, descAddr: 0x1008 })).toMatch(/descriptor table .* 16-byte aligned, got 0x1008/);
    expect(checkSplitQueue(8, { ...aligned, driverAddr: 0x2001 })).toMatch(/available ring .* 2-byte/);
    expect(checkSplitQueue(8, { ...aligned, deviceAddr: 0x3002n })).toMatch(/used ring .* 4-byte/);
  });
});

describe('event index and notification data', () => {
  it('needEvent fires exactly when the event index lies in [old, new), across the 16-bit wrap', () => {
    expect(needEvent(5, 6, 5)).toBe(true);
    expect(needEvent(5, 5, 4)).toBe(false);
    expect(needEvent(5, 10, 6)).toBe(false);
    expect(needEvent(0xfffe, 2, 0xfff0)).toBe(true);
    expect(needEvent(3, 2, 0xfff0)).toBe(false);
    expect(needEvent(7, 7, 7)).toBe(false);
  });

  it('next_offset carries the low 15 bits of the available index and bit 15 as the wrap bit 31', () => {
    // Wire vector t_event_avail_notification_data: next_off 0x1234 with next_wrap 1.
    const vectors = JSON.parse(readFileSync(new URL('../fixtures/wire-vectors.json', import.meta.url), 'utf8')) as { vectors: { name: string; hex: string }[] };
    const frame = Buffer.from(vectors.vectors.find((v) => v.name === 't_event_avail_notification_data')!.hex, 'hex');
    const nextOffset = frame.readUInt32LE(12);
    expect(decodeSplitNextOffset(nextOffset)).toBe(0x9234);
    expect(encodeSplitNextOffset(0x9234)).toBe(nextOffset);
    expect(encodeSplitNextOffset(0x1234)).toBe(0x1234);
    for (const idx of [0, 1, 0x7fff, 0x8000, 0xffff]) expect(decodeSplitNextOffset(encodeSplitNextOffset(idx))).toBe(idx);
  });

  it('next_offset with the whole 16-bit index in bits 15..0 decodes to the same index', () => {
    expect(decodeSplitNextOffset(0x9234)).toBe(0x9234);
    expect(decodeSplitNextOffset(0xffff)).toBe(0xffff);
  });
});
