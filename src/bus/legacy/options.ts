// The parameters of the legacy v0 link URIs (README "Legacy v0 devices"), checked once:
//   qemu-v0:DIR?name=NAME&sock=SOCKPATH&mem=FILE&mem_base=ADDR[&dev=N]
//   openamp:PATH?base=ADDR[&msg_size=BYTES][&dev=N]
// and for both this implementation's extensions: dev_id (the wire's v0 dev_id, default 0),
// reply_ms (deadline of one v0 exchange), wait (how long opening waits for the device side),
// config_size and vqs (what v0 cannot tell), version1 (OpenAMP: offer|hide VERSION_1).
import { checkParams, LinkUriError, type LegacyLinkUri } from '../uri.js';
import type { Version1Policy } from './translate.js';

const COMMON = ['dev', 'dev_id', 'reply_ms', 'wait', 'config_size', 'vqs'] as const;
export const QEMU_V0_PARAMS = ['name', 'sock', 'mem', 'mem_base', ...COMMON] as const;
export const OPENAMP_PARAMS = ['base', 'msg_size', 'version1', ...COMMON] as const;

/** One v0 exchange (request on the wire, the device's reply) may take this long by default, ms. */
export const DEFAULT_REPLY_MS = 1000;
/** OpenAMP's message region when msg_size= is not given: the rest of the file is memory for virtqueues. */
export const DEFAULT_OPENAMP_MSG_SIZE = 4096;
/** VERSION_1 on OpenAMP by default: offered (its rings are modern split little-endian rings; revision-1 drivers require it). */
export const DEFAULT_VERSION1: Version1Policy = 'offer';
/** Guest addresses must keep the virtqueue alignment between the file and the device's view. */
const ADDRESS_ALIGN = 16;

interface CommonOptions {
  uri: LegacyLinkUri;
  /** Router device number (undefined: the lowest free from 1). */
  dev: number | undefined;
  wireDevId: number;
  replyMs: number;
  waitMs: number | undefined;
  configSize: number | undefined;
  vqs: number | undefined;
}

export interface QemuV0Options extends CommonOptions {
  scheme: 'qemu-v0';
  dir: string;
  name: string;
  sock: string;
  memPath: string;
  /** Where QEMU sees the memory file (its mem-offset). */
  memBase: number;
}

export interface OpenampOptions extends CommonOptions {
  scheme: 'openamp';
  path: string;
  /** Where the device side maps the file (addresses are its CPU pointers). */
  base: number;
  msgSize: number;
  version1: Version1Policy;
}

export type LegacyOptions = QemuV0Options | OpenampOptions;

function bad(uri: LegacyLinkUri, why: string): never {
  throw new LinkUriError(`link URI "${uri.text}": ${why}`);
}

function intParam(uri: LegacyLinkUri, name: string, min: number, max: number): number | undefined {
  const v = uri.params.get(name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) bad(uri, `${name}= must be an integer from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

function addressParam(uri: LegacyLinkUri, name: string): number {
  const v = uri.params.get(name);
  if (v === undefined || v === '') bad(uri, `${name}=ADDR is required (the address the device side sees the file at, e.g. 0x40000000)`);
  const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v.slice(2), 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n % ADDRESS_ALIGN !== 0) bad(uri, `${name}= must be an address (decimal or 0x hex) that is a multiple of ${ADDRESS_ALIGN}, got "${v}"`);
  return n;
}

function required(uri: LegacyLinkUri, name: string, what: string): string {
  const v = uri.params.get(name);
  if (v === undefined || v === '') bad(uri, `${name}= is required (${what})`);
  return v;
}

function common(uri: LegacyLinkUri): CommonOptions {
  return {
    uri,
    dev: intParam(uri, 'dev', 1, 65535),
    wireDevId: intParam(uri, 'dev_id', 0, 65535) ?? 0,
    replyMs: intParam(uri, 'reply_ms', 1, 600_000) ?? DEFAULT_REPLY_MS,
    waitMs: intParam(uri, 'wait', 0, 24 * 3_600_000),
    configSize: intParam(uri, 'config_size', 0, 0xffffff),
    vqs: intParam(uri, 'vqs', 1, 1024),
  };
}

/** Check and resolve a legacy link URI's parameters; throws LinkUriError naming the problem. */
export function legacyOptions(uri: LegacyLinkUri): LegacyOptions {
  if (uri.scheme === 'qemu-v0') {
    checkParams(uri, QEMU_V0_PARAMS);
    const name = required(uri, 'name', 'the bus name=NAME QEMU was given: its queue files are DIR/queue-NAME-driver and DIR/queue-NAME-device');
    if (name.includes('/')) bad(uri, `name= must not contain "/", got "${name}"`);
    return {
      ...common(uri), scheme: 'qemu-v0', dir: uri.path, name,
      sock: required(uri, 'sock', 'the chardev socket QEMU listens on'),
      memPath: required(uri, 'mem', "QEMU's memory-backend-file mem-path"),
      memBase: addressParam(uri, 'mem_base'),
    };
  }
  checkParams(uri, OPENAMP_PARAMS);
  const version1 = uri.params.get('version1') ?? DEFAULT_VERSION1;
  if (version1 !== 'offer' && version1 !== 'hide') bad(uri, `version1= must be offer or hide, got "${version1}"`);
  return {
    ...common(uri), scheme: 'openamp', path: uri.path, base: addressParam(uri, 'base'),
    msgSize: intParam(uri, 'msg_size', 512, 1 << 30) ?? DEFAULT_OPENAMP_MSG_SIZE, version1,
  };
}
