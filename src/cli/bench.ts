// `vmsg bench --target URI --dev D --mode init|ping|avail --count N --outstanding K [--json]`
// (README "CLI", a contract other tools rely on): drive an external device-side bus as a driver and verify every
// answer (src/driver/frame-bench.ts). Prints
//   {"mode":..,"sent":..,"received":..,"errors":..,"order_violations":..,"seconds":..,"round_trips_per_s":..,"p50_us":..,"p99_us":..}
// with --json, else the same as aligned lines. Exit status 0 only when errors and order
// violations are 0; 1 otherwise (or when the target cannot be opened); 2 bad arguments.
import { parseArgs, UsageError } from './args.js';
import { EXIT_USAGE, usageLine } from './exit.js';
import { openTarget, processIo } from './tool-io.js';
import { withModelParam } from '../bus/uri.js';
import { ModelChannel } from '../bus/model/model-channel.js';
import { BENCH_MODES, runFrameBench, type BenchMode } from '../driver/frame-bench.js';

const FLAGS = {
  target: { kind: 'string', value: 'URI', help: 'the device-side bus: vmamp:PATH?size=BYTES[&sock=SOCK], spsc:PATH?..., unix:PATH, tcp:HOST:PORT' },
  dev: { kind: 'integer', value: 'D', min: 0, max: 65535, help: 'device number to drive (init, avail)' },
  mode: { kind: 'choice', choices: BENCH_MODES, help: 'init: the virtio initialisation sequence; ping: bus PINGs; avail: EVENT_AVAIL → EVENT_USED' },
  count: { kind: 'integer', value: 'N', min: 1, max: 1e9, help: 'frames to send' },
  outstanding: { kind: 'integer', value: 'K', min: 1, max: 65535, help: 'frames in flight at most' },
  model: { kind: 'string', value: 'NAME|FILE', help: 'the target seen through a bus model (its slots, frame size, window, tokens, notification cost): the same as model= on the URI' },
  json: { kind: 'boolean', help: 'print the result as one JSON object' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

/**
 * Flags of the load tool (src/cli/bench-load.ts: profiles, open loop, reports). A command line
 * with any of them, or without --mode, is the load tool's; the contract form stays exactly as is.
 */
const LOAD_TOOL_FLAGS = new Set(['--profile', '--profile-file', '--duration', '--warmup', '--rate', '--csv', '--report', '--compare', '--devices', '--timeout', '--threshold', '--fail-on', '--min-effect']);

export async function run(argv: string[]): Promise<number> {
  const flagNames = argv.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!);
  // One help for both forms: the load tool's usage covers the contract flags too.
  if (flagNames.includes('--help') || argv.includes('-h')) return (await import('./bench-load.js')).run(['--help']);
  if (flagNames.some((f) => LOAD_TOOL_FLAGS.has(f)) || !flagNames.includes('--mode')) return (await import('./bench-load.js')).run(argv);
  let target: string, dev: number, mode: BenchMode, count: number, outstanding: number, json: boolean;
  try {
    const { flags, positionals } = parseArgs(argv, FLAGS);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const missing = (['target', 'dev', 'mode', 'count', 'outstanding'] as const).filter((k) => flags[k] === undefined);
    if (missing.length > 0) throw new UsageError(`missing ${missing.map((k) => `--${k}`).join(', ')}; usage: vmsg bench --target URI --dev D --mode init|ping|avail --count N --outstanding K [--json]`);
    target = flags.model === undefined ? flags.target! : withModelParam(flags.target!, flags.model);
    dev = flags.dev!;
    mode = flags.mode!;
    count = flags.count!;
    outstanding = flags.outstanding!;
    json = flags.json;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(usageLine('bench', e.message));
      return EXIT_USAGE;
    }
    throw e;
  }
  const channel = await openTarget(processIo('bench'), 'bench', target);
  if (typeof channel === 'number') return channel;
  let result;
  try {
    result = await runFrameBench(channel, { mode, dev, count, outstanding });
  } finally {
    await channel.close();
  }
  // Through a bus model: what the model did (window waits, frames too large for the bus, ...).
  if (channel instanceof ModelChannel) Object.assign(result, { bus_model: { name: channel.model.name, ...channel.counters() } });
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
  else for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(18)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
  return result.errors === 0 && result.order_violations === 0 ? 0 : 1;
}
