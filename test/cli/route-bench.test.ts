// `vmsg route` and `vmsg bench` as other tools use them (the README's CLI contract): real
// `node dist/src/cli/main.js` processes, C peers (test/peers/vmsg-peer.c) as the external
// programs, the bench JSON with exactly its keys, exit statuses, SIGINT with final counters.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { packageRoot } from '../../src/util/paths.js';
import { freshPaths, peerArgs, peerSkipReason, startPeer } from '../bus/helpers.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const BENCH_KEYS = ['mode', 'sent', 'received', 'errors', 'order_violations', 'seconds', 'round_trips_per_s', 'p50_us', 'p99_us'];

interface Run { status: number; stdout: string; stderr: string }

function vmsg(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 40_000 }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

interface Route {
  proc: ChildProcess;
  stderr(): string;
  /** Resolves once stderr has a line matching `re`. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  done: Promise<Run>;
}

const routes: Route[] = [];
afterEach(() => {
  for (const r of routes.splice(0)) r.proc.kill('SIGKILL');
});

function route(...args: string[]): Route {
  const proc = spawn(process.execPath, [MAIN, 'route', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<Run>((resolve) => proc.on('close', (code) => resolve({ status: code ?? -1, stdout: out, stderr: err })));
  const r: Route = {
    proc,
    stderr: () => err,
    async waitFor(re, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!re.test(err)) {
        if (Date.now() > deadline) throw new Error(`route never printed ${re}; stderr:\n${err}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    },
    done,
  };
  routes.push(r);
  return r;
}

function benchJson(r: Run): Record<string, unknown> {
  expect(r.stdout.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  const o = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(Object.keys(o)).toEqual(BENCH_KEYS);
  return o;
}

describe('vmsg route / vmsg bench: arguments', () => {
  it.each([
    [['route', '--device', 'block:3'], /block devices need \?file=PATH/],
    [['route', '--device', 'block:3?file=/nonexistent/disk.img'], /\/nonexistent\/disk.img does not exist/],
    [['route', '--device', 'entropy:2?file=x'], /unknown option "file" for entropy/],
    [['route', '--device', 'echo:1', '--device', 'echo:1'], /device number 1 is already taken by --device echo:1/],
    [['route', '--device', 'lamp:1'], /unknown device kind "lamp"/],
    [['route', '--device-link', 'vmamp:/dev/shm/x?size=8192&role=device'], /--device-link attaches an external device side, so our role on that bus is driver/],
    [['route', '--driver-link', 'vmamp:/dev/shm/x'], /needs size=BYTES/],
    [['route'], /nothing to route/],
    [['bench', '--target', 'vmamp:/dev/shm/x', '--mode', 'ping'], /missing --dev, --count, --outstanding/],
    [['bench', '--target', 'vmamp:/dev/shm/x'], /say what to send: --profile/],
    [['bench', '--target', 'vmamp:/x', '--dev', '1', '--mode', 'fast', '--count', '1', '--outstanding', '1'], /--mode must be one of init, ping, avail/],
  ])('vmsg %j exits 2 naming the problem', async (args, why) => {
    const r = await vmsg(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(r.stderr.trimEnd().split('\n'), 'one line').toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('vmsg bench against a window nobody serves fails with exit 1 and says what it waited for', async () => {
    const r = await vmsg('bench', '--target', '/dev/shm/none'.replace(/^/, 'vmamp:') + '-missing?size=8192&wait=300', '--dev', '1', '--mode', 'ping', '--count', '1', '--outstanding', '1');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/timed out after 300 ms waiting for window file/);
  });
});

describe.skipIf(peerSkipReason !== null)('vmsg route / vmsg bench with external programs', () => {
  it('vmsg bench drives vmsg route over a vmamp window with doorbells: init, ping and avail all verified, exit 0; SIGINT prints final counters', async () => {
    const p = freshPaths('cli-route');
    const target = `vmamp:${p.path}?size=8192&sock=${p.sock}`;
    const r = route('--driver-link', target, '--device', 'echo:1', '--device', 'echo:2', '--shards', '1');
    await r.waitFor(/routing: 1 link\(s\), 2 built-in device\(s\)/);
    for (const mode of ['init', 'ping', 'avail']) {
      const b = await vmsg('bench', '--target', target, '--dev', '2', '--mode', mode, '--count', '1000', '--outstanding', '4', '--json');
      expect(b.status, b.stderr).toBe(0);
      expect(benchJson(b)).toMatchObject({ mode, sent: 1000, received: 1000, errors: 0, order_violations: 0 });
    }
    // Each bench run was a new driver: the link went down (SHUTDOWN) and came back for the next one.
    await r.waitFor(/link up: .*\n(.|\n)*link up: .*\n(.|\n)*link up: /);
    expect(r.stderr()).toMatch(/link down: --driver-link .* \(peer-shutdown: .*SHUTDOWN\); waiting for the next peer/);
    r.proc.kill('SIGINT');
    const end = await r.done;
    expect(end.status).toBe(0);
    expect(end.stderr).toMatch(/stopping \(SIGINT\)/);
    // The window we built and the doorbell socket go away with the router.
    expect(existsSync(p.path)).toBe(false);
    expect(existsSync(p.sock)).toBe(false);
    const counters = JSON.parse(end.stdout.trim()) as { links: { times_up: number }[]; devices: { dev: number; requests: number; events_in: number }[] };
    expect(counters.links[0]!.times_up).toBe(3);
    const dev2 = counters.devices.find((d) => d.dev === 2)!;
    expect(dev2.requests).toBeGreaterThanOrEqual(1001); // init requests + the avail run's binding request
    expect(dev2.events_in).toBe(1000);
  }, 90_000);

  it('vmsg bench --profile drives vmsg route over a vmamp window (the load tool\'s WASM engine), with doorbells and busy-poll: every profile verified, exit 0', async () => {
    for (const doorbell of [true, false]) {
      const p = freshPaths(doorbell ? 'cli-profile-bell' : 'cli-profile-poll');
      const target = `vmamp:${p.path}?size=16384${doorbell ? `&sock=${p.sock}` : ''}`;
      const r = route('--driver-link', target, '--device', 'echo:1', '--device', 'echo:2', '--shards', '1');
      await r.waitFor(/routing: 1 link\(s\), 2 built-in device\(s\)/);
      const runs: [string, string[], (o: Record<string, number> & { counters: Record<string, number> }) => void][] = [
        ['init', ['--dev', '1,2'], (o) => expect(o.counters.sequences_completed).toBeGreaterThan(0)],
        ['ping', [], () => {}],
        ['notify-flood', ['--dev', '2'], (o) => expect(o.counters.events_used).toBeGreaterThanOrEqual(2000)],
        ['config-rw', ['--dev', '1'], () => {}],
      ];
      for (const [profile, args, check] of runs) {
        const b = await vmsg('bench', '--target', target, '--profile', profile, ...args, '--count', '2000', '--outstanding', '8', '--json');
        expect(b.status, `${profile}: ${b.stderr}`).toBe(0);
        const o = JSON.parse(b.stdout) as Record<string, number> & { counters: Record<string, number> };
        expect(o).toMatchObject({ mode: profile, completed: 2000, errors: 0, order_violations: 0, timeouts: 0 });
        check(o);
      }
      r.proc.kill('SIGINT');
      expect((await r.done).status).toBe(0);
      expect(existsSync(p.path)).toBe(false);
    }
  }, 120_000);

  it('vmsg bench --profile against a C device with doorbells: a device that never answers ends in counted timeouts and exit 1', async () => {
    const p = freshPaths('cli-profile-timeout');
    const device = startPeer([...peerArgs('vmamp', 'device', p, 8192, true), '--devices', '3']);
    const r = await vmsg('bench', '--target', `vmamp:${p.path}?size=8192&sock=${p.sock}`, '--profile', 'init', '--dev', '4', '--count', '3', '--outstanding', '3', '--timeout', '300', '--json');
    expect(r.status, r.stderr).toBe(1);
    const o = JSON.parse(r.stdout) as { timeouts: number; completed: number; error_kinds: Record<string, number> };
    // The probe's GET_DEVICE_INFO, GET_DEVICE_FEATURES and GET_VQUEUE, then the three measured requests: each times out once.
    expect(o).toMatchObject({ timeouts: 6, completed: 0, error_kinds: { timeout: 6 } });
    expect(r.stderr).toMatch(/device 4 is not on this bus/);
    await device.done;
  }, 60_000);

  it('a chain of separate programs: C driver → vmsg route (spsc busy-poll) → vmsg route device link (vmamp, 3-slot window) → C device', async () => {
    const front = freshPaths('cli-front');
    const back = freshPaths('cli-back');
    const device = startPeer([...peerArgs('vmamp', 'device', back, 496, true), '--devices', '5,6']);
    const r = route('--driver-link', `spsc:${front.path}?size=8192`, '--device-link', `vmamp:${back.path}?size=496&sock=${back.sock}`, '--shards', '1');
    await r.waitFor(/link up: --device-link .* devices \[5, 6\]/);
    const driver = startPeer([...peerArgs('spsc', 'driver', front, 8192, false), '--discover', '--dev', '6', '--count', '3000', '--outstanding', '8']);
    const out = await driver.done;
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ sent: 3000, received: 3000, errors: 0, order_violations: 0, devices: [5, 6] });
    r.proc.kill('SIGTERM');
    const end = await r.done;
    expect(end.status).toBe(0);
    const counters = JSON.parse(end.stdout.trim()) as { devices: { dev: number; requests: number; responses: number }[] };
    expect(counters.devices.find((d) => d.dev === 6)).toMatchObject({ requests: 3000, responses: 3000 });
    await device.done; // it saw our SHUTDOWN
  }, 60_000);

  it('vmsg bench drives a C device side directly (vmamp 3-slot window, busy-poll) and exits 1 when answers are missing', async () => {
    const p = freshPaths('cli-bench');
    const device = startPeer([...peerArgs('vmamp', 'device', p, 496, false), '--devices', '3']);
    const target = `vmamp:${p.path}?size=496`;
    const ok = await vmsg('bench', '--target', target, '--dev', '3', '--mode', 'avail', '--count', '3000', '--outstanding', '2', '--json');
    expect(ok.status, ok.stderr).toBe(0);
    expect(benchJson(ok)).toMatchObject({ mode: 'avail', sent: 3000, received: 3000, errors: 0 });
    await device.done; // our SHUTDOWN ended it
    // Device 4 does not exist there: nothing answers, the bench reports the error and exits 1.
    const p2 = freshPaths('cli-bench2');
    const device2 = startPeer([...peerArgs('vmamp', 'device', p2, 496, false), '--devices', '3']);
    const bad = await vmsg('bench', '--target', `vmamp:${p2.path}?size=496`, '--dev', '4', '--mode', 'init', '--count', '1', '--outstanding', '1');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^errors +1$/m);
    await device2.done;
  }, 60_000);
});

describe('vmsg route with the reference devices, over TCP', () => {
  it('vmsg bench --mode init drives the block and entropy devices of vmsg route through a tcp link: every answer verified', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-route-'));
    try {
      const disk = join(dir, 'disk.img');
      writeFileSync(disk, Buffer.alloc(1 << 20));
      const r = route('--driver-link', 'tcp-listen:127.0.0.1:0', '--device', `block:3?file=${disk}`, '--device', 'entropy:4', '--shards', '1');
      await r.waitFor(/link up: --driver-link tcp-listen:127\.0\.0\.1:0 listening on 127\.0\.0\.1:\d+/);
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(r.stderr())![1]!;
      for (const dev of ['3', '4']) {
        const b = await vmsg('bench', '--target', `tcp:127.0.0.1:${port}`, '--dev', dev, '--mode', 'init', '--count', '200', '--outstanding', '1', '--json');
        expect(b.status, b.stderr).toBe(0);
        expect(benchJson(b)).toMatchObject({ mode: 'init', sent: 200, received: 200, errors: 0, order_violations: 0 });
      }
      r.proc.kill('SIGTERM');
      const end = await r.done;
      expect(end.status, end.stderr).toBe(0);
      const counters = JSON.parse(end.stdout.trim()) as { devices: { dev: number; requests: number; responses: number }[] };
      for (const dev of [3, 4]) expect(counters.devices.find((d) => d.dev === dev)).toMatchObject({ requests: 200, responses: 200 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('vmsg route operations: --config, --capture, --metrics, --log-level', () => {
  it('a config file drives it; metrics are scraped while it runs; the capture decodes afterwards; logs are JSON lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-route-ops-'));
    try {
      const config = join(dir, 'router.json');
      const capture = join(dir, 'run.vmc');
      writeFileSync(config, JSON.stringify({ driverLinks: ['tcp-listen:127.0.0.1:0'], devices: ['echo:7'], metrics: 0, router: { shards: 1 } }));
      const r = route('--config', config, '--capture', capture, '--log-level', 'info');
      await r.waitFor(/listening on 127\.0\.0\.1:\d+/);
      const lines = r.stderr().trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
      expect(lines.every((l) => typeof l.level === 'number' && typeof l.msg === 'string')).toBe(true);
      // The data of a line is in fields, not only in its message.
      const up = lines.find((l) => l.msg.startsWith('link up')) as { link?: string; side?: string } | undefined;
      expect(up).toMatchObject({ link: 'tcp-listen:127.0.0.1:0', side: 'driver' });
      expect(lines.find((l) => l.msg.startsWith('built-in'))).toMatchObject({ device: [7], kind: 'echo' });
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(r.stderr())![1]!;
      const metricsUrl = /metrics at (http:\/\/[^\s"]+)/.exec(r.stderr())![1]!;
      const b = await vmsg('bench', '--target', `tcp:127.0.0.1:${port}`, '--dev', '7', '--mode', 'ping', '--count', '50', '--outstanding', '2', '--json');
      expect(b.status, b.stderr).toBe(0);
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/); // loopback unless a host is given
      const text = await (await fetch(metricsUrl)).text();
      expect(text).toMatch(/^# HELP /m);
      expect(text).toContain('vmsg_link_info{link="tcp-listen:127.0.0.1:0",kind="driver",scheme="tcp-listen"} 1');
      r.proc.kill('SIGTERM');
      expect((await r.done).status).toBe(0);
      const dec = await vmsg('decode', capture, '--msg', 'PING');
      expect(dec.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(100); // 50 requests in, 50 echoes out
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a bad config file is refused with the JSON pointer of the bad key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-route-cfg-'));
    try {
      const config = join(dir, 'router.json');
      writeFileSync(config, JSON.stringify({ devices: ['echo:1'], router: { ringCapacity: 2 } }));
      const r = await vmsg('route', '--config', config);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/\/router\/ringCapacity/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('vmsg route: SIGHUP reloads the device list of --config', () => {
  it('devices added to the file start, devices gone from it are hot-unplugged; a broken file changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsg-route-hup-'));
    try {
      const config = join(dir, 'router.json');
      writeFileSync(config, JSON.stringify({ devices: ['echo:1', 'echo:2'], router: { shards: 1 } }));
      const r = route('--config', config);
      await r.waitFor(/routing: 0 link\(s\), 2 built-in device\(s\)/);
      writeFileSync(config, JSON.stringify({ devices: ['echo:2', 'entropy:3'], router: { shards: 1 } }));
      r.proc.kill('SIGHUP');
      await r.waitFor(/reloaded .*router\.json: devices added \[entropy:3\], removed \[echo:1\]/);
      writeFileSync(config, '{"devices": [');
      r.proc.kill('SIGHUP');
      await r.waitFor(/reload of .*router\.json failed, devices unchanged/);
      r.proc.kill('SIGTERM');
      const end = await r.done;
      expect(end.status, end.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
