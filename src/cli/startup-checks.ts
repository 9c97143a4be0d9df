// Start-up checks that need the system but start nothing: is a port free, can a file be
// created where the command line says. `vmsg route` runs them before any worker thread, so a
// mistake costs one line and no half-started router.
import { createServer } from 'node:net';
import { accessSync, constants, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CommandFailure, UsageError } from './exit.js';
import { unixSocketListening } from '../bus/unix-socket-table.js';

/**
 * Bind `host:port` and let go at once. In use → CommandFailure naming `what` and `fix` (the
 * same command works once the port is free: not a usage error). Port 0 is always free.
 */
export async function checkPortFree(host: string, port: number, what: string, fix: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((done, reject) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'is in use' : e.code === 'EACCES' ? 'needs privileges (ports below 1024)' : e.code === 'EADDRNOTAVAIL' ? 'is not an address of this host' : `cannot be bound (${e.code ?? e.message})`;
      reject(new CommandFailure(`${what}: ${host.includes(':') ? `[${host}]` : host}:${port} ${why}; ${fix}`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => done()));
  });
}

/** The directory `file` is to be created in exists and is writable; else a UsageError naming `what`. */
export function checkCreatable(file: string, what: string): void {
  const dir = dirname(resolve(file));
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st === undefined) throw new UsageError(`${what} ${file}: directory ${dir} does not exist; create it or choose another path`);
  if (!st.isDirectory()) throw new UsageError(`${what} ${file}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${what} ${file}: directory ${dir} is not writable by this user; choose another path`);
  }
}

/** A file this run writes (a capture, a report): its directory is there and it is not a directory itself. */
export function checkOutputFile(file: string, what: string, example: string): void {
  checkCreatable(file, what);
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) {
    throw new UsageError(`${what} ${file} is a directory; give a file in it, such as ${join(file, example)}`);
  }
}

/**
 * A Unix socket this run listens on: its directory is there, and whatever is at the path is a
 * socket (a stale one is replaced) — never a directory or a file of the user's, which
 * listening would fail on or replacing would delete.
 */
export function checkListenSocket(path: string, what: string): void {
  checkCreatable(path, what);
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return;
  if (st.isSocket()) {
    // A live one belongs to a running program (another router on the same link): replacing it
    // would cut that program off. Not a mistake in the command line: exit 1, as a port in use.
    const listening = unixSocketListening(path);
    if (listening === 'exact') throw new CommandFailure(`${what} ${path} is in use: a running program listens there (another vmsg route on the same link?); stop it or choose another path`);
    if (listening === 'relative') throw new CommandFailure(`${what} ${path} may be in use: a process listens on a socket named ${basename(path)} (bound by a relative path): if it is not this one, remove the file`);
    return;
  }
  const kind = st.isDirectory() ? 'a directory' : 'a file that is not a socket';
  throw new UsageError(`${what} ${path} is ${kind}; give a path for a new socket, such as ${st.isDirectory() ? join(path, 'vmsg.sock') : `${path}.sock`}`);
}

/**
 * A file this run reads: it exists, is not a directory and may be read; else a UsageError
 * worded as the other commands word it (`cannot read capture X: no such file or directory; ...`).
 */
export function checkInputFile(file: string, what: string): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined) throw new UsageError(`cannot read ${what} ${file}: no such file or directory; check the path`);
  if (st.isDirectory()) throw new UsageError(`cannot read ${what} ${file}: it is a directory; give a file`);
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw new UsageError(`cannot read ${what} ${file}: permission denied`);
  }
}
