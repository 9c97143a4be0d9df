// Checking JSON documents users write by hand (router config, load profiles): every error
// names the bad value by its JSON pointer (RFC 6901, e.g. `/router/ringCapacity`) and says
// what would be accepted, so the fix is obvious without reading the code.
import { closestName } from './did-you-mean.js';

/** A document that does not follow its format. `pointer` locates the bad value ("" = the whole document). */
export class JsonFieldError extends Error {
  override name = 'JsonFieldError';
  constructor(readonly pointer: string, readonly problem: string, readonly source?: string) {
    super(`${source === undefined ? '' : `${source}: `}${pointer === '' ? '(document)' : pointer}: ${problem}`);
  }
}

/** `parent` + `/key`, with `~` and `/` escaped as RFC 6901 says. */
export function pointer(parent: string, key: string | number): string {
  return `${parent}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** Parse JSON text; a syntax error becomes a JsonFieldError on the whole document. */
export function parseJsonText(text: string, source?: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new JsonFieldError('', `not valid JSON (${(e as Error).message})`, source);
  }
}

/** How a value is named in messages: `string "x"`, `number 7`, `an array`, `null`. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Reads typed fields out of one JSON object, collecting nothing: the first bad field throws. */
export class JsonObject {
  readonly value: Record<string, unknown>;

  constructor(v: unknown, readonly at: string, readonly source?: string) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(at, `must be an object, got ${typeName(v)}`);
    this.value = v as Record<string, unknown>;
  }

  fail(at: string, problem: string): never {
    throw new JsonFieldError(at, problem, this.source);
  }

  /** Refuse keys not in `known`, suggesting the closest known one. */
  onlyKeys(known: readonly string[]): this {
    for (const k of Object.keys(this.value)) {
      if (known.includes(k)) continue;
      const best = closestName(k, known);
      const hint = best !== undefined ? `did you mean "${best}"? ` : '';
      this.fail(pointer(this.at, k), `unknown key; ${hint}known keys: ${known.join(', ')}`);
    }
    return this;
  }

  has(key: string): boolean {
    return this.value[key] !== undefined;
  }

  raw(key: string): unknown {
    return this.value[key];
  }

  child(key: string): JsonObject | undefined {
    const v = this.value[key];
    return v === undefined ? undefined : new JsonObject(v, pointer(this.at, key), this.source);
  }

  string(key: string): string | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') this.fail(pointer(this.at, key), `must be a non-empty string, got ${typeName(v)}`);
    return v;
  }

  boolean(key: string): boolean | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(pointer(this.at, key), `must be true or false, got ${typeName(v)}`);
    return v;
  }

  number(key: string, min: number, max: number): number | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) this.fail(pointer(this.at, key), `must be a number from ${min} to ${max}, got ${typeName(v)}`);
    return v;
  }

  integer(key: string, min: number, max: number): number | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(pointer(this.at, key), `must be an integer from ${min} to ${max}, got ${typeName(v)}`);
    return v;
  }

  choice<C extends string>(key: string, choices: readonly C[]): C | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) this.fail(pointer(this.at, key), `must be one of ${choices.join(', ')}, got ${typeName(v)}`);
    return v as C;
  }

  /** An array whose items each pass `item(value, pointer)`. */
  array<T>(key: string, item: (v: unknown, at: string) => T, opts: { min?: number } = {}): T[] | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    const at = pointer(this.at, key);
    if (!Array.isArray(v)) this.fail(at, `must be an array, got ${typeName(v)}`);
    if (opts.min !== undefined && v.length < opts.min) this.fail(at, `needs at least ${opts.min} item(s), got ${v.length}`);
    return v.map((x, i) => item(x, pointer(at, i)));
  }
}

/** Item checker for array(): a non-empty string. */
export function stringItem(source?: string) {
  return (v: unknown, at: string): string => {
    if (typeof v !== 'string' || v === '') throw new JsonFieldError(at, `must be a non-empty string, got ${typeName(v)}`, source);
    return v;
  };
}

/** Item checker for array(): an integer in [min, max]. */
export function integerItem(min: number, max: number, source?: string) {
  return (v: unknown, at: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new JsonFieldError(at, `must be an integer from ${min} to ${max}, got ${typeName(v)}`, source);
    return v;
  };
}
