// The config file of `vmsg route --config router.json`: every option of the command line in one
// JSON object, checked against its schema (route-config-schema.ts) with errors that point at the
// bad key by JSON pointer. Flags given on the command line win over the file (README "Config file").
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
import type { z } from 'zod';
import type { RouterOptions } from '../router/options.js';
import { JsonFieldError, parseJsonText, pointer } from '../util/json-fields.js';
import { closestName } from '../util/did-you-mean.js';
import type { LogLevel } from './logger.js';
import { KNOWN_KEYS, LISTEN_ADDRESS, routeConfigSchema, type RouteConfigFile } from './route-config-schema.js';
import { parseDeviceSpec, type DeviceSpec } from '../cli/device-kinds.js';

export { parseDeviceSpec, type DeviceSpec, type RouteConfigFile };

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

/** Every RouterOptions field, as the schema lists them. */
export const ROUTER_OPTION_KEYS = KNOWN_KEYS['/router'] as readonly (keyof RouterOptions)[];

/** A JSON pointer (RFC 6901) from a zod issue path. */
function pointerOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((at, key) => pointer(at, String(key)), '');
}

/**
 * The error of the first problem in the document, as a JsonFieldError at its JSON pointer.
 * Unknown keys come first (a misspelt key explains the rest), with the closest known key.
 */
function firstProblem(issues: readonly z.core.$ZodIssue[], source: string | undefined): JsonFieldError {
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  const at = pointerOf(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const known = KNOWN_KEYS[at] ?? [];
    const best = closestName(key, known);
    return new JsonFieldError(pointer(at, key), `unknown key; ${best !== undefined ? `did you mean "${best}"? ` : ''}known keys: ${known.join(', ')}`, source);
  }
  return new JsonFieldError(at, issue.message, source);
}

/** Check a parsed config document against the schema; `source` (the file name) starts every error message. */
export function parseRouteConfig(doc: unknown, source?: string): RouteConfig {
  const checked = routeConfigSchema.safeParse(doc);
  if (!checked.success) throw firstProblem(checked.error.issues, source);
  const file: RouteConfigFile = checked.data;
  let metricsPort: number | undefined, metricsHost: string | undefined;
  if (typeof file.metrics === 'string') ({ host: metricsHost, port: metricsPort } = parseListenAddress(file.metrics)!);
  else metricsPort = file.metrics;
  const router: RouterOptions = {};
  for (const [k, v] of Object.entries(file.router ?? {})) if (v !== undefined) (router as Record<string, unknown>)[k] = v;
  return {
    driverLinks: file.driverLinks ?? [],
    deviceLinks: file.deviceLinks ?? [],
    devices: (file.devices ?? []).map(parseDeviceSpec),
    durationS: file.duration,
    capture: file.capture,
    metricsPort,
    metricsHost,
    logLevel: file.logLevel,
    router,
  };
}

/**
 * `PORT`, `HOST:PORT` or `[IPv6]:PORT` (the --metrics address); undefined when malformed. A
 * bare port leaves the host undefined (the server's loopback default).
 */
export function parseListenAddress(text: string): { host: string | undefined; port: number } | undefined {
  const m = LISTEN_ADDRESS.exec(text);
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
