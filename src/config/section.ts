/**
 * The one mechanism every config section goes through (root config, each sink's
 * `config:` map, sources): environment overlay, zod validation, unknown-key check,
 * and errors that name the YAML path and what was expected.
 */
import { z } from 'zod';
import { ConfigError, formatPath, joinPath } from '../util/errors.js';
import { parseGoDuration } from '../util/duration.js';

export interface SectionContext {
  /** YAML path of the section itself ('' for the root, `metric_sinks[0].config` for a sink). */
  readonly path: string;
  /** Env prefix without trailing underscore: `VENEUR` for the root, the sink name for sinks. '' disables. */
  readonly envPrefix: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reject unknown keys (the -validate-config-strict behaviour). */
  readonly strict: boolean;
  /** Keys accepted and ignored in non-strict mode (legacy keys); reported through onIgnored. */
  readonly ignoredKeys?: ReadonlySet<string>;
  /** Called for each unknown key tolerated in non-strict mode; `legacy` when listed in ignoredKeys. */
  readonly onIgnored?: (path: string, legacy: boolean) => void;
}

/** A Go duration string (or a number of nanoseconds, as Go accepts) -> milliseconds. */
export const zDuration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === 'number') return v / 1e6; // yaml ints decode to nanoseconds in Go
  const ms = parseGoDuration(v);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "10s" or "500ms", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

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

/** Strip optional/default/nullable/pipe wrappers to the schema that decides the input kind. */
function unwrap(schema: AnyZod): AnyZod {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const d = def(s);
    if ((d.type === 'optional' || d.type === 'default' || d.type === 'nullable' || d.type === 'prefault') && d.innerType) {
      s = d.innerType;
    } else if (d.type === 'pipe' && d.in) {
      s = d.in;
    } else {
      return s;
    }
  }
  return s;
}

function objectShape(schema: AnyZod): Record<string, AnyZod> | undefined {
  const u = unwrap(schema);
  const d = def(u);
  if (d.type === 'object') return (u as unknown as { shape: Record<string, AnyZod> }).shape;
  return undefined;
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
      const base = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Record<string, unknown>) : {};
      const merged = overlayEnv(nested, base, name, env);
      if (Object.keys(merged).length > 0 || cur !== undefined) out[key] = merged;
      continue;
    }
    const value = env[name];
    if (value !== undefined) out[key] = coerceEnv(schema, value);
  }
  return out;
}

function findUnknownKeys(schema: AnyZod, raw: unknown, path: string, found: string[]): void {
  const u = unwrap(schema);
  const d = def(u);
  if (d.type === 'object') {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return;
    const shape = (u as unknown as { shape: Record<string, AnyZod> }).shape;
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      const child = shape[k];
      if (!child) found.push(joinPath(path, k));
      else findUnknownKeys(child, v, joinPath(path, k), found);
    }
  } else if (d.type === 'array' && d.element && Array.isArray(raw)) {
    raw.forEach((item, i) => findUnknownKeys(d.element as AnyZod, item, `${path}[${i}]`, found));
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  return issue.message;
}

/**
 * Validate one section. `raw` is what YAML gave (undefined/null = empty map).
 * Returns the parsed value or throws ConfigError naming the path.
 */
export function parseSection<S extends z.ZodObject>(schema: S, raw: unknown, ctx: SectionContext): z.output<S> {
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError(ctx.path, `expected a map of settings, got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  }
  let input = (raw ?? {}) as Record<string, unknown>;
  if (ctx.envPrefix !== '') input = overlayEnv(schema.shape as Record<string, AnyZod>, input, ctx.envPrefix, ctx.env);

  const unknown: string[] = [];
  findUnknownKeys(schema, input, ctx.path, unknown);
  for (const p of unknown) {
    const leaf = p.slice(p.lastIndexOf('.') + 1);
    if (ctx.strict) throw new ConfigError(p, 'unknown key (rejected in strict mode)');
    ctx.onIgnored?.(p, ctx.ignoredKeys?.has(leaf) ?? false);
  }

  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(joinPath(ctx.path, formatPath(issue.path)), describeIssue(issue));
  }
  return result.data;
}
