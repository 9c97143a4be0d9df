// `vmsg bench` with traffic profiles and reports (README "Load tool"): the load engine (src/loadgen/) on a
// --target bus, with the human table, --json, --csv, --report out.html, --compare baseline and
// a live progress line on a terminal. It keeps the original `vmsg bench` contract: `--mode init|ping|avail
// --dev D --count N --outstanding K --json` prints a JSON object with mode, sent, received,
// errors, order_violations, seconds, round_trips_per_s, p50_us, p99_us (and more), and the exit
// status is 0 only when errors and order violations are both 0 (2 for bad arguments).
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { EXIT_FAILURE, EXIT_USAGE, usageLine } from './exit.js';
import { checkInputFile, checkOutputFile } from './startup-checks.js';
import { onStopSignal } from './stop-signals.js';
import { processIo, openTarget, numberFlag, NumberFlagError, type ToolIo } from './tool-io.js';
import { runLoad, LoadOptionsError, type LoadOptions } from '../loadgen/engine.js';
import { Exchange } from '../client/exchange.js';
import { discoverDevices } from '../client/discovery.js';
import { PROFILE_NAMES, PROFILE_HELP, type ProfileSpec } from '../loadgen/profiles.js';
import { loadProfileFile } from '../loadgen/profile-file.js';
import { formatTable } from '../loadgen/report-table.js';
import { formatCsv } from '../loadgen/report-csv.js';
import { formatHtml, resultFromHtml } from '../loadgen/report-html.js';
import { compare, formatComparison, asLoadResult } from '../loadgen/compare.js';
import { progressLine } from '../loadgen/progress.js';
import { passed, type LoadResult } from '../loadgen/result.js';
import { JsonFieldError } from '../util/json-fields.js';
import { parseThreshold, checkThresholds, formatThresholds, ThresholdError, type Threshold } from '../loadgen/thresholds.js';
import { gitCommit, toolVersion } from '../util/provenance.js';
import { withModelParam } from '../bus/uri.js';

const CONTRACT_MODES = ['init', 'ping', 'avail'] as const;

const FLAGS = {
  target: { kind: 'string', value: 'URI', help: 'the device-side bus to load: vmamp:..., spsc:..., unix:..., tcp:...' },
  profile: { kind: 'choice', choices: PROFILE_NAMES, help: 'traffic profile (see below)' },
  mode: { kind: 'choice', choices: CONTRACT_MODES, help: 'the same as --profile for init, ping, avail (vmsg bench contract)' },
  'profile-file': { kind: 'string', value: 'FILE', help: 'a JSON profile file: profile, mix weights, config window, load settings (flags override it)' },
  dev: { kind: 'string', value: 'D[,D...]', help: 'devices to drive (default: every device GET_DEVICES reports)' },
  devices: { kind: 'integer', value: 'N', min: 1, max: 65536, help: 'without --dev: the first N devices GET_DEVICES reports' },
  count: { kind: 'integer', value: 'N', min: 1, max: Number.MAX_SAFE_INTEGER, help: 'measured operations to send (instead of --duration)' },
  duration: { kind: 'string', value: 'S', help: 'measured seconds (default 5)' },
  warmup: { kind: 'string', value: 'S', help: 'seconds of unmeasured traffic first (default: 0 with --count, else min(1, duration/5))' },
  outstanding: { kind: 'integer', value: 'K', min: 1, max: 32768, help: 'closed loop: operations in flight per device (default 8; init-storm 1); open loop: the most per device' },
  rate: { kind: 'string', value: 'R', help: 'open loop: R operations per second over all devices, latency from intended send times' },
  timeout: { kind: 'integer', value: 'MS', min: 1, max: 3_600_000, help: 'an unanswered operation is an error after MS (default 2000)' },
  model: { kind: 'string', value: 'NAME|FILE', help: 'the target seen through a bus model (its slots, frame size, window, tokens, notification cost): the same as model= on the URI' },
  json: { kind: 'boolean', help: 'print the result as one JSON object' },
  csv: { kind: 'boolean', help: 'print the result as CSV (a header line and one row)' },
  report: { kind: 'string', value: 'FILE.html', help: 'also write a self-contained HTML report with charts' },
  compare: { kind: 'string', value: 'BASELINE', help: 'compare with a saved result (--json output or --report page)' },
  'fail-on': { kind: 'choice', choices: ['worse'], help: 'with --compare: exit 1 when throughput, a latency figure or a correctness counter is worse than the baseline beyond noise' },
  'min-effect': { kind: 'string', value: 'PCT', help: 'with --compare: changes under PCT % count as the same even beyond noise (default 10: drift between runs)' },
  threshold: { kind: 'list', value: 'EXPR', help: "pass/fail rule, repeatable: 'p99<2ms', 'errors==0', 'throughput>=50k', 'error_rate<0.001'; exit 1 when one fails" },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

const USAGE = `usage: vmsg bench --target URI (--profile NAME | --mode init|ping|avail | --profile-file FILE)
                  [--dev D,...] [--count N | --duration S] [--warmup S] [--outstanding K] [--rate R]
                  [--json | --csv] [--report out.html] [--compare baseline.json [--fail-on worse] [--min-effect PCT]]
                  [--threshold EXPR]...

Drives a device-side bus as a driver with a traffic profile and verifies every answer (response
bit, msg_id, dev_num, token, order per device). Closed loop by default (K operations in flight
per device); --rate R makes it open loop. Latency is recorded in HdrHistograms: p50, p90, p99,
p99.9, max. A progress line is drawn on standard error when it is a terminal.
Exit status: 0 when errors and order violations are both 0, every --threshold holds and (with
--fail-on worse) no figure is worse than the baseline beyond its noise band; 1 otherwise; 2 bad
arguments. Noise bands: each run is bootstrapped over its timeline intervals (99 % of 2000 draws).

profiles:
${PROFILE_NAMES.map((p) => `  ${p.padEnd(13)} ${PROFILE_HELP[p]}`).join('\n')}

options:
${optionsHelp(FLAGS)}

examples:
  vmsg route --driver-link unix-listen:/tmp/bus.sock --device echo:1 &
  vmsg bench --target unix:/tmp/bus.sock --profile ping --duration 5
  vmsg bench --target unix:/tmp/bus.sock --dev 1 --mode init --count 10000 --outstanding 8 --json
`;

function devList(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',');
  const devs = parts.map((p) => (/^\d{1,5}$/.test(p.trim()) ? Number(p.trim()) : NaN));
  if (devs.some((d) => !(d >= 0 && d <= 65535))) throw new UsageError(`--dev needs device numbers 0..65535 separated by commas, got "${text}"`);
  return devs;
}

async function readBaseline(path: string): Promise<LoadResult> {
  const text = await readFile(path, 'utf8');
  const doc = text.trimStart().startsWith('<') ? resultFromHtml(text) : (JSON.parse(text) as unknown);
  return asLoadResult(doc, path);
}

export async function runBenchLoad(argv: string[], io: ToolIo, signal?: AbortSignal): Promise<number> {
  let flags;
  let opts: LoadOptions;
  let baseline: LoadResult | undefined;
  let thresholds: Threshold[] = [];
  let minEffect: number | undefined;
  try {
    ({ flags } = parseArgs(argv, FLAGS));
    if (flags.help) {
      io.out(USAGE);
      return 0;
    }
    if (flags.target === undefined) throw new UsageError('missing --target URI (the bus to load)');
    const named = [flags.profile, flags.mode, flags['profile-file']].filter((x) => x !== undefined);
    if (named.length === 0) throw new UsageError(`say what to send: --profile ${PROFILE_NAMES.join('|')}, --mode ${CONTRACT_MODES.join('|')} or --profile-file FILE`);
    if (named.length > 1) throw new UsageError('give one of --profile, --mode and --profile-file');
    if (flags.json && flags.csv) throw new UsageError('give --json or --csv, not both');
    if (flags.count !== undefined && flags.duration !== undefined) throw new UsageError('give --count or --duration, not both');
    let profile: ProfileSpec;
    let fromFile: Partial<LoadOptions> = {};
    if (flags['profile-file'] !== undefined) {
      const f = await loadProfileFile(flags['profile-file']);
      profile = f.profile;
      fromFile = f.load;
    } else {
      const name = flags.profile ?? flags.mode!;
      if (name === 'mixed') throw new UsageError('the mixed profile takes its weights from a file: --profile-file FILE');
      profile = { name };
    }
    const rate = numberFlag('--rate', flags.rate, 0.001, 1e9);
    const durationS = numberFlag('--duration', flags.duration, 0.001, 7 * 86400);
    const warmupS = numberFlag('--warmup', flags.warmup, 0, 86400);
    const devices = devList(flags.dev);
    // Flags over the file; a count on the command line replaces a file's duration and the other way round.
    opts = { ...fromFile, profile };
    if (flags.count !== undefined || durationS !== undefined) {
      delete opts.count;
      delete opts.durationS;
    }
    const set = <K extends keyof LoadOptions>(k: K, v: LoadOptions[K] | undefined): void => {
      if (v !== undefined) opts[k] = v;
    };
    set('count', flags.count);
    set('durationS', durationS);
    set('warmupS', warmupS);
    set('outstanding', flags.outstanding);
    set('timeoutMs', flags.timeout);
    set('devices', devices);
    set('maxDevices', flags.devices);
    if (rate !== undefined) {
      opts.rate = rate;
      opts.loop = 'open';
    }
    thresholds = flags.threshold.map(parseThreshold);
    minEffect = numberFlag('--min-effect', flags['min-effect'], 0, 1e6);
    if (flags.compare === undefined && (flags['fail-on'] !== undefined || minEffect !== undefined)) throw new UsageError(`--${flags['fail-on'] !== undefined ? 'fail-on' : 'min-effect'} needs --compare BASELINE`);
    // Before the load: a report that cannot be written must not cost a whole run.
    if (flags.report !== undefined) checkOutputFile(flags.report, '--report', 'report.html');
    if (flags.compare !== undefined) {
      checkInputFile(flags.compare, '--compare baseline');
      try {
        baseline = await readBaseline(flags.compare);
      } catch (e) {
        throw new UsageError(`--compare ${flags.compare}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    if (!(e instanceof UsageError) && !(e instanceof NumberFlagError) && !(e instanceof JsonFieldError) && !(e instanceof ThresholdError)) throw e;
    io.err(usageLine('bench', e.message));
    return EXIT_USAGE;
  }
  const channel = await openTarget(io, 'bench', flags.model === undefined ? flags.target : withModelParam(flags.target, flags.model));
  if (typeof channel === 'number') return channel;
  if (opts.devices !== undefined) {
    // A device the bus does not have only fails or times out, request after request: say so first.
    const known = await discoverDevices(new Exchange(channel), 2000).catch(() => undefined);
    const missing = known === undefined ? [] : opts.devices.filter((d) => !known.includes(d));
    if (missing.length > 0) io.err(`vmsg bench: warning: device ${missing.join(', ')} is not on this bus (GET_DEVICES reports ${known!.join(', ') || 'none'}); its requests will fail or time out\n`);
  }
  const progress = progressLine(io.progressStream, opts.profile.name);
  let result: LoadResult;
  try {
    result = await runLoad(channel, { ...opts, signal, onProgress: (p) => progress.update(p) });
  } catch (e) {
    if (!(e instanceof LoadOptionsError)) {
      io.err(`vmsg bench: ${(e as Error).message}\n`);
      return e instanceof RangeError ? EXIT_USAGE : EXIT_FAILURE;
    }
    io.err(usageLine('bench', e.message));
    return EXIT_USAGE;
  } finally {
    progress.stop();
    await channel.close();
  }
  result.run = { command: ['vmsg', 'bench', ...argv].map(shellWord).join(' '), target: flags.target, tool_version: toolVersion(), commit: gitCommit() };
  const comparison = baseline === undefined ? undefined : compare(baseline, result, { minEffectPct: minEffect });
  const checks = checkThresholds(result, thresholds);
  const regressed = flags['fail-on'] === 'worse' && comparison !== undefined && comparison.regressions.length > 0;
  const failures = [
    ...(passed(result) ? [] : [`${result.errors} errors, ${result.order_violations} order violations`]),
    ...checks.filter((c) => !c.ok).map((c) => `threshold ${c.text} failed`),
    ...(regressed ? comparison!.regressions.map((m) => `${m} worse than the baseline`) : []),
  ];
  const gate = { passed: failures.length === 0, failures };
  // Side reports go to stderr when stdout carries a machine format.
  const side = flags.json || flags.csv ? io.err : io.out;
  if (flags.json) io.out(JSON.stringify({ ...result, ...(comparison === undefined ? {} : { comparison }), ...(checks.length === 0 ? {} : { thresholds: checks }), gate }) + '\n');
  else if (flags.csv) io.out(formatCsv(result));
  else io.out(formatTable(result));
  if (comparison !== undefined && !flags.json) side(formatComparison(comparison));
  if (checks.length > 0 && !flags.json) side(formatThresholds(checks));
  if (flags.report !== undefined) {
    await writeFile(flags.report, formatHtml(result, { baseline, comparison, thresholds: checks }));
    io.err(`vmsg bench: report written to ${flags.report}\n`);
  }
  if (!gate.passed) io.err(`vmsg bench: FAIL: ${failures.join('; ')}\n`);
  return gate.passed ? 0 : 1;
}

/** A word of the command line as a POSIX shell would need it typed. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The bin's entry: Ctrl-C (or SIGTERM) stops sending, collects what is in flight and reports. */
export async function run(argv: string[]): Promise<number> {
  const stop = new AbortController();
  const stopListening = onStopSignal(() => stop.abort());
  try {
    return await runBenchLoad(argv, processIo('bench'), stop.signal);
  } finally {
    stopListening();
  }
}
