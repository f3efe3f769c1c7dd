/**
 * The one mechanism every config section goes through (root config, each sink's
 * `config:` map, sources): environment overlay, zod validation, unknown-key check,
 * and errors that name the YAML path and what was expected.
 */
import { z } from 'zod';
import { parseGoDuration } from '../util/duration.js';
import { ConfigError, formatPath, joinPath } from '../util/errors.js';
import { Secret } from './secret.js';

export interface SectionContext {
  /** YAML path of the section itself ('' for the root, `metric_sinks[0].config` for a sink). */
  readonly path: string;
  /** Env prefix without trailing underscore: `VENEUR` for the root, the sink name for sinks. '' disables. */
  readonly envPrefix: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reject unknown keys (the -validate-config-strict behaviour). */
  readonly strict: boolean;
  /**
   * Keys accepted and ignored in non-strict mode (legacy keys); reported through onIgnored.
   * Entries are paths relative to the section (`flush_file`, `features.proxy_protocol`);
   * an entry ending in `*` matches every key with that prefix (`kafka_*`).
   */
  readonly ignoredKeys?: ReadonlySet<string>;
  /** Called for each unknown key tolerated in non-strict mode; `legacy` when listed in ignoredKeys. */
  readonly onIgnored?: (path: string, legacy: boolean) => void;
}

/** An error message for a schema: `required (what)` when the key is absent, else `expected what`. */
export function expecting(what: string): (issue: { readonly input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? `required (${what})` : `expected ${what}`);
}

/** A Go duration string (or a number of nanoseconds, as Go accepts) -> milliseconds. */
export const zDuration = z
  .union([z.string(), z.number()], { error: expecting('a duration like "10s" or "500ms"') })
  .transform((v, ctx) => {
    if (typeof v === 'number') return v / 1e6; // yaml ints decode to nanoseconds in Go
    const ms = parseGoDuration(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration like "10s" or "500ms", got ${JSON.stringify(v)}`,
      });
      return z.NEVER;
    }
    return ms;
  });

/**
 * A string field as Go's YAML decoder fills it: any scalar is accepted and kept as
 * text (`port: 8080` decodes into a Go string field as "8080").
 */
export const zGoString = z
  .union([z.string(), z.number(), z.boolean()], { error: expecting('a string') })
  .transform((v) => String(v));

/** A secret string (util.StringSecret in Go): prints REDACTED, see secret.ts. */
export const zSecret = zGoString.transform((v) => new Secret(v));

/** Parse Go's strconv.ParseBool spellings. */
function parseGoBool(text: string): boolean | undefined {
  switch (text) {
    case '1':
    case 't':
    case 'T':
    case 'true':
    case 'TRUE':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'false':
    case 'FALSE':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

type AnyZod = z.ZodType;

interface ZodDefLike {
  type: string;
  innerType?: AnyZod;
  in?: AnyZod;
  out?: AnyZod;
  options?: AnyZod[];
  element?: AnyZod;
  shape?: Record<string, AnyZod>;
}

function def(schema: AnyZod): ZodDefLike {
  return (schema as unknown as { _zod: { def: ZodDefLike } })._zod.def;
}

function isWrapper(d: ZodDefLike): boolean {
  return (
    (d.type === 'optional' || d.type === 'default' || d.type === 'nullable' || d.type === 'prefault') &&
    d.innerType !== undefined
  );
}

/** Strip optional/default/nullable/pipe wrappers to the schema that decides the input kind. */
function unwrap(schema: AnyZod): AnyZod {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const d = def(s);
    if (isWrapper(d)) {
      s = d.innerType as AnyZod;
    } else if (d.type === 'pipe' && d.in) {
      s = d.in;
    } else {
      return s;
    }
  }
  return s;
}

/** Does the schema accept an explicit null (a `.nullable()` somewhere in its wrappers)? */
function acceptsNull(schema: AnyZod): boolean {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const d = def(s);
    if (d.type === 'nullable' || d.type === 'null') return true;
    if (isWrapper(d)) s = d.innerType as AnyZod;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return false;
  }
  return false;
}

function objectShape(schema: AnyZod): Record<string, AnyZod> | undefined {
  const u = unwrap(schema);
  const d = def(u);
  if (d.type === 'object') return (u as unknown as { shape: Record<string, AnyZod> }).shape;
  return undefined;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Env variable name for a key: PREFIX_ + key without underscores, upper-cased (envconfig style). */
export function envName(prefix: string, key: string): string {
  return `${prefix}_${key.replace(/_/g, '').toUpperCase()}`;
}

function coerceEnv(schema: AnyZod, text: string): unknown {
  const u = unwrap(schema);
  const d = def(u);
  switch (d.type) {
    case 'number':
    case 'int': {
      const n = Number(text);
      return text.trim() === '' || Number.isNaN(n) ? text : n;
    }
    case 'boolean': {
      const b = parseGoBool(text);
      return b === undefined ? text : b;
    }
    case 'array': {
      if (text === '') return [];
      const parts = text.split(',');
      return d.element ? parts.map((p) => coerceEnv(d.element as AnyZod, p)) : parts;
    }
    case 'union': {
      // durations (string | number) and similar: keep the text
      return text;
    }
    default:
      return text;
  }
}

function overlayEnv(
  shape: Record<string, AnyZod>,
  raw: Record<string, unknown>,
  prefix: string,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const [key, schema] of Object.entries(shape)) {
    const name = envName(prefix, key);
    const nested = objectShape(schema);
    if (nested) {
      const cur = out[key];
      // a non-map value is left for validation to report, not replaced
      if (cur !== undefined && cur !== null && !isPlainMap(cur)) continue;
      const merged = overlayEnv(nested, isPlainMap(cur) ? cur : {}, name, env);
      if (Object.keys(merged).length > 0 || isPlainMap(cur)) out[key] = merged;
      continue;
    }
    const value = env[name];
    if (value !== undefined) out[key] = coerceEnv(schema, value);
  }
  return out;
}

/**
 * YAML 1.1 boolean spellings, accepted where the schema wants a boolean. This is
 * what Go's yaml.v3 does: YAML 1.2 otherwise (so `country: NO` or a map key `n`
 * stays a string), but `yes`/`on`/`y`/... decode into a typed bool field.
 */
function yaml11Bool(text: string): boolean | undefined {
  switch (text) {
    case 'y':
    case 'Y':
    case 'yes':
    case 'Yes':
    case 'YES':
    case 'on':
    case 'On':
    case 'ON':
      return true;
    case 'n':
    case 'N':
    case 'no':
    case 'No':
    case 'NO':
    case 'off':
    case 'Off':
    case 'OFF':
      return false;
    default:
      return undefined;
  }
}

/**
 * Bring decoded YAML to what Go's decoder would have produced for this schema:
 * - a key written without a value (`hostname:`) decodes to null, and Go leaves the
 *   field at its zero value: such nulls are dropped so the key takes its default
 *   (kept where the schema itself accepts null);
 * - YAML 1.1 booleans (`yes`, `on`, ...) become booleans where a boolean is expected.
 */
function normalizeYaml(schema: AnyZod, raw: unknown): unknown {
  const u = unwrap(schema);
  const d = def(u);
  if (d.type === 'object' && isPlainMap(raw)) {
    const shape = (u as unknown as { shape: Record<string, AnyZod> }).shape;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) {
      const child = shape[k];
      if (!child) {
        out[k] = v;
      } else if (v === null) {
        if (acceptsNull(child)) out[k] = v;
      } else {
        out[k] = normalizeYaml(child, v);
      }
    }
    return out;
  }
  if (d.type === 'array' && d.element && Array.isArray(raw)) {
    const element = d.element;
    return raw.map((item) => (item === null ? item : normalizeYaml(element, item)));
  }
  if (d.type === 'boolean' && typeof raw === 'string') {
    const b = yaml11Bool(raw);
    return b === undefined ? raw : b;
  }
  return raw;
}

function findUnknownKeys(schema: AnyZod, raw: unknown, path: string, found: string[]): void {
  const u = unwrap(schema);
  const d = def(u);
  if (d.type === 'object') {
    if (!isPlainMap(raw)) return;
    const shape = (u as unknown as { shape: Record<string, AnyZod> }).shape;
    for (const [k, v] of Object.entries(raw)) {
      const child = shape[k];
      if (!child) found.push(joinPath(path, k));
      else findUnknownKeys(child, v, joinPath(path, k), found);
    }
  } else if (d.type === 'array' && d.element && Array.isArray(raw)) {
    const element = d.element;
    raw.forEach((item, i) => {
      findUnknownKeys(element, item, `${path}[${i}]`, found);
    });
  }
}

function isIgnored(keys: ReadonlySet<string> | undefined, relative: string): boolean {
  if (!keys) return false;
  if (keys.has(relative)) return true;
  for (const k of keys) {
    if (k.endsWith('*') && relative.startsWith(k.slice(0, -1))) return true;
  }
  return false;
}

function describeType(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
    case 'map':
      return 'a map of settings';
    default:
      return expected;
  }
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a map';
  if (typeof input === 'number' && !Number.isInteger(input)) return 'a fractional number';
  return `a ${typeof input}`;
}

/**
 * zod's built-in messages ("Invalid input: expected string, received number") are
 * rephrased; messages given by a schema (`{ error: ... }`) are kept as they are.
 * Values are never echoed here, since a generic message may be about a secret.
 */
function describeIssue(issue: z.core.$ZodIssue): string {
  const builtIn = /^(Invalid|Too (big|small)|Expected)/.test(issue.message);
  if (!builtIn) return issue.message;
  const i = issue as z.core.$ZodIssue & {
    input?: unknown;
    expected?: string;
    values?: unknown[];
    minimum?: number | bigint;
    maximum?: number | bigint;
    inclusive?: boolean;
  };
  switch (issue.code) {
    case 'invalid_type':
      if (!('input' in i) || i.input === undefined) return `required (${describeType(i.expected ?? '')})`;
      return `expected ${describeType(i.expected ?? '')}, got ${describeInput(i.input)}`;
    case 'invalid_value':
      return `expected one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `expected a value ${i.inclusive === false ? '>' : '>='} ${String(i.minimum)}`;
    case 'too_big':
      return `expected a value ${i.inclusive === false ? '<' : '<='} ${String(i.maximum)}`;
    default:
      return issue.message;
  }
}

/**
 * Validate one section. `raw` is what YAML gave (undefined/null = empty map).
 * Returns the parsed value or throws ConfigError naming the path.
 */
export function parseSection<S extends z.ZodObject>(
  schema: S,
  raw: unknown,
  ctx: SectionContext,
): z.output<S> {
  if (raw !== undefined && raw !== null && !isPlainMap(raw)) {
    throw new ConfigError(ctx.path, `expected a map of settings, got ${describeInput(raw)}`);
  }
  let input = normalizeYaml(schema, raw ?? {}) as Record<string, unknown>;
  if (ctx.envPrefix !== '')
    input = overlayEnv(schema.shape as Record<string, AnyZod>, input, ctx.envPrefix, ctx.env);

  const unknown: string[] = [];
  findUnknownKeys(schema, input, ctx.path, unknown);
  for (const p of unknown) {
    const relative = ctx.path === '' ? p : p.slice(ctx.path.length).replace(/^\./, '');
    const legacy = isIgnored(ctx.ignoredKeys, relative);
    if (ctx.strict) {
      throw new ConfigError(
        p,
        legacy
          ? 'key was removed from Veneur (rejected in strict mode)'
          : 'unknown key (rejected in strict mode)',
      );
    }
    ctx.onIgnored?.(p, legacy);
  }

  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(joinPath(ctx.path, formatPath(issue.path)), describeIssue(issue));
  }
  return result.data;
}
