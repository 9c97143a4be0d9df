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
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { shardBudget } from '../router/shard-budget.js';
import { Router } from '../router/router.js';
import { checkLinkUri, openBusLink } from '../bus/open.js';
import { LinkUriError } from '../bus/uri.js';
import type { BusLink } from '../bus/bus-link.js';
import { DEVICE_KINDS, parseDeviceSpec, checkDeviceSpec, DeviceSpecError, startBuiltinDevices, type DeviceSpec, type RunningDevices } from './device-kinds.js';
import { loadRouteConfig, mergeRouteConfig, type RouteConfig, type RouteConfigOverrides } from '../ops/route-config.js';
import { startMetricsServer, type MetricsServer } from '../ops/metrics.js';
import { createLogger, LOG_LEVELS } from '../ops/logger.js';
import { JsonFieldError } from '../util/json-fields.js';
import { resolveRouterOptions, type RouterOptions } from '../router/options.js';

/**
 * Request timeout of `vmsg route`: longer than the library's 1 s, because an external driver is
 * not told about a transport failure (failure events are off on wire links) — a request that
 * times out simply never gets its answer, so a slow external device must not trigger it.
 */
const DEFAULT_TIMEOUT_MS = 10_000;

const FLAGS = {
  'driver-link': { kind: 'list', value: 'URI', help: 'attach an external driver (repeatable): vmamp:PATH?size=BYTES[&sock=SOCK], spsc:PATH?..., unix-listen:PATH, tcp-listen:PORT' },
  'device-link': { kind: 'list', value: 'URI', help: 'attach an external device-side bus (repeatable): vmamp:PATH?size=BYTES[&sock=SOCK], spsc:..., unix:PATH, tcp:HOST:PORT' },
  device: { kind: 'list', value: 'KIND:DEVNUM[?opts]', help: `built-in device (repeatable); kinds: ${Object.keys(DEVICE_KINDS).join(', ')}` },
  duration: { kind: 'string', value: 'S', help: 'stop after S seconds (default: until SIGINT/SIGTERM)' },
  shards: { kind: 'integer', value: 'N', min: 1, max: 64, help: 'router shards (worker threads); default one, or one per core with a stream link; never more than the cores busy-poll peers leave free' },
  'timeout-ms': { kind: 'integer', value: 'MS', min: 1, max: 86_400_000, help: `a request unanswered this long fails (default ${DEFAULT_TIMEOUT_MS}; external drivers get no failure event, so generous)` },
  config: { kind: 'string', value: 'FILE', help: 'JSON config file with any of these options (README "Config file"); flags given here win' },
  capture: { kind: 'string', value: 'FILE.vmc', help: 'record every frame crossing the router (vmsg decode / export-pcapng / replay read it)' },
  metrics: { kind: 'integer', value: 'PORT', min: 0, max: 65535, help: 'serve Prometheus metrics of every router counter at http://0.0.0.0:PORT/metrics' },
  'log-level': { kind: 'choice', choices: LOG_LEVELS, help: 'structured JSON logs (pino) on stderr at this level instead of plain lines' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

const USAGE = `usage: vmsg route [--driver-link URI]... [--device-link URI]... [--device KIND:DEVNUM[?opts]]... [--duration S]

Runs a router joining external programs over shared-memory windows (vmamp, spsc) or streams,
plus built-in devices. Link URI options: size=BYTES (window), role=device|driver (ours; implied
by --driver-link / --device-link), sock=PATH (doorbell socket; without it both sides busy-poll),
ping=MS (keep-alive period, 0 = off, default 250), wait=MS (how long to wait for the peer, 0 = forever).
SIGINT/SIGTERM stop it and print the final counters (JSON on stdout).

options:
${optionsHelp(FLAGS)}
`;

/** Seconds to wait before opening a link again after it failed to open (the peer may still be starting). */
const REOPEN_BACKOFF_MS = 1000;

interface LinkPlan {
  uri: string;
  side: 'driver' | 'device';
  ups: number;
  link: BusLink | null;
}

export async function run(argv: string[]): Promise<number> {
  let cfg: RouteConfig;
  let configPath: string | undefined;
  let cliOverrides: RouteConfigOverrides;
  try {
    const { flags, positionals } = parseArgs(argv, FLAGS);
    if (flags.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    let durationS: number | undefined;
    if (flags.duration !== undefined) {
      durationS = Number(flags.duration);
      if (!/^\d+(\.\d+)?$/.test(flags.duration) || !(durationS > 0)) throw new UsageError(`--duration needs a positive number of seconds, got "${flags.duration}"`);
    }
    const devices = flags.device.map((text) => {
      try {
        return parseDeviceSpec(text);
      } catch (e) {
        if (e instanceof DeviceSpecError) throw new UsageError(`--device ${e.message}`);
        throw e;
      }
    });
    const router: RouterOptions = {};
    if (flags.shards !== undefined) router.shards = flags.shards;
    if (flags['timeout-ms'] !== undefined) router.timeoutMs = flags['timeout-ms'];
    configPath = flags.config;
    const file = configPath === undefined ? undefined : await loadRouteConfig(configPath);
    cliOverrides = {
      driverLinks: flags['driver-link'].length > 0 ? flags['driver-link'] : undefined,
      deviceLinks: flags['device-link'].length > 0 ? flags['device-link'] : undefined,
      devices: devices.length > 0 ? devices : undefined,
      durationS, capture: flags.capture, metricsPort: flags.metrics, logLevel: flags['log-level'], router,
    };
    cfg = mergeRouteConfig(file, cliOverrides);
    cfg.router.timeoutMs ??= DEFAULT_TIMEOUT_MS;
    resolveRouterOptions(cfg.router); // RangeError naming the option
    for (const [uris, side] of [[cfg.driverLinks, 'driver'], [cfg.deviceLinks, 'device']] as const) {
      for (const uri of uris) {
        try {
          checkLinkUri(uri, side);
        } catch (e) {
          if (e instanceof LinkUriError) throw new UsageError(`--${side}-link: ${e.message}`);
          throw e;
        }
      }
    }
    for (const d of cfg.devices) {
      try {
        checkDeviceSpec(d);
      } catch (e) {
        if (e instanceof DeviceSpecError) throw new UsageError(`--device ${e.message}`);
        throw e;
      }
    }
    if (cfg.driverLinks.length + cfg.deviceLinks.length + cfg.devices.length === 0) {
      throw new UsageError('nothing to route: give at least one --driver-link, --device-link or --device (or a --config file with them)');
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof JsonFieldError || e instanceof RangeError) {
      process.stderr.write(`vmsg route: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const plans: LinkPlan[] = [
    ...cfg.driverLinks.map((uri) => ({ uri, side: 'driver' as const, ups: 0, link: null })),
    ...cfg.deviceLinks.map((uri) => ({ uri, side: 'device' as const, ups: 0, link: null })),
  ];
  const specs = cfg.devices;
  const durationS = cfg.durationS;

  // Plain lines by default; with --log-level, pino JSON lines (warn for links going down, error for errors).
  const logger = cfg.logLevel === undefined ? undefined : createLogger({ level: cfg.logLevel, name: 'vmsg-route' });
  const say = (line: string): void => {
    if (logger === undefined) process.stderr.write(`vmsg route: ${line}\n`);
    else if (line.startsWith('error') || line.includes('could not')) logger.error(line);
    else if (line.startsWith('link down')) logger.warn(line);
    else logger.info(line);
  };
  const t0 = performance.now();
  // No more shards than links, nor than the cores busy-polling peers leave (src/router/shard-budget.ts).
  const budget = shardBudget([...cfg.driverLinks, ...cfg.deviceLinks], cfg.router.shards);
  cfg.router.shards ??= budget.shards;
  const router = await Router.create(cfg.router);
  const capture = cfg.capture === undefined ? undefined : await router.startCapture(cfg.capture);
  if (capture !== undefined) say(`capturing every frame to ${cfg.capture}`);
  let metrics: MetricsServer | undefined;
  if (cfg.metricsPort !== undefined) {
    metrics = await startMetricsServer(router, cfg.metricsPort);
    say(`metrics at ${metrics.url}`);
  }
  /** Built-in devices by their spec text, each started on its own (so SIGHUP can add and remove one). */
  const builtins = new Map<string, RunningDevices>();
  const startDevice = async (spec: DeviceSpec): Promise<void> => {
    const [r] = await startBuiltinDevices(router, [spec]);
    builtins.set(spec.text, r!);
    say(`built-in ${r!.kind} device [${r!.devices.join(', ')}] (${spec.text})`);
  };
  let status = 0;
  const abort = new AbortController();
  let stopRequested!: () => void;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  const stop = (why: string): void => {
    if (abort.signal.aborted) return;
    say(`stopping (${why})`);
    abort.abort();
    stopRequested();
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
        await builtins.get(t)!.remove(router);
        builtins.delete(t);
      }
      for (const d of added) await startDevice(d);
      say(`reloaded ${configPath}: devices added [${added.map((d) => d.text).join(', ')}], removed [${gone.join(', ')}]`);
    } catch (e) {
      say(`reload of ${configPath} failed, devices unchanged: ${(e as Error).message}`);
    }
  };
  const onHangup = (): void => {
    reloading = reloading.then(reload);
  };

  /** Keep one link open: open, wait for it to go down, open again, until we stop. */
  const supervise = async (p: LinkPlan): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        p.link = await openBusLink(router, p.uri, p.side, { signal: abort.signal, log: say });
      } catch (e) {
        if (abort.signal.aborted) return;
        say(`--${p.side}-link ${p.uri}: ${(e as Error).message}`);
        if (p.ups === 0) {
          status = 1; // never came up: a configuration problem, not a peer that left
          stop('a link could not be opened');
          return;
        }
        await new Promise((r) => setTimeout(r, REOPEN_BACKOFF_MS));
        continue;
      }
      p.ups++;
      const devs = p.side === 'device' ? ` devices [${p.link.devices.join(', ')}]` : '';
      // A listening stream link says where (the port tcp-listen:0 chose).
      const addr = (p.link as { address?: unknown }).address;
      const where = typeof addr === 'string' ? ` listening on ${addr}`
        : addr !== null && typeof addr === 'object' && 'port' in addr ? ` listening on ${(addr as AddressInfo).address}:${(addr as AddressInfo).port}` : '';
      say(`link up: --${p.side}-link ${p.uri}${devs}${where}`);
      const down = await Promise.race([p.link.down, stopped.then(() => null)]);
      if (down === null) return;
      say(`link down: --${p.side}-link ${p.uri} (${down.cause}: ${down.detail}); waiting for the next peer`);
      p.link = null;
    }
  };

  let supervisors: Promise<void>[] = [];
  try {
    const numbers = new Map<number, string>();
    for (const spec of specs) {
      const other = numbers.get(spec.dev);
      if (other !== undefined) throw new UsageError(`--device ${spec.text}: device ${spec.dev} is already --device ${other}`);
      numbers.set(spec.dev, spec.text);
    }
    for (const spec of specs) await startDevice(spec);
    process.on('SIGHUP', onHangup);
    supervisors = plans.map(supervise);
    say(`routing: ${plans.length} link(s), ${specs.length} built-in device(s), ${router.options.shards} shard(s)${budget.note === '' ? '' : `; ${budget.note}`}`);
    await stopped;
  } catch (e) {
    say(`error: ${(e as Error).message}`);
    status = e instanceof UsageError ? 2 : 1;
    stop('error');
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onHangup);
    await reloading;
    if (timer !== null) clearTimeout(timer);
  }

  // Graceful stop: counters first (closing detaches the links' endpoints), then links close
  // (their devices are removed, requests in flight fail), the router drains, devices end.
  const snapshot = router.stats();
  await Promise.allSettled(supervisors);
  await Promise.allSettled(plans.map((p) => p.link?.close()));
  const captured = await capture?.stop();
  if (captured !== undefined) say(`capture: ${captured.captured} frames to ${captured.path}, ${captured.lost} lost`);
  await metrics?.close();
  await router.close();
  await Promise.allSettled([...builtins.values()].map((b) => b.stop()));
  const final = {
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
    // Frames the router took from links (a frame that crosses shards counts once).
    frames_routed: router.stats().totals.rx,
    links: plans.map((p) => ({ uri: p.uri, side: p.side, times_up: p.ups })),
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
  return status;
}
