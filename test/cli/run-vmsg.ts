// Run the built CLI (dist/src/cli/main.js) as a user would: a child process, exit status and both streams.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

export const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

export interface Run { status: number; stdout: string; stderr: string }

export function vmsg(...args: string[]): Promise<Run> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing; run "npm run build" first`);
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}
