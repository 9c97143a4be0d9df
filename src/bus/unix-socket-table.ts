// Who listens on a Unix socket path, read from the kernel's table of Unix sockets
// (/proc/net/unix) instead of by connecting: a doorbell listener takes its first connection as
// its peer, so a probe would disturb it. Used by `vmsg route`'s start-up checks and by a
// doorbell listener before it replaces a socket file it takes for stale.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';

/**
 * Whether a process listens on the Unix socket at `path`. The table holds each name as bind() got it:
 * 'exact' when a listener's name is our path (as given or absolute), 'relative' when a listener
 * bound a relative name with our file name (the caller saw a socket file at our path; from
 * here we cannot tell which directory it was bound in), null otherwise.
 */
export function unixSocketListening(path: string, table = readUnixTable()): 'exact' | 'relative' | null {
  const names = new Set([path, resolve(path)]);
  const base = basename(path);
  let relative = false;
  for (const line of table.split('\n').slice(1)) {
    // Num: RefCount Protocol Flags Type St Inode Path. Seven fields, then one space and the
    // name exactly as bound (spaces in it kept; absent for an unnamed socket).
    const m = /^\s*\S+\s+\S+\s+\S+\s+(\S+)\s+\S+\s+\S+\s+\S+ (.+)$/.exec(line);
    if (m === null || (parseInt(m[1]!, 16) & 0x10000) === 0) continue; // flag 0x10000: listening
    const name = m[2]!;
    if (names.has(name)) return 'exact';
    if (!name.startsWith('/') && !name.startsWith('@') && basename(name) === base) relative = true;
  }
  return relative ? 'relative' : null;
}

function readUnixTable(): string {
  try {
    return readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return '';
  }
}
