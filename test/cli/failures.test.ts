// Every way a `vmsg` command fails as a user meets it: exit status by meaning (1 the run failed,
// 2 the command line is wrong), exactly one line on stderr naming the thing and the fix, nothing
// on stdout, no stack trace. Real ports held by a real listener, real missing files and windows.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmsg, type Run } from './run-vmsg.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-failures-'));
let holder: Server;
/** A port someone listens on (127.0.0.1), for the port-in-use cases. */
let taken: number;
/** A port nobody listens on: bound once, then let go. */
let closed: number;

const listen = (s: Server): Promise<number> => new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));

beforeAll(async () => {
  holder = createServer((s) => s.destroy());
  taken = await listen(holder);
  const once = createServer();
  closed = await listen(once);
  await new Promise((r) => once.close(r));
});

afterAll(async () => {
  await new Promise((r) => holder.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** The failure contract: status, one stderr line matching `line`, empty stdout. */
function expectFailure(r: Run, status: number, line: RegExp): void {
  expect(r.stdout, 'stdout').toBe('');
  expect(r.stderr.trimEnd().split('\n'), `one stderr line, got:\n${r.stderr}`).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stderr.trimEnd()).toMatch(line);
  expect(r.status, r.stderr).toBe(status);
}

describe('start-up failures of vmsg route are found before any worker starts', () => {
  it('--metrics on a port in use: exit 1 in under a second, naming the port and the fix', async () => {
    // Under a second on an idle machine. On a loaded one starting node itself may take most of
    // it: what the failure path adds on top of `vmsg --version` (same start-up) must stay under one.
    let t0 = performance.now();
    await vmsg('--version');
    const startMs = performance.now() - t0;
    t0 = performance.now();
    const r = await vmsg('route', '--metrics', String(taken), '--device', 'echo:1', '--duration', '30');
    const ms = performance.now() - t0;
    expectFailure(r, 1, new RegExp(`^vmsg route: --metrics: 127\\.0\\.0\\.1:${taken} is in use; choose another port with --metrics PORT`));
    expect(ms - Math.max(0, startMs - 300)).toBeLessThan(1000);
  });

  it('a tcp-listen: port in use: exit 1, and no counters on stdout', async () => {
    const r = await vmsg('route', '--driver-link', `tcp-listen:${taken}`, '--device', 'echo:1', '--duration', '30');
    expectFailure(r, 1, new RegExp(`^vmsg route: --driver-link tcp-listen:${taken}: 127\\.0\\.0\\.1:${taken} is in use; choose another port`));
  });

  it('the same device number twice: exit 2', async () => {
    const r = await vmsg('route', '--device', 'echo:1', '--device', 'echo:1');
    expectFailure(r, 2, /^vmsg route: --device echo:1: device number 1 is already taken by --device echo:1; give each device its own number \(vmsg route --help\)$/);
  });

  it('a config file that is not there: exit 2, saying so (not "(document)")', async () => {
    const r = await vmsg('route', '--config', join(dir, 'nope.json'));
    expectFailure(r, 2, /^vmsg route: --config: cannot read config file .*nope\.json: no such file or directory; check the path/);
    expect(r.stderr).not.toMatch(/\(document\)/);
  });

  it('a capture file in a directory that does not exist: exit 2', async () => {
    const r = await vmsg('route', '--device', 'echo:1', '--capture', '/nonexistent/dir/run.vmc');
    expectFailure(r, 2, /^vmsg route: --capture \/nonexistent\/dir\/run\.vmc: directory \/nonexistent\/dir does not exist/);
  });

  it('a malformed link URI: exit 2', async () => {
    const r = await vmsg('route', '--device-link', 'tcp:host-without-port');
    expectFailure(r, 2, /^vmsg route: --device-link: link URI "tcp:host-without-port": tcp needs HOST:PORT/);
  });

  it('a device link whose peer refuses: exit 1, the failure last, no counters on stdout', async () => {
    const r = await vmsg('route', '--device-link', `tcp:127.0.0.1:${closed}`, '--shards', '1');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^vmsg route: error: --device-link tcp:127\\.0\\.0\\.1:${closed}: cannot connect to tcp 127\\.0\\.0\\.1:${closed}: connect ECONNREFUSED`));
  });
});

describe('file and argument failures of the other commands', () => {
  it('export-pcapng to a directory that does not exist: exit 2, no unhandled error event', async () => {
    const r = await vmsg('export-pcapng', join(dir, 'c.vmc'), '/nonexistent/dir/x.pcapng');
    expectFailure(r, 2, /^vmsg export-pcapng: output \/nonexistent\/dir\/x\.pcapng: directory \/nonexistent\/dir does not exist; create it or choose another path/);
  });

  it('export-pcapng of a capture that is not there: exit 2', async () => {
    const r = await vmsg('export-pcapng', join(dir, 'none.vmc'), join(dir, 'x.pcapng'));
    expectFailure(r, 2, /^vmsg export-pcapng: cannot read capture .*none\.vmc: no such file or directory/);
  });

  it('decode of a capture that is not there: exit 2, not a raw ENOENT', async () => {
    const r = await vmsg('decode', join(dir, 'none.vmc'));
    expectFailure(r, 2, /^vmsg decode: cannot read capture .*none\.vmc: no such file or directory; check the path/);
  });

  it('decode --hex with the bytes split by spaces: exit 2 with the frame written as it should be', async () => {
    const r = await vmsg('decode', '--hex', '00', '02', '01');
    expectFailure(r, 2, /^vmsg decode: --hex takes the frame as one word of hex digits, without spaces: --hex 000201 \(vmsg decode --help\)$/);
  });

  it('a misspelt flag or command: exit 2 with "did you mean"', async () => {
    expectFailure(await vmsg('route', '--devcie', 'echo:1'), 2, /^vmsg route: unknown option --devcie; did you mean --device\? \(vmsg route --help\)$/);
    expectFailure(await vmsg('bench', '--targt', 'tcp:127.0.0.1:1'), 2, /^vmsg bench: unknown option --targt; did you mean --target\?/);
    expectFailure(await vmsg('demo', '--duraton', '1'), 2, /^vmsg demo: unknown option --duraton; did you mean --duration\?/);
    expectFailure(await vmsg('rout'), 2, /^vmsg: unknown command "rout"; did you mean "route"\?/);
  });
});

describe('vmsg bench: a target that cannot be opened exits 1, as vmsg route does', () => {
  it.each([
    ['the contract form', ['--mode', 'ping', '--dev', '1', '--count', '1', '--outstanding', '1']],
    ['the load tool', ['--profile', 'ping', '--count', '1']],
  ])('%s: nothing listening on the TCP port', async (_, args) => {
    const r = await vmsg('bench', '--target', `tcp:127.0.0.1:${closed}`, ...args);
    expectFailure(r, 1, new RegExp(`^vmsg bench: cannot open --target tcp:127\\.0\\.0\\.1:${closed}: cannot connect to tcp 127\\.0\\.0\\.1:${closed}: connect ECONNREFUSED`));
  });

  it('a malformed target is a usage error (exit 2)', async () => {
    const r = await vmsg('bench', '--target', 'tcp:nowhere', '--profile', 'ping', '--count', '1');
    expectFailure(r, 2, /^vmsg bench: --target: link URI "tcp:nowhere": tcp needs HOST:PORT/);
  });

  const window = `/dev/shm/vmsg-failures-${process.pid}-missing`;
  it('a vmamp window nobody creates: one line saying what it waited for and how long', async () => {
    const r = await vmsg('bench', '--target', `vmamp:${window}?size=8192&wait=300`, '--profile', 'ping', '--count', '1');
    expectFailure(r, 1, /^vmsg bench: cannot open --target vmamp:.*: timed out after 300 ms waiting for window file .*-missing to appear with 8192 bytes \(the device side creates it: is it running\?\)$/);
  });

  it('a longer wait says at once what it waits for and when it gives up, then fails', async () => {
    const r = await vmsg('bench', '--target', `vmamp:${window}?size=8192&wait=1600`, '--mode', 'ping', '--dev', '1', '--count', '1', '--outstanding', '1');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^vmsg bench: waiting for window file .*-missing to appear with 8192 bytes \(the device side creates it: is it running\?\); giving up in 0\.\d s \(wait=MS in the URI sets the limit\)$/);
    expect(lines[1]).toMatch(/^vmsg bench: cannot open --target .*: timed out after 1600 ms/);
  });
});
