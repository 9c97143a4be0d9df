// `vmsg route --driver-link vmamp:PATH` / `spsc:PATH` creates the window file: what is at PATH
// decides. A user's file is left alone (exit 2), a window a running router serves is left to it
// (exit 1, and its driver still gets answers), a window a killed router left is replaced.
// Real processes, real files under /dev/shm, all removed even when a check fails.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, vmsg, type Run } from './run-vmsg.js';
import { peerArgs, peerSkipReason, startPeer } from '../bus/helpers.js';

const dir = mkdtempSync('/dev/shm/vmsg-route-window-owner-');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `vmsg route ARGS` in the background, resolved once its stderr says it is routing. */
async function background(args: string[]): Promise<{ child: ChildProcess; exited: Promise<number | null>; stderr: () => string }> {
  const child = spawn(process.execPath, [MAIN, 'route', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  while (!/routing: /.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`vmsg route ${args.join(' ')} never started routing:\n${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, exited, stderr: () => err };
}

function expectOneLine(r: Run, status: number, line: RegExp): void {
  expect(r.stdout, 'stdout').toBe('');
  expect(r.stderr.trimEnd().split('\n'), `one stderr line, got:\n${r.stderr}`).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(line);
  expect(r.status, r.stderr).toBe(status);
}

/** A driver's round trips through the router's window: every one answered. */
async function pingThrough(target: string): Promise<void> {
  const b = await vmsg('bench', '--target', target, '--dev', '1', '--mode', 'ping', '--count', '200', '--outstanding', '2', '--json');
  expect(b.status, b.stderr).toBe(0);
  expect(JSON.parse(b.stdout)).toMatchObject({ sent: 200, received: 200, errors: 0 });
}

describe('vmsg route: the window file at a --driver-link path', () => {
  it("a user's file there (a disk image, or an owner-only file of another size) is left as it was: exit 2 naming it", async () => {
    const img = join(dir, 'disk.img');
    writeFileSync(img, Buffer.alloc(8192, 0xab));
    const r = await vmsg('route', '--driver-link', `vmamp:${img}?size=8192`, '--device', 'echo:1', '--duration', '30');
    expectOneLine(r, 2, /^vmsg route: --driver-link vmamp:.*disk\.img\?size=8192: window file .*disk\.img is a file with mode 0644 \(windows are created 0600\), not a window left by vmsg: it is not replaced; remove it or choose another path \(vmsg route --help\)$/);
    const notes = join(dir, 'notes');
    writeFileSync(notes, 'keep me\n');
    chmodSync(notes, 0o600);
    const s = await vmsg('route', '--driver-link', `spsc:${notes}?size=8192`, '--device', 'echo:1', '--duration', '30');
    expectOneLine(s, 2, /window file .*notes is a file of 8 bytes \(this link's window file has 8192\), not a window left by vmsg/);
    expect(readFileSync(img).equals(Buffer.alloc(8192, 0xab))).toBe(true);
    expect(statSync(img).mode & 0o777).toBe(0o644);
    expect(readFileSync(notes, 'utf8')).toBe('keep me\n');
    expect(readdirSync(dir).filter((f) => f.includes('.building-'))).toEqual([]);
  });

  it.each(['vmamp', 'spsc'])('%s: a second router on the window a running router serves (busy-poll) is refused with exit 1; the first keeps serving its driver', async (scheme) => {
    const path = join(dir, `live-${scheme}`);
    const target = `${scheme}:${path}?size=8192`;
    const a = await background(['--driver-link', target, '--device', 'echo:1', '--shards', '1']);
    const ino = statSync(path).ino;
    const r = await vmsg('route', '--driver-link', target, '--device', 'echo:1', '--duration', '30');
    expectOneLine(r, 1, new RegExp(`^vmsg route: --driver-link ${scheme}:.*: window file .*live-${scheme} is in use by another process .*; stop it or choose another path$`));
    expect(statSync(path).ino).toBe(ino);
    await pingThrough(target);
    a.child.kill('SIGINT');
    expect(await a.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it.skipIf(peerSkipReason !== null)('a window a C device side (test/peers/vmsg-peer.c) serves is refused too: the peer holds the same lock', async () => {
    const path = join(dir, 'c-peer');
    const peer = startPeer(['--devices', '1', ...peerArgs('spsc', 'device', { path, sock: '' }, 8192, false)]);
    try {
      const deadline = Date.now() + 15_000;
      while (!existsSync(path)) {
        if (Date.now() > deadline) throw new Error('the C peer never published its window');
        await new Promise((r) => setTimeout(r, 20));
      }
      const r = await vmsg('route', '--driver-link', `spsc:${path}?size=8192`, '--device', 'echo:1', '--duration', '30');
      expectOneLine(r, 1, /window file .*c-peer is in use by another process/);
      expect(existsSync(path)).toBe(true);
    } finally {
      peer.proc.kill('SIGKILL');
      await peer.done;
    }
  });

  it('a window left by a SIGKILLed router is replaced by the next one, which serves a driver and removes it on exit', async () => {
    const path = join(dir, 'stale');
    const target = `vmamp:${path}?size=8192`;
    const a = await background(['--driver-link', target, '--device', 'echo:1', '--shards', '1']);
    a.child.kill('SIGKILL');
    await a.exited;
    const ino = statSync(path).ino;
    const b = await background(['--driver-link', target, '--device', 'echo:1', '--shards', '1']);
    expect(statSync(path).ino).not.toBe(ino);
    await pingThrough(target);
    b.child.kill('SIGINT');
    expect(await b.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});
