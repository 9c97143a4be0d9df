// The doorbell socket (`sock=`) of a window `vmsg route` serves: a second router never takes it
// from the first, however the two are started (at once on one window, or on another window with
// the same socket spelt another way), and a router removes on exit only the socket file it bound.
// Also: a building file a killed creator left next to a window path is swept by the next router.
// Real processes, real files under /dev/shm and /tmp, all removed even when a check fails.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN } from './run-vmsg.js';
import { peerSkipReason, startPeer } from '../bus/helpers.js';

const shm = mkdtempSync('/dev/shm/vmsg-route-doorbell-owner-');
const sockDir = mkdtempSync(join(tmpdir(), 'vmsg-bell-')); // short: socket paths are limited to 107 bytes
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => {
  rmSync(shm, { recursive: true, force: true });
  rmSync(sockDir, { recursive: true, force: true });
});

interface Routed {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** `vmsg route ARGS` started in `cwd`, not waited for. */
function route(args: string[], cwd = process.cwd()): Routed {
  const child = spawn(process.execPath, [MAIN, 'route', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => err };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const routing = (r: Routed): boolean => /routing: /.test(r.stderr());
/** The router listens on its doorbell socket (it does once its window is published, after "routing:"). */
const listening = (sock: string) => (): boolean => statSync(sock, { throwIfNoEntry: false })?.isSocket() === true;
const ended = (r: Routed): boolean => r.child.exitCode !== null;

/** A C driver (test/peers/vmsg-peer.c) pings device 1 through the window, waking on the doorbell socket: it fails without one. */
async function pingWithDoorbell(path: string, sock: string): Promise<void> {
  const peer = startPeer(['--bus', 'vmamp', '--role', 'driver', '--path', path, '--size', '8192', '--sock', sock, '--wait-ms', '5000',
    '--mode', 'ping', '--count', '200', '--outstanding', '2', '--dev', '1']);
  const r = await peer.done;
  expect(r.code, r.stderr).toBe(0);
}

async function stop(r: Routed): Promise<void> {
  r.child.kill('SIGINT');
  expect(await r.exited, r.stderr()).toBe(0);
}

describe('vmsg route: the doorbell socket of a window it serves', () => {
  it.skipIf(peerSkipReason !== null)('two routers started at once on one window and socket: one is refused, the survivor keeps its socket and serves a driver through it', async () => {
    const path = join(shm, 'twin');
    const sock = join(sockDir, 'twin.sock');
    const args = ['--driver-link', `vmamp:${path}?size=8192&sock=${sock}`, '--device', 'echo:1', '--shards', '1', '--duration', '60'];
    const a = route(args);
    const b = route(args);
    // Both may say "routing:" (links open after it): the loser is the one that exits.
    await until('one of the two routers has exited', () => ended(a) || ended(b));
    const [survivor, loser] = ended(b) ? [a, b] : [b, a];
    await until('the survivor listens on its doorbell socket', () => (routing(survivor) && listening(sock)()) || ended(survivor));
    expect(await loser.exited, loser.stderr()).toBe(1);
    expect(loser.stderr(), loser.stderr()).toMatch(/is in use/);
    expect(statSync(sock).isSocket()).toBe(true);
    await pingWithDoorbell(path, sock);
    await stop(survivor);
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(path)).toBe(false);
  });

  it('a live socket bound by a relative path is found from another directory: the second router is refused and the first keeps its socket', async () => {
    const a = route(['--driver-link', `vmamp:${join(shm, 'rel-a')}?size=8192&sock=rel.sock`, '--device', 'echo:1', '--shards', '1', '--duration', '60'], sockDir);
    const sock = join(sockDir, 'rel.sock');
    await until('the first router listens on its doorbell socket', () => listening(sock)() || ended(a));
    const ino = statSync(sock).ino;
    const b = route(['--driver-link', `vmamp:${join(shm, 'rel-b')}?size=8192&sock=${sock}`, '--device', 'echo:1', '--duration', '5'], '/');
    expect(await b.exited, b.stderr()).toBe(1);
    expect(b.stderr()).toContain('a process listens on a socket named rel.sock (bound by a relative path): if it is not this one, remove the file');
    expect(statSync(sock).ino).toBe(ino);
    await stop(a);
    expect(existsSync(sock)).toBe(false);
  });

  it('a live socket whose name has two spaces in a row is found: the second router is refused', async () => {
    const sock = join(sockDir, 'a  b.sock');
    const a = route(['--driver-link', `vmamp:${join(shm, 'sp-a')}?size=8192&sock=${encodeURIComponent(sock)}`, '--device', 'echo:1', '--shards', '1', '--duration', '60']);
    await until('the first router listens on its doorbell socket', () => listening(sock)() || ended(a));
    expect(statSync(sock).isSocket(), a.stderr()).toBe(true);
    const b = route(['--driver-link', `vmamp:${join(shm, 'sp-b')}?size=8192&sock=${encodeURIComponent(sock)}`, '--device', 'echo:1', '--duration', '5']);
    expect(await b.exited, b.stderr()).toBe(1);
    expect(b.stderr()).toMatch(/doorbell socket .*a {2}b\.sock is in use/);
    expect(statSync(sock).isSocket()).toBe(true);
    await stop(a);
    expect(existsSync(sock)).toBe(false);
  });

  it('a building file left by a killed creator (no lock, process gone) is swept by the next router on that path', async () => {
    const path = join(shm, 'swept');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a process id nobody runs any more
    const leftover = `${path}.building-${gone}-0`;
    writeFileSync(leftover, Buffer.alloc(8192), { mode: 0o600 });
    const live = `${path}.building-${process.pid}-99`; // a live creator's: never touched
    writeFileSync(live, Buffer.alloc(8192), { mode: 0o600 });
    try {
      const a = route(['--driver-link', `vmamp:${path}?size=8192`, '--device', 'echo:1', '--shards', '1', '--duration', '60']);
      await until('the router routes', () => routing(a) || ended(a));
      expect(existsSync(leftover)).toBe(false);
      expect(existsSync(live)).toBe(true);
      await stop(a);
      expect(readdirSync(shm).filter((f) => f.startsWith('swept'))).toEqual(['swept.building-' + process.pid + '-99']);
    } finally {
      rmSync(live, { force: true });
    }
  });
});
