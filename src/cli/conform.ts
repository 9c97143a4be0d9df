// `vmsg conform --target URI [--dev D] [--json]`: the conformance checker (src/conform/) against
// a device-side bus. Exit status 0 when no rule fails, 1 when one does, 2 for bad arguments or
// a target that cannot be opened.
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { EXIT_USAGE, usageLine } from './exit.js';
import { processIo, openTarget, type ToolIo } from './tool-io.js';
import { runConformance, checkConformOptions, formatConformText, RULES, ConformOptionsError } from '../conform/runner.js';
import { PROFILES } from '../protocol/codec.js';

const FLAGS = {
  target: { kind: 'string', value: 'URI', help: 'the device-side bus to check (a device, or a router in front of devices): vmamp:..., spsc:..., unix:..., tcp:...' },
  dev: { kind: 'integer', value: 'D', min: 0, max: 65535, help: 'device under test (default: the first GET_DEVICES reports)' },
  json: { kind: 'boolean', help: 'print the report as one JSON object' },
  profile: { kind: 'choice', choices: PROFILES, help: 'payload layouts: PR28 / PATCH v1 (rev1, default) or the 2026 deltas' },
  timeout: { kind: 'integer', value: 'MS', min: 1, max: 600_000, help: 'longest wait for an answer (default 3000; must exceed the bus\'s own request timeout)' },
  quiet: { kind: 'integer', value: 'MS', min: 1, max: 600_000, help: 'how long to listen for frames that must not come (default 200)' },
  only: { kind: 'string', value: 'PREFIX[,PREFIX]', help: 'run only rules whose id starts with one of these (e.g. bus, device.reset)' },
  'queue-base': { kind: 'string', value: 'ADDR', help: 'guest address (hex, 4096-aligned) of 12 KiB the device can reach, for the virtqueue check (default 0x100000000, as vmsg route\'s built-in devices)' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

const USAGE = `usage: vmsg conform --target URI [--dev D] [--json] [--profile rev1|rev1-2026] [--only PREFIX,...]

Drives a device-side bus as a driver through the normative rules it can observe and prints
PASS, FAIL or SKIP per rule with its place in docs/PROTOCOL.md: bus rules of §7 (order
per device, exactly one answer, PING echo, GET_DEVICES windows, malformed frames dropped, no
answer to events, unvalidated device numbers) and device rules of §8 (reset, features,
FEATURES_OK, virtqueue setup, config generation, malformed requests). Rules that cannot apply
are skipped with the reason. Exit status: 0 no rule failed, 1 a rule failed, 2 bad arguments.

rules:
${RULES.map((r) => `  ${r.section.padEnd(12)} ${r.id}`).join('\n')}

options:
${optionsHelp(FLAGS)}

example:
  vmsg route --driver-link unix-listen:/tmp/bus.sock --device entropy:1 &
  vmsg conform --target unix:/tmp/bus.sock --dev 1
`;

export async function runConform(argv: string[], io: ToolIo): Promise<number> {
  let flags;
  try {
    ({ flags } = parseArgs(argv, FLAGS));
    if (flags.help) {
      io.out(USAGE);
      return 0;
    }
    if (flags.target === undefined) throw new UsageError('missing --target URI (the bus to check)');
    if (flags['queue-base'] !== undefined && !/^0x[0-9a-f]{1,16}$/i.test(flags['queue-base'])) throw new UsageError(`--queue-base needs a hex guest address such as 0x100000000, got "${flags['queue-base']}"`);
    if (flags['queue-base'] !== undefined && BigInt(flags['queue-base']) % 4096n !== 0n) throw new UsageError(`--queue-base must be 4096-aligned (a multiple of 0x1000), got ${flags['queue-base']}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(usageLine('conform', e.message));
    return EXIT_USAGE;
  }
  const only = flags.only?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const queueBase = flags['queue-base'] === undefined ? undefined : BigInt(flags['queue-base']);
  // Before the target: a rule prefix that names nothing is the command line's mistake.
  try {
    checkConformOptions({ dev: flags.dev, profile: flags.profile, timeoutMs: flags.timeout, quietMs: flags.quiet, only, queueBase });
  } catch (e) {
    if (!(e instanceof ConformOptionsError)) throw e;
    io.err(usageLine('conform', e.message));
    return EXIT_USAGE;
  }
  const channel = await openTarget(io, 'conform', flags.target);
  if (typeof channel === 'number') return channel;
  try {
    const report = await runConformance(channel, { dev: flags.dev, profile: flags.profile, timeoutMs: flags.timeout, quietMs: flags.quiet, only, queueBase }, flags.target);
    io.out(flags.json ? JSON.stringify(report) + '\n' : formatConformText(report));
    return report.summary.fail === 0 ? 0 : 1;
  } catch (e) {
    if (!(e instanceof ConformOptionsError)) throw e;
    io.err(usageLine('conform', e.message));
    return EXIT_USAGE;
  } finally {
    await channel.close();
  }
}

export function run(argv: string[]): Promise<number> {
  return runConform(argv, processIo('conform'));
}
