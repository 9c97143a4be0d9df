// Shared by the legacy v0 tests: the project's C device sides of QEMU linux-user
// (test/peers/qemu-v0-peer.c) and OpenAMP amp_static_queue (test/peers/openamp-peer.c),
// compiled once per test process with `cc -O2`, started as processes on fresh files, and
// everything they leave (queue files, memory files, sockets) removed at exit.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { compileCPeers } from './helpers.js';
const PEERS = fileURLToPath(new URL('../peers/', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'vmsg-legacy-'));
const shmDir = (() => {
  try {
    statSync('/dev/shm');
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
})();
const created: string[] = [];
const running = new Set<ChildProcess>();
/** Kill the peers still running and remove every file they and the tests made (call in afterAll). */
export async function removeLegacyFiles(): Promise<void> {
  await Promise.all([...running].map((p) => new Promise((r) => {
    p.once('close', r);
    p.kill('SIGKILL');
  })));
  rmSync(workDir, { recursive: true, force: true });
  for (const f of created.splice(0)) rmSync(f, { recursive: true, force: true });
}
// Also at exit, for a run that never reached afterAll (vitest may end a worker without it).
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
  rmSync(workDir, { recursive: true, force: true });
  for (const f of created) rmSync(f, { recursive: true, force: true });
});

/** Why the legacy peer tests cannot run here (no C compiler), or null. Compiles on first use. */
export const legacySkipReason: string | null = compileCPeers(workDir,
  ['qemu-v0-peer', 'openamp-peer'].map((name) => ({ name, path: join(PEERS, `${name}.c`) })), 'the legacy peer tests');

export interface PeerProcess {
  proc: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Ask it to stop (SIGTERM) and resolve with its JSON counters line. */
  stop(): Promise<Record<string, number>>;
}

function start(name: string, args: string[]): PeerProcess {
  const proc = spawn(join(workDir, name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('close', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    proc,
    done,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const r = await done;
      const line = r.stdout.trim().split('\n').pop() ?? '';
      if (!line.startsWith('{')) throw new Error(`${name} printed no counters (exit ${r.code}, signal ${r.signal}): ${r.stderr}`);
      return JSON.parse(line) as Record<string, number>;
    },
  };
}

let serial = 0;
const fresh = (tag: string): string => `${process.pid}-${tag}-${serial++}`;

/** Where QEMU sees its memory file in these tests (its mem-offset). */
export const QEMU_MEM_BASE = 0x4000_0000;
export const QEMU_MEM_BYTES = 16 * 1024 * 1024;

export interface QemuSetup {
  dir: string;
  name: string;
  sock: string;
  mem: string;
  /** The link URI for it (extra `&k=v` parameters appended). */
  uri(extra?: string): string;
  peer: PeerProcess;
}

/** Start a QEMU linux-user v0 device side (virtio-rng) on fresh files; `modes`: its documented misbehaviours. */
export function startQemuPeer(modes: string[] = []): QemuSetup {
  const n = fresh('qemu');
  const dir = mkdtempSync(join(workDir, `qemu-${n}-`));
  const mem = join(shmDir, `vmsg-test-ram-${n}`);
  created.push(mem);
  const sock = join(workDir, `${n}.sock`);
  const name = 'rng0';
  const peer = start('qemu-v0-peer', [
    '--dir', dir, '--name', name, '--sock', sock, '--mem', mem, '--mem-size', String(QEMU_MEM_BYTES),
    '--mem-offset', `0x${QEMU_MEM_BASE.toString(16)}`, ...modes.flatMap((m) => ['--mode', m]),
  ]);
  return {
    dir, name, sock, mem, peer,
    uri: (extra = '') => `qemu-v0:${dir}?name=${name}&sock=${sock}&mem=${mem}&mem_base=0x${QEMU_MEM_BASE.toString(16)}&wait=10000${extra}`,
  };
}

/** Where the OpenAMP peer maps its shared file: its CPU pointers are these addresses. */
let openampBase = 0x7e00_0000_0000;
export const OPENAMP_FILE_BYTES = 1024 * 1024;

export interface OpenampSetup {
  path: string;
  base: number;
  uri(extra?: string): string;
  peer: PeerProcess;
}

/** Start an OpenAMP amp_static_queue device side (virtio-rng); it maps its file at a fresh base address. */
export function startOpenampPeer(modes: string[] = []): OpenampSetup {
  const n = fresh('openamp');
  const path = join(shmDir, `vmsg-test-openamp-${n}`);
  created.push(path);
  const base = openampBase;
  openampBase += 0x1000_0000; // a different address per peer, so two never collide in one test run
  const peer = start('openamp-peer', ['--file', path, '--base', `0x${base.toString(16)}`, '--size', String(OPENAMP_FILE_BYTES), ...modes.flatMap((m) => ['--mode', m])]);
  return { path, base, peer, uri: (extra = '') => `openamp:${path}?base=0x${base.toString(16)}&wait=10000${extra}` };
}
