// `vmsg route [--driver-link URI]... [--device-link URI]... [--device KIND:DEVNUM[?opts]]... [--duration S]`
// (README "CLI", a contract other tools rely on): run a router between separately running programs.
//   --driver-link  an external driver (vmamp/spsc: we are the device side, role=device);
//   --device-link  an external device-side bus; its devices are discovered with GET_DEVICES and
//                  keep their numbers unless taken (then remapped: src/bus/remap.ts);
//   --device       a built-in device (src/cli/device-kinds.ts), attached first.
// Each link waits for its peer; a link that goes down (peer shut down or died) is reported and
// opened again for the next peer. SIGINT/SIGTERM (or --duration) stop gracefully: links close,
// requests in flight drain, and the final counters are printed (one JSON line on stdout).
// Events go to stderr, one line each. Exit status 0; 1 when a link cannot be opened; 2 bad arguments.
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { CommandFailure, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, debugEnabled, internalErrorText, usageLine } from './exit.js';
import { checkListenSocket, checkOutputFile, checkPortFree } from './startup-checks.js';
import { listenHost } from '../bus/stream-socket.js';
import type { Router } from '../router/router.js';
import { wasmBuild } from '../wasm/module.js';
import { checkLinkUri } from '../bus/check-link.js';
import { checkWindowPath, WindowInUseError, WindowPathError, type WindowScheme } from '../bus/window-file.js';
import { LinkUriError, parseLinkUri } from '../bus/uri.js';
import { shardBudget } from './shard-budget.js';
import type { BusLink } from '../bus/bus-link.js';
import { DEVICE_KINDS, parseDeviceSpec, checkDeviceSpec, DeviceSpecError, startBuiltinDevices, type DeviceSpec, type RunningDevices } from '../device/builtin-devices.js';
import { ConfigReadError, loadRouteConfig, mergeRouteConfig, parseListenAddress, type RouteConfig, type RouteConfigOverrides } from '../ops/route-config.js';
import type { MetricsServer } from '../ops/metrics.js';
import { createLogger, LOG_LEVELS } from '../ops/logger.js';
import { JsonFieldError } from '../util/json-fields.js';
import { resolveRouterOptions, type RouterOptions } from '../router/options.js';
import { checkCpusUsable } from '../native/cpu-affinity.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { checkClusterOptions, ClusterOptionError, parseAdvertise } from '../cluster/cluster-options.js';
import { registerClusterMetrics } from '../cluster/cluster-metrics.js';

/**
 * Request timeout of `vmsg route`: longer than the library's 1 s, because an external driver is
 * not told about a transport failure (failure events are off on wire links) — a request that
 * times out simply never gets its answer, so a slow external device must not trigger it.
 */
const DEFAULT_TIMEOUT_MS = 10_000;

const FLAGS = {
  'driver-link': { kind: 'list', value: 'URI', help: 'attach an external driver (repeatable): vmamp:PATH?size=BYTES[&sock=SOCK], spsc:PATH?..., unix-listen:PATH, tcp-listen:[HOST:]PORT' },
  'device-link': { kind: 'list', value: 'URI', help: 'attach an external device-side bus (repeatable): vmamp:PATH?size=BYTES[&sock=SOCK], spsc:..., unix:PATH, tcp:HOST:PORT' },
  device: { kind: 'list', value: 'KIND:DEVNUM[?opts]', help: `built-in device (repeatable); kinds: ${Object.keys(DEVICE_KINDS).join(', ')}` },
  duration: { kind: 'string', value: 'S', help: 'stop after S seconds (default: until SIGINT/SIGTERM)' },
  shards: { kind: 'integer', value: 'N', min: 1, max: 64, help: 'router shards (worker threads); default one, or one per core with a stream link; never more than the cores busy-poll peers leave free' },
  'busy-poll-spins': { kind: 'integer', value: 'N', min: 0, max: 1 << 20, help: 'with busy-poll links (no sock=): empty passes a shard spins at most for an answer from another CPU before it yields the CPU between looks (default 32 when shards and polling peers outnumber the CPUs, else 0: yield at once)' },
  'busy-poll-seek': { kind: 'choice', choices: ['on', 'off'], help: 'with busy-poll links: each shard moves itself to the CPU where it routes most (default on when shards and polling peers outnumber the CPUs)' },
  'shard-cpus': { kind: 'string', value: 'CPU[,CPU]...', help: 'pin shard i to the i-th listed CPU (cycling); built-in echo devices keep off those CPUs; not with --busy-poll-seek on' },
  'timeout-ms': { kind: 'integer', value: 'MS', min: 1, max: 86_400_000, help: `a request unanswered this long fails (default ${DEFAULT_TIMEOUT_MS}; external drivers get no failure event, so generous)` },
  config: { kind: 'string', value: 'FILE', help: 'JSON config file with any of these options (README "Config file"); flags given here win' },
  capture: { kind: 'string', value: 'FILE.vmc', help: 'record every frame crossing the router (vmsg decode / export-pcapng / replay read it)' },
  metrics: { kind: 'string', value: '[HOST:]PORT', help: 'serve Prometheus metrics of every router counter at http://HOST:PORT/metrics (HOST default 127.0.0.1: this host only)' },
  'log-level': { kind: 'choice', choices: LOG_LEVELS, help: 'structured JSON logs (pino) on stderr at this level instead of plain lines' },
  cluster: { kind: 'string', value: 'nats://HOST:PORT', help: 'join a cluster: the device directory in this NATS server\'s JetStream KV (README "Cluster"); needs --node' },
  node: { kind: 'string', value: 'NAME', help: 'this router\'s name in the cluster (letters, digits, - and _)' },
  advertise: { kind: 'string', value: 'tcp:HOST:PORT|tls:HOST:PORT?cert=&key=&ca=', help: 'serve this router\'s devices to the cluster here (without it the router only imports)' },
  'cluster-creds': { kind: 'string', value: 'FILE', help: 'NATS credentials: a .creds file or an NKEY user seed' },
  'cluster-ca': { kind: 'string', value: 'FILE', help: 'CA (PEM) that signed the NATS server\'s certificate: the connection is TLS and refuses any other server' },
  'cluster-window': { kind: 'integer', value: 'N', min: 1, max: 32768, help: 'requests in flight at once to each device imported from another router (power of two; default the router\'s window, 64)' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

const USAGE = `usage: vmsg route [--driver-link URI]... [--device-link URI]... [--device KIND:DEVNUM[?opts]]... [--duration S]

Runs a router joining external programs over shared-memory windows (vmamp, spsc) or streams,
plus built-in devices. Link URI options: size=BYTES (window), role=device|driver (ours; implied
by --driver-link / --device-link), sock=PATH (doorbell socket; without it both sides busy-poll),
ping=MS (keep-alive period, 0 = off, default 250), wait=MS (how long to wait for the peer, 0 = forever),
model=NAME|FILE (a bus model between the router and that link; on vmamp/spsc windows frames
are then copied between the window and the model, so such a link is slower than the in-place window).
tcp-listen:PORT binds 127.0.0.1; a host other hosts can reach needs TLS client certificates
(tls=1&cert=PEM&key=PEM&ca=PEM) or insecure=1. Every check (ports, paths, links, devices) runs
before the router starts. SIGINT/SIGTERM stop it and print the final counters (JSON on stdout);
SIGHUP reads the --config file again and adds or removes built-in devices to match it.
Exit status: 0 stopped as asked, 1 a port or socket in use or a link that never came up, 2 bad arguments.

options:
${optionsHelp(FLAGS)}

examples:
  vmsg route --driver-link tcp-listen:7000 --device echo:1 --device entropy:2
  vmsg route --driver-link 'vmamp:/dev/shm/vm1?size=8192&sock=/tmp/vm1.sock' --device echo:1 --metrics 9464
  vmsg route --config router.json
`;

/** Seconds to wait before opening a link again after it failed to open (the peer may still be starting). */
const REOPEN_BACKOFF_MS = 1000;

interface LinkPlan {
  uri: string;
  side: 'driver' | 'device';
  ups: number;
  link: BusLink | null;
}

/** Everything the start-up checks found: the plan to run, and warnings to print first. */
interface Checked {
  cfg: RouteConfig;
  configPath: string | undefined;
  cliOverrides: RouteConfigOverrides;
  warnings: string[];
}

/**
 * Every check that needs no worker thread, in the order a user fixes things: the command line,
 * the config file, link URIs (TLS files, safe listeners), built-in devices and their numbers,
 * paths to create, and ports to bind. Throws UsageError (exit 2) or CommandFailure (exit 1).
 */
async function startupChecks(argv: string[]): Promise<Checked | 'help'> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  let durationS: number | undefined;
  if (flags.duration !== undefined) {
    durationS = Number(flags.duration);
    if (!/^\d+(\.\d+)?$/.test(flags.duration) || !(durationS > 0)) throw new UsageError(`--duration needs a positive number of seconds, got "${flags.duration}"`);
  }
  let metricsAddress: { host: string | undefined; port: number } | undefined;
  if (flags.metrics !== undefined) {
    metricsAddress = parseListenAddress(flags.metrics);
    if (metricsAddress === undefined) throw new UsageError(`--metrics needs PORT (0..65535) or HOST:PORT, got "${flags.metrics}"`);
  }
  const devices = flags.device.map((text) => usage(() => parseDeviceSpec(text), DeviceSpecError, '--device '));
  const router: RouterOptions = {};
  if (flags.shards !== undefined) router.shards = flags.shards;
  if (flags['timeout-ms'] !== undefined) router.timeoutMs = flags['timeout-ms'];
  if (flags['busy-poll-spins'] !== undefined) router.busyPollSpins = flags['busy-poll-spins'];
  if (flags['busy-poll-seek'] !== undefined) router.busyPollSeek = flags['busy-poll-seek'] === 'on';
  if (flags['shard-cpus'] !== undefined) router.shardCpus = parseCpuList(flags['shard-cpus']);
  const configPath = flags.config;
  const file = configPath === undefined ? undefined : await loadRouteConfig(configPath).catch((e: unknown) => {
    throw e instanceof JsonFieldError || e instanceof ConfigReadError ? new UsageError(`--config: ${e.message}`) : e;
  });
  const cliOverrides: RouteConfigOverrides = {
    driverLinks: flags['driver-link'].length > 0 ? flags['driver-link'] : undefined,
    deviceLinks: flags['device-link'].length > 0 ? flags['device-link'] : undefined,
    devices: devices.length > 0 ? devices : undefined,
    durationS, capture: flags.capture, metricsPort: metricsAddress?.port, metricsHost: metricsAddress?.host, logLevel: flags['log-level'], router,
    cluster: { url: flags.cluster, node: flags.node, advertise: flags.advertise, credsFile: flags['cluster-creds'], caFile: flags['cluster-ca'], remoteWindow: flags['cluster-window'] },
  };
  const cfg = mergeRouteConfig(file, cliOverrides);
  cfg.router.timeoutMs ??= DEFAULT_TIMEOUT_MS;
  usage(() => resolveRouterOptions(cfg.router), RangeError, configPath === undefined ? '' : `${configPath}: `);
  if (cfg.router.shardCpus !== undefined) usage(() => checkCpusUsable(cfg.router.shardCpus!, '--shard-cpus / router.shardCpus'), RangeError, '');
  const warnings: string[] = [];
  for (const [uris, side] of [[cfg.driverLinks, 'driver'], [cfg.deviceLinks, 'device']] as const) {
    for (const uri of uris) warnings.push(...usage(() => checkLinkUri(uri, side), LinkUriError, `--${side}-link: `));
  }
  const numbers = new Map<number, string>();
  for (const d of cfg.devices) {
    usage(() => checkDeviceSpec(d), DeviceSpecError, '--device ');
    const other = numbers.get(d.dev);
    if (other !== undefined) throw new UsageError(`--device ${d.text}: device number ${d.dev} is already taken by --device ${other}; give each device its own number`);
    numbers.set(d.dev, d.text);
  }
  if (cfg.cluster !== undefined) {
    if (cfg.cluster.url === '' || cfg.cluster.url === undefined) throw new UsageError('--node, --advertise, --cluster-creds, --cluster-ca and --cluster-window need --cluster nats://HOST:PORT');
    if (cfg.cluster.node === '' || cfg.cluster.node === undefined) throw new UsageError('--cluster needs --node NAME (this router\'s name in the cluster)');
    usage(() => checkClusterOptions(cfg.cluster!), ClusterOptionError, '');
  }
  if (cfg.driverLinks.length + cfg.deviceLinks.length + cfg.devices.length === 0 && cfg.cluster === undefined) {
    throw new UsageError('nothing to route: give at least one --driver-link, --device-link, --device or --cluster (or a --config file with them)');
  }
  // Files this run creates: their directories must be there, and each is created once (two
  // links on one window, socket or port would take it from each other).
  // `at`: which option (a link named twice is two owners, each of its own things).
  const owners = new Map<string, { owner: string; kind: string; at: number }>();
  let at = 0;
  const own = (key: string, owner: string, kind: string, name: string | number): void => {
    const other = owners.get(key);
    if (other !== undefined) {
      const whose = other.at === at ? `its ${other.kind}` : `the ${other.kind} of ${other.owner}${other.owner === owner ? ' (given twice)' : ''}`;
      throw new UsageError(`${owner}: ${kind} ${name} is also ${whose}; give each its own`);
    }
    owners.set(key, { owner, kind, at });
  };
  if (cfg.capture !== undefined) {
    checkOutputFile(cfg.capture, '--capture', 'run.vmc');
    own(`file:${resolve(cfg.capture)}`, `--capture ${cfg.capture}`, 'capture file', cfg.capture);
  }
  at++;
  if (cfg.metricsPort !== undefined && cfg.metricsPort !== 0) own(`tcp:${cfg.metricsHost ?? '127.0.0.1'}:${cfg.metricsPort}`, `--metrics ${cfg.metricsPort}`, 'metrics port', cfg.metricsPort);
  for (const [uri, side] of [...cfg.driverLinks.map((u) => [u, 'driver'] as const), ...cfg.deviceLinks.map((u) => [u, 'device'] as const)]) {
    at++;
    const u = parseLinkUri(uri);
    const owner = `--${side}-link ${uri}`;
    if (u.scheme === 'unix-listen') {
      checkListenSocket(u.path!, `${owner}: socket`);
      own(`file:${resolve(u.path!)}`, owner, 'socket', u.path!);
    }
    if (u.scheme === 'tcp-listen' && u.port !== 0) own(`tcp:${listenHost(u)}:${u.port!}`, owner, 'port', u.port!);
    // A driver link's window and doorbell are ours: we create the file and listen on the socket.
    if ((u.scheme === 'vmamp' || u.scheme === 'spsc') && side === 'driver') {
      checkOutputFile(u.path, `${owner}: window file`, 'vm1');
      own(`file:${resolve(u.path)}`, owner, 'window file', u.path);
      if (u.sock !== undefined) {
        checkListenSocket(u.sock, `${owner}: doorbell socket`);
        own(`file:${resolve(u.sock)}`, owner, 'doorbell socket', u.sock);
      }
      checkWindowFile(u.path, u.size!, u.scheme, owner);
    }
  }
  // Ports: bound (and let go) now, so a port in use stops us before any worker starts.
  if (cfg.metricsPort !== undefined) {
    await checkPortFree(cfg.metricsHost ?? '127.0.0.1', cfg.metricsPort, '--metrics', 'choose another port with --metrics PORT (0 = any free port)');
  }
  for (const [uri, side] of [...cfg.driverLinks.map((u) => [u, 'driver'] as const), ...cfg.deviceLinks.map((u) => [u, 'device'] as const)]) {
    const u = parseLinkUri(uri);
    if (u.scheme === 'tcp-listen') await checkPortFree(listenHost(u), u.port!, `--${side}-link ${uri}`, 'choose another port, or stop the program listening there');
  }
  if (cfg.cluster?.advertise !== undefined) {
    const a = parseAdvertise(cfg.cluster.advertise);
    await checkPortFree(a.host, a.port, `--advertise ${cfg.cluster.advertise}`, 'choose another port, or stop the program listening there');
  }
  return { cfg, configPath, cliOverrides, warnings };
}

/**
 * A window file we create: what is at its path must be a window we left that nobody serves.
 * Something else there is a mistake in the command line (exit 2); a router serving it is not
 * (exit 1, as a port in use).
 */
function checkWindowFile(path: string, size: number, scheme: WindowScheme, owner: string): void {
  try {
    checkWindowPath(path, size, scheme);
  } catch (e) {
    if (e instanceof WindowPathError) throw new UsageError(`${owner}: ${e.message}`);
    if (e instanceof WindowInUseError) throw new CommandFailure(`${owner}: ${e.message}`);
    throw e;
  }
}

/** Run `check`; an error of class `kind` becomes a UsageError with `prefix` before its message. */
function usage<T>(check: () => T, kind: new (...args: never[]) => Error, prefix: string): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof kind) throw new UsageError(prefix + e.message);
    throw e;
  }
}

export async function run(argv: string[]): Promise<number> {
  let checked: Checked | 'help';
  try {
    checked = await startupChecks(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(usageLine('route', e.message));
      return EXIT_USAGE;
    }
    if (e instanceof CommandFailure) {
      process.stderr.write(`vmsg route: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    throw e;
  }
  if (checked === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const { cfg, configPath, cliOverrides } = checked;
  const plans: LinkPlan[] = [
    ...cfg.driverLinks.map((uri) => ({ uri, side: 'driver' as const, ups: 0, link: null })),
    ...cfg.deviceLinks.map((uri) => ({ uri, side: 'device' as const, ups: 0, link: null })),
  ];
  const specs = cfg.devices;
  const durationS = cfg.durationS;

  // Plain lines by default; with --log-level, pino JSON lines (warn for links going down, error for errors).
  const logger = cfg.logLevel === undefined ? undefined : createLogger({ level: cfg.logLevel, name: 'vmsg-route' });
  // `fields` are the line's data as pino fields (link, side, device, reason, ...), so log
  // queries need not parse the message.
  const say = (line: string, fields: Record<string, unknown> = {}): void => {
    if (logger === undefined) process.stderr.write(`vmsg route: ${line}\n`);
    else if (line.startsWith('error') || line.includes('could not')) logger.error(fields, line);
    else if (line.startsWith('link down')) logger.warn(fields, line);
    else logger.info(fields, line);
  };
  const warn = (line: string): void => {
    if (logger === undefined) process.stderr.write(`vmsg route: ${line}\n`);
    else logger.warn(line);
  };
  for (const w of checked.warnings) say(w);
  const t0 = performance.now();
  let router: Router | undefined;
  let openLink: typeof import('../bus/open.js').openBusLink | undefined;
  let capture: Awaited<ReturnType<Router['startCapture']>> | undefined;
  // No more shards than links, nor than the cores busy-polling peers leave (src/router/shard-budget.ts).
  // And, when busy threads outnumber the cores, how long a shard keeps the CPU after a frame
  // and whether it looks for the CPU it routes most from.
  // Pinned shards (shardCpus) never seek a CPU: the budget's note must not say they do.
  const budget = shardBudget([...cfg.driverLinks, ...cfg.deviceLinks], cfg.router.shards, undefined, cfg.router.busyPollSpins, cfg.router.shardCpus !== undefined ? false : cfg.router.busyPollSeek);
  cfg.router.shards ??= budget.shards;
  cfg.router.busyPollSpins ??= budget.busyPollSpins;
  // Shards pinned by the config file stay where they are put (shardCpus excludes the seek).
  cfg.router.busyPollSeek ??= cfg.router.shardCpus === undefined && budget.busyPollSeek;
  let metrics: MetricsServer | undefined;
  /** Built-in devices by their spec text, each started on its own (so SIGHUP can add and remove one). */
  const builtins = new Map<string, RunningDevices>();
  const startDevice = async (spec: DeviceSpec): Promise<void> => {
    const [r] = await startBuiltinDevices(router!, [spec]);
    builtins.set(spec.text, r!);
    say(`built-in ${r!.kind} device [${r!.devices.join(', ')}] (${spec.text})`, { device: r!.devices, kind: r!.kind, spec: spec.text });
  };
  /** The one line a failed run ends with (and its exit status); nothing goes to stdout then. */
  let failure: { line: string; status: number } | undefined;
  const abort = new AbortController();
  let stopRequested!: () => void;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  const stop = (why: string | undefined): void => {
    if (abort.signal.aborted) return;
    if (why !== undefined) say(`stopping (${why})`);
    abort.abort();
    stopRequested();
  };
  const fail = (line: string, status = EXIT_FAILURE): void => {
    failure ??= { line, status };
    stop(undefined);
  };
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer = durationS === undefined ? null : setTimeout(() => stop(`--duration ${durationS}`), durationS * 1000);

  // SIGHUP: read the --config file again and bring the built-in devices in line with its list
  // (removed first, so a number may change kind); links and router options stay as they are.
  let reloading: Promise<void> = Promise.resolve();
  const reload = async (): Promise<void> => {
    if (configPath === undefined) {
      say('SIGHUP: no --config file to reload');
      return;
    }
    if (abort.signal.aborted) return;
    try {
      const next = mergeRouteConfig(await loadRouteConfig(configPath), cliOverrides).devices;
      next.forEach(checkDeviceSpec);
      const wanted = new Set(next.map((d) => d.text));
      const gone = [...builtins.keys()].filter((t) => !wanted.has(t));
      const added = next.filter((d) => !builtins.has(d.text));
      for (const t of gone) {
        await builtins.get(t)!.remove(router!);
        builtins.delete(t);
      }
      for (const d of added) await startDevice(d);
      say(`reloaded ${configPath}: devices added [${added.map((d) => d.text).join(', ')}], removed [${gone.join(', ')}]`);
    } catch (e) {
      warn(`reload of ${configPath} failed, devices unchanged: ${(e as Error).message}`);
    }
  };
  const onHangup = (): void => {
    reloading = reloading.then(reload);
  };

  /** Keep one link open: open, wait for it to go down, open again, until we stop. */
  const supervise = async (p: LinkPlan): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        p.link = await openLink!(router!, p.uri, p.side, { signal: abort.signal, log: say });
      } catch (e) {
        if (abort.signal.aborted) return;
        if (p.ups === 0) {
          // Never came up: a configuration problem, not a peer that left.
          fail(`--${p.side}-link ${p.uri}: ${(e as Error).message}`, e instanceof LinkUriError || e instanceof WindowPathError ? EXIT_USAGE : EXIT_FAILURE);
          return;
        }
        say(`--${p.side}-link ${p.uri}: ${(e as Error).message}`, { link: p.uri, side: p.side, reason: (e as Error).message });
        await new Promise((r) => setTimeout(r, REOPEN_BACKOFF_MS));
        continue;
      }
      p.ups++;
      const devs = p.side === 'device' ? ` devices [${p.link.devices.join(', ')}]` : '';
      // A listening stream link says where (the port tcp-listen:0 chose).
      const addr = (p.link as { address?: unknown }).address;
      const where = typeof addr === 'string' ? ` listening on ${addr}`
        : addr !== null && typeof addr === 'object' && 'port' in addr ? ` listening on ${(addr as AddressInfo).address}:${(addr as AddressInfo).port}` : '';
      const detail = p.link.detail === undefined ? '' : `; ${p.link.detail}`;
      say(`link up: --${p.side}-link ${p.uri}${devs}${where}${detail}`, { link: p.uri, side: p.side, ...(p.side === 'device' ? { device: [...p.link.devices] } : {}) });
      const down = await Promise.race([p.link.down, stopped.then(() => null)]);
      if (down === null) return;
      say(`link down: --${p.side}-link ${p.uri} (${down.cause}: ${down.detail}); waiting for the next peer`, { link: p.uri, side: p.side, reason: down.cause, detail: down.detail });
      p.link = null;
    }
  };

  let supervisors: Promise<void>[] = [];
  let cluster: ClusterNode | undefined;
  try {
    // Loaded only now: the router, the bus adapters and the metrics server are most of the
    // start-up time, and a command line that fails its checks never needs them.
    const [{ Router }, { openBusLink }, { startMetricsServer }] = await Promise.all([
      import('../router/router.js'), import('../bus/open.js'), import('../ops/metrics.js'),
    ]);
    openLink = openBusLink;
    router = await Router.create(cfg.router);
    if (cfg.capture !== undefined) {
      capture = await router.startCapture(cfg.capture);
      say(`capturing every frame to ${cfg.capture}`);
    }
    if (cfg.metricsPort !== undefined) {
      metrics = await startMetricsServer(router, cfg.metricsPort, { host: cfg.metricsHost });
      say(`metrics at ${metrics.url}`, { url: metrics.url });
    }
    for (const spec of specs) await startDevice(spec);
    process.on('SIGHUP', onHangup);
    supervisors = plans.map(supervise);
    if (cfg.cluster !== undefined) {
      try {
        cluster = await ClusterNode.join(router, cfg.cluster, {
          log: (line) => (line.startsWith('cluster directory frozen') || / dead: /.test(line) ? warn(line) : say(line)),
          warning: (line) => warn(`cluster: ${line}`),
        });
      } catch (e) {
        fail(`--cluster ${cfg.cluster.url}: could not join: ${(e as Error).message}`);
      }
      if (cluster !== undefined) {
        if (metrics !== undefined) registerClusterMetrics(metrics.registry, cluster);
      }
    }
    // Only the uncommon build is named: most CPUs have Wasm SIMD and run dist/wasm/vmsg.wasm.
    if (wasmBuild() === 'scalar') say(`hot path: dist/wasm/vmsg.scalar.wasm (${process.env['VMSG_WASM'] === 'scalar' ? 'VMSG_WASM=scalar' : 'no Wasm SIMD in this engine'})`);
    say(`routing: ${plans.length} link(s), ${specs.length} built-in device(s), ${router.options.shards} shard(s)${router.options.shardCpus.length === 0 ? '' : ` pinned to CPU(s) ${router.options.shardCpus.join(',')}`}${budget.note === '' ? '' : `; ${budget.note}`}${cfg.cluster === undefined ? '' : `, cluster node ${cfg.cluster.node}`}`);
    await stopped;
  } catch (e) {
    // Something the start-up checks could not foresee (the port taken since, a device that
    // failed to start): still one line, and everything started so far is stopped below.
    fail(e instanceof Error && !debugEnabled() ? e.message : internalErrorText('error', e).trimEnd(), e instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onHangup);
    await reloading;
    if (timer !== null) clearTimeout(timer);
  }

  // Graceful stop: counters first (closing detaches the links' endpoints), then links close
  // (their devices are removed, requests in flight fail), the router drains, devices end.
  const snapshot = router?.stats();
  // Leaving first: the other nodes remove our devices at once, and ours from them go here.
  const clusterFinal = cluster?.stats();
  await cluster?.close().catch((e: unknown) => say(`cluster: leaving: ${(e as Error).message}`));
  await Promise.allSettled(supervisors);
  await Promise.allSettled(plans.map((p) => p.link?.close()));
  const captured = await capture?.stop();
  if (captured !== undefined && failure === undefined) say(`capture: ${captured.captured} frames to ${captured.path}, ${captured.lost} lost`);
  await metrics?.close();
  await router?.close();
  await Promise.allSettled([...builtins.values()].map((b) => b.stop()));
  if (failure !== undefined || router === undefined || snapshot === undefined) {
    say(`error: ${failure?.line ?? 'the router did not start'}`);
    return failure?.status ?? EXIT_FAILURE;
  }
  const final = {
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
    // Frames the router took from links (a frame that crosses shards counts once).
    frames_routed: router.stats().totals.rx,
    links: plans.map((p) => ({ uri: p.uri, side: p.side, times_up: p.ups })),
    ...(clusterFinal === undefined ? {} : { cluster: clusterFinal }),
    devices: snapshot.devices.map((d) => ({
      dev: d.dev, requests: d.requests, responses: d.responses, failed: d.failed, timeouts: d.timeouts, events_in: d.eventsIn, events_out: d.eventsOut,
    })),
    totals: {
      rx: snapshot.totals.rx, tx: snapshot.totals.tx, terminated: snapshot.totals.terminated, generated: snapshot.totals.generated,
      failures: snapshot.totals.failures, dropped: snapshot.totals.dropped, drops_by_reason: snapshot.totals.dropsByReason,
    },
  };
  say(`final counters: ${final.frames_routed} frames routed in ${final.seconds} s, ${final.totals.dropped} dropped`);
  process.stdout.write(JSON.stringify(final) + '\n');
  return EXIT_OK;
}

/** `--shard-cpus 1` or `0,2`: CPU numbers, each a decimal integer (range checked with the router options). */
function parseCpuList(text: string): number[] {
  const parts = text.split(',');
  if (!parts.every((p) => /^\d{1,4}$/.test(p.trim()))) throw new UsageError(`--shard-cpus needs CPU numbers separated by commas (e.g. 1 or 0,2), got "${text}"`);
  return parts.map((p) => Number(p.trim()));
}

