// The relay benchmark as the bench runner starts it: a real `node dist/bench/relay.js` process
// driving C driver → `vmsg route` → C device next to C ↔ C. Every case must report its rate,
// its C ↔ C reference, the ratio the runner checks against its target, and the wake-up counts
// that tell a regression from a loaded machine.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/paths.js';

const run = promisify(execFile);
const RELAY = join(packageRoot(), 'dist', 'bench', 'relay.js');

describe('bench relay', () => {
  it('reports every case with its C ↔ C reference, ratio and wake-ups, every answer checked', async () => {
    const { stdout, stderr } = await run(process.execPath, [RELAY, '--quick', '--seconds', '0.2']);
    const report = JSON.parse(stdout) as { samples: Record<string, number>; info: Record<string, unknown> };
    for (const name of ['relay-doorbell-k1', 'relay-doorbell-k8', 'relay-poll-k8']) {
      expect(report.samples[name]).toBeGreaterThan(0);
      expect(report.samples[`${name}-c`]).toBeGreaterThan(0);
      expect(report.samples[`${name}-ratio`]).toBeCloseTo(report.samples[name]! / report.samples[`${name}-c`]!, 2);
      expect(report.samples[`${name}-p50-us`]).toBeGreaterThan(0);
      expect(report.info[`${name}-route-main-wakes-per-rt`]).toBeGreaterThanOrEqual(0);
      expect(report.info[`${name}-device-timeouts-with-work`]).toBeTypeOf('number');
      expect(stderr).toContain(`${name} C → vmsg route → C: `);
    }
    expect(report.info['relay-poll-k8-route-startup']).toMatch(/busy-poll/);
  });
});
