// The device side's doorbell socket replaces a stale socket at its path, and nothing else: a
// file at a mistyped sock= path is the user's and must survive the failed listen. Closing removes
// the socket file only while it is still the one this listener bound.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  it('another listener took the path meanwhile: closing ours leaves its socket file, and it still takes connections', async () => {
    const path = join(dir, 'taken.sock');
    const ours = await DoorbellSocket.listen(path);
    const theirs = await DoorbellSocket.listen(path); // replaces our file, as a second router would
    const ino = statSync(path).ino;
    try {
      await ours.close();
      expect(statSync(path).ino).toBe(ino);
      const peer = await DoorbellSocket.tryConnect(path);
      await peer.close();
    } finally {
      await theirs.close();
    }
    expect(statSync(path, { throwIfNoEntry: false })).toBeUndefined();
  });
});
