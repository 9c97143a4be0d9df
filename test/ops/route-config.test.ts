// The `vmsg route --config` file: every command-line option has a key, errors point at the bad
// key by JSON pointer and say what is accepted, and the command line wins over the file.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRouteConfig, mergeRouteConfig, parseDeviceSpec } from '../../src/ops/route-config.js';
import { JsonFieldError } from '../../src/util/json-fields.js';
import { resolveRouterOptions, ROUTER_OPTION_RANGES } from '../../src/router/options.js';
import { parseRouteConfig, routeConfigJsonSchema, ROUTER_OPTION_KEYS } from '../../src/ops/route-config-schema.js';
import { packageRoot } from '../../src/util/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const errorOf = (doc: unknown): string => {
  try {
    parseRouteConfig(doc, 'router.json');
  } catch (e) {
    expect(e).toBeInstanceOf(JsonFieldError);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

const FULL = {
  driverLinks: ['vmamp:/dev/shm/vm1?size=8192&role=device&sock=/tmp/vm1.sock'],
  deviceLinks: ['unix:/run/devices.sock', 'tcp:10.0.0.2:7000'],
  devices: ['echo:1', 'entropy:2', 'block:3?file=disk.img'],
  duration: 30,
  capture: 'run.vmc',
  metrics: 9464,
  logLevel: 'debug',
  router: { shards: 1, busMaxSize: 264, timeoutMs: 500, window: 32, ringCapacity: 512, ringBatch: 8, maxEndpoints: 64, poolSlots: 4096, parkLimit: 128, sourceBudget: 32, memoryBytes: 64 << 20, spinBeforeSleep: 100, busyPollSpins: 16, busyPollSeek: false, packedRings: false, shardCpus: [0] },
};

describe('route config file', () => {
  it('expresses every option of vmsg route, router options included', async () => {
    const path = join(dir, 'router.json');
    writeFileSync(path, JSON.stringify(FULL));
    const c = await loadRouteConfig(path);
    expect(c.driverLinks).toEqual(FULL.driverLinks);
    expect(c.deviceLinks).toEqual(FULL.deviceLinks);
    expect(c.devices.map((d) => [d.kind, d.dev, Object.fromEntries(d.params)])).toEqual([['echo', 1, {}], ['entropy', 2, {}], ['block', 3, { file: 'disk.img' }]]);
    expect(c).toMatchObject({ durationS: 30, capture: 'run.vmc', metricsPort: 9464, logLevel: 'debug', router: FULL.router });
    // Every RouterOptions field has its key (the test file sets them all).
    expect(Object.keys(FULL.router).sort()).toEqual([...ROUTER_OPTION_KEYS].sort());
    expect(() => resolveRouterOptions(c.router)).not.toThrow();
  });

  it('points at the bad key with what is accepted', async () => {
    expect(errorOf({ router: { ringCapacity: 2 } })).toBe('router.json: /router/ringCapacity: must be an integer from 3 to 65536, got 2');
    expect(errorOf({ router: { window: 48 } })).toBe('router.json: /router/window: must be a power of two, got 48');
    // A number written as a string is shown as one, not as the number it spells.
    expect(errorOf({ router: { timeoutMs: '1000' } })).toBe('router.json: /router/timeoutMs: must be an integer from 1 to 86400000, got string "1000"');
    expect(errorOf({ router: { ringCapcity: 512 } })).toMatch(/^router.json: \/router\/ringCapcity: unknown key; did you mean "ringCapacity"\? known keys: shards, /);
    expect(errorOf({ driverLink: [] })).toMatch(/^router.json: \/driverLink: unknown key; did you mean "driverLinks"\?/);
    expect(errorOf({ driverLinks: ['vmamp:/dev/shm/x?role=both'] })).toMatch(/^router.json: \/driverLinks\/0: link URI "vmamp:\/dev\/shm\/x\?role=both": role must be device or driver/);
    expect(errorOf({ deviceLinks: 'unix:/x' })).toBe('router.json: /deviceLinks: must be an array, got string "unix:/x"');
    expect(errorOf({ devices: ['echo:1', 'gpu:2'] })).toMatch(/^router.json: \/devices\/1: "gpu:2": unknown device kind "gpu" \(kinds: echo, entropy, block\)/);
    expect(errorOf({ devices: ['echo:1', 'entropy:1'] })).toBe('router.json: /devices/1: device number 1 is already used by /devices/0');
    expect(errorOf({ devices: ['echo'] })).toMatch(/\/devices\/0: "echo" is not KIND:DEVNUM\[\?key=value&\.\.\.\]/);
    expect(errorOf({ metrics: 70000 })).toBe('router.json: /metrics: must be an integer from 0 to 65535, got number 70000');
    expect(errorOf({ logLevel: 'verbose' })).toMatch(/\/logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got string "verbose"/);
    expect(errorOf({ duration: 0 })).toMatch(/\/duration: must be a number from 0.001/);
    expect(errorOf([])).toBe('router.json: (document): must be an object, got an array');
    writeFileSync(join(dir, 'bad.json'), '{"devices": ["echo:1",]}');
    await expect(loadRouteConfig(join(dir, 'bad.json'))).rejects.toThrow(/bad.json: \(document\): not valid JSON/);
    expect(() => parseDeviceSpec('echo:70000')).toThrow(/device number 70000 is above 65535/);
  });

  it('the command line wins over the file: values replace, lists replace, router options merge per field', () => {
    const file = parseRouteConfig(FULL);
    const merged = mergeRouteConfig(file, { devices: [parseDeviceSpec('echo:9')], durationS: 5, router: { timeoutMs: 2000 } });
    expect(merged.devices.map((d) => d.text)).toEqual(['echo:9']);
    expect(merged.durationS).toBe(5);
    expect(merged.driverLinks).toEqual(FULL.driverLinks); // not given on the command line: the file's
    expect(merged.router).toEqual({ ...FULL.router, timeoutMs: 2000 });
    expect(mergeRouteConfig(undefined, { metricsPort: 0 })).toMatchObject({ metricsPort: 0, driverLinks: [], router: {} });
  });

  it('--metrics as "HOST:PORT": the host is kept; a bare port leaves it to the loopback default', () => {
    expect(parseRouteConfig({ metrics: '0.0.0.0:9464' })).toMatchObject({ metricsPort: 9464, metricsHost: '0.0.0.0' });
    expect(parseRouteConfig({ metrics: '[::1]:9464' })).toMatchObject({ metricsPort: 9464, metricsHost: '::1' });
    expect(parseRouteConfig({ metrics: 9464 })).toMatchObject({ metricsPort: 9464, metricsHost: undefined });
    expect(errorOf({ metrics: 'localhost' })).toBe('router.json: /metrics: must be a port (integer from 0 to 65535) or "HOST:PORT", got string "localhost"');
    expect(errorOf({ metrics: true })).toBe('router.json: /metrics: must be a port (integer from 0 to 65535) or "HOST:PORT", got boolean true');
    // A --metrics flag replaces the whole address: the file's host does not stay with a new port.
    expect(mergeRouteConfig(parseRouteConfig({ metrics: '0.0.0.0:9464' }), { metricsPort: 9500 })).toMatchObject({ metricsPort: 9500, metricsHost: undefined });
  });

  it('more errors at their pointer: item types, strings, nested unknown keys far from any known one', () => {
    expect(errorOf({ driverLinks: [7] })).toBe('router.json: /driverLinks/0: must be a link URI string, got 7');
    expect(errorOf({ capture: '' })).toBe('router.json: /capture: must be a non-empty string, got string ""');
    expect(errorOf({ router: { packedRings: 'yes' } })).toBe('router.json: /router/packedRings: must be true or false, got string "yes"');
    expect(errorOf({ router: [] })).toBe('router.json: /router: must be an object, got an array');
    expect(errorOf({ router: { zebra: 1 } })).toMatch(/^router.json: \/router\/zebra: unknown key; known keys: shards, /);
    expect(errorOf({ devicse: [], duration: -1 })).toMatch(/^router.json: \/devicse: unknown key; did you mean "devices"\?/); // the typo first
  });
});

describe('the config schema shipped with the package', () => {
  const file = join(packageRoot(), 'schema', 'route-config.schema.json');
  it('schema/route-config.schema.json is the schema the code checks with (npm run schema writes it)', () => {
    expect(readFileSync(file, 'utf8')).toBe(JSON.stringify(routeConfigJsonSchema(), null, 2) + '\n');
  });

  it('states every key, refuses others, and gives each router option the range Router.create() accepts', () => {
    const schema = JSON.parse(readFileSync(file, 'utf8')) as {
      additionalProperties: boolean;
      properties: Record<string, { additionalProperties?: boolean; properties?: Record<string, { type: string; minimum?: number; maximum?: number }> }>;
    };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(['$schema', 'driverLinks', 'deviceLinks', 'devices', 'duration', 'capture', 'metrics', 'logLevel', 'cluster', 'router']);
    const router = schema.properties.router!;
    expect(router.additionalProperties).toBe(false);
    expect(Object.keys(router.properties!).sort()).toEqual([...ROUTER_OPTION_KEYS].sort());
    for (const [key, [min, max]] of Object.entries(ROUTER_OPTION_RANGES)) {
      expect(router.properties![key], key).toEqual({ type: 'integer', minimum: min, maximum: max });
      // The edges are what Router.create() accepts (shards also by core count).
      if (key !== 'shards' && key !== 'window') expect(() => resolveRouterOptions({ shards: 1, [key]: min }), key).not.toThrow();
    }
    expect(router.properties!.packedRings).toEqual({ type: 'boolean' });
    expect(router.properties!.busyPollSeek).toEqual({ type: 'boolean' });
  });
});
