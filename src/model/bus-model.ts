// A bus model (docs/BUSES.md §6 "Load models"): the properties of a real virtio-msg bus that
// shape a workload — queue slots, largest frame, notification cost, requests outstanding, token
// handling, what a sender does on a full queue, timeouts — as data. Built-in models are JSON
// files in models/ (one per bus, `vmsg stress --model NAME`); a user model is a JSON file of
// the same shape (`--model ./my-bus.json`). Every field is checked; a bad one is named by its
// JSON pointer: `my-bus.json: /queueFull/driverSide/intervalMs: must be a number from 0 to 60000, got string "10"`.
//
//   {
//     "format": "vmsg-bus-model",          required, this exact string
//     "name": "vmamp-pci",                 required
//     "description": "...",                free text
//     "slots": 62,                         frames a queue holds per direction (usable slots)
//     "maxFrame": 64,                      largest frame (bytes, header included)
//     "outstanding": {"scope": "device", "limit": 1},
//                                          requests in flight: per device (bus messages have their
//                                          own window), per bus (one window for everything) or per
//                                          endpoint (one table: limit = its size)
//     "tokens": {"requests": "fixed", "value": 1, "busResponses": "echo"},
//                                          what the bus puts in a request's token toward the device:
//                                          fixed (value), counter (from `start`, skipping 0 and
//                                          1 on wrap, per endpoint), none (0), echo (unchanged);
//                                          busResponses: echo, or zero (QEMU's bus answers)
//     "notify": {"per": "message", "toDeviceUs": 5, "toDriverUs": 5},
//                                          one notification per frame or per batch of frames
//                                          taken together; its cost is a calibrated delay (µs)
//     "queueFull": {"driverSide": {...}, "deviceSide": {...}},
//                                          what that side does when the queue it sends into is
//                                          full: {"policy": "retry", "intervalMs": 10, "retries": 1000,
//                                          "then": "EIO"} | {"policy": "spin"} | {"policy": "fail",
//                                          "then": "ENOSPC"} | {"policy": "wait", "timeoutMs": 5000,
//                                          "backoffMs": [1, 32], "then": "ETIMEDOUT"}
//     "timeouts": {"responseMs": 100000},  a request unanswered this long is given up
//     "notes": ["..."]                     free text, where the numbers come from
//   }
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { JsonFieldError, JsonObject, parseJsonText, stringItem } from '../util/json-fields.js';
import { packageRoot } from '../util/paths.js';

export const BUS_MODEL_FORMAT = 'vmsg-bus-model';
export const BUILTIN_MODELS = ['vmamp-pci', 'spsc-v1', 'sram-496', 'qemu-linux-user', 'ffa-direct', 'ffa-fifo', 'openamp-st', 'bridge-2026'] as const;
export type BuiltinModelName = (typeof BUILTIN_MODELS)[number];

export const OUTSTANDING_SCOPES = ['device', 'bus', 'endpoint'] as const;
export const TOKEN_POLICIES = ['fixed', 'counter', 'none', 'echo'] as const;
export const BUS_RESPONSE_TOKENS = ['echo', 'zero'] as const;
export const NOTIFY_PER = ['message', 'batch'] as const;
export const FULL_POLICIES = ['retry', 'spin', 'fail', 'wait'] as const;

export type FullQueuePolicy =
  /** Try again every intervalMs, at most `retries` times (0 = forever), then give the frame up with `then`. */
  | { policy: 'retry'; intervalMs: number; retries: number; then: string }
  /** Try again at once, forever (the sender spins). */
  | { policy: 'spin' }
  /** Give the frame up at once with `then`. */
  | { policy: 'fail'; then: string }
  /** Wait for room (the consumer signals it), re-checking with a backoff doubling from backoffMs[0] to backoffMs[1]; give up after timeoutMs. */
  | { policy: 'wait'; timeoutMs: number; backoffMs: [number, number]; then: string };

export interface BusModel {
  name: string;
  description: string;
  /** Where it came from: the built-in name or the file path. */
  source: string;
  slots: number;
  maxFrame: number;
  outstanding: { scope: (typeof OUTSTANDING_SCOPES)[number]; limit: number };
  tokens: { requests: (typeof TOKEN_POLICIES)[number]; value: number; start: number; busResponses: (typeof BUS_RESPONSE_TOKENS)[number] };
  notify: { per: (typeof NOTIFY_PER)[number]; toDeviceUs: number; toDriverUs: number };
  queueFull: { driverSide: FullQueuePolicy; deviceSide: FullQueuePolicy };
  timeouts: { responseMs: number };
  notes: string[];
}

const ERRNO = /^E[A-Z0-9]{2,15}$|^RETRY$/;

function fullPolicy(o: JsonObject): FullQueuePolicy {
  const policy = o.choice('policy', FULL_POLICIES);
  if (policy === undefined) o.fail(`${o.at}/policy`, `is required: one of ${FULL_POLICIES.join(', ')}`);
  const errno = (): string => {
    const t = o.string('then');
    if (t === undefined) o.fail(`${o.at}/then`, 'is required: the error the sender ends with (e.g. EIO, ENOSPC, EBUSY)');
    if (!ERRNO.test(t)) o.fail(`${o.at}/then`, `must be an errno name such as EIO, got "${t}"`);
    return t;
  };
  switch (policy) {
    case 'retry': {
      o.onlyKeys(['policy', 'intervalMs', 'retries', 'then']);
      const intervalMs = o.number('intervalMs', 0, 60_000);
      if (intervalMs === undefined) o.fail(`${o.at}/intervalMs`, 'is required for policy retry');
      return { policy, intervalMs, retries: o.integer('retries', 0, 1e9) ?? 0, then: errno() };
    }
    case 'spin':
      o.onlyKeys(['policy']);
      return { policy };
    case 'fail':
      o.onlyKeys(['policy', 'then']);
      return { policy, then: errno() };
    case 'wait': {
      o.onlyKeys(['policy', 'timeoutMs', 'backoffMs', 'then']);
      const timeoutMs = o.number('timeoutMs', 0, 3_600_000);
      if (timeoutMs === undefined) o.fail(`${o.at}/timeoutMs`, 'is required for policy wait');
      const backoff = o.array('backoffMs', (v, at) => {
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 60_000) throw new JsonFieldError(at, `must be a number from 0 to 60000, got ${JSON.stringify(v)}`, o.source);
        return v;
      }, { min: 2 }) ?? [1, 1];
      if (backoff.length !== 2 || backoff[0]! > backoff[1]!) o.fail(`${o.at}/backoffMs`, `must be [min, max] with min <= max, got ${JSON.stringify(backoff)}`);
      return { policy, timeoutMs, backoffMs: [backoff[0]!, backoff[1]!], then: errno() };
    }
  }
}

/** Check a parsed model document; `source` names it in errors (file path or built-in name). */
export function parseBusModel(doc: unknown, source: string): BusModel {
  const o = new JsonObject(doc, '', source);
  o.onlyKeys(['$schema', 'format', 'name', 'description', 'slots', 'maxFrame', 'outstanding', 'tokens', 'notify', 'queueFull', 'timeouts', 'notes']);
  if (o.raw('format') !== BUS_MODEL_FORMAT) o.fail('/format', `must be "${BUS_MODEL_FORMAT}", got ${JSON.stringify(o.raw('format') ?? null)}`);
  const need = <T>(v: T | undefined, at: string, what: string): T => (v === undefined ? o.fail(at, `is required: ${what}`) : v);
  const name = need(o.string('name'), '/name', 'the model\'s name');
  const slots = need(o.integer('slots', 1, 65535), '/slots', 'usable queue slots per direction, 1..65535');
  const maxFrame = need(o.integer('maxFrame', 12, 65535), '/maxFrame', 'largest frame in bytes, 12..65535');

  const out = need(o.child('outstanding'), '/outstanding', '{"scope": "device"|"bus"|"endpoint", "limit": N}');
  out.onlyKeys(['scope', 'limit']);
  const outstanding = {
    scope: need(out.choice('scope', OUTSTANDING_SCOPES), '/outstanding/scope', OUTSTANDING_SCOPES.join(', ')),
    limit: need(out.integer('limit', 1, 65535), '/outstanding/limit', 'requests in flight per scope, 1..65535'),
  };

  const tok = need(o.child('tokens'), '/tokens', '{"requests": "fixed"|"counter"|"none"|"echo", ...}');
  tok.onlyKeys(['requests', 'value', 'start', 'busResponses']);
  const requests = need(tok.choice('requests', TOKEN_POLICIES), '/tokens/requests', TOKEN_POLICIES.join(', '));
  const value = tok.integer('value', 0, 65535);
  if (requests === 'fixed' && value === undefined) tok.fail('/tokens/value', 'is required when requests is fixed (the token every request carries)');
  if (requests !== 'fixed' && value !== undefined) tok.fail('/tokens/value', `applies to requests "fixed" only (this model says "${requests}")`);
  const start = tok.integer('start', 1, 65535);
  if (requests !== 'counter' && start !== undefined) tok.fail('/tokens/start', `applies to requests "counter" only (this model says "${requests}")`);
  const tokens = { requests, value: value ?? 0, start: start ?? 1, busResponses: tok.choice('busResponses', BUS_RESPONSE_TOKENS) ?? 'echo' };

  const no = need(o.child('notify'), '/notify', '{"per": "message"|"batch", "toDeviceUs": N, "toDriverUs": N}');
  no.onlyKeys(['per', 'toDeviceUs', 'toDriverUs']);
  const notify = {
    per: need(no.choice('per', NOTIFY_PER), '/notify/per', NOTIFY_PER.join(', ')),
    toDeviceUs: need(no.number('toDeviceUs', 0, 1e6), '/notify/toDeviceUs', 'µs a notification toward the device costs'),
    toDriverUs: need(no.number('toDriverUs', 0, 1e6), '/notify/toDriverUs', 'µs a notification toward the driver costs'),
  };

  const qf = need(o.child('queueFull'), '/queueFull', '{"driverSide": {...}, "deviceSide": {...}}');
  qf.onlyKeys(['driverSide', 'deviceSide']);
  const queueFull = {
    driverSide: fullPolicy(need(qf.child('driverSide'), '/queueFull/driverSide', 'the driver side\'s policy')),
    deviceSide: fullPolicy(need(qf.child('deviceSide'), '/queueFull/deviceSide', 'the device side\'s policy')),
  };

  const to = need(o.child('timeouts'), '/timeouts', '{"responseMs": N}');
  to.onlyKeys(['responseMs']);
  const timeouts = { responseMs: need(to.number('responseMs', 0.001, 1e9), '/timeouts/responseMs', 'ms before an unanswered request is given up') };

  return {
    name, description: o.string('description') ?? '', source, slots, maxFrame, outstanding, tokens, notify, queueFull, timeouts,
    notes: o.array('notes', stringItem(source)) ?? [],
  };
}

/** Parse model JSON text. */
export function parseBusModelText(text: string, source: string): BusModel {
  return parseBusModel(parseJsonText(text, source), source);
}

/** Directory of the built-in model files. */
export function builtinModelDir(): string {
  return join(packageRoot(), 'models');
}

/**
 * A built-in model by name, or a user model file by path (anything with a '/' or ending in
 * .json). Throws JsonFieldError for a bad file, Error for an unknown name or a missing file.
 */
export function loadBusModel(nameOrFile: string): BusModel {
  const isFile = nameOrFile.includes('/') || nameOrFile.endsWith('.json');
  if (!isFile) {
    if (!(BUILTIN_MODELS as readonly string[]).includes(nameOrFile)) {
      throw new Error(`unknown bus model "${nameOrFile}" (built-in: ${BUILTIN_MODELS.join(', ')}; or a model file path ending in .json)`);
    }
    const path = join(builtinModelDir(), `${nameOrFile}.json`);
    return parseBusModelText(readFileSync(path, 'utf8'), nameOrFile);
  }
  if (!existsSync(nameOrFile)) throw new Error(`bus model file "${nameOrFile}" does not exist`);
  return parseBusModelText(readFileSync(nameOrFile, 'utf8'), nameOrFile);
}

/** Every built-in model, checked. */
export function builtinModels(): BusModel[] {
  return BUILTIN_MODELS.map((n) => loadBusModel(n));
}
