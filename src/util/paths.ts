// Locates files of the installed package (the WASM build, compiled worker scripts) whether
// this module runs from src/ under vitest or from dist/ under node.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The directory holding this package's package.json. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'asconfig.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('vmsg-router: cannot find the package root above ' + import.meta.url);
    dir = up;
  }
  root = dir;
  return dir;
}

/**
 * Path of a compiled JS module of this package, for worker threads: workers always run the
 * compiled code in dist/ (node cannot run the .ts sources). `rel` is relative to src/,
 * e.g. 'router/shard-worker.js'.
 */
export function compiledModule(rel: string): string {
  const path = join(packageRoot(), 'dist', 'src', rel);
  if (!existsSync(path)) throw new Error(`vmsg-router: ${path} is missing; run "npm run build" first`);
  return path;
}
