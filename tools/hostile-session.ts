// Runs tools/hostile-peer.ts against one shared-memory link of a running router, session after
// session, for a while: the router builds the window (it is the device side; the hostile
// process attaches as the driver), the peer attacks, the link goes down or is closed, and the
// next session gets a fresh window at the same path — what `vmsg route` does for the next peer.
// Nothing is left behind: the window file is removed at the end, whatever happened.
import { spawn } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Router } from '../src/router/router.js';
import { openBusLink } from '../src/bus/open.js';
import type { BusLink } from '../src/bus/bus-link.js';
import { packageRoot } from '../src/util/paths.js';
import { lostWindowsTotal } from '../src/native/mmap.js';
import type { Attack } from './hostile-attacks.js';

export interface HostileOptions {
  bus: 'vmamp' | 'spsc';
  attack: Attack;
  /** Run sessions until this much time passed (the last one finishes). */
  seconds: number;
  /** Longest session (the peer's --seconds). */
  sessionSeconds?: number;
  /** The device the hostile driver sends its requests to (a device of the good links: shared with them on purpose). */
  dev: number;
  seed: number;
  /** shrink: truncate to this many bytes (0 always faults); default: the peer's choice. */
  shrinkTo?: number;
  /** Window file name tag (unique per concurrent run). */
  tag: string;
  log?: (line: string) => void;
}

export interface HostileResult {
  bus: string;
  attack: Attack;
  sessions: number;
  /** How the router's link ended, by cause ('closed' = still up when the session ended; we closed it). */
  linkDowns: Record<string, number>;
  /** Windows the SIGBUS handler replaced in this process during the run. */
  windowsLost: number;
  /** Sessions whose peer failed to run (its exit status was not 0). */
  peerFailures: number;
  /** The peers' own counts, summed. */
  peer: Record<string, number>;
  /** Frames the router dropped on the hostile link, by reason, summed over sessions. */
  drops: Record<string, number>;
}

const shmDir = (() => { try { statSync('/dev/shm'); return '/dev/shm'; } catch { return tmpdir(); } })();

/** The window path a run with `tag` uses (callers may check it is gone). */
export function hostileWindowPath(tag: string): string {
  // Under the test suite the name carries its run id, so its final check sees a leftover.
  const run = process.env.VMSG_TEST_RUN;
  return join(shmDir, `${run === undefined ? 'vmsg-hostile' : `vmsg-test-${run}-hostile`}-${process.pid}-${tag}`);
}

function runPeer(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const peer = spawn(process.execPath, [join(packageRoot(), 'dist', 'tools', 'hostile-peer.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  peer.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  peer.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => peer.once('close', (code) => resolve({ code, stdout, stderr })));
}

export async function runHostile(router: Router, o: HostileOptions): Promise<HostileResult> {
  const path = hostileWindowPath(o.tag);
  // No doorbell socket (both sides poll) and no PINGs: every link-down is the attack's doing.
  const uri = `${o.bus}:${path}?size=8192&ping=0`;
  const res: HostileResult = { bus: o.bus, attack: o.attack, sessions: 0, linkDowns: {}, windowsLost: 0, peerFailures: 0, peer: {}, drops: {} };
  const lostBefore = lostWindowsTotal();
  const end = performance.now() + o.seconds * 1000;
  const log = o.log ?? (() => {});
  try {
    while (performance.now() < end) {
      const session = res.sessions++;
      const opening = openBusLink(router, uri, 'driver', { waitMs: 20_000 }).catch((e: unknown) => e as Error);
      const out = await runPeer(['--target', `${o.bus}:${path}?size=8192`, '--attack', o.attack, '--dev', String(o.dev),
        '--seconds', String(o.sessionSeconds ?? 2), '--seed', String((o.seed + session) >>> 0), ...(o.shrinkTo !== undefined ? ['--shrink-to', String(o.shrinkTo)] : [])]);
      const link = await opening;
      if (out.code !== 0) {
        res.peerFailures++;
        log(`hostile ${o.bus}/${o.attack} session ${session}: the peer failed (${out.code}): ${out.stderr.trim()}`);
      } else {
        for (const [k, v] of Object.entries(JSON.parse(out.stdout.trim()) as Record<string, unknown>)) {
          if (typeof v === 'number') res.peer[k] = (res.peer[k] ?? 0) + v;
          else if (v === true) res.peer[k] = (res.peer[k] ?? 0) + 1;
        }
      }
      if (link instanceof Error) {
        res.linkDowns['open-failed'] = (res.linkDowns['open-failed'] ?? 0) + 1;
        log(`hostile ${o.bus}/${o.attack} session ${session}: the link did not open: ${link.message}`);
        continue;
      }
      await endSession(router, link, res);
      // A window left behind by a link that went down: the next peer must not find it before
      // the router has built the new one (it would attach to a file about to be unlinked).
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(path, { force: true });
  }
  res.windowsLost = lostWindowsTotal() - lostBefore;
  return res;
}

/** The peer exited: its link goes down by itself (vmamp: the peer said SHUTDOWN) or we close it. */
async function endSession(router: Router, link: BusLink, res: HostileResult): Promise<void> {
  const id = (link as { endpointId?: number }).endpointId;
  const down = await Promise.race([link.down, new Promise<null>((r) => void setTimeout(() => r(null), 1000))]);
  if (down === null) await link.close();
  const cause = down === null ? 'closed' : down.cause;
  res.linkDowns[cause] = (res.linkDowns[cause] ?? 0) + 1;
  // A detached endpoint keeps its counters until its id is reused: read them now.
  const ep = id === undefined ? undefined : router.stats().endpoints.find((e) => e.id === id);
  for (const [k, v] of Object.entries(ep?.drops ?? {})) res.drops[k] = (res.drops[k] ?? 0) + v;
}
