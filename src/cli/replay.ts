// `vmsg replay FILE.vmc --target URI [--speed X]`: re-send the driver side of a capture and
// compare the answers with the captured ones (src/capture/replay.ts). Exit status 0 all match,
// 1 differences, 2 bad arguments, an unreadable capture or a target that cannot be opened.
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { EXIT_USAGE, usageLine } from './exit.js';
import { checkInputFile } from './startup-checks.js';
import { fsReason, isFsError } from '../util/fs-reason.js';
import { processIo, openTarget, numberFlag, NumberFlagError, type ToolIo } from './tool-io.js';
import { replayCapture, replayMatched, formatReplayText, ReplayOptionsError } from '../capture/replay.js';
import { CaptureFormatError } from '../capture/vmc.js';

const FLAGS = {
  target: { kind: 'string', value: 'URI', help: 'the device-side bus to replay against' },
  speed: { kind: 'string', value: 'X', help: 'time scaling: 1 = as recorded (default), 2 = twice as fast, 0 = as fast as the bus takes them' },
  link: { kind: 'integer', value: 'L', min: 0, max: 65535, help: 'replay only driver link L of the capture (default: every driver link)' },
  timeout: { kind: 'integer', value: 'MS', min: 1, max: 600_000, help: 'how long the last answers may take (default 2000)' },
  json: { kind: 'boolean', help: 'print the report as one JSON object' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

const USAGE = `usage: vmsg replay FILE.vmc --target URI [--speed X] [--link L] [--json]

Sends what the capture's drivers sent (requests, events, malformed frames, as recorded) through
the target bus, at the recorded pace scaled by --speed, and compares every answer with the
captured one by per-device order, msg_id, dev_num, type, msg_size and payload; tokens may
differ (the bus owns them). Reports matches, differences, missing answers and order
violations. Exit status: 0 everything matched, 1 differences, 2 bad arguments.

options:
${optionsHelp(FLAGS)}

example:
  vmsg route --driver-link unix-listen:/tmp/bus.sock --device echo:1 &
  vmsg replay run.vmc --target unix:/tmp/bus.sock --speed 0
`;

export async function runReplay(argv: string[], io: ToolIo): Promise<number> {
  let flags, file: string, speed: number | undefined;
  try {
    const parsed = parseArgs(argv, FLAGS);
    flags = parsed.flags;
    if (flags.help) {
      io.out(USAGE);
      return 0;
    }
    if (parsed.positionals.length !== 1) throw new UsageError(`needs one capture file (FILE.vmc), got ${parsed.positionals.length}`);
    file = parsed.positionals[0]!;
    if (flags.target === undefined) throw new UsageError('missing --target URI (the bus to replay against)');
    speed = numberFlag('--speed', flags.speed, 0, 1e6);
    checkInputFile(file, 'capture');
  } catch (e) {
    if (!(e instanceof UsageError) && !(e instanceof NumberFlagError)) throw e;
    io.err(usageLine('replay', e.message));
    return EXIT_USAGE;
  }
  const channel = await openTarget(io, 'replay', flags.target);
  if (typeof channel === 'number') return channel;
  try {
    const report = await replayCapture(file, channel, { speed, links: flags.link === undefined ? undefined : [flags.link], timeoutMs: flags.timeout });
    io.out(flags.json ? JSON.stringify(report) + '\n' : formatReplayText(report));
    return replayMatched(report) ? 0 : 1;
  } catch (e) {
    if (isFsError(e)) {
      io.err(usageLine('replay', `cannot read ${file}: ${fsReason(e)}`));
      return EXIT_USAGE;
    }
    if (!(e instanceof CaptureFormatError) && !(e instanceof ReplayOptionsError)) throw e;
    io.err(usageLine('replay', (e as Error).message));
    return EXIT_USAGE;
  } finally {
    await channel.close();
  }
}

export function run(argv: string[]): Promise<number> {
  return runReplay(argv, processIo('replay'));
}
