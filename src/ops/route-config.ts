// The config file of `vmsg route --config router.json`: every option of the command line in one
// JSON object, checked with errors that point at the bad key by JSON pointer. Flags given on
// the command line win over the file (README "Config file").
//
//   flag                         key            value
//   --driver-link URI (repeat)   driverLinks    ["URI", ...]        link URIs (src/bus/uri.ts)
//   --device-link URI (repeat)   deviceLinks    ["URI", ...]
//   --device KIND:DEVNUM[?opts]  devices        ["echo:1", "block:3?file=disk.img", ...]
//   --duration S                 duration       seconds (number > 0)
//   --capture FILE               capture        path of the .vmc file
//   --metrics [HOST:]PORT        metrics        port 0..65535, or "HOST:PORT" (default host 127.0.0.1)
//   --log-level L                logLevel       fatal|error|warn|info|debug|trace|silent
//   (router options)             router         {"shards": 2, "timeoutMs": 1000, ...} every RouterOptions field
import { readFile } from 'node:fs/promises';
import { fsReason } from '../util/fs-reason.js';
import { parseLinkUri, LinkUriError } from '../bus/uri.js';
import { resolveRouterOptions, type RouterOptions } from '../router/options.js';
import { JsonFieldError, JsonObject, parseJsonText, pointer } from '../util/json-fields.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import { parseDeviceSpec, type DeviceSpec } from '../cli/device-kinds.js';

export { parseDeviceSpec, type DeviceSpec };

export interface RouteConfig {
  driverLinks: string[];
  deviceLinks: string[];
  devices: DeviceSpec[];
  durationS: number | undefined;
  capture: string | undefined;
  metricsPort: number | undefined;
  /** Address the metrics server binds; undefined = loopback (startMetricsServer's default). */
  metricsHost: string | undefined;
  logLevel: LogLevel | undefined;
  router: RouterOptions;
}

/** What the command line gave: undefined = not given (the file's value, if any, stays). */
export type RouteConfigOverrides = Partial<Omit<RouteConfig, 'router'>> & { router?: RouterOptions };

const KEYS = ['$schema', 'driverLinks', 'deviceLinks', 'devices', 'duration', 'capture', 'metrics', 'logLevel', 'router'] as const;
/** Every RouterOptions field, from the one place their defaults live. */
export const ROUTER_OPTION_KEYS: readonly (keyof RouterOptions)[] = Object.keys(resolveRouterOptions({ shards: 1 })) as (keyof RouterOptions)[];

/** Check one router option the way Router.create() does, reporting it at its JSON pointer. */
function routerOption(obj: JsonObject, key: keyof RouterOptions): number | boolean | undefined {
  const v = obj.raw(key);
  if (v === undefined) return undefined;
  try {
    resolveRouterOptions({ [key]: v } as RouterOptions);
  } catch (e) {
    // "router option NAME must be ..." -> "must be ..."
    obj.fail(pointer(obj.at, key), (e as Error).message.replace(new RegExp(`^router option ${key}:? `), ''));
  }
  return v as number | boolean;
}

/** Check a parsed config document; `source` (the file name) starts every error message. */
export function parseRouteConfig(doc: unknown, source?: string): RouteConfig {
  const o: JsonObject = new JsonObject(doc, '', source);
  o.onlyKeys(KEYS);
  const uris = (key: 'driverLinks' | 'deviceLinks'): string[] =>
    o.array(key, (v, at) => {
      if (typeof v !== 'string') throw new JsonFieldError(at, `must be a link URI string, got ${JSON.stringify(v)}`, source);
      try {
        parseLinkUri(v);
      } catch (e) {
        if (e instanceof LinkUriError) throw new JsonFieldError(at, e.message, source);
        throw e;
      }
      return v;
    }) ?? [];
  const driverLinks = uris('driverLinks');
  const deviceLinks = uris('deviceLinks');
  const seen = new Map<number, string>();
  const devices = o.array('devices', (v, at) => {
    if (typeof v !== 'string') throw new JsonFieldError(at, `must be a device string KIND:DEVNUM[?opts], got ${JSON.stringify(v)}`, source);
    let spec: DeviceSpec;
    try {
      spec = parseDeviceSpec(v);
    } catch (e) {
      throw new JsonFieldError(at, (e as Error).message, source);
    }
    const earlier = seen.get(spec.dev);
    if (earlier !== undefined) throw new JsonFieldError(at, `device number ${spec.dev} is already used by ${earlier}`, source);
    seen.set(spec.dev, at);
    return spec;
  }) ?? [];
  const durationS = o.number('duration', 0.001, 365 * 86400);
  const capture = o.string('capture');
  const metrics = o.raw('metrics');
  let metricsPort: number | undefined, metricsHost: string | undefined;
  if (typeof metrics === 'string') {
    const a = parseListenAddress(metrics);
    if (a === undefined) o.fail(pointer('', 'metrics'), `must be a port (integer from 0 to 65535) or "HOST:PORT", got string ${JSON.stringify(metrics)}`);
    ({ host: metricsHost, port: metricsPort } = a);
  } else {
    metricsPort = o.integer('metrics', 0, 65535);
  }
  const logLevel = o.choice('logLevel', LOG_LEVELS);
  const router: RouterOptions = {};
  const r = o.child('router');
  if (r !== undefined) {
    r.onlyKeys(ROUTER_OPTION_KEYS);
    for (const k of ROUTER_OPTION_KEYS) {
      const v = routerOption(r, k);
      if (v !== undefined) (router as Record<string, number | boolean>)[k] = v;
    }
  }
  return { driverLinks, deviceLinks, devices, durationS, capture, metricsPort, metricsHost, logLevel, router };
}

/**
 * `PORT`, `HOST:PORT` or `[IPv6]:PORT` (the --metrics address); undefined when malformed. A
 * bare port leaves the host undefined (the server's loopback default).
 */
export function parseListenAddress(text: string): { host: string | undefined; port: number } | undefined {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) > 65535) return undefined;
  const host = m[1]?.startsWith('[') === true ? m[1].slice(1, -1) : m[1];
  return { host, port: Number(m[2]) };
}

/** A config file that cannot be read at all (missing, unreadable): nothing to point into. */
export class ConfigReadError extends Error {
  override name = 'ConfigReadError';
}

/** Read and check a config file. */
export async function loadRouteConfig(path: string): Promise<RouteConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigReadError(`cannot read config file ${path}: ${fsReason(e)}`);
  }
  return parseRouteConfig(parseJsonText(text, path), path);
}

/**
 * The command line over the file: every value given on the command line replaces the file's
 * value for that key; a list given on the command line (--driver-link, --device-link,
 * --device) replaces the file's whole list; router options merge field by field.
 */
export function mergeRouteConfig(file: RouteConfig | undefined, cli: RouteConfigOverrides): RouteConfig {
  const base: RouteConfig = file ?? { driverLinks: [], deviceLinks: [], devices: [], durationS: undefined, capture: undefined, metricsPort: undefined, metricsHost: undefined, logLevel: undefined, router: {} };
  const pick = <K extends keyof RouteConfigOverrides>(k: K, fallback: RouteConfig[K & keyof RouteConfig]): RouteConfig[K & keyof RouteConfig] =>
    (cli[k] !== undefined ? cli[k] : fallback) as RouteConfig[K & keyof RouteConfig];
  const router: RouterOptions = { ...base.router };
  for (const [k, v] of Object.entries(cli.router ?? {})) if (v !== undefined) (router as Record<string, unknown>)[k] = v;
  return {
    driverLinks: pick('driverLinks', base.driverLinks),
    deviceLinks: pick('deviceLinks', base.deviceLinks),
    devices: pick('devices', base.devices),
    durationS: pick('durationS', base.durationS),
    capture: pick('capture', base.capture),
    // The address is one value: a --metrics flag replaces the file's host too.
    metricsPort: pick('metricsPort', base.metricsPort),
    metricsHost: cli.metricsPort !== undefined ? cli.metricsHost : base.metricsHost,
    logLevel: pick('logLevel', base.logLevel),
    router,
  };
}
