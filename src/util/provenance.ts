// Where a result came from: the tool's version (package.json) and, when it runs from a git
// checkout, the commit (with "-dirty" when the checkout has changes), so a saved report says
// exactly what made it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

export function toolVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name?: string; version?: string };
  return `${pkg.name ?? 'vmsg-router'} ${pkg.version ?? '?'}`;
}

/** The checkout's commit, or null when the package is not a git checkout (an npm install) or git is missing. */
export function gitCommit(): string | null {
  const root = packageRoot();
  if (!existsSync(join(root, '.git'))) return null;
  try {
    return execFileSync('git', ['-C', root, 'describe', '--always', '--dirty', '--abbrev=40'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}
