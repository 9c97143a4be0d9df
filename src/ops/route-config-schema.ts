// The schema of the `vmsg route --config` file, in one place (zod): the TypeScript type of the
// document (RouteConfigFile), its checks with errors that name the bad key by JSON pointer, and
// the JSON Schema shipped as schema/route-config.schema.json for editors (`"$schema"` key).
// Loaded only when a config file is read (zod takes ~0.2 s to load).
import { z } from 'zod';
import { parseLinkUri, LinkUriError } from '../bus/uri.js';
import { MAX_CPU, resolveRouterOptions, ROUTER_OPTION_RANGES, type RouterOptions } from '../router/options.js';
import { parseDeviceSpec } from '../device/builtin-devices.js';
import { LOG_LEVELS } from './logger.js';
import { JsonFieldError, pointer, typeName } from '../util/json-fields.js';
import { closestName } from '../util/did-you-mean.js';
import { LISTEN_ADDRESS, parseListenAddress } from './listen-address.js';
import type { RouteConfig } from './route-config-shape.js';
import { checkClusterOptions, ClusterOptionError } from '../cluster/cluster-options.js';

type Issue = { input?: unknown };
const said = (message: (input: unknown) => string) => ({ error: (iss: Issue) => message(iss.input) });

const integer = (min: number, max: number) => {
  const m = said((v) => `must be an integer from ${min} to ${max}, got ${typeName(v)}`);
  return z.int(m).min(min, m).max(max, m);
};

const number = (min: number, max: number) => {
  const m = said((v) => `must be a number from ${min} to ${max}, got ${typeName(v)}`);
  return z.number(m).min(min, m).max(max, m);
};

const array = <T extends z.ZodType>(item: T) => z.array(item, said((v) => `must be an array, got ${typeName(v)}`));

const linkUri = z.string(said((v) => `must be a link URI string, got ${JSON.stringify(v)}`)).superRefine((text, ctx) => {
  try {
    parseLinkUri(text);
  } catch (e) {
    if (!(e instanceof LinkUriError)) throw e;
    ctx.addIssue({ code: 'custom', message: e.message });
  }
}).describe('link URI: vmamp:PATH?size=BYTES&..., spsc:PATH?..., unix:PATH, unix-listen:PATH, tcp:HOST:PORT, tcp-listen:[HOST:]PORT');

const deviceSpec = z.string(said((v) => `must be a device string KIND:DEVNUM[?opts], got ${JSON.stringify(v)}`)).superRefine((text, ctx) => {
  try {
    parseDeviceSpec(text);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
}).describe('built-in device KIND:DEVNUM[?key=value&...], e.g. echo:1, block:3?file=disk.img');

/** Each device number once: the later use is the one reported, with the earlier one's pointer. */
const devices = array(deviceSpec).superRefine((list, ctx) => {
  const seen = new Map<number, number>();
  list.forEach((text, i) => {
    let dev: number;
    try {
      dev = parseDeviceSpec(text).dev;
    } catch {
      return; // reported by the item's own check
    }
    const earlier = seen.get(dev);
    if (earlier !== undefined) ctx.addIssue({ code: 'custom', path: [i], message: `device number ${dev} is already used by /devices/${earlier}` });
    else seen.set(dev, i);
  });
});

/** A router option's message is Router.create()'s own ("must be a power of two, got 48"). */
function routerOptionMessage(key: keyof RouterOptions, v: unknown): string {
  try {
    resolveRouterOptions({ [key]: v } as RouterOptions);
  } catch (e) {
    return (e as Error).message.replace(new RegExp(`^router option ${key}:? `), '');
  }
  return `is not accepted, got ${typeName(v)}`;
}

/** One router option: its range for the schema, and Router.create()'s check (core count, powers of two). */
const routerInteger = (key: keyof typeof ROUTER_OPTION_RANGES) => {
  const m = said((v) => routerOptionMessage(key, v));
  const [min, max] = ROUTER_OPTION_RANGES[key];
  return z.int(m).min(min, m).max(max, m).superRefine((v, ctx) => {
    try {
      resolveRouterOptions({ [key]: v });
    } catch {
      ctx.addIssue({ code: 'custom', message: routerOptionMessage(key, v) });
    }
  }).optional();
};

const routerShape = Object.fromEntries(Object.keys(ROUTER_OPTION_RANGES).map((k) => [k, routerInteger(k as keyof typeof ROUTER_OPTION_RANGES)])) as {
  [K in keyof typeof ROUTER_OPTION_RANGES]: ReturnType<typeof routerInteger>;
};

const objectError = said((v) => `must be an object, got ${typeName(v)}`);

const text = (required?: string) => {
  const m = said((v) => (v === undefined && required !== undefined ? `is required: ${required}` : `must be a non-empty string, got ${typeName(v)}`));
  return z.string(m).min(1, m);
};

/** The field of the cluster object a ClusterOptionError is about (its message names the flag). */
function clusterField(message: string): string {
  return /^--node/.test(message) ? 'node' : /^--advertise/.test(message) ? 'advertise' : /^--cluster-creds/.test(message) ? 'creds' : /^--cluster-ca/.test(message) ? 'ca' : /^--cluster-window/.test(message) ? 'window' : /bucket/.test(message) ? 'bucket' : 'url';
}

export const clusterSchema = z.object({
  url: text('the NATS server, nats://HOST:PORT').describe('--cluster URL: NATS server(s), nats://HOST:PORT or tls://HOST:PORT'),
  node: text("this router's name in the cluster").describe("--node NAME: this router's name in the cluster"),
  advertise: text().optional().describe('--advertise tcp:HOST:PORT | tls:HOST:PORT?cert=PEM&key=PEM&ca=PEM: where other routers reach this one'),
  creds: text().optional().describe('--cluster-creds FILE: NATS credentials'),
  ca: text().optional().describe("--cluster-ca FILE: CA (PEM) that signed the NATS server's certificate (the connection is then TLS)"),
  window: z.number(said((v) => `must be a power of two from 1 to 32768, got ${typeName(v)}`)).optional().describe('--cluster-window N: requests in flight at once to each imported device (default: the router\'s window)'),
  bucket: text().optional().describe('JetStream KV bucket of the directory (default vmsg)'),
}, objectError).strict().superRefine((c, ctx) => {
  try {
    checkClusterOptions({ url: c.url, node: c.node, advertise: c.advertise, credsFile: c.creds, caFile: c.ca, bucket: c.bucket, remoteWindow: c.window });
  } catch (e) {
    if (!(e instanceof ClusterOptionError)) throw e;
    ctx.addIssue({ code: 'custom', path: [clusterField(e.message)], message: e.message.replace(/^--[a-z-]+ /, '') });
  }
}).describe('cluster membership (README "Cluster")');

export const routerOptionsSchema = z.object({
  ...routerShape,
  packedRings: z.boolean(said((v) => routerOptionMessage('packedRings', v))).optional(),
  busyPollSeek: z.boolean(said((v) => routerOptionMessage('busyPollSeek', v))).optional(),
  shardCpus: z.array(z.int(said((v) => `must list CPU numbers, got ${typeName(v)}`)).min(0).max(MAX_CPU - 1), said((v) => routerOptionMessage('shardCpus', v))).superRefine((v, ctx) => {
    try {
      resolveRouterOptions({ shardCpus: v });
    } catch {
      ctx.addIssue({ code: 'custom', message: routerOptionMessage('shardCpus', v) });
    }
  }).optional(),
}, objectError).strict().describe('Router.create() options (README "API"); unset ones take their defaults');

export const routeConfigSchema = z.object({
  $schema: z.string().optional().describe('this schema, for editors'),
  driverLinks: array(linkUri).optional().describe('--driver-link URI (repeated): external drivers'),
  deviceLinks: array(linkUri).optional().describe('--device-link URI (repeated): external device-side buses'),
  devices: devices.optional().describe('--device KIND:DEVNUM[?opts] (repeated): built-in devices'),
  duration: number(0.001, 365 * 86400).optional().describe('--duration S: stop after this many seconds'),
  capture: text().optional().describe('--capture FILE.vmc: record every frame'),
  metrics: z.union([
    integer(0, 65535),
    z.string().regex(LISTEN_ADDRESS, said((v) => `must be a port (integer from 0 to 65535) or "HOST:PORT", got ${typeName(v)}`)),
  ], said((v) => `must be a port (integer from 0 to 65535) or "HOST:PORT", got ${typeName(v)}`)).optional().describe('--metrics [HOST:]PORT: Prometheus metrics (host default 127.0.0.1)'),
  logLevel: z.enum(LOG_LEVELS, said((v) => `must be one of ${LOG_LEVELS.join(', ')}, got ${typeName(v)}`)).optional().describe('--log-level L: JSON log lines on stderr'),
  cluster: clusterSchema.optional(),
  router: routerOptionsSchema.optional(),
}, objectError).strict();

/** The config file as written: what `vmsg route --config FILE` reads. */
export type RouteConfigFile = z.infer<typeof routeConfigSchema>;

/** Keys the schema knows at a JSON pointer (for "did you mean" on unknown keys). */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(routeConfigSchema.shape),
  '/router': Object.keys(routerOptionsSchema.shape),
  '/cluster': Object.keys(clusterSchema.shape),
};

/** The JSON Schema of the file (schema/route-config.schema.json is this, written out). */
export function routeConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(routeConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'vmsg route --config file',
    description: 'Every option of vmsg route, and every Router.create() option under "router". Flags given on the command line win over the file.',
  };
}

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
    cluster: file.cluster === undefined ? undefined : { url: file.cluster.url, node: file.cluster.node, advertise: file.cluster.advertise, credsFile: file.cluster.creds, caFile: file.cluster.ca, bucket: file.cluster.bucket, remoteWindow: file.cluster.window },
    router,
  };
}
