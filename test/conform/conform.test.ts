// The conformance checker: the router in front of the echo device passes every bus rule (and a
// hot-plugged device's EVENT_DEVICE is checked too); the device model passes every rule; and a
// device broken on purpose fails exactly the rule it breaks.
import { describe, it, expect } from 'vitest';
import { runConformance, formatConformText, RULES, CONFORM_FORMAT, type ConformReport } from '../../src/conform/runner.js';
import { startEchoRouter } from '../tools/echo-router.js';
import { startModelDevice, type ModelMode } from '../tools/model-device.js';

const status = (r: ConformReport): Record<string, string> => Object.fromEntries(r.rules.map((x) => [x.id, x.status]));
const FAST = { timeoutMs: 3000, quietMs: 100, settleMs: 3000 };

describe('vmsg conform engine', () => {
  it('the router in front of the echo device passes every bus rule; the echo device is no full device', async () => {
    const target = await startEchoRouter([1, 2]);
    try {
      const ch = await target.channel();
      // A device plugged in while the driver is attached: its EVENT_DEVICE is judged too.
      const link = await target.router.attachDevice({ devices: [] });
      await target.router.addDevice(link, 7);
      const r = await runConformance(ch, FAST, 'router+echo');
      expect(r.format).toBe(CONFORM_FORMAT);
      expect(r.devices).toEqual([1, 2, 7]);
      expect(r.device).toBe(1);
      const bus = r.rules.filter((x) => x.scope === 'bus');
      expect(bus.map((x) => `${x.id} ${x.status}`)).toEqual(bus.map((x) => `${x.id} PASS`));
      expect(r.rules.find((x) => x.id === 'bus.event-device')!.detail).toMatch(/1 EVENT_DEVICE/);
      // The echo device answers every request with 12 bytes: device rules see it.
      expect(status(r)['device.info-while-inactive']).toBe('FAIL');
      expect(status(r)['device.malformed-dropped']).toBe('FAIL');
      expect(r.rules.find((x) => x.id === 'device.feature-blocks')!.detail).toMatch(/is 12 bytes, needs 24/);
      const text = formatConformText(r);
      expect(text).toMatch(/^PASS  §7\.28 +bus\.ping-echo +PING is answered once/m);
      expect(text).toMatch(/^12 passed, 9 failed, 2 skipped \(/m);
      await ch.close();
    } finally {
      await target.close();
    }
  });

  it('the device model driven directly passes every rule it can observe', async () => {
    const m = await startModelDevice('good', { devices: [3, 9] });
    try {
      const r = await runConformance(m.channel, FAST);
      expect(r.device).toBe(3);
      const notPassed = r.rules.filter((x) => x.status !== 'PASS').map((x) => `${x.id} ${x.status}: ${x.detail}`);
      expect(notPassed).toEqual(['bus.event-device SKIP: no EVENT_DEVICE arrived during the run (hot-plug a device while it runs to see one)']);
      expect(r.rules.find((x) => x.id === 'device.vqueue-kept')!.detail).toBe('queue 0 set to size 64 at 0x100000000 and read back');
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
      // 2026 profile: GET_DEVICE_INFO is 52 bytes there, so this PR28 device fails that rule, and the strict-only rule skips.
      const r26 = await runConformance(m.channel, { ...FAST, profile: 'rev1-2026', only: ['device.info', 'device.stale'] });
      expect(status(r26)).toEqual({ 'device.info-while-inactive': 'FAIL', 'device.stale-generation-rejected': 'SKIP' });
    } finally {
      await m.stop();
    }
  });

  const broken: [ModelMode, string[], Record<string, string>][] = [
    ['reorder', ['bus.order', 'bus.one-answer'], { 'bus.order-per-device': 'FAIL', 'bus.one-answer-each': 'PASS' }],
    ['dup', ['bus.one-answer'], { 'bus.one-answer-each': 'FAIL' }],
    ['answers-events', ['bus.events', 'bus.ping'], { 'bus.events-unanswered': 'FAIL', 'bus.ping-echo': 'PASS' }],
    ['bad-ping', ['bus.ping', 'bus.get-devices-windows'], { 'bus.ping-echo': 'FAIL', 'bus.get-devices-windows': 'PASS' }],
    ['bad-get-devices', ['bus.get-devices'], { 'bus.get-devices-windows': 'FAIL', 'bus.get-devices-misaligned': 'FAIL' }],
    ['answers-malformed', ['bus.malformed', 'device.malformed'], { 'bus.malformed-dropped': 'FAIL', 'device.malformed-dropped': 'FAIL' }],
    ['no-reset', ['device.reset-to-zero', 'device.feature-blocks'], { 'device.reset-to-zero': 'FAIL', 'device.feature-blocks': 'PASS' }],
    ['stale-generation', ['device.config-generation', 'device.stale'], { 'device.config-generation': 'PASS', 'device.stale-generation-rejected': 'FAIL' }],
  ];
  it.each(broken)('a device that breaks a rule on purpose (%s) fails that rule', async (mode, only, expected) => {
    const m = await startModelDevice(mode);
    try {
      const r = await runConformance(m.channel, { ...FAST, dev: 1, only });
      expect(status(r)).toEqual(expected);
      for (const x of r.rules.filter((y) => y.status === 'FAIL')) expect(x.detail.length).toBeGreaterThan(10);
    } finally {
      await m.stop();
    }
  });

  it('names the rules it knows when asked for one it does not', async () => {
    const m = await startModelDevice('good');
    try {
      await expect(runConformance(m.channel, { only: ['bus.pong'] })).rejects.toThrow(/no rule id starts with "bus.pong"; rules: bus.max-size, /);
      await expect(runConformance(m.channel, { dev: 70000 })).rejects.toThrow(/dev must be a device number 0..65535/);
      // A device number the bus does not report: its rules SKIP and say why (no row of false FAILs).
      const r = await runConformance(m.channel, { ...FAST, timeoutMs: 300, dev: 5, only: ['device.reset-to-zero', 'bus.order'] });
      expect(r.device).toBeNull();
      expect(r.rules.map((x) => x.status)).toEqual(['SKIP', 'SKIP']);
      expect(r.rules[0]!.detail).toMatch(/device 5 is not among the devices GET_DEVICES reports \(\d/);
    } finally {
      await m.stop();
    }
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
  });
});
