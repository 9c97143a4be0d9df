// The npm package ships whole: what README and the commands' help point at is in the tarball
// `npm pack` makes (the dissector, the C peer), with the license text and the changelog, and
// the files the code needs at run time to find itself (package.json, asconfig.json, the build).
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

interface PackResult { files: { path: string }[] }

describe('npm pack', () => {
  it('contains the dissector, the C peer, LICENSE, CHANGELOG.md and what the code loads at run time', () => {
    // --ignore-scripts: list what would be packed without running the build again.
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: packageRoot(), encoding: 'utf8', timeout: 60_000 });
    const files = new Set((JSON.parse(out) as PackResult[])[0]!.files.map((f) => f.path));
    for (const f of [
      'LICENSE', 'CHANGELOG.md', 'README.md', 'package.json',
      'tools/wireshark/virtio-msg.lua', // vmsg export-pcapng --help and README name it
      'test/peers/vmsg-peer.c', // README's independent C implementation of both buses
      'asconfig.json', // packageRoot() looks for it beside package.json
      'schema/route-config.schema.json', // the config file's JSON Schema
      'dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'build/Release/vmsg_mmap.node',
    ]) expect(files, f).toContain(f);
    expect([...files].some((f) => f.endsWith('.wasm')), 'the WASM router').toBe(true);
    // Tests, benchmarks sources and the session's scratch files stay out.
    expect([...files].filter((f) => f.startsWith('test/') && f !== 'test/peers/vmsg-peer.c')).toEqual([]);
  }, 90_000);

  it('LICENSE is the Apache License 2.0 that package.json declares', () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { license: string; version: string };
    expect(pkg.license).toBe('Apache-2.0');
    const text = readFileSync(join(packageRoot(), 'LICENSE'), 'utf8');
    expect(text).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(text).toMatch(/END OF TERMS AND CONDITIONS/);
  });

  it('CHANGELOG.md has a section for the current version', () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    const log = readFileSync(join(packageRoot(), 'CHANGELOG.md'), 'utf8');
    expect(log).toMatch(new RegExp(`^## ${pkg.version.replace(/\./g, '\\.')}$`, 'm'));
  });
});
