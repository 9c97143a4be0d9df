// Unix sockets the router listens on are owner-only (isolation, docs/RELIABILITY.md), whatever the umask:
// the stream bus's unix-listen: socket and a shared-memory window's doorbell socket.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../../src/router/router.js';
import { openStreamLink } from '../../src/bus/stream.js';
import { DoorbellSocket } from '../../src/bus/doorbell-socket.js';

describe('listening Unix sockets are owner-only', () => {
  let dir: string;
  let oldMask: number;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vmsg-perm-'));
    oldMask = process.umask(0); // the most permissive umask: without a chmod the sockets would be 0777
  });
  afterAll(() => {
    process.umask(oldMask);
    rmSync(dir, { recursive: true, force: true });
  });

  it('unix-listen: stream link', async () => {
    const router = await Router.create({ shards: 1 });
    const path = join(dir, 'stream.sock');
    const link = await openStreamLink(router, `unix-listen:${path}`, 'driver');
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      await link.close();
      await router.close();
    }
  });

  it('doorbell socket of a window we build', async () => {
    const path = join(dir, 'bell.sock');
    const listener = await DoorbellSocket.listen(path);
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      await listener.close();
    }
  });
});
