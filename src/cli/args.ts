// Flag parsing shared by the `vmsg` commands: `--name value` / `--name=value`, typed values
// checked up front, and errors that name the bad flag and what it accepts (exit status 2).

import { UsageError } from './exit.js';
import { closestName } from '../util/did-you-mean.js';

export { UsageError };

export type FlagSpec =
  | { kind: 'boolean'; help: string }
  | { kind: 'string'; value: string; help: string }
  | { kind: 'integer'; value: string; min: number; max: number; help: string }
  | { kind: 'choice'; choices: readonly string[]; help: string }
  /** Hex digits, two per byte: no spaces, no 0x prefix. */
  | { kind: 'hex'; value: string; help: string }
  /** A string flag that may be repeated; the values in command-line order. */
  | { kind: 'list'; value: string; help: string };

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<F extends FlagSpec> =
  F extends { kind: 'boolean' } ? boolean
  : F extends { kind: 'integer' } ? number | undefined
  : F extends { kind: 'choice'; choices: readonly (infer C)[] } ? C | undefined
  : F extends { kind: 'hex' } ? Uint8Array | undefined
  : F extends { kind: 'list' } ? string[]
  : string | undefined;

export type Parsed<S extends FlagSpecs> = { -readonly [K in keyof S]: ValueOf<S[K]> };

/**
 * Parse `argv` against `spec` (keys are flag names without the leading `--`). Booleans default
 * to false, other flags to undefined. Returns the flags and the positional arguments.
 */
export function parseArgs<S extends FlagSpecs>(argv: readonly string[], spec: S): { flags: Parsed<S>; positionals: string[] } {
  const flags: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(spec)) flags[name] = f.kind === 'boolean' ? false : f.kind === 'list' ? [] : undefined;
  const seen = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    // -h is the one short flag: every command's help.
    const flag = arg === '-h' && Object.hasOwn(spec, 'help') ? '--help' : eq < 0 ? arg : arg.slice(0, eq);
    const name = flag.startsWith('--') ? flag.slice(2) : '';
    const f = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (f === undefined) throw new UsageError(unknownOption(flag, spec));
    if (seen.has(name) && f.kind !== 'list') throw new UsageError(`${flag} given twice`);
    seen.add(name);
    if (f.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`${flag} takes no value`);
      flags[name] = true;
      continue;
    }
    let text: string | undefined;
    if (eq >= 0) text = arg.slice(eq + 1);
    else {
      text = argv[++i];
      if (text === undefined || (text.startsWith('--') && text.length > 2)) {
        throw new UsageError(`${flag} needs a value: ${describe(f)}${text === undefined ? '' : ` (got option ${text})`}`);
      }
    }
    if (f.kind === 'list') (flags[name] as string[]).push(text);
    else flags[name] = convert(flag, f, text);
  }
  return { flags: flags as Parsed<S>, positionals };
}

function convert(flag: string, f: Exclude<FlagSpec, { kind: 'boolean' | 'list' }>, text: string): unknown {
  switch (f.kind) {
    case 'string':
      return text;
    case 'integer': {
      const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n) || n < f.min || n > f.max) throw new UsageError(`${flag} needs ${describe(f)}, got "${text}"`);
      return n;
    }
    case 'choice':
      if (!f.choices.includes(text)) throw new UsageError(`${flag} must be ${describe(f)}, got "${text}"`);
      return text;
    case 'hex':
      return parseHex(flag, text);
  }
}

/**
 * Bytes from hex digits, two per byte. Strict (no spaces, no 0x, no separators) so that what
 * is decoded is exactly what was typed; the error says what to fix.
 */
function parseHex(flag: string, text: string): Uint8Array {
  const example = 'e.g. 0002010001000800';
  if (/^0[xX]/.test(text)) throw new UsageError(`${flag}: drop the "0x" prefix; give bare hex digits, ${example}`);
  const bad = /[^0-9a-fA-F]/.exec(text);
  if (bad !== null) {
    const what = /\s/.test(bad[0]) ? 'whitespace' : `"${bad[0]}"`;
    throw new UsageError(`${flag}: ${what} at position ${bad.index} is not a hex digit; give hex digits only, no spaces or separators, ${example}`);
  }
  if (text.length % 2 !== 0) throw new UsageError(`${flag}: odd number of hex digits (${text.length}); each byte needs two, ${example}`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

function describe(f: Exclude<FlagSpec, { kind: 'boolean' }>): string {
  switch (f.kind) {
    case 'integer': return `an integer from ${f.min} to ${f.max}`;
    case 'choice': return `one of ${f.choices.join(', ')}`;
    case 'hex': return 'hex digits, two per byte';
    case 'string':
    case 'list': return f.value;
  }
}

function flagList(spec: FlagSpecs): string {
  return Object.keys(spec).map((n) => `--${n}`).join(', ');
}

/** "unknown option --targt; did you mean --target?", else the options there are. */
function unknownOption(flag: string, spec: FlagSpecs): string {
  const names = Object.keys(spec).map((n) => `--${n}`);
  const best = flag.startsWith('--') ? closestName(flag, names) : undefined;
  return best !== undefined ? `unknown option ${flag}; did you mean ${best}?` : `unknown option ${flag}; options: ${flagList(spec)}`;
}

/** The options block of a command's help text, one flag per line. */
export function optionsHelp(spec: FlagSpecs): string {
  const rows = Object.entries(spec).map(([name, f]) => {
    const value = f.kind === 'boolean' ? '' : f.kind === 'choice' ? ` ${f.choices.join('|')}` : ` ${f.value}`;
    return [`--${name}${value}`, f.help] as const;
  });
  // Long flag columns (choice lists) put their help on the next line instead of widening all rows.
  const width = Math.min(24, Math.max(...rows.map(([l]) => l.length)));
  return rows.map(([l, h]) => (l.length > width ? `  ${l}\n  ${''.padEnd(width)}  ${h}` : `  ${l.padEnd(width)}  ${h}`)).join('\n');
}
