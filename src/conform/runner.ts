// The conformance checker (`vmsg conform`): finds the devices (GET_DEVICES), picks the device
// under test, runs the docs/PROTOCOL.md §7 bus rules then the §8 device rules in order, and reports PASS, FAIL
// or SKIP for each with its section. The report is JSON-ready; formatConformText prints it.
import type { FrameChannel } from '../bus/bus-link.js';
import { discoverDevices } from '../client/discovery.js';
import { T_GET_DEVICE_STATUS } from '../protocol/constants.js';
import { BUS_RULES } from './bus-rules.js';
import { DEVICE_RULES } from './device-rules.js';
import { ConformContext, type ConformOptions } from './context.js';
import type { Rule, RuleStatus } from './rule.js';

export const CONFORM_FORMAT = 'vmsg-conform';
export const CONFORM_VERSION = 1;

/** Every rule, in the order they run. */
export const RULES: readonly Rule[] = [...BUS_RULES, ...DEVICE_RULES];

export interface RuleReport {
  id: string;
  section: string;
  scope: 'bus' | 'device';
  title: string;
  status: RuleStatus;
  detail: string;
  ms: number;
}

export interface ConformReport {
  format: typeof CONFORM_FORMAT;
  version: number;
  target: string;
  profile: string;
  /** Devices GET_DEVICES reported (null: it did not work). */
  devices: number[] | null;
  /** Device under test (null: none). */
  device: number | null;
  /** How long the device under test took to give its first answer (null: none within settleMs, or no device). */
  first_answer_ms: number | null;
  started: string;
  seconds: number;
  summary: { pass: number; fail: number; skip: number };
  rules: RuleReport[];
}

export class ConformOptionsError extends RangeError {
  override name = 'ConformOptionsError';
}

/** The options' checks, callable before any channel is opened (the CLI refuses bad flags first). */
export function checkConformOptions(o: ConformOptions): void {
  if (o.dev !== undefined && (!Number.isInteger(o.dev) || o.dev < 0 || o.dev > 65535)) throw new ConformOptionsError(`dev must be a device number 0..65535, got ${o.dev}`);
  if (o.profile !== undefined && o.profile !== 'rev1' && o.profile !== 'rev1-2026') throw new ConformOptionsError(`profile must be rev1 or rev1-2026, got ${String(o.profile)}`);
  for (const [k, v] of [['timeoutMs', o.timeoutMs], ['quietMs', o.quietMs], ['settleMs', o.settleMs]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 600_000)) throw new ConformOptionsError(`${k} must be an integer from 1 to 600000, got ${v}`);
  }
  if (o.queueBase !== undefined && (typeof o.queueBase !== 'bigint' || o.queueBase < 0n || o.queueBase > 0xffff_ffff_ffff_0000n || o.queueBase % 4096n !== 0n)) {
    throw new ConformOptionsError(`queueBase must be a 4096-aligned guest address below 2^64 - 64 KiB, got ${String(o.queueBase)}`);
  }
  if (o.only !== undefined) {
    const unknown = o.only.filter((p) => !RULES.some((r) => r.id.startsWith(p)));
    if (unknown.length > 0) throw new ConformOptionsError(`no rule id starts with ${unknown.map((u) => `"${u}"`).join(', ')}; rules: ${RULES.map((r) => r.id).join(', ')}`);
  }
}

/** Run the rules against the device-side bus behind `channel`. `target` names it in the report. */
export async function runConformance(channel: FrameChannel, opts: ConformOptions = {}, target = 'in-process'): Promise<ConformReport> {
  checkConformOptions(opts);
  const ctx = new ConformContext(channel, opts);
  const started = new Date();
  const t0 = performance.now();
  try {
    ctx.devices = await discoverDevices(ctx.ex, ctx.timeoutMs);
  } catch (e) {
    ctx.devices = undefined;
    ctx.noDevice = `GET_DEVICES failed: ${(e as Error).message}`;
  }
  if (opts.dev !== undefined) {
    // A device the bus does not report cannot be checked: its rules SKIP with the reason
    // (running them would only turn a wrong --dev into a row of false FAILs).
    if (ctx.devices !== undefined && !ctx.devices.includes(opts.dev)) ctx.noDevice = `device ${opts.dev} is not among the devices GET_DEVICES reports (${ctx.devices.join(',') || 'none'})`;
    else ctx.dev = opts.dev;
  } else if (ctx.devices !== undefined) {
    ctx.dev = ctx.devices[0];
    if (ctx.dev === undefined) ctx.noDevice = 'GET_DEVICES reports no device; give --dev';
  } else {
    ctx.noDevice += '; give --dev';
  }
  // Wait for one answer of the device under test before judging anything: answers held by a
  // router behind an earlier run's unanswered requests would otherwise fail rule after rule.
  let firstAnswerMs: number | null = null;
  if (ctx.dev !== undefined) {
    const s0 = performance.now();
    const a = await ctx.ask(ctx.request(T_GET_DEVICE_STATUS), { timeoutMs: Math.max(ctx.timeoutMs, ctx.settleMs) });
    if (a.answer !== undefined) firstAnswerMs = Math.round(performance.now() - s0);
  }
  const rules = opts.only === undefined ? RULES : RULES.filter((r) => opts.only!.some((p) => r.id.startsWith(p)));
  const reports: RuleReport[] = [];
  for (const rule of rules) {
    const r0 = performance.now();
    let status: RuleStatus, detail: string;
    try {
      ({ status, detail } = await rule.run(ctx));
    } catch (e) {
      status = 'FAIL';
      detail = `the check could not finish: ${(e as Error).message}`;
    }
    ctx.ex.drain(); // late frames are in the log, where the log-based rules see them
    reports.push({ id: rule.id, section: rule.section, scope: rule.scope, title: rule.title, status, detail, ms: Math.round(performance.now() - r0) });
  }
  return {
    format: CONFORM_FORMAT,
    version: CONFORM_VERSION,
    target,
    profile: ctx.profile,
    devices: ctx.devices ?? null,
    device: ctx.dev ?? null,
    first_answer_ms: firstAnswerMs,
    started: started.toISOString(),
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
    summary: {
      pass: reports.filter((r) => r.status === 'PASS').length,
      fail: reports.filter((r) => r.status === 'FAIL').length,
      skip: reports.filter((r) => r.status === 'SKIP').length,
    },
    rules: reports,
  };
}

/** One line per rule: status, section, id, title, then the detail indented. */
export function formatConformText(r: ConformReport): string {
  const lines = [`vmsg conform: ${r.target}, profile ${r.profile}, devices ${r.devices === null ? 'unknown' : r.devices.join(',') || 'none'}, device under test ${r.device ?? 'none'}`];
  if (r.first_answer_ms !== null && r.first_answer_ms > 1000) {
    lines.push(`note: the device's first answer took ${r.first_answer_ms} ms (held by the bus behind requests an earlier run left unanswered?); the rules ran after it`);
  }
  const sw = Math.max(...r.rules.map((x) => x.section.length), 4);
  const iw = Math.max(...r.rules.map((x) => x.id.length), 4);
  for (const x of r.rules) {
    lines.push(`${x.status.padEnd(4)}  ${x.section.padEnd(sw)}  ${x.id.padEnd(iw)}  ${x.title}`);
    lines.push(`${''.padEnd(4 + 2 + sw + 2)}${x.detail}`);
  }
  lines.push(`${r.summary.pass} passed, ${r.summary.fail} failed, ${r.summary.skip} skipped (${r.seconds} s)`);
  return lines.join('\n') + '\n';
}
