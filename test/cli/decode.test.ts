// `vmsg decode` as other tools use it: a real `node dist/src/cli/main.js decode ...` process,
// one JSON object on stdout, exit status 0 valid / 1 invalid / 2 bad arguments.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { vmsg, MAIN } from './run-vmsg.js';
import { loadVectors } from '../protocol/load-vectors.js';

const hexOf = (name: string): string => {
  const v = loadVectors().find((x) => x.name === name);
  if (v === undefined) throw new Error(`no vector ${name}`);
  return v.hex;
};

/** stdout must be exactly one JSON object on one line. */
function oneJson(out: string): Record<string, unknown> {
  expect(out.endsWith('\n')).toBe(true);
  expect(out.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(out) as Record<string, unknown>;
}

describe('vmsg decode --json', () => {
  it('prints the decoded fields of a valid frame and exits 0', async () => {
    const r = await vmsg('decode', '--hex', hexOf('t_get_vqueue_resp_configured'), '--direction', 'device_to_driver', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(oneJson(r.stdout)).toEqual({
      valid: true, type: 1, msg_id: 9, dev_num: 1, token: 11, msg_size: 48, message: 'GET_VQUEUE', response: true,
      index: 0, max_size: 256, cur_size: 128, reserved: 0,
      desc_addr: '0x0000000040001000', driver_addr: '0x0000000040002000', device_addr: '0x0000000040003000',
    });
  });

  it('prints {valid:false, reason, detail} for an invalid frame and exits 1', async () => {
    const r = await vmsg('decode', '--hex', hexOf('bad_msg_size_gt_bus_max'), '--json');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    expect(oneJson(r.stdout)).toEqual({ valid: false, reason: 'MSG_SIZE_GT_BUS_MAX', detail: 'msg_size 292 > bus max 264' });
  });

  it('--max-size sets the bus maximum: a 276-byte GET_CONFIG reply fits 512, not 264', async () => {
    const hex = hexOf('max_get_config_resp_256_on_bigger_bus');
    const big = await vmsg('decode', '--hex', hex, '--max-size', '512', '--json');
    const small = await vmsg('decode', '--hex', hex, '--max-size=264', '--json');
    expect([big.status, oneJson(big.stdout).valid]).toEqual([0, true]);
    expect([small.status, oneJson(small.stdout).reason]).toEqual([1, 'MSG_SIZE_GT_BUS_MAX']);
  });

  it('--direction applies the direction rules', async () => {
    const r = await vmsg('decode', '--hex', hexOf('t_event_avail_plain'), '--direction', 'device_to_driver', '--json');
    expect(r.status).toBe(1);
    expect(oneJson(r.stdout).reason).toBe('WRONG_DIRECTION');
  });

  it('--profile rev1-2026 decodes the 2026 GET_DEVICE_INFO layout', async () => {
    const hex = hexOf('n26_get_device_info_resp');
    const r = await vmsg('decode', '--hex', hex, '--profile', 'rev1-2026', '--json');
    expect(r.status).toBe(0);
    expect(oneJson(r.stdout)).toMatchObject({ message: 'GET_DEVICE_INFO', device_uuid: '6f2d8e1a4c3b4e0f9a7d3c2b1a098877', num_feature_blocks: 2 });
    const rev1 = await vmsg('decode', '--hex', hex, '--json');
    expect([rev1.status, oneJson(rev1.stdout).reason]).toEqual([1, 'PAYLOAD_LENGTH_MISMATCH']);
  });
});

describe('vmsg decode without --json', () => {
  it('prints the one-line summary', async () => {
    const ok = await vmsg('decode', '--hex', hexOf('t_get_vqueue_req'));
    expect([ok.status, ok.stdout]).toEqual([0, 'REQ  GET_VQUEUE dev=1 tok=9 size=12 index=0\n']);
    const bad = await vmsg('decode', '--hex', hexOf('bad_response_to_event'));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^INVALID RESPONSE_TO_EVENT: /);
  });
});

describe('vmsg decode with bad arguments exits 2 and says which flag and what it accepts', () => {
  const cases: [string, string[], RegExp][] = [
    ['odd-length hex', ['--hex', '0002010'], /--hex: odd number of hex digits \(7\)/],
    ['non-hex characters', ['--hex', '00g2'], /--hex: "g" at position 2 is not a hex digit/],
    ['spaces inside the hex', ['--hex', '00 02'], /--hex: whitespace at position 2/],
    ['a 0x prefix', ['--hex', '0x0002'], /--hex: drop the "0x" prefix/],
    ['an unknown flag', ['--hex', '00', '--verbose'], /unknown option --verbose; options: --hex, --max-size, --direction, --profile/],
    ['a misspelt flag', ['--hex', '00', '--jsn'], /unknown option --jsn; did you mean --json\? \(vmsg decode --help\)\n$/],
    ['--max-size below 8', ['--hex', '00', '--max-size', '7'], /--max-size needs an integer from 8 to 65535, got "7"/],
    ['--max-size above 65535', ['--hex', '00', '--max-size', '65536'], /--max-size needs an integer from 8 to 65535/],
    ['--max-size not an integer', ['--hex', '00', '--max-size', '2.5e2'], /--max-size needs an integer from 8 to 65535, got "2.5e2"/],
    ['an unknown direction', ['--hex', '00', '--direction', 'up'], /--direction must be one of driver_to_device, device_to_driver, got "up"/],
    ['an unknown profile', ['--hex', '00', '--profile', 'rev2'], /--profile must be one of rev1, rev1-2026/],
    ['a flag without its value', ['--hex'], /--hex needs a value/],
    ['no --hex at all', ['--json'], /missing --hex HEX/],
    ['a capture file that does not exist', ['no-such-file.vmc'], /cannot read capture no-such-file\.vmc: no such file or directory; check the path/],
    ['a frame split by spaces', ['--hex', '00', '02', '01'], /--hex takes the frame as one word of hex digits, without spaces: --hex 000201/],
    ['a capture file and --hex', ['frames.vmc', '--hex', '00'], /either --hex HEX or a capture file/],
    ['a capture filter with --hex', ['--hex', '0002010001000800', '--dev', '1'], /--dev filters capture files/],
    ['a bad --msg filter', ['frames.vmc', '--msg', 'GET-INFO'], /--msg needs a message name \(GET_DEVICE_INFO, /],
  ];
  it.each(cases)('%s', async (_, args, message) => {
    const r = await vmsg('decode', ...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^vmsg decode: /);
    expect(r.stderr.trimEnd().split('\n'), 'one line').toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('--help prints usage and exits 0', async () => {
    const r = await vmsg('decode', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: vmsg decode --hex HEX/);
  });
});

describe('vmsg dispatcher', () => {
  it('--help lists the commands', async () => {
    const r = await vmsg('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}decode /m);
    expect(r.stdout).toMatch(/^ {2}demo /m);
  });

  it('an unknown command exits 2 naming it, the likely one and the commands there are', async () => {
    const r = await vmsg('decoed', '--hex', '00');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^vmsg: unknown command "decoed"; did you mean "decode"\? commands: (\w[\w-]*, )*decode, (\w[\w-]*, )*demo\b/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    const far = await vmsg('launch');
    expect(far.stderr).not.toMatch(/did you mean/);
  });

  it('a reader that went away (`vmsg decode run.vmc | head`) ends it quietly, no EPIPE stack trace', async () => {
    // The read end is closed before the child writes: its write fails with EPIPE.
    const child = spawn(process.execPath, [MAIN, 'decode', '--hex', '0002010000010800'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });

  it('no command at all is a usage error', async () => {
    const r = await vmsg();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: vmsg <command>/);
  });
});
