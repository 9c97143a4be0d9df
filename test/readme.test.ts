// The README's API example is real: extract it and run it as a user would (node, importing
// the package by name).
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

/**
 * Run the README's ```js block whose first line starts with `// README example` + `label` as a
 * user would (node, from a directory inside the package so `import 'vmsg-router'` resolves to
 * it) and return what it printed.
 */
function runReadmeExample(label: string): string {
  const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
  const m = new RegExp('```js\\n(// README example' + label + '[^\\n]*\\n[\\s\\S]*?)```').exec(readme);
  expect(m, `README has no example "// README example${label}"`).not.toBeNull();
  const dir = mkdtempSync(join(packageRoot(), '.vmsg-tmp-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, m![1]!);
    return execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('README', () => {
  it('starts with the two commands a newcomer runs', () => {
    const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
    const firstBlock = readme.slice(readme.indexOf('```sh'), readme.indexOf('```', readme.indexOf('```sh') + 5));
    expect(firstBlock).toContain('npm start');
    expect(firstBlock).toContain('npm test');
  });

  it('API example runs and prints the restored token', () => {
    const out = runReadmeExample('');
    expect(out).toContain('0240000000000c0001000100'); // EVENT_DEVICE READY, device 1
    expect(out).toContain('0107010055000c000f000000'); // response with the driver's token
  });

  it('device SDK example runs: the driver enumerates, initialises and uses the device', () => {
    const out = runReadmeExample(': device SDK');
    expect(out).toBe('devices [ 1 ]\nstate ready\ncounter 1\ncounter 2\ncounter 3\n');
  });

  it('bus model example runs: the device sees one request at a time with token 1, the driver its own tokens in order', () => {
    const out = runReadmeExample(': bus model');
    expect(out).toContain('device got token 1 - requests held by the bus: 2\ndevice got token 1 - requests held by the bus: 1\ndevice got token 1 - requests held by the bus: 0');
    expect(out).toContain('driver got token 0x51\ndriver got token 0x52\ndriver got token 0x53');
    expect(out).toContain('{ requests: 3, windowHeld: 2, inFlightMax: 1 }');
  });

  it('stream link example runs: router B\'s devices through router A (2 remapped to 256), a raw channel\'s request answered', () => {
    const out = runReadmeExample(': stream links');
    expect(out).toBe('[ { remote: 1, local: 1 }, { remote: 2, local: 256 } ]\nanswer 0107010033000c000f000000\n');
  });
});
