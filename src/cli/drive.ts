// `vmsg drive --target URI --dev D [--mem FILE[@BASE]] entropy --bytes N | block --write-read MiB [--verify] [--json]`:
// bring a real device up on any bus the router speaks and move data through its virtqueues.
// The target is attached as a device link of an in-process router (so every link kind works,
// the legacy v0 ones included) and driven by the Driver SDK, whose virtqueues and buffers live
// in the memory the device sees: --mem FILE@BASE (BASE = the device's address of the file's
// first byte), or, for a legacy link, the memory that link names (qemu-v0 mem=/mem_base=, the
// openamp file after its message region). Exit 0 when all the data came through (and, with
// --verify, read back identical); 1 otherwise or when the target cannot be opened; 2 bad arguments.
import { statSync } from 'node:fs';
import { parseArgs, optionsHelp, UsageError } from './args.js';
import { EXIT_USAGE, usageLine } from './exit.js';
import { checkInputFile } from './startup-checks.js';
import { Router } from '../router/router.js';
import { openBusLink } from '../bus/open.js';
import { LinkUriError, parseLinkUri } from '../bus/uri.js';
import type { BusLink } from '../bus/bus-link.js';
import { legacyOptions, DEFAULT_OPENAMP_MSG_SIZE } from '../bus/legacy/options.js';
import { VirtioDriver } from '../driver/driver.js';
import { EntropyDriver } from '../driver/entropy-driver.js';
import { BlockDriver } from '../driver/block-driver.js';
import { openGuestMemoryFile, type GuestMemoryFile } from '../virtqueue/guest-memory-file.js';
import { VIRTIO_F_ACCESS_PLATFORM, featureBit } from '../virtqueue/feature-bits.js';

const FLAGS = {
  target: { kind: 'string', value: 'URI', help: 'the device-side bus: qemu-v0:…, openamp:…, vmamp:…, spsc:…, unix:…, tcp:…' },
  dev: { kind: 'integer', value: 'D', min: 1, max: 65535, help: 'device number to drive' },
  mem: { kind: 'string', value: 'FILE[@BASE]', help: 'memory file the device sees, and its address there (default 0); default for legacy links: the memory the URI names' },
  bytes: { kind: 'integer', value: 'N', min: 1, max: 2 ** 40, help: 'entropy: bytes to read through the virtqueue' },
  'write-read': { kind: 'integer', value: 'MiB', min: 1, max: 1 << 20, help: 'block: MiB to write from sector 0, then read back' },
  verify: { kind: 'boolean', help: 'block: compare what was read with what was written' },
  'timeout-ms': { kind: 'integer', value: 'MS', min: 1, max: 3_600_000, help: 'deadline of one request (default 10000)' },
  wait: { kind: 'integer', value: 'MS', min: 0, max: 3_600_000, help: 'how long to wait for the device side and the device (default 10000)' },
  json: { kind: 'boolean', help: 'print the result as one JSON object' },
  help: { kind: 'boolean', help: 'show this help' },
} as const;

const USAGE = `usage: vmsg drive --target URI --dev D [--mem FILE[@BASE]] entropy --bytes N [--json]
       vmsg drive --target URI --dev D [--mem FILE[@BASE]] block --write-read MiB [--verify] [--json]

Initialises device D behind URI (reset, features, queues, DRIVER_OK) and moves data through
real virtqueues placed in the memory the device sees. Exit status: 0 when all the data came
through (and read back identical with --verify), 1 otherwise, 2 bad arguments.

options:
${optionsHelp(FLAGS)}

example:
  vmsg route --driver-link 'vmamp:/dev/shm/w1?size=8192&sock=/tmp/w1.sock' --device entropy:1 &
  vmsg drive --target 'vmamp:/dev/shm/w1?size=8192&sock=/tmp/w1.sock' --dev 1 entropy --bytes 65536 --json
`;

/** Read size per entropy request (one descriptor). */
const ENTROPY_CHUNK = 4096;
/** Largest block transfer per request, and per write/read call of the workload. */
const BLOCK_CHUNK = 64 * 1024;
const BLOCK_STEP = 1024 * 1024;

interface Plan {
  target: string;
  dev: number;
  kind: 'entropy' | 'block';
  bytes: number;
  verify: boolean;
  mem: { path: string; base: number; skip: number } | undefined;
  timeoutMs: number;
  waitMs: number;
  json: boolean;
}

function parseAddress(text: string): number {
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n % 16 !== 0) throw new UsageError(`--mem: BASE must be an address (decimal or 0x hex), a multiple of 16, got "${text}"`);
  return n;
}

function plan(argv: string[]): Plan | 'help' {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help) return 'help';
  if (flags.target === undefined || flags.dev === undefined) throw new UsageError('--target URI and --dev D are required');
  const [kind, ...extra] = positionals;
  if (kind !== 'entropy' && kind !== 'block') throw new UsageError(`name the workload: entropy --bytes N or block --write-read MiB, got ${kind === undefined ? 'nothing' : `"${kind}"`}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (kind === 'entropy' && (flags.bytes === undefined || flags['write-read'] !== undefined || flags.verify)) throw new UsageError('entropy takes --bytes N (and no --write-read, --verify)');
  if (kind === 'block' && (flags['write-read'] === undefined || flags.bytes !== undefined)) throw new UsageError('block takes --write-read MiB [--verify] (and no --bytes)');
  let mem: Plan['mem'];
  if (flags.mem !== undefined) {
    const at = flags.mem.lastIndexOf('@');
    const path = at < 0 ? flags.mem : flags.mem.slice(0, at);
    if (path === '') throw new UsageError('--mem needs a file path');
    mem = { path, base: at < 0 ? 0 : parseAddress(flags.mem.slice(at + 1)), skip: 0 };
  } else {
    const uri = parseLinkUri(flags.target);
    if (uri.scheme === 'qemu-v0') {
      const o = legacyOptions(uri);
      if (o.scheme === 'qemu-v0') mem = { path: o.memPath, base: o.memBase, skip: 0 };
    } else if (uri.scheme === 'openamp') {
      const o = legacyOptions(uri);
      if (o.scheme === 'openamp') mem = { path: o.path, base: o.base, skip: o.msgSize ?? DEFAULT_OPENAMP_MSG_SIZE };
    } else {
      throw new UsageError(`--target ${uri.scheme}: name the memory the device sees with --mem FILE@BASE (the driver's virtqueues and buffers go there)`);
    }
  }
  // Before any link opens: a mistyped or empty memory file is the command line's mistake.
  if (mem !== undefined) {
    const what = flags.mem !== undefined ? '--mem file' : `the memory file of --target ${flags.target}:`;
    checkInputFile(mem.path, what);
    const size = statSync(mem.path).size;
    if (size <= mem.skip) throw new UsageError(`${flags.mem !== undefined ? '--mem file' : 'memory file'} ${mem.path} holds ${size} bytes, no room for virtqueues${mem.skip > 0 ? ` after its first ${mem.skip}` : ''}; give the file the device maps (e.g. one made with truncate -s 16M ${mem.path})`);
  }
  return {
    target: flags.target, dev: flags.dev, kind, verify: flags.verify, mem, json: flags.json,
    bytes: kind === 'entropy' ? flags.bytes! : flags['write-read']! * 1024 * 1024,
    timeoutMs: flags['timeout-ms'] ?? 10_000, waitMs: flags.wait ?? 10_000,
  };
}

/** A legacy URI without dev= gets the device number asked for. */
function withDev(target: string, dev: number): string {
  const scheme = target.slice(0, target.indexOf(':'));
  if ((scheme !== 'qemu-v0' && scheme !== 'openamp') || /[?&]dev=/.test(target)) return target;
  return `${target}${target.includes('?') ? '&' : '?'}dev=${dev}`;
}

export async function run(argv: string[]): Promise<number> {
  let p: Plan;
  try {
    const got = plan(argv);
    if (got === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    p = got;
  } catch (e) {
    if (e instanceof UsageError || e instanceof LinkUriError) {
      process.stderr.write(usageLine('drive', e.message));
      return EXIT_USAGE;
    }
    throw e;
  }
  let memory: GuestMemoryFile | undefined;
  let router: Router | undefined;
  let link: BusLink | undefined;
  let driver: VirtioDriver | undefined;
  const started = performance.now();
  try {
    memory = openGuestMemoryFile(p.mem!.path, p.mem!.base, { skip: p.mem!.skip });
    router = await Router.create({ shards: 1, timeoutMs: p.timeoutMs });
    link = await openBusLink(router, withDev(p.target, p.dev), 'device', { waitMs: p.waitMs });
    const deadline = Date.now() + p.waitMs;
    // Devices of a discovered bus join once their discovery ran.
    while (!router.stats().devices.some((d) => d.dev === p.dev)) {
      if (Date.now() > deadline) throw new Error(`device ${p.dev} did not appear behind ${p.target} (devices there: ${link.devices.join(', ') || 'none'})`);
      await new Promise((r) => setTimeout(r, 5));
    }
    driver = new VirtioDriver(await router.attachDriver(), { memory: memory.memory, requestTimeoutMs: p.timeoutMs + 1000 });
    const t0 = performance.now();
    const result = p.kind === 'entropy' ? await entropy(driver, p) : await block(driver, p);
    const seconds = (performance.now() - t0) / 1000;
    const out = { ...result, seconds: Number(seconds.toFixed(6)), setup_seconds: Number(((t0 - started) / 1000).toFixed(6)) };
    if (p.json) process.stdout.write(JSON.stringify(out) + '\n');
    else process.stdout.write(Object.entries(out).map(([k, v]) => `${k} ${String(v)}`).join('  ') + '\n');
    return result.ok ? 0 : 1;
  } catch (e) {
    process.stderr.write(`vmsg drive: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await driver?.close().catch(() => undefined);
    await link?.close().catch(() => undefined);
    await router?.close().catch(() => undefined);
    memory?.close();
  }
}

interface Outcome {
  ok: boolean;
  [k: string]: unknown;
}

async function entropy(driver: VirtioDriver, p: Plan): Promise<Outcome> {
  const rng = await EntropyDriver.open(driver, p.dev, { bufferBytes: ENTROPY_CHUNK, features: featureBit(VIRTIO_F_ACCESS_PLATFORM) });
  const deviceId = rng.device.info?.deviceId ?? 4;
  let bytes = 0;
  let requests = 0;
  while (bytes < p.bytes) {
    const n = Math.min(ENTROPY_CHUNK * 16, p.bytes - bytes);
    const got = await rng.read(n);
    requests += Math.ceil(n / ENTROPY_CHUNK);
    bytes += got.length;
  }
  return { ok: bytes === p.bytes, device_id: deviceId, bytes, requests };
}

async function block(driver: VirtioDriver, p: Plan): Promise<Outcome> {
  const blk = await BlockDriver.open(driver, p.dev, { maxTransfer: BLOCK_CHUNK });
  if (blk.capacity * 512 < p.bytes) throw new Error(`the disk holds ${blk.capacity * 512} bytes, fewer than --write-read ${p.bytes / 1048576} MiB`);
  let written = 0;
  let read = 0;
  let mismatches = 0;
  let requests = 0;
  for (let at = 0; at < p.bytes; at += BLOCK_STEP) {
    const n = Math.min(BLOCK_STEP, p.bytes - at);
    const data = new Uint8Array(n);
    // A pattern that differs per sector and per run position: a misplaced sector shows.
    for (let i = 0; i < n; i += 4) new DataView(data.buffer).setUint32(i, (at + i) ^ 0x5bd1e995, true);
    await blk.write(at / 512, data);
    written += n;
    const back = await blk.read(at / 512, n);
    read += back.length;
    requests += 2 * Math.ceil(n / BLOCK_CHUNK);
    if (p.verify) for (let i = 0; i < n; i++) if (back[i] !== data[i]) mismatches++;
  }
  await blk.flush();
  return { ok: written === p.bytes && read === p.bytes && mismatches === 0, device_id: 2, bytes_written: written, bytes_read: read, mismatches, requests, verified: p.verify };
}
