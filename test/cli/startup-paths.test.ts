// Paths a command line names are checked before anything starts: a directory where a file or a
// socket is meant, a file of the user's where a socket is meant, a missing input, a window too
// small to hold two frames. Each is exit 2 with one line, and nothing is created or deleted.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, vmsg, type Run } from './run-vmsg.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-startup-paths-'));
/** A name under /dev/shm no other test uses; nothing may be created there. */
const shm = `/dev/shm/vmsg-startup-paths-${process.pid}`;

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const f of [shm, `${shm}-a`, `${shm}-b`]) rmSync(f, { force: true });
});

/** The usage-error contract: exit 2, one stderr line matching `line`, empty stdout, no stack. */
function expectUsage(r: Run, line: RegExp): void {
  expect(r.stdout, 'stdout').toBe('');
  expect(r.stderr.trimEnd().split('\n'), `one stderr line, got:\n${r.stderr}`).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr.trimEnd()).toMatch(line);
  expect(r.status, r.stderr).toBe(2);
}

/** A file of the user's, to check that a mistaken command line leaves it as it was. */
function userFile(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, 'keep me\n');
  return path;
}

describe('vmsg route: paths', () => {
  it('--capture naming a directory: exit 2 at once (it used to print an error and hang)', async () => {
    const r = await vmsg('route', '--device', 'echo:1', '--capture', dir, '--duration', '30');
    expectUsage(r, /^vmsg route: --capture .* is a directory; give a file in it, such as .*run\.vmc/);
  });

  it('unix-listen: on a directory or on a file that is not a socket: exit 2, the file kept', async () => {
    expectUsage(await vmsg('route', '--driver-link', `unix-listen:${dir}`, '--duration', '30'),
      /^vmsg route: --driver-link unix-listen:.*: socket .* is a directory; give a path for a new socket/);
    const file = userFile('not-a-socket');
    expectUsage(await vmsg('route', '--driver-link', `unix-listen:${file}`, '--duration', '30'),
      /: socket .*not-a-socket is a file that is not a socket/);
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
  });

  it("a driver link's sock= naming a user's file: exit 2, the file not deleted, no window created", async () => {
    const file = userFile('notes.txt');
    const r = await vmsg('route', '--driver-link', `vmamp:${shm}?size=8192&sock=${file}`, '--duration', '30');
    expectUsage(r, /: doorbell socket .*notes\.txt is a file that is not a socket/);
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
    expect(existsSync(shm)).toBe(false);
  });

  it("a driver link's sock= in a directory that does not exist: exit 2, not a listen error", async () => {
    const r = await vmsg('route', '--driver-link', `vmamp:${shm}?size=8192&sock=${join(dir, 'none', 'w.sock')}`, '--duration', '30');
    expectUsage(r, /: doorbell socket .*w\.sock: directory .*none does not exist/);
  });

  it("a block device's disk image or a device's memory file that is a directory: exit 2 (it started, to fail at the first request)", async () => {
    expectUsage(await vmsg('route', '--device', `block:3?file=${dir}`, '--duration', '30'),
      /^vmsg route: --device "block:3\?file=.*": .* is a directory; give a disk image file \(e\.g\. truncate -s 16M .*disk\.img\)/);
    expectUsage(await vmsg('route', '--device', `entropy:2?mem=${dir}&mem_base=0x40000000`, '--duration', '30'),
      /: memory file .* is a directory; give the driver side's memory file/);
  });

  it('one window, socket or port named twice on the command line: exit 2 naming both (it failed half-started, or shared a doorbell silently)', async () => {
    const sock = join(dir, 'shared.sock');
    expectUsage(await vmsg('route', '--driver-link', `vmamp:${shm}-a?size=8192&sock=${sock}`, '--driver-link', `vmamp:${shm}-b?size=8192&sock=${sock}`, '--duration', '30'),
      /^vmsg route: --driver-link vmamp:.*-b\?size=8192&sock=.*: doorbell socket .*shared\.sock is also the doorbell socket of --driver-link vmamp:.*-a\?/);
    expectUsage(await vmsg('route', '--driver-link', `spsc:${shm}?size=8192`, '--driver-link', `spsc:${shm}?size=8192`, '--duration', '30'),
      /: window file .* is also the window file of --driver-link spsc:.* \(given twice\)/);
    expectUsage(await vmsg('route', '--driver-link', `vmamp:${shm}?size=8192&sock=${shm}`, '--duration', '30'),
      /: doorbell socket .* is also its window file; give each its own/);
    expectUsage(await vmsg('route', '--driver-link', 'tcp-listen:127.0.0.1:17771', '--metrics', '17771', '--duration', '30'),
      /^vmsg route: --driver-link tcp-listen:127\.0\.0\.1:17771: port 17771 is also the metrics port of --metrics 17771/);
    expect(existsSync(shm) || existsSync(`${shm}-a`) || existsSync(`${shm}-b`) || existsSync(sock)).toBe(false);
  });

  it('a window path that is a directory: exit 2', async () => {
    const sub = join(dir, 'window-dir');
    mkdirSync(sub);
    const r = await vmsg('route', '--driver-link', `spsc:${sub}?size=8192`, '--duration', '30');
    expectUsage(r, /: window file .*window-dir is a directory/);
  });

  it('a window too small for two frames per direction, or a vmamp window beyond 65535: exit 2 naming the bound', async () => {
    expectUsage(await vmsg('route', '--driver-link', `vmamp:${shm}?size=0`, '--duration', '30'),
      /size=0 is too small: a vmamp window needs at least 336 bytes/);
    expectUsage(await vmsg('route', '--driver-link', `spsc:${shm}?size=511`, '--duration', '30'),
      /size=511 is too small: a spsc window needs at least 512 bytes/);
    // It used to fail once running, saying the window "holds no 2 elements per direction".
    expectUsage(await vmsg('route', '--driver-link', `vmamp:${shm}?size=8388688`, '--duration', '30'),
      /size=8388688 is too large: a vmamp window holds at most 65535 frames per direction, so at most 8388687 bytes/);
    expect(existsSync(shm)).toBe(false);
  });

  it('the smallest vmamp window is accepted, runs and is removed when the router stops', async () => {
    const r = await vmsg('route', '--driver-link', `vmamp:${shm}?size=336`, '--device', 'echo:1', '--duration', '0.3');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ links: [{ uri: `vmamp:${shm}?size=336`, side: 'driver' }] });
    expect(existsSync(shm)).toBe(false);
  });
});

describe('vmsg route: a link another router runs', () => {
  /** `vmsg route ARGS` in the background, resolved once `ready` exists. */
  async function background(args: string[], ready: string[]): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 15_000;
    while (!ready.every((p) => existsSync(p))) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`vmsg route ${args.join(' ')}: ${ready.join(', ')} never appeared`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return { child, exited };
  }

  it('the doorbell socket or unix-listen: path of a running router: exit 1, the running router keeps its window and sockets', async () => {
    const sock = join(dir, 'live-bell.sock');
    const listen = join(dir, 'live-bus.sock');
    const a = await background(['route', '--driver-link', `vmamp:${shm}?size=8192&sock=${sock}`, '--driver-link', `unix-listen:${listen}`, '--device', 'echo:1'], [shm, sock, listen]);
    try {
      const r1 = await vmsg('route', '--driver-link', `vmamp:${shm}?size=8192&sock=${sock}`, '--device', 'echo:1', '--duration', '30');
      expect(r1.status, r1.stderr).toBe(1);
      expect(r1.stderr.trimEnd()).toMatch(/^vmsg route: --driver-link .*: doorbell socket .*live-bell\.sock is in use: a running program listens there/);
      const r2 = await vmsg('route', '--driver-link', `unix-listen:${listen}`, '--device', 'echo:1', '--duration', '30');
      expect(r2.status, r2.stderr).toBe(1);
      expect(r2.stderr.trimEnd()).toMatch(/: socket .*live-bus\.sock is in use/);
      expect([existsSync(shm), existsSync(sock), existsSync(listen)]).toEqual([true, true, true]);
    } finally {
      a.child.kill('SIGINT');
      expect(await a.exited).toBe(0);
    }
    expect([existsSync(shm), existsSync(sock), existsSync(listen)]).toEqual([false, false, false]);
  });

  it('what a killed router left (its window, its socket) is replaced by the next one, which removes it', async () => {
    const sock = join(dir, 'stale-bell.sock');
    const a = await background(['route', '--driver-link', `vmamp:${shm}?size=8192&sock=${sock}`, '--device', 'echo:1'], [shm, sock]);
    a.child.kill('SIGKILL');
    await a.exited;
    expect([existsSync(shm), statSync(sock).isSocket()]).toEqual([true, true]);
    const r = await vmsg('route', '--driver-link', `vmamp:${shm}?size=8192&sock=${sock}`, '--device', 'echo:1', '--duration', '0.3');
    expect(r.status, r.stderr).toBe(0);
    expect([existsSync(shm), existsSync(sock)]).toEqual([false, false]);
  });
});

describe('the other commands check their files before opening a target', () => {
  // Nothing listens here: a command that opened the target first would fail with exit 1.
  const nowhere = `unix:${join(dir, 'nobody.sock')}`;

  it('vmsg replay: a capture that does not exist', async () => {
    expectUsage(await vmsg('replay', join(dir, 'none.vmc'), '--target', nowhere),
      /^vmsg replay: cannot read capture .*none\.vmc: no such file or directory; check the path/);
  });

  it('vmsg drive: a --mem file that does not exist, or is empty', async () => {
    expectUsage(await vmsg('drive', '--target', nowhere, '--dev', '1', '--mem', `${join(dir, 'no-ram')}@0x40000000`, 'entropy', '--bytes', '16'),
      /^vmsg drive: cannot read --mem file .*no-ram: no such file or directory/);
    const empty = join(dir, 'empty-ram');
    writeFileSync(empty, '');
    expectUsage(await vmsg('drive', '--target', nowhere, '--dev', '1', '--mem', `${empty}@0x40000000`, 'entropy', '--bytes', '16'),
      /^vmsg drive: --mem file .*empty-ram holds 0 bytes, no room for virtqueues; .*truncate -s 16M/);
  });

  it('vmsg conform: a rule prefix that names no rule, a misaligned --queue-base', async () => {
    expectUsage(await vmsg('conform', '--target', nowhere, '--only', 'bus.pign'), /^vmsg conform: no rule id starts with "bus\.pign"; rules: bus\.max-size, /);
    expectUsage(await vmsg('conform', '--target', nowhere, '--queue-base', '0x123'), /^vmsg conform: --queue-base must be 4096-aligned \(a multiple of 0x1000\), got 0x123/);
  });

  it('vmsg bench: a --compare baseline that does not exist', async () => {
    expectUsage(await vmsg('bench', '--target', nowhere, '--profile', 'ping', '--count', '10', '--compare', join(dir, 'base.json')),
      /^vmsg bench: cannot read --compare baseline .*base\.json: no such file or directory; check the path/);
  });

  it('vmsg bench: a --report in a missing directory or naming a directory', async () => {
    expectUsage(await vmsg('bench', '--target', nowhere, '--profile', 'ping', '--count', '10', '--report', join(dir, 'none', 'r.html')),
      /^vmsg bench: --report .*r\.html: directory .*none does not exist/);
    expectUsage(await vmsg('bench', '--target', nowhere, '--profile', 'ping', '--count', '10', '--report', dir),
      /^vmsg bench: --report .* is a directory; give a file in it, such as .*report\.html/);
  });

  it('vmsg export-pcapng: a missing or malformed capture leaves no output file', async () => {
    const out = join(dir, 'out.pcapng');
    expectUsage(await vmsg('export-pcapng', join(dir, 'none.vmc'), out), /^vmsg export-pcapng: cannot read capture .*none\.vmc: no such file or directory/);
    expect(existsSync(out)).toBe(false);
    const junk = userFile('junk.vmc');
    expectUsage(await vmsg('export-pcapng', junk, out), /^vmsg export-pcapng: record 0 is not a vmsg capture record/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).not.toContain('out.pcapng');
  });
});
