// The repository stands alone: a clone has nothing beside it, so no source, test, benchmark,
// tool or document may point at a folder outside the checkout (the reference folder the
// project was first written next to) or at an issue tracker entry. Protocol and bus facts
// live in docs/PROTOCOL.md and docs/BUSES.md, wire vectors in test/fixtures/, the C baseline
// in bench/c/. `.ci/run` also runs the whole suite from a copy with no such folder beside it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/util/paths.js';

const ROOT = packageRoot();
const SCANNED = ['src', 'test', 'bench', 'tools', 'docs', 'assembly', '.ci', 'README.md'];
const BINARY = /\.(png|jpe?g|gif|svg|ico|wasm|node|vmc|pcapng|img|bin)$/i;

// Spelled in pieces so this file does not match itself.
const OUTSIDE = new RegExp(['\\.\\.', '/shared\\b|\\bshared/(spec|anchors)\\b'].join(''));
const ISSUE = /\bissues?[ -]?#?\d+\b/i;

function textFiles(path: string): string[] {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return [];
  if (st.isFile()) return BINARY.test(path) ? [] : [path];
  return readdirSync(path).flatMap((name) => (name === 'node_modules' ? [] : textFiles(join(path, name))));
}

/** `file:line: text` for every line of the scanned files that matches `re`. */
function linesMatching(re: RegExp): string[] {
  const hits: string[] = [];
  for (const file of SCANNED.flatMap((p) => textFiles(join(ROOT, p)))) {
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (re.test(line)) hits.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  return hits;
}

describe('the repository is self-contained', () => {
  it('scans the folders it claims to (sanity: finds this file and the docs)', () => {
    const files = SCANNED.flatMap((p) => textFiles(join(ROOT, p))).map((f) => relative(ROOT, f));
    expect(files).toContain(join('test', 'self-contained.test.ts'));
    expect(files).toContain(join('docs', 'PROTOCOL.md'));
    expect(files).toContain(join('docs', 'BUSES.md'));
    expect(files).toContain(join('test', 'fixtures', 'wire-vectors.json'));
    expect(files).toContain(join('bench', 'c', 'baseline.c'));
  });

  it('no file names a folder beside the checkout', () => {
    expect(linesMatching(OUTSIDE)).toEqual([]);
  });

  it('no file cites an issue number', () => {
    expect(linesMatching(ISSUE)).toEqual([]);
  });
});
