// Bus model files (src/model/bus-model.ts): every built-in model loads with the numbers of
// docs/BUSES.md §6, and a user model file with a bad field is refused with that field's JSON pointer.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_MODELS, builtinModelDir, loadBusModel } from '../../src/model/bus-model.js';
import { JsonFieldError } from '../../src/util/json-fields.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function userFile(change: (doc: Record<string, any>) => void): string {
  const doc = JSON.parse(readFileSync(join(builtinModelDir(), 'vmamp-pci.json'), 'utf8'));
  change(doc);
  const path = join(dir, `m${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

function refusal(path: string): JsonFieldError {
  try {
    loadBusModel(path);
  } catch (e) {
    if (e instanceof JsonFieldError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('bus model files', () => {
  it('every built-in model loads, with the slots, frame size, window and tokens of its bus', () => {
    const got = Object.fromEntries(BUILTIN_MODELS.map((n) => {
      const m = loadBusModel(n);
      return [n, [m.slots, m.maxFrame, m.outstanding.scope, m.outstanding.limit, m.tokens.requests]];
    }));
    expect(got).toEqual({
      'vmamp-pci': [62, 64, 'device', 1, 'fixed'],
      'spsc-v1': [61, 64, 'device', 1, 'echo'],
      'sram-496': [2, 64, 'device', 1, 'fixed'],
      'qemu-linux-user': [4095, 40, 'bus', 1, 'none'],
      'ffa-direct': [1, 104, 'endpoint', 1, 'counter'],
      'ffa-fifo': [29, 104, 'endpoint', 65534, 'counter'],
      'openamp-st': [3, 40, 'bus', 1, 'none'],
      'bridge-2026': [256, 65535, 'endpoint', 256, 'echo'],
    });
    expect(loadBusModel('vmamp-pci').queueFull.driverSide).toEqual({ policy: 'retry', intervalMs: 10, retries: 1000, then: 'EIO' });
    expect(loadBusModel('ffa-fifo').tokens.start).toBe(2);
  });

  it('a user model file loads like a built-in one', () => {
    const m = loadBusModel(userFile((d) => { d.name = 'my-bus'; d.slots = 7; }));
    expect(m).toMatchObject({ name: 'my-bus', slots: 7, maxFrame: 64 });
  });

  it('a bad field is refused with its JSON pointer and what would be accepted', () => {
    const cases: [(d: Record<string, any>) => void, string, RegExp][] = [
      [(d) => { d.slots = 0; }, '/slots', /integer from 1 to 65535, got number 0/],
      [(d) => { d.queueFull.driverSide.intervalMs = '10'; }, '/queueFull/driverSide/intervalMs', /number from 0 to 60000, got string "10"/],
      [(d) => { d.outstanding.scope = 'queue'; }, '/outstanding/scope', /one of device, bus, endpoint/],
      [(d) => { d.tokens.requests = 'counter'; }, '/tokens/value', /applies to requests "fixed" only/],
      [(d) => { d.notify.perr = 'message'; }, '/notify/perr', /unknown key; did you mean "per"\?/],
      [(d) => { delete d.maxFrame; }, '/maxFrame', /is required/],
      [(d) => { d.queueFull.deviceSide = { policy: 'fail', then: 'oops' }; }, '/queueFull/deviceSide/then', /errno name/],
      [(d) => { d.format = 'something'; }, '/format', /must be "vmsg-bus-model"/],
    ];
    for (const [change, ptr, problem] of cases) {
      const path = userFile(change);
      const e = refusal(path);
      expect(e.pointer).toBe(ptr);
      expect(e.message).toMatch(problem);
      expect(e.message.startsWith(`${path}: ${ptr}: `)).toBe(true);
    }
  });

  it('an unknown model name lists the built-in ones', () => {
    expect(() => loadBusModel('vmamp-pcie')).toThrow(/unknown bus model "vmamp-pcie" \(built-in: vmamp-pci, spsc-v1, sram-496/);
  });
});
