// The tool commands: vmsg conform and vmsg replay through the bin (help, argument errors, a
// target that cannot be opened), and the same command code run against an in-process bus
// (conform, replay, bench with profiles and reports).
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmsg } from './run-vmsg.js';
import { runConform } from '../../src/cli/conform.js';
import { runReplay } from '../../src/cli/replay.js';
import { runBenchLoad } from '../../src/cli/bench-load.js';
import type { ToolIo } from '../../src/cli/tool-io.js';
import type { FrameChannel } from '../../src/bus/bus-link.js';
import { startEchoRouter } from '../tools/echo-router.js';
import { startModelDevice } from '../tools/model-device.js';

const dir = mkdtempSync(join(tmpdir(), 'vmsg-tools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The command's io with output kept, and --target opening the given in-process channel. */
function io(open: (uri: string) => Promise<FrameChannel>): ToolIo & { stdout: string; stderr: string } {
  const r = {
    stdout: '',
    stderr: '',
    out(t: string) { r.stdout += t; },
    err(t: string) { r.stderr += t; },
    progressStream: process.stderr, // not a TTY under the test runner: no progress line
    channelFor: open,
  };
  return r;
}

const unopenable = async (uri: string): Promise<FrameChannel> => { throw new Error(`no bus at ${uri}`); };

describe('vmsg conform / vmsg replay (bin)', () => {
  it('--help lists the rules and the options', async () => {
    const c = await vmsg('conform', '--help');
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/^usage: vmsg conform --target URI/);
    expect(c.stdout).toMatch(/§7\.28 +bus\.ping-echo/);
    expect(c.stdout).toMatch(/§8\.7 +device\.reset-to-zero/);
    const r = await vmsg('replay', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: vmsg replay FILE\.vmc --target URI \[--speed X\]/);
    expect((await vmsg('--help')).stdout).toMatch(/conform +check a device-side bus[\s\S]*replay +re-send a capture/);
  });

  it('argument errors name the flag and exit 2; a target that cannot be opened exits 1', async () => {
    const viaBin: [string[], RegExp][] = [
      [['conform'], /vmsg conform: missing --target URI/],
      [['replay', 'a.vmc', '--target', 'unix:/x', '--speed', 'fast'], /--speed needs a number from 0 to 1000000, got "fast"/],
      [['conform', '--target', 'unix:/x?colour=red'], /vmsg conform: --target: link URI "unix:\/x\?colour=red": unknown parameter "colour"/],
    ];
    for (const [args, message] of viaBin) {
      const r = await vmsg(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    // Nothing listens there: opening the target fails with the reason, a run-time failure.
    const none = await vmsg('conform', '--target', `unix:${join(dir, 'nothing.sock')}`);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^vmsg conform: cannot open --target unix:.*nothing\.sock: .*ENOENT.*\n$/);
    expect(none.stdout).toBe('');
    const capture = join(dir, 'a.vmc');
    writeFileSync(capture, '');
    const direct: [typeof runConform, string[], RegExp, number?][] = [
      [runConform, ['--target', 'unix:/x', '--dev', '70000'], /--dev needs an integer from 0 to 65535, got "70000"/],
      [runConform, ['--target', 'unix:/x', '--profile', 'rev3'], /--profile must be one of rev1, rev1-2026, got "rev3"/],
      [runReplay, ['--target', 'unix:/x'], /vmsg replay: needs one capture file \(FILE\.vmc\), got 0/],
      [runReplay, ['a.vmc'], /missing --target URI/],
      // The capture is checked before the target: a missing one is the command line's mistake.
      [runReplay, [join(dir, 'none.vmc'), '--target', 'unix:/x'], /vmsg replay: cannot read capture .*none\.vmc: no such file or directory/, 2],
      [runReplay, [capture, '--target', 'unix:/x'], /vmsg replay: cannot open --target unix:\/x: no bus at unix:\/x/, 1],
    ];
    for (const [command, args, message, status] of direct) {
      const r = io(unopenable);
      expect(await command(args, r), args.join(' ')).toBe(status ?? 2);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('the tool commands against an in-process bus', () => {
  it('vmsg conform: text or JSON, exit 1 on a failed rule', async () => {
    const m = await startModelDevice('bad-ping');
    try {
      const a = io(async () => m.channel);
      expect(await runConform(['--target', 'inproc:model', '--only', 'bus.ping,bus.max', '--quiet', '50'], a)).toBe(1);
      expect(a.stdout).toMatch(/^vmsg conform: inproc:model/);
      expect(a.stdout).toMatch(/^FAIL  §7\.28 +bus\.ping-echo/m);
      const b = io(async () => m.channel);
      expect(await runConform(['--target', 'inproc:model', '--only', 'bus.max', '--json'], b)).toBe(0);
      expect(JSON.parse(b.stdout)).toMatchObject({ format: 'vmsg-conform', summary: { pass: 1, fail: 0, skip: 0 } });
      const c = io(async () => m.channel);
      expect(await runConform(['--target', 'x', '--only', 'bus.nope'], c)).toBe(2);
      expect(c.stderr).toMatch(/no rule id starts with "bus.nope"/);
    } finally {
      await m.stop();
    }
  });

  it('vmsg bench: profiles, JSON with the contract keys, CSV, HTML report, compare, exit status', async () => {
    const target = await startEchoRouter([1, 2]);
    try {
      const open = async (): Promise<FrameChannel> => target.channel();
      // The original `vmsg bench` contract form.
      const a = io(open);
      expect(await runBenchLoad(['--target', 'inproc:', '--dev', '1', '--mode', 'init', '--count', '200', '--outstanding', '4', '--json'], a)).toBe(0);
      const json = JSON.parse(a.stdout) as Record<string, unknown>;
      expect(json).toMatchObject({ mode: 'init', errors: 0, order_violations: 0, devices: [1], outstanding: 4, completed: 200 });
      for (const k of ['sent', 'received', 'seconds', 'round_trips_per_s', 'p50_us', 'p99_us']) expect(typeof json[k]).toBe('number');
      const baseline = join(dir, 'baseline.json');
      writeFileSync(baseline, a.stdout);
      // A profile file with a mix, CSV out, an HTML report, compared with the baseline.
      const profile = join(dir, 'mix.json');
      writeFileSync(profile, JSON.stringify({ profile: 'mixed', mix: { GET_DEVICE_STATUS: 2, PING: 1 }, load: { duration: 0.2, warmup: 0 } }));
      const report = join(dir, 'report.html');
      const b = io(open);
      expect(await runBenchLoad(['--target', 'inproc:', '--profile-file', profile, '--csv', '--report', report, '--compare', baseline], b)).toBe(0);
      expect(b.stdout.split('\n')[0]).toMatch(/^started,mode,loop,/);
      expect(b.stdout.split('\n')[1]).toMatch(/,mixed,closed,8,,1 2,/);
      expect(b.stderr).toMatch(/note: profile differs: baseline "init", current "mixed"/);
      expect(b.stderr).toMatch(/report written to .*report\.html/);
      expect(readFileSync(report, 'utf8')).toMatch(/^<!DOCTYPE html>[\s\S]*id="chart-throughput"/);
      // The table, and a comparison against the HTML report itself.
      const c = io(open);
      expect(await runBenchLoad(['--target', 'inproc:', '--profile', 'ping', '--duration', '0.2', '--warmup', '0', '--compare', report], c)).toBe(0);
      expect(c.stdout).toMatch(/^vmsg bench: ping, closed loop/);
      expect(c.stdout).toMatch(/vmsg bench --compare: baseline → current/);
      // A device the bus does not have: warned about first, then its requests fail (exit 1).
      const w = io(open);
      expect(await runBenchLoad(['--target', 'inproc:', '--profile', 'init', '--dev', '9', '--count', '2', '--json'], w)).toBe(1);
      expect(w.stderr).toMatch(/warning: device 9 is not on this bus \(GET_DEVICES reports 1, 2\)/);
      // Usage errors.
      const cases: [string[], RegExp][] = [
        [['--target', 'x'], /say what to send: --profile/],
        [['--target', 'x', '--profile', 'ping', '--mode', 'ping'], /give one of --profile, --mode and --profile-file/],
        [['--target', 'x', '--profile', 'mixed'], /takes its weights from a file/],
        [['--target', 'x', '--profile', 'ping', '--json', '--csv'], /--json or --csv, not both/],
        [['--target', 'x', '--profile', 'ping', '--rate', 'lots'], /--rate needs a number/],
        [['--target', 'x', '--profile', 'ping', '--dev', '1,x'], /--dev needs device numbers/],
        [['--target', 'x', '--profile', 'ping', '--compare', join(dir, 'none.json')], /cannot read --compare baseline .*none\.json: no such file or directory/],
        [['--target', 'x', '--profile-file', join(dir, 'none.json')], /none\.json: \(document\): cannot read the profile file/],
      ];
      for (const [args, message] of cases) {
        const e = io(open);
        expect(await runBenchLoad(args, e), args.join(' ')).toBe(2);
        expect(e.stderr).toMatch(message);
      }
    } finally {
      await target.close();
    }
  });

  it('vmsg replay: a capture against the bus it came from matches (exit 0)', async () => {
    const target = await startEchoRouter([1]);
    const path = join(dir, 'short.vmc');
    try {
      const ch = await target.channel();
      const tap = await target.router.startCapture(path);
      const a = io(async () => ch);
      expect(await runBenchLoad(['--target', 'inproc:', '--profile', 'init', '--count', '50', '--json'], a)).toBe(0);
      await tap.stop();
      const r = io(async () => target.channel());
      expect(await runReplay([path, '--target', 'inproc:', '--speed', '0'], r)).toBe(0);
      expect(r.stdout).toMatch(/verdict: MATCH/);
      const j = io(async () => target.channel());
      expect(await runReplay([path, '--target', 'inproc:', '--speed', '0', '--json', '--link', '999'], j)).toBe(2);
      expect(j.stderr).toMatch(/has no driver link 999/);
    } finally {
      await target.close();
    }
  });
});
