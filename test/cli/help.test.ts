// Help as a user asks for it: `--help` and `-h` on every command print its usage, its options
// with their defaults and an example, on stdout with exit 0; `vmsg --version` names the package.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';
import { vmsg } from './run-vmsg.js';

/** The commands `vmsg --help` lists (so a command added later is covered without editing this). */
async function commands(): Promise<string[]> {
  const r = await vmsg('--help');
  const block = r.stdout.slice(r.stdout.indexOf('commands:\n') + 10).split('\n\n')[0]!;
  return block.split('\n').map((l) => l.trim().split(/\s+/)[0]!);
}

describe('help on every command', () => {
  it('vmsg --help lists the commands, the exit statuses and an example', async () => {
    const r = await vmsg('--help');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(await commands()).toEqual(['bench', 'decode', 'drive', 'demo', 'export-pcapng', 'conform', 'replay', 'route', 'stress']);
    expect(r.stdout).toMatch(/^Exit status: 0 ok, 1 the run failed .*, 2 bad command line or config\.$/m);
    expect(r.stdout).toMatch(/^example:\n {2}vmsg route /m);
  });

  it('--help and -h: usage, options with defaults, an example; exit 0, nothing on stderr', async () => {
    for (const name of await commands()) {
      const long = await vmsg(name, '--help');
      const short = await vmsg(name, '-h');
      expect(long.status, name).toBe(0);
      expect(long.stderr, name).toBe('');
      expect(long.stdout, name).toMatch(new RegExp(`^usage: vmsg ${name} `));
      expect(long.stdout.match(/^usage:/gm), `${name}: one usage`).toHaveLength(1);
      expect(long.stdout, name).toMatch(/^options:\n/m);
      expect(long.stdout, name).toMatch(/^ {2}--help +show this help$/m);
      expect(long.stdout, name).toMatch(/^examples?:\n {2}vmsg /m);
      expect(short, name).toEqual(long);
      expect((await vmsg('help', name)).stdout, `vmsg help ${name}`).toBe(long.stdout);
    }
  }, 60_000);

  it('options say their defaults', async () => {
    expect((await vmsg('demo', '--help')).stdout).toMatch(/--duration S +seconds to run, 0\.1 to 86400 \(default 10\)/);
    expect((await vmsg('route', '--help')).stdout).toMatch(/--metrics \[HOST:\]PORT .*\(HOST default 127\.0\.0\.1/);
    expect((await vmsg('bench', '--help')).stdout).toMatch(/--timeout MS +an unanswered operation is an error after MS \(default 2000\)/);
  });

  it('vmsg --version prints the package name and version', async () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    const r = await vmsg('--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`vmsg-router ${pkg.version} (node ${process.versions.node})\n`);
  });
});
