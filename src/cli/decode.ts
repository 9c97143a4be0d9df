// `vmsg decode`: decode and validate frames (docs/PROTOCOL.md §3–§8) — one JSON object or one summary line
// per frame, from --hex or a capture file. Exit status 0 all valid, 1 some invalid, 2 bad
// arguments or an unreadable capture.
import { parseArgs, optionsHelp, UsageError, type Parsed } from './args.js';
import { EXIT_USAGE, usageLine } from './exit.js';
import { fsReason, isFsError } from '../util/fs-reason.js';
import { validate, toJson, summary, DIRECTIONS, PROFILES, BUS_MAX_RECOMMENDED, MSG_SIZE_MIN, MSG_SIZE_LIMIT } from '../protocol/index.js';
import { TRANSPORT_NAMES, BUS_NAMES, TYPE_BUS } from '../protocol/constants.js';
import type { ValidateContext } from '../protocol/index.js';
import { readCaptureInTimeOrder } from '../capture/time-order.js';
import { CaptureFormatError, DIR_FROM_ROUTER, DIR_TO_ROUTER, type LinkRecord } from '../capture/vmc.js';

const FLAGS = {
  hex: { kind: 'hex', value: 'HEX', help: 'the frame: hex digits, two per byte, no spaces or 0x (e.g. 0002010001000800)' },
  'max-size': { kind: 'integer', value: 'N', min: MSG_SIZE_MIN, max: MSG_SIZE_LIMIT, help: `bus maximum message size (default ${BUS_MAX_RECOMMENDED})` },
  direction: { kind: 'choice', choices: DIRECTIONS, help: 'check that the message may travel this way (default: not checked)' },
  profile: { kind: 'choice', choices: PROFILES, help: 'payload layouts: PR28/PATCH v1 or the 2026 deltas (default rev1)' },
  'getdev-alt': { kind: 'boolean', help: 'GET_DEVICES response in the 2026 Linux field order offset,next_offset,count' },
  json: { kind: 'boolean', help: 'print one JSON object per frame instead of a summary line' },
  dev: { kind: 'integer', value: 'D', min: 0, max: 65535, help: 'capture files: only frames whose header dev_num is D' },
  msg: { kind: 'string', value: 'NAME|ID', help: 'capture files: only this message (name such as GET_DEVICE_STATUS, or msg_id such as 0x07)' },
  link: { kind: 'integer', value: 'L', min: 0, max: 65535, help: 'capture files: only frames of link (endpoint id) L' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

type DecodeFlags = Parsed<typeof FLAGS>;

const USAGE = `usage: vmsg decode --hex HEX [--max-size N] [--direction driver_to_device|device_to_driver] [--profile rev1|rev1-2026] [--json]
       vmsg decode FILE.vmc [--dev D] [--msg NAME|ID] [--link L] [--max-size N] [--profile P] [--json]

Decodes one virtio-msg frame and checks it against the bus and endpoint rules, or every frame
of a capture file (vmsg route --capture, Router.startCapture): one line per frame with its time,
link and direction (-> router, <- router), like a packet dissector.
Prints {"valid":true,"type":..,"msg_id":..,"dev_num":..,"token":..,"msg_size":..,"message":"GET_DEVICE_INFO","response":false,...fields}
or {"valid":false,"reason":"<CODE>","detail":"..."} with --json, else one summary line.
Exit status: 0 valid, 1 invalid, 2 bad arguments.

options:
${optionsHelp(FLAGS)}

examples:
  vmsg decode --hex 0002010001000800 --json
  vmsg decode run.vmc --msg PING
`;

export async function run(argv: string[]): Promise<number> {
  let flags: DecodeFlags;
  let file: string | undefined;
  let msgFilter: ((type: number, id: number) => boolean) | undefined;
  try {
    const parsed = parseArgs(argv, FLAGS);
    flags = parsed.flags;
    if (flags.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    file = captureFile(flags, parsed.positionals);
    msgFilter = flags.msg === undefined ? undefined : parseMsgFilter(flags.msg);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(usageLine('decode', e.message));
    return EXIT_USAGE;
  }
  const ctx: ValidateContext = {
    busMaxSize: flags['max-size'] ?? BUS_MAX_RECOMMENDED,
    direction: flags.direction,
    profile: flags.profile ?? 'rev1',
    getdevAlt: flags['getdev-alt'],
  };
  if (file === undefined) {
    const r = validate(flags.hex!, ctx);
    const line = flags.json ? JSON.stringify(toJson(r, { profile: ctx.profile })) : summary(r, { profile: ctx.profile });
    process.stdout.write(line + '\n');
    return r.ok ? 0 : 1;
  }
  try {
    return await decodeCapture(file, flags, ctx, msgFilter);
  } catch (e) {
    if (isFsError(e)) {
      process.stderr.write(usageLine('decode', `cannot read capture ${file}: ${fsReason(e)}`));
      return EXIT_USAGE;
    }
    if (!(e instanceof CaptureFormatError)) throw e;
    process.stderr.write(usageLine('decode', e.message));
    return EXIT_USAGE;
  }
}

/** The capture file to read, or undefined for --hex mode (exactly one of the two). */
function captureFile(flags: DecodeFlags, positionals: string[]): string | undefined {
  // `--hex 00 02 01`: the shell split the frame; the parser took the first byte as the value.
  if (flags.hex !== undefined && positionals.length > 0 && positionals.every((p) => /^[0-9a-fA-F]+$/.test(p))) {
    const joined = [Buffer.from(flags.hex).toString('hex'), ...positionals].join('');
    throw new UsageError(`--hex takes the frame as one word of hex digits, without spaces: --hex ${joined}`);
  }
  if (positionals.length > 1) throw new UsageError(`one capture file at a time (got ${positionals.length}: ${positionals.join(' ')})`);
  const file = positionals[0];
  if (file !== undefined && flags.hex !== undefined) throw new UsageError('give either --hex HEX or a capture file, not both');
  if (file === undefined) {
    if (flags.hex === undefined) throw new UsageError('missing --hex HEX (a frame, e.g. --hex 0002010001000800) or a capture file');
    for (const f of ['dev', 'msg', 'link'] as const) if (flags[f] !== undefined) throw new UsageError(`--${f} filters capture files; with --hex there is one frame`);
  } else if (flags.direction !== undefined) {
    throw new UsageError('--direction is taken from the capture (link kind and direction)');
  }
  return file;
}

/** --msg NAME|ID as a test on (type byte, msg_id): names know whether they are bus messages. */
function parseMsgFilter(text: string): (type: number, id: number) => boolean {
  if (/^(0x[0-9a-f]{1,2}|\d{1,3})$/i.test(text)) {
    const id = Number(text);
    if (id > 255) throw new UsageError(`--msg ${text}: msg_id is 0..255`);
    return (_type, msgId) => msgId === id;
  }
  const want = text.toUpperCase();
  const find = (names: Record<number, string>): number | undefined => {
    const hit = Object.entries(names).find(([, n]) => n === want);
    return hit === undefined ? undefined : Number(hit[0]);
  };
  const transport = find(TRANSPORT_NAMES);
  const bus = find(BUS_NAMES);
  if (transport === undefined && bus === undefined) {
    throw new UsageError(`--msg needs a message name (${[...Object.values(TRANSPORT_NAMES), ...Object.values(BUS_NAMES)].join(', ')}) or a msg_id such as 0x07, got "${text}"`);
  }
  return (type, id) => ((type & TYPE_BUS) !== 0 ? id === bus : id === transport);
}

async function decodeCapture(file: string, flags: DecodeFlags, ctx: ValidateContext, msgFilter: ((type: number, id: number) => boolean) | undefined): Promise<number> {
  const links = new Map<number, LinkRecord>();
  let status = 0;
  let out = '';
  const flushOut = async (): Promise<void> => {
    if (out === '') return;
    const chunk = out;
    out = '';
    if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
  };
  for await (const item of readCaptureInTimeOrder(file)) {
    if (item.kind === 'link') { links.set(item.link.link, item.link); continue; }
    if (item.kind === 'trailer') continue;
    const f = item.frame;
    if (flags.link !== undefined && f.link !== flags.link) continue;
    const b = f.bytes;
    if (flags.dev !== undefined && (b.length < 4 || (b[2]! | (b[3]! << 8)) !== flags.dev)) continue;
    if (msgFilter !== undefined && (b.length < 2 || !msgFilter(b[0]!, b[1]!))) continue;
    const link = links.get(f.link);
    // A driver link carries driver→device frames towards the router; a device link the reverse.
    const towardsDevice = (link?.kind === 'device') === (f.dir === DIR_FROM_ROUTER);
    const r = validate(b, { ...ctx, direction: link === undefined ? undefined : towardsDevice ? 'driver_to_device' : 'device_to_driver' });
    if (!r.ok) status = 1;
    const dir = f.dir === DIR_TO_ROUTER ? 'to_router' : 'from_router';
    if (flags.json) {
      out += JSON.stringify({ time: new Date(f.timeMs).toISOString(), time_ms: f.timeMs, link: f.link, link_name: link?.name ?? null, dir, ...toJson(r, { profile: ctx.profile }) }) + '\n';
    } else {
      const name = link?.name.split(' ')[0] ?? `link#${f.link}`;
      out += `${clock(f.timeMs)} ${name.padEnd(10)} ${f.dir === DIR_TO_ROUTER ? '-> router' : '<- router'}  ${summary(r, { profile: ctx.profile })}\n`;
    }
    if (out.length > 65536) await flushOut();
  }
  await flushOut();
  return status;
}

/** hh:mm:ss.uuuuuu (UTC) of a wall-clock time in ms. */
function clock(ms: number): string {
  const d = new Date(Math.floor(ms));
  const us = Math.floor((ms - Math.floor(ms / 1000) * 1000) * 1000);
  return `${d.toISOString().slice(11, 19)}.${String(us).padStart(6, '0')}`;
}
