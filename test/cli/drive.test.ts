// `vmsg drive` end to end as a user runs it: straight at a legacy device side, and through a
// separately running `vmsg route` (a legacy device link on one side, the driver's vmamp window on
// the other; and a built-in block device that reaches the external driver's memory file).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MAIN, vmsg } from './run-vmsg.js';
import { legacySkipReason, removeLegacyFiles, startOpenampPeer, startQemuPeer, QEMU_MEM_BASE } from '../bus/legacy-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-drive-'));
const routes: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(routes.splice(0).map((p) => new Promise((r) => {
    if (p.exitCode !== null || p.signalCode !== null) return r(undefined);
    p.once('close', r);
    p.kill('SIGTERM');
  })));
});
afterAll(async () => {
  await removeLegacyFiles();
  rmSync(dir, { recursive: true, force: true });
});

/** Start `vmsg route ARGS` and resolve once its stderr matches `ready`. */
function route(args: string[], ready: RegExp): Promise<void> {
  const p = spawn(process.execPath, [MAIN, 'route', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  routes.push(p);
  let err = '';
  return new Promise((resolve, reject) => {
    p.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (ready.test(err)) resolve();
    });
    p.once('close', (code) => reject(new Error(`vmsg route ended (${code}): ${err}`)));
  });
}

let serial = 0;

describe.skipIf(legacySkipReason !== null)('vmsg drive', () => {
  it('entropy straight at QEMU linux-user and at OpenAMP: the contract JSON, exit 0', async () => {
    const q = startQemuPeer();
    const r = await vmsg('drive', '--target', q.uri(), '--dev', '1', 'entropy', '--bytes', '100000', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, number>;
    expect(j).toMatchObject({ device_id: 4, bytes: 100000 });
    expect(j.requests).toBeGreaterThanOrEqual(25);
    expect(j.seconds).toBeGreaterThan(0);
    const o = startOpenampPeer();
    const r2 = await vmsg('drive', '--target', o.uri(), '--dev', '2', 'entropy', '--bytes', '50000', '--json');
    expect(r2.status).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ device_id: 4, bytes: 50000 });
    expect((await q.peer.stop()).bytes_served).toBeGreaterThanOrEqual(100000);
    expect((await o.peer.stop()).bytes_served).toBeGreaterThanOrEqual(50000);
  }, 40_000);

  it('through vmsg route: a revision-1 driver on a vmamp window reads entropy from the QEMU device behind the router (same memory file)', async () => {
    const q = startQemuPeer();
    const n = `${process.pid}-${serial++}`;
    const window = `vmamp:/dev/shm/vmsg-test-drive-${n}?size=8192&sock=${join(dir, `${n}.sock`)}`;
    await route(['--device-link', q.uri('&dev=7'), '--driver-link', window], /link up: --device-link/);
    const r = await vmsg('drive', '--target', window, '--dev', '7', '--mem', `${q.mem}@0x${QEMU_MEM_BASE.toString(16)}`, 'entropy', '--bytes', '65536', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ device_id: 4, bytes: 65536 });
  }, 40_000);

  it('mem= both ways: 8 MiB of block data written and read back identical through a vmsg route block device serving the driver\'s memory file', async () => {
    const n = `${process.pid}-${serial++}`;
    const disk = join(dir, `disk-${n}.img`);
    const ram = join(dir, `ram-${n}`);
    // A 16 MiB disk image and the driver's 16 MiB memory file (zeros).
    writeFileSync(disk, new Uint8Array(0));
    truncateSync(disk, 16 << 20);
    writeFileSync(ram, new Uint8Array(0));
    truncateSync(ram, 16 << 20);
    const window = `vmamp:/dev/shm/vmsg-test-drive-${n}?size=8192&sock=${join(dir, `${n}.sock`)}`;
    await route(['--driver-link', window, '--device', `block:1?file=${disk}&mem=${ram}&mem_base=0x40000000`], /routing:/);
    const r = await vmsg('drive', '--target', window, '--dev', '1', '--mem', `${ram}@0x40000000`, 'block', '--write-read', '8', '--verify', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ bytes_written: 8 << 20, bytes_read: 8 << 20, mismatches: 0 });
  }, 60_000);

  it('bad arguments exit 2 with the reason', async () => {
    const a = await vmsg('drive', '--target', 'vmamp:/dev/shm/x?size=8192', '--dev', '1', 'entropy', '--bytes', '10');
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--mem FILE@BASE/);
    const b = await vmsg('drive', '--target', 'openamp:/dev/shm/x?base=0x1000', '--dev', '1', 'block');
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--write-read/);
    const c = await vmsg('drive', '--target', 'qemu-v0:/tmp?name=a&sock=/tmp/s&mem=/tmp/m', '--dev', '1', 'entropy', '--bytes', '1');
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/mem_base=ADDR is required/);
  });
});
