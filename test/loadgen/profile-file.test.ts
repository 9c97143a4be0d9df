// The load profile file: a whole benchmark in one JSON file, and errors that point at the bad
// key by JSON pointer with the accepted values.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProfileFile, loadProfileFile } from '../../src/loadgen/profile-file.js';
import { JsonFieldError } from '../../src/util/json-fields.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const errorOf = (doc: unknown): string => {
  try {
    parseProfileFile(JSON.stringify(doc), 'mix.json');
  } catch (e) {
    expect(e).toBeInstanceOf(JsonFieldError);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('profile file', () => {
  it('reads a mixed profile with its load settings from a file', async () => {
    const path = join(dir, 'mix.json');
    writeFileSync(path, JSON.stringify({
      profile: 'mixed', description: 'reads with some writes',
      mix: { GET_DEVICE_STATUS: 70, GET_CONFIG: 20, SET_CONFIG: 5, PING: 5, GET_SHM: 0 },
      config: { offset: 0, length: 8 }, queues: 4,
      load: { loop: 'open', rate: 20000, warmup: 1, duration: 10, devices: [1, 2], timeoutMs: 500 },
    }));
    const f = await loadProfileFile(path);
    expect(f.profile).toEqual({ name: 'mixed', mix: { GET_DEVICE_STATUS: 70, GET_CONFIG: 20, SET_CONFIG: 5, PING: 5, GET_SHM: 0 }, configOffset: 0, configLength: 8, queues: 4 });
    expect(f.load).toEqual({ loop: 'open', rate: 20000, warmupS: 1, durationS: 10, devices: [1, 2], timeoutMs: 500 });
    expect(f.description).toBe('reads with some writes');
    expect(parseProfileFile('{"profile":"init-storm","initQueues":2}').profile).toEqual({ name: 'init-storm', initQueues: 2 });
  });

  it('points at the bad key with what is accepted', async () => {
    expect(errorOf({ profile: 'mixd' })).toMatch(/^mix.json: \/profile: must be one of init-storm, notify-flood, config-rw, mixed, init, ping, avail, got string "mixd"$/);
    expect(errorOf({})).toMatch(/\/profile: is required/);
    expect(errorOf({ profile: 'mixed' })).toMatch(/\/mix: is required for the mixed profile/);
    expect(errorOf({ profile: 'mixed', mix: { GET_CONFG: 1 } })).toMatch(/\/mix\/GET_CONFG: unknown key; did you mean "GET_CONFIG"\?/);
    expect(errorOf({ profile: 'mixed', mix: { SET_DEVICE_STATUS: 1 } })).toMatch(/\/mix\/SET_DEVICE_STATUS: unknown key/);
    expect(errorOf({ profile: 'mixed', mix: { PING: 0 } })).toMatch(/\/mix: needs at least one message with a weight above 0/);
    expect(errorOf({ profile: 'mixed', mix: { PING: 1.5 } })).toMatch(/\/mix\/PING: must be an integer from 0 to 1000000, got number 1.5/);
    expect(errorOf({ profile: 'ping', mix: { PING: 1 } })).toMatch(/\/mix: applies to the mixed profile only/);
    expect(errorOf({ profile: 'ping', load: { devices: [1, 'two'] } })).toMatch(/\/load\/devices\/1: must be an integer from 0 to 65535, got string "two"/);
    expect(errorOf({ profile: 'ping', load: { loop: 'open' } })).toMatch(/\/load\/rate: is required with "loop": "open"/);
    expect(errorOf({ profile: 'ping', load: { duration: 1, count: 5 } })).toMatch(/\/load: give "duration" or "count", not both/);
    expect(errorOf({ profile: 'ping', load: { outstandng: 4 } })).toMatch(/\/load\/outstandng: unknown key; did you mean "outstanding"\?/);
    expect(() => parseProfileFile('{"profile": ', 'bad.json')).toThrow(/^bad.json: \(document\): not valid JSON/);
    await expect(loadProfileFile(join(dir, 'missing.json'))).rejects.toThrow(/missing.json: \(document\): cannot read the profile file/);
  });
});
