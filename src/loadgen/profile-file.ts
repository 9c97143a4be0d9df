// The load profile file (`vmsg bench --profile-file mix.json`): a JSON object naming a traffic
// profile, its parameters, a message mix for `mixed`, and optionally the load settings, so a
// whole benchmark can be kept in one file. Command-line flags override the "load" settings.
//
//   {
//     "profile": "mixed",                       one of PROFILE_NAMES (required)
//     "description": "reads with some writes",  free text (optional)
//     "mix": {"GET_DEVICE_STATUS": 70, "GET_CONFIG": 20, "SET_CONFIG": 5, "PING": 5},
//                                               mixed only: weight per message, integers >= 0, one > 0
//     "config": {"offset": 0, "length": 8},     GET/SET_CONFIG window
//     "queues": 4,                              virtqueues EVENT_AVAIL cycles through
//     "initQueues": 2,                          virtqueues the init sequence programs
//     "load": {"loop": "closed", "outstanding": 16, "rate": 20000, "warmup": 1, "duration": 10,
//              "count": 100000, "devices": [1, 2], "maxDevices": 8, "timeoutMs": 2000, "stallMs": 100}
//   }
// Errors name the bad value by JSON pointer, e.g. `mix.json: /mix/GET_CONFG: unknown key; did
// you mean "GET_CONFIG"? ...`.
import { readFile } from 'node:fs/promises';
import { JsonFieldError, JsonObject, integerItem, parseJsonText } from '../util/json-fields.js';
import { MIX_OPS, PROFILE_NAMES, type MixOp, type ProfileSpec } from './profiles.js';
import type { LoadOptions } from './load-options.js';

export interface ProfileFile {
  profile: ProfileSpec;
  description: string | undefined;
  /** Load settings from the file (flags override them). */
  load: Partial<Pick<LoadOptions, 'loop' | 'outstanding' | 'rate' | 'warmupS' | 'durationS' | 'count' | 'devices' | 'maxDevices' | 'timeoutMs' | 'stallMs'>>;
}

export function parseProfileFile(text: string, source?: string): ProfileFile {
  const doc: JsonObject = new JsonObject(parseJsonText(text, source), '', source);
  doc.onlyKeys(['$schema', 'profile', 'description', 'mix', 'config', 'queues', 'initQueues', 'load']);
  const name = doc.choice('profile', PROFILE_NAMES);
  if (name === undefined) doc.fail('/profile', `is required: one of ${PROFILE_NAMES.join(', ')}`);
  const profile: ProfileSpec = { name };
  const mix: JsonObject | undefined = doc.child('mix');
  if (name === 'mixed') {
    if (mix === undefined) doc.fail('/mix', `is required for the mixed profile: weights for ${MIX_OPS.join(', ')}`);
    mix.onlyKeys(MIX_OPS);
    const weights: Partial<Record<MixOp, number>> = {};
    for (const op of MIX_OPS) {
      const w = mix.integer(op, 0, 1_000_000);
      if (w !== undefined) weights[op] = w;
    }
    if (!Object.values(weights).some((w) => w > 0)) mix.fail('/mix', 'needs at least one message with a weight above 0');
    profile.mix = weights;
  } else if (mix !== undefined) {
    doc.fail('/mix', `applies to the mixed profile only (this file says "${name}")`);
  }
  const config = doc.child('config');
  if (config !== undefined) {
    config.onlyKeys(['offset', 'length']);
    const offset = config.integer('offset', 0, 0xffffffff);
    const length = config.integer('length', 0, 65535 - 20);
    if (offset !== undefined) profile.configOffset = offset;
    if (length !== undefined) profile.configLength = length;
  }
  const queues = doc.integer('queues', 1, 65536);
  if (queues !== undefined) profile.queues = queues;
  const initQueues = doc.integer('initQueues', 1, 1024);
  if (initQueues !== undefined) profile.initQueues = initQueues;

  const load: ProfileFile['load'] = {};
  const l = doc.child('load');
  if (l !== undefined) {
    l.onlyKeys(['loop', 'outstanding', 'rate', 'warmup', 'duration', 'count', 'devices', 'maxDevices', 'timeoutMs', 'stallMs']);
    const set = <K extends keyof ProfileFile['load']>(k: K, v: ProfileFile['load'][K] | undefined): void => {
      if (v !== undefined) load[k] = v;
    };
    set('loop', l.choice('loop', ['closed', 'open'] as const));
    set('outstanding', l.integer('outstanding', 1, 32768));
    set('rate', l.number('rate', 0.001, 1e9));
    set('warmupS', l.number('warmup', 0, 86400));
    set('durationS', l.number('duration', 0.001, 7 * 86400));
    set('count', l.integer('count', 1, Number.MAX_SAFE_INTEGER));
    set('devices', l.array('devices', integerItem(0, 65535, source), { min: 1 }));
    set('maxDevices', l.integer('maxDevices', 1, 65536));
    set('timeoutMs', l.integer('timeoutMs', 1, 3_600_000));
    set('stallMs', l.integer('stallMs', 1, 3_600_000));
    if (load.durationS !== undefined && load.count !== undefined) l.fail('/load', 'give "duration" or "count", not both');
    if (load.loop === 'open' && load.rate === undefined) l.fail('/load/rate', 'is required with "loop": "open"');
    if (load.rate !== undefined && load.loop !== 'open') l.fail('/load/rate', 'applies to "loop": "open" only');
  }
  return { profile, description: doc.string('description'), load };
}

/** Read and check a profile file; JsonFieldError names the file and the bad key. */
export async function loadProfileFile(path: string): Promise<ProfileFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new JsonFieldError('', `cannot read the profile file (${(e as Error).message})`, path);
  }
  return parseProfileFile(text, path);
}
