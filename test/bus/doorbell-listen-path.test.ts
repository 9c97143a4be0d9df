// The device side's doorbell socket replaces a stale socket at its path, and nothing else: a
// file at a mistyped sock= path is the user's and must survive the failed listen. Closing removes
// the socket file only while it is still the one this listener bound.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DoorbellSocket } from '../../src/bus/doorbell-socket.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-bell-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DoorbellSocket.listen and what is at its path', () => {
  it('a regular file: listening fails, the file is kept as it was', async () => {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'keep me\n');
    await expect(DoorbellSocket.listen(path)).rejects.toThrow(/doorbell socket .*notes\.txt: cannot listen/);
    expect(readFileSync(path, 'utf8')).toBe('keep me\n');
  });

  it('a stale socket (left by a killed process): replaced, and removed on close', async () => {
    const path = join(dir, 'stale.sock');
    // A real leftover: a process listening there, killed with SIGKILL, leaves its socket file.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(statSync(path).isSocket()).toBe(true);
    const bell = await DoorbellSocket.listen(path);
    expect(statSync(path).isSocket()).toBe(true);
    await bell.close();
    expect(statSync(path, { throwIfNoEntry: false })).toBeUndefined();
  });

  it('a live socket at the path (another program listens there): listening fails, that socket is kept', async () => {
    const path = join(dir, 'live.sock');
    const theirs = createServer();
    await new Promise<void>((resolve) => theirs.listen(path, resolve));
    try {
      const ino = statSync(path).ino;
      await expect(DoorbellSocket.listen(path)).rejects.toThrow(/doorbell socket .*live\.sock: cannot listen \(a running program listens there/);
      expect(statSync(path).ino).toBe(ino);
    } finally {
      await new Promise((resolve) => theirs.close(resolve));
    }
  });

  it('another program took the path meanwhile: closing ours leaves its socket file, and it still takes connections', async () => {
    const path = join(dir, 'taken.sock');
    const ours = await DoorbellSocket.listen(path);
    // As a second router did before it checked: our file replaced by its own live socket.
    unlinkSync(path);
    const theirs = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => theirs.listen(path, resolve));
    const ino = statSync(path).ino;
    try {
      await ours.close();
      expect(statSync(path).ino).toBe(ino);
      const peer = await DoorbellSocket.tryConnect(path);
      await peer.close();
    } finally {
      await new Promise((resolve) => theirs.close(resolve));
    }
    expect(statSync(path, { throwIfNoEntry: false })).toBeUndefined();
  });
});
