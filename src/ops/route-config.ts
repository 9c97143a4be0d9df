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
//   --cluster URL, --node NAME,  cluster        {"url": "nats://h:4222", "node": "r1", "advertise": "tcp:h:7000",
//   --advertise A, --cluster-creds F                "creds": "r1.creds", "ca": "nats-ca.pem", "bucket": "vmsg",
//   --cluster-ca F, --cluster-window N              "window": 16}  (src/cluster/cluster-options.ts)
import { readFile } from 'node:fs/promises';
import { fsReason } from '../util/fs-reason.js';
import type { RouterOptions } from '../router/options.js';
import { parseJsonText } from '../util/json-fields.js';
import type { LogLevel } from './logger.js';
import { parseDeviceSpec, type DeviceSpec } from '../device/builtin-devices.js';
import type { ClusterOptions } from '../cluster/cluster-options.js';

export { parseDeviceSpec, type DeviceSpec };

export { LISTEN_ADDRESS, parseListenAddress } from './listen-address.js';
export type { RouteConfig, RouteConfigOverrides } from './route-config-shape.js';
import type { RouteConfig, RouteConfigOverrides } from './route-config-shape.js';

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
  // The schema (zod) loads only when a config file is read: it costs ~0.2 s of start-up.
  const { parseRouteConfig } = await import('./route-config-schema.js');
  return parseRouteConfig(parseJsonText(text, path), path);
}

/**
 * The command line over the file: every value given on the command line replaces the file's
 * value for that key; a list given on the command line (--driver-link, --device-link,
 * --device) replaces the file's whole list; router options merge field by field.
 */
export function mergeRouteConfig(file: RouteConfig | undefined, cli: RouteConfigOverrides): RouteConfig {
  const base: RouteConfig = file ?? { driverLinks: [], deviceLinks: [], devices: [], durationS: undefined, capture: undefined, metricsPort: undefined, metricsHost: undefined, logLevel: undefined, cluster: undefined, router: {} };
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
    cluster: mergeCluster(base.cluster, cli.cluster),
    router,
  };
}

/** Cluster options field by field, the command line's over the file's (checked by the caller once whole). */
function mergeCluster(file: ClusterOptions | undefined, cli: Partial<ClusterOptions> | undefined): ClusterOptions | undefined {
  const given = Object.entries(cli ?? {}).filter(([, v]) => v !== undefined);
  if (file === undefined && given.length === 0) return undefined;
  return { ...(file ?? { url: '', node: '' }), ...Object.fromEntries(given) } as ClusterOptions;
}
