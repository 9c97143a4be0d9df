// Runs once around the whole test run (vitest globalSetup). Every test must remove what it
// created — windows in /dev/shm, sockets, temporary files — also when it fails or its peer is
// killed; this checks it after the suite and fails the run if anything named vmsg-* is left.
// The run gets a temporary directory of its own (TMPDIR, inherited by the test processes) and
// a run id that shared-memory window names carry (VMSG_TEST_RUN, test/bus/helpers.ts), so
// files of other runs on the same machine are not counted.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SHM = '/dev/shm';

function leftovers(dir: string, prefix: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.startsWith(prefix)).map((n) => join(dir, n));
  } catch {
    return []; // no such directory (no /dev/shm on this system)
  }
}

export default function setup(): () => void {
  const runDir = mkdtempSync(join(tmpdir(), 'vmsg-test-run-'));
  const runId = `r${process.pid}`;
  process.env.TMPDIR = runDir;
  process.env.VMSG_TEST_RUN = runId;
  return () => {
    const left = [...leftovers(runDir, 'vmsg-'), ...leftovers(SHM, `vmsg-test-${runId}-`)];
    rmSync(runDir, { recursive: true, force: true });
    for (const f of left) rmSync(f, { recursive: true, force: true });
    if (left.length > 0) {
      // vitest reports an error thrown here but still exits 0: set the exit code too.
      process.exitCode = 1;
      throw new Error(`the tests left ${left.length} file(s) behind (removed now; the test that made them must clean up): ${left.join(', ')}`);
    }
  };
}
