// Replay: the driver side of a capture made through a Router is sent again to a fresh router
// and every answer matches the captured one (tokens aside); against a different device the
// differences are reported request by request; the recorded pace is kept, scaled by speed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../src/loadgen/engine.js';
import { Exchange, frame } from '../../src/client/exchange.js';
import { replayCapture, replayMatched, formatReplayText } from '../../src/capture/replay.js';
import { readCapture } from '../../src/capture/reader.js';
import { startEchoRouter } from '../tools/echo-router.js';
import { startModelDevice } from '../tools/model-device.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-replay-'));
const path = join(dir, 'run.vmc');
let requestsCaptured = 0;
let framesFromDriver = 0;
let span = 0;

beforeAll(async () => {
  const target = await startEchoRouter([1, 2]);
  try {
    const ch = await target.channel();
    const tap = await target.router.startCapture(path);
    const mix = { GET_DEVICE_STATUS: 3, GET_CONFIG: 2, SET_CONFIG: 1, GET_VQUEUE: 1, PING: 1, GET_DEVICES: 1, EVENT_AVAIL: 2 };
    const r = await runLoad(ch, { profile: { name: 'mixed', mix }, count: 300, outstanding: 4 });
    expect(r.errors).toBe(0);
    // A malformed frame (dropped, no answer) and a request for a device the router lacks (a transport failure).
    const ex = new Exchange(ch);
    const short = frame(0, 0x07, 1, 0x77, []);
    short[6] = 4; // msg_size 4: shorter than the header
    await ex.send([short, frame(0, 0x07, 9, 0x78, [])]);
    await ex.receive((g) => g.length > 0, 5000);
    const summary = await tap.stop();
    expect(summary.lost).toBe(0);
    await ch.close();
  } finally {
    await target.close();
  }
  const times: number[] = [];
  const drivers = new Set<number>();
  for await (const item of readCapture(path)) {
    if (item.kind === 'link' && item.link.kind === 'driver') drivers.add(item.link.link);
    if (item.kind !== 'frame') continue;
    times.push(item.frame.timeMs);
    const { link, dir, bytes } = item.frame;
    if (!drivers.has(link) || dir !== 0) continue;
    framesFromDriver++;
    if (bytes.length >= 8 && (bytes[6]! | (bytes[7]! << 8)) >= 8 && (bytes[0]! & 1) === 0 && (bytes[1]! & 0x40) === 0) requestsCaptured++;
  }
  span = Math.max(...times) - Math.min(...times);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vmsg replay', () => {
  it('replayed against a fresh router with the same devices, every answer matches the capture', async () => {
    const target = await startEchoRouter([1, 2]);
    try {
      const ch = await target.channel();
      const r = await replayCapture(path, ch, { speed: 0 });
      expect(r.requests).toBe(requestsCaptured);
      expect(r.compared).toBe(requestsCaptured); // every request had a captured outcome, the failure included
      expect(r.matches).toBe(r.compared);
      expect(r).toMatchObject({ mismatches: 0, missing: 0, unexpected: 0, order_violations: 0, uncompared: 0, unsendable: 0 });
      expect(r.sent).toBe(framesFromDriver); // requests, EVENT_AVAILs and the malformed frame
      expect(r.events.replayed.EVENT_USED).toBeGreaterThan(0);
      expect(replayMatched(r)).toBe(true);
      expect(formatReplayText(r)).toMatch(/compared \d+: \d+ match, 0 differ, 0 missing[\s\S]*verdict: MATCH/);
      await ch.close();
    } finally {
      await target.close();
    }
  });

  it('keeps the recorded pace, scaled by speed', async () => {
    const target = await startEchoRouter([1, 2]);
    try {
      const ch = await target.channel();
      const r = await replayCapture(path, ch, { speed: 4 });
      expect(r.seconds * 1000).toBeGreaterThanOrEqual((span / 4) * 0.95);
      expect(r.mismatches).toBe(0);
      await ch.close();
    } finally {
      await target.close();
    }
  });

  it('against another device the differences are listed per device and request', async () => {
    const m = await startModelDevice('good', { devices: [1, 2] });
    try {
      const r = await replayCapture(path, m.channel, { speed: 0, timeoutMs: 300 });
      expect(replayMatched(r)).toBe(false);
      expect(r.mismatches).toBeGreaterThan(0);
      // The model answers GET_DEVICE_INFO with 32 bytes where the echo device sent 12, and knows no device 9.
      expect(r.mismatch_list.find((x) => x.request === 'GET_DEVICE_INFO')).toMatchObject({ problem: 'msg_size 32, captured 12' });
      expect(r.missing_list).toEqual([expect.objectContaining({ device: 9, request: 'GET_DEVICE_STATUS', problem: 'no answer within 300 ms' })]);
      expect(r.missing).toBe(1);
      expect(formatReplayText(r)).toMatch(/device 1 request #\d+ GET_DEVICE_INFO: msg_size 32, captured 12\n +captured 01020100[0-9a-f]{4}0c000f000000\n +replayed 01020100[0-9a-f]{4}2000/);
    } finally {
      await m.stop();
    }
  });

  it('names what is wrong with its options', async () => {
    const m = await startModelDevice('good');
    try {
      await expect(replayCapture(path, m.channel, { links: [99] })).rejects.toThrow(/run.vmc has no driver link 99/);
      await expect(replayCapture(path, m.channel, { speed: -1 })).rejects.toThrow(/speed must be a number >= 0/);
    } finally {
      await m.stop();
    }
  });
});
