// The cluster's contract pieces without a server: --advertise and --node checks, the config
// file's "cluster" object and its merge with flags, directory keys and entries as readers check
// them, and the liveness clock (dead after 3 s, frozen while NATS is away).
import { describe, expect, it } from 'vitest';
import { parseAdvertise, checkClusterOptions } from '../../src/cluster/cluster-options.js';
import { mergeRouteConfig } from '../../src/ops/route-config.js';
import { parseRouteConfig } from '../../src/ops/route-config-schema.js';
import { parseKey, readAliveEntry, readDeviceEntry } from '../../src/cluster/directory-entry.js';
import { Liveness, DEAD_AFTER_MS } from '../../src/cluster/liveness.js';

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

describe('cluster options', () => {
  it('--advertise: tcp and tls addresses, errors that say what to give', () => {
    expect(parseAdvertise('tcp:127.0.0.1:7000')).toEqual({ address: 'tcp:127.0.0.1:7000', host: '127.0.0.1', port: 7000, tls: undefined, insecure: false });
    expect(parseAdvertise('tcp:[::1]:0')).toMatchObject({ address: 'tcp:[::1]:0', host: '::1', port: 0 });
    expect(() => parseAdvertise('tcp:0.0.0.0:7000')).toThrow(/not an address other routers can reach/);
    expect(() => parseAdvertise('udp:h:1')).toThrow(/is not tcp:HOST:PORT or tls:HOST:PORT/);
    expect(() => parseAdvertise('tls:h:1')).toThrow(/needs cert=PEM&key=PEM&ca=PEM/);
    expect(() => parseAdvertise('tls:h:1?cert=/nonexistent&key=/x&ca=/y')).toThrow(/cert=\/nonexistent does not exist/);
    expect(() => parseAdvertise('tcp:h:1?tls=1')).toThrow(/tcp: takes only insecure=1/);
    // Reachable from other hosts without client certificates: refused unless the user says so.
    expect(() => parseAdvertise('tcp:10.1.2.3:7000')).toThrow(/without authentication; use tls:10.1.2.3:7000\?cert=PEM&key=PEM&ca=PEM, or accept any peer with tcp:10.1.2.3:7000\?insecure=1/);
    expect(parseAdvertise('tcp:10.1.2.3:7000?insecure=1')).toMatchObject({ address: 'tcp:10.1.2.3:7000', insecure: true });
    expect(() => parseAdvertise('tcp:10.1.2.3:7000?insecure=0')).toThrow(/insecure= takes 1/);
  });

  it('--node and --cluster are checked', () => {
    expect(() => checkClusterOptions({ url: 'nats://127.0.0.1:4222', node: 'r.1' })).toThrow(/--node must be 1 to 64 letters/);
    expect(() => checkClusterOptions({ url: 'http://h:1', node: 'r1' })).toThrow(/scheme must be nats:\/\/ or tls:\/\//);
    expect(() => checkClusterOptions({ url: 'nats://h', node: 'r1' })).toThrow(/give the host and the port/);
    expect(() => checkClusterOptions({ url: 'nats://h:1', node: 'r1', credsFile: '/nonexistent.creds' })).toThrow(/--cluster-creds \/nonexistent.creds does not exist/);
    expect(() => checkClusterOptions({ url: 'nats://h:1', node: 'r1', caFile: '/nonexistent-ca.pem' })).toThrow(/--cluster-ca \/nonexistent-ca.pem does not exist/);
    for (const w of [0, 3, 24, 65536, 1.5]) expect(() => checkClusterOptions({ url: 'nats://h:1', node: 'r1', remoteWindow: w })).toThrow(/--cluster-window must be a power of two from 1 to 32768/);
    expect(() => checkClusterOptions({ url: 'nats://a:1,nats://b:2', node: 'r-1_x', advertise: 'tcp:10.1.2.3:7000?insecure=1', remoteWindow: 8 })).not.toThrow();
  });

  it('config file: the cluster object, errors at its JSON pointer, flags win field by field', () => {
    const file = parseRouteConfig({ cluster: { url: 'nats://h:4222', node: 'r1', advertise: 'tcp:h:7000?insecure=1' } }, 'r.json');
    expect(file.cluster).toEqual({ url: 'nats://h:4222', node: 'r1', advertise: 'tcp:h:7000?insecure=1', credsFile: undefined, caFile: undefined, bucket: undefined, remoteWindow: undefined });
    expect(parseRouteConfig({ cluster: { url: 'nats://h:4222', node: 'r1', window: 16 } }, 'r.json').cluster).toMatchObject({ remoteWindow: 16 });
    expect(() => parseRouteConfig({ cluster: { url: 'nats://h:4222', node: 'r1', window: 12 } }, 'r.json')).toThrow(/\/cluster\/window: must be a power of two/);
    expect(() => parseRouteConfig({ cluster: { url: 'nats://h:4222', node: 'r1', window: '8' } }, 'r.json')).toThrow(/\/cluster\/window: must be a power of two/);
    expect(() => parseRouteConfig({ cluster: { url: 'nats://h:4222', node: 'r1', ca: '/nonexistent-ca.pem' } }, 'r.json')).toThrow(/\/cluster\/ca: \/nonexistent-ca.pem does not exist/);
    expect(() => parseRouteConfig({ cluster: { url: 'nats://h:4222' } }, 'r.json')).toThrow(/r\.json: \/cluster\/node: is required/);
    expect(() => parseRouteConfig({ cluster: { url: 'nats://h:4222', node: 'a b' } }, 'r.json')).toThrow(/\/cluster\/node: must be 1 to 64/);
    expect(() => parseRouteConfig({ cluster: { url: 'nats://h:4222', node: 'r1', nodes: 1 } }, 'r.json')).toThrow(/\/cluster\/nodes: unknown key/);
    const merged = mergeRouteConfig(file, { cluster: { node: 'r9', url: undefined } });
    expect(merged.cluster).toMatchObject({ url: 'nats://h:4222', node: 'r9', advertise: 'tcp:h:7000?insecure=1' });
    expect(mergeRouteConfig(undefined, { cluster: { url: undefined, node: undefined } }).cluster).toBeUndefined();
  });
});

describe('directory entries', () => {
  it('keys name their node; values naming another node are refused', () => {
    expect(parseKey('r1.alive')).toEqual({ node: 'r1', kind: 'alive' });
    expect(parseKey('r1.dev.300')).toEqual({ node: 'r1', kind: 'dev', dev: 300 });
    expect(parseKey('r1.dev.70000')).toBeNull();
    expect(parseKey('r1.other')).toBeNull();
    const key = { node: 'r1', dev: 3 };
    expect(readDeviceEntry(key, bytes({ node: 'r1', dev: 3, device_id: 4, vendor_id: 0, addr: 'tcp:h:1' }))).toEqual({ node: 'r1', dev: 3, device_id: 4, vendor_id: 0, addr: 'tcp:h:1' });
    expect(readDeviceEntry(key, bytes({ node: 'r2', dev: 3, device_id: 4, vendor_id: 0, addr: 'tcp:h:1' }))).toMatch(/names node "r2" under r1's key/);
    expect(readDeviceEntry(key, bytes({ node: 'r1', dev: 4, device_id: 4, vendor_id: 0, addr: 'tcp:h:1' }))).toMatch(/names device 4/);
    expect(readDeviceEntry(key, new TextEncoder().encode('{'))).toBe('not JSON');
    expect(readAliveEntry('r1', bytes({ node: 'r1', addr: null, beat: 7 }))).toEqual({ node: 'r1', addr: null, beat: 7 });
    expect(readAliveEntry('r1', bytes({ node: 'r2', addr: null, beat: 7 }))).toMatch(/names node "r2"/);
  });
});

describe('liveness', () => {
  it('dead after DEAD_AFTER_MS without a beat; frozen time does not count; thaw gives a fresh period', () => {
    let now = 0;
    const l = new Liveness(() => now);
    expect(l.beat('a')).toBe(true);
    expect(l.beat('a')).toBe(false);
    now = DEAD_AFTER_MS;
    expect(l.expire()).toEqual([]);
    l.freeze();
    now = 10 * DEAD_AFTER_MS;
    expect(l.expire()).toEqual([]);
    expect(l.isAlive('a')).toBe(true);
    l.thaw();
    now += DEAD_AFTER_MS;
    expect(l.expire()).toEqual([]);
    now += 1;
    expect(l.expire()).toEqual(['a']);
    expect(l.isAlive('a')).toBe(false);
    // An entry found at start is aged by its time stamp.
    expect(l.beat('b', DEAD_AFTER_MS + 1)).toBe(false);
    expect(l.beat('c', 1000)).toBe(true);
  });
});
