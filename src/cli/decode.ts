// `vmsg decode`: decode and validate frames (spec §3–§8) — one JSON object or one summary line
// per frame. Exit status 0 all valid, 1 some invalid, 2 bad arguments.
import { parseArgs, optionsHelp, UsageError, type Parsed } from './args.js';
import { validate, toJson, summary, DIRECTIONS, PROFILES, BUS_MAX_RECOMMENDED, MSG_SIZE_MIN, MSG_SIZE_LIMIT } from '../protocol/index.js';
import type { ValidateContext } from '../protocol/index.js';

const FLAGS = {
  hex: { kind: 'hex', value: 'HEX', help: 'the frame: hex digits, two per byte, no spaces or 0x (e.g. 0002010001000800)' },
  'max-size': { kind: 'integer', value: 'N', min: MSG_SIZE_MIN, max: MSG_SIZE_LIMIT, help: `bus maximum message size (default ${BUS_MAX_RECOMMENDED})` },
  direction: { kind: 'choice', choices: DIRECTIONS, help: 'check that the message may travel this way (default: not checked)' },
  profile: { kind: 'choice', choices: PROFILES, help: 'payload layouts: PR28/PATCH v1 or the 2026 deltas (default rev1)' },
  'getdev-alt': { kind: 'boolean', help: 'GET_DEVICES response in the 2026 Linux field order offset,next_offset,count' },
  json: { kind: 'boolean', help: 'print one JSON object per frame instead of a summary line' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

type DecodeFlags = Parsed<typeof FLAGS>;

const USAGE = `usage: vmsg decode --hex HEX [--max-size N] [--direction driver_to_device|device_to_driver] [--profile rev1|rev1-2026] [--json]

Decodes one virtio-msg frame and checks it against the bus and endpoint rules.
Prints {"valid":true,"type":..,"msg_id":..,"dev_num":..,"token":..,"msg_size":..,"message":"GET_DEVICE_INFO","response":false,...fields}
or {"valid":false,"reason":"<CODE>","detail":"..."} with --json, else one summary line.
Exit status: 0 valid, 1 invalid, 2 bad arguments.

options:
${optionsHelp(FLAGS)}
`;

export async function run(argv: string[]): Promise<number> {
  let flags: DecodeFlags;
  let frames: Uint8Array[];
  try {
    const parsed = parseArgs(argv, FLAGS);
    flags = parsed.flags;
    if (flags.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    frames = framesToDecode(flags, parsed.positionals);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`vmsg decode: ${e.message}\n(vmsg decode --help for usage)\n`);
    return 2;
  }
  const ctx: ValidateContext = {
    busMaxSize: flags['max-size'] ?? BUS_MAX_RECOMMENDED,
    direction: flags.direction,
    profile: flags.profile ?? 'rev1',
    getdevAlt: flags['getdev-alt'],
  };
  let status = 0;
  for (const frame of frames) {
    const r = validate(frame, ctx);
    if (!r.ok) status = 1;
    const line = flags.json ? JSON.stringify(toJson(r, { profile: ctx.profile })) : summary(r, { profile: ctx.profile });
    process.stdout.write(line + '\n');
  }
  return status;
}

/**
 * The frames to decode. Today one, from --hex. Capture files (`vmsg decode file.vmc`) plug in
 * here: read the positional path and return its frames (each then printed on its own line).
 */
function framesToDecode(flags: DecodeFlags, positionals: string[]): Uint8Array[] {
  if (positionals.length > 0) {
    throw new UsageError(`capture files are not supported yet (got "${positionals[0]}"); give one frame with --hex HEX`);
  }
  if (flags.hex === undefined) throw new UsageError('missing --hex HEX: the frame to decode, e.g. --hex 0002010001000800');
  return [flags.hex];
}
