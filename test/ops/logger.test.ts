// Structured logs: one JSON object per line with time, level, name and message, filtered by
// level; a bad level is refused with the accepted ones.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, parseLogLevel, LogLevelError } from '../../src/ops/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('logger', () => {
  it('writes JSON lines at and above its level', () => {
    const path = join(dir, 'logs', 'route.log');
    const log = createLogger({ level: 'info', destination: path });
    log.debug('not written');
    log.info({ link: 'unix:/run/d.sock', devices: [1, 2] }, 'device link up');
    log.warn('peer slow');
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 30, name: 'vmsg-router', pid: process.pid, msg: 'device link up', link: 'unix:/run/d.sock', devices: [1, 2] });
    expect(Date.parse(lines[0]!.time as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(lines[1]).toMatchObject({ level: 40, msg: 'peer slow' });
  });

  it('refuses an unknown level, listing the accepted ones', () => {
    expect(() => parseLogLevel('verbose', '--log-level')).toThrow(LogLevelError);
    expect(() => parseLogLevel('verbose', '--log-level')).toThrow('--log-level "verbose" is not one of fatal, error, warn, info, debug, trace, silent');
    expect(() => createLogger({ level: 'loud' })).toThrow(/log level "loud" is not one of/);
    expect(parseLogLevel('silent')).toBe('silent');
  });
});
