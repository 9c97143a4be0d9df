// Why a file could not be opened, in words a user acts on (node's own message is
// "ENOENT: no such file or directory, open 'x'", with the path and the syscall again).

/** A short reason for a failed file operation; the error's message when it is not one. */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT': return 'no such file or directory; check the path';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'it is a directory; give a file';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    case 'ENOSPC': return 'no space left on the device';
    case 'EROFS': return 'read-only file system';
    default: return err instanceof Error ? err.message : String(e);
  }
}

/** True for errors of the file system (they carry an errno code), as opposed to bugs. */
export function isFsError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}
