/**
 * Go `flag`-package style command lines, so Veneur's CLIs take the same argv:
 * `-f path`, `-f=path`, `--f path`, booleans as `-debug` or `-debug=false`,
 * `--` ends flags, `-h`/`-help` asks for usage.
 */
export type FlagSpec =
  | {
      readonly type: 'string';
      readonly default: string;
      readonly usage: string;
      /**
       * The value's type name shown in usage (`-count int`), for flags whose text the
       * caller parses itself (Go's int/float/duration flags). Default `string`.
       */
      readonly placeholder?: string;
    }
  | { readonly type: 'bool'; readonly default: boolean; readonly usage: string };

export type FlagValues<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: S[K] extends { type: 'bool' } ? boolean : string;
};

export interface ParsedFlags<S extends Record<string, FlagSpec>> {
  readonly values: FlagValues<S>;
  /** Arguments after the flags. */
  readonly rest: string[];
  /** Flags that were given explicitly. */
  readonly given: ReadonlySet<string>;
}

export class FlagError extends Error {
  constructor(
    message: string,
    readonly help = false,
  ) {
    super(message);
    this.name = 'FlagError';
  }
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

export function parseFlags<S extends Record<string, FlagSpec>>(
  specs: S,
  argv: readonly string[],
): ParsedFlags<S> {
  const values: Record<string, string | boolean> = {};
  for (const [k, s] of Object.entries(specs)) values[k] = s.default;
  const given = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = specs[name];
    if (spec === undefined) {
      if (name === 'h' || name === 'help') throw new FlagError('help requested', true);
      throw new FlagError(`flag provided but not defined: -${name}`);
    }
    given.add(name);
    if (spec.type === 'bool') {
      if (eq < 0) values[name] = true;
      else {
        const v = body.slice(eq + 1);
        if (TRUE.has(v)) values[name] = true;
        else if (FALSE.has(v)) values[name] = false;
        else throw new FlagError(`invalid boolean value "${v}" for -${name}`);
      }
    } else if (eq >= 0) {
      values[name] = body.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      values[name] = argv[++i];
    }
  }
  return { values: values as FlagValues<S>, rest: argv.slice(i), given };
}

/** Usage text in Go's format. */
export function usage(program: string, specs: Record<string, FlagSpec>): string {
  const lines = [`Usage of ${program}:`];
  for (const name of Object.keys(specs).sort()) {
    const s = specs[name];
    const typeName = s.type === 'string' ? (s.placeholder ?? 'string') : '';
    lines.push(s.type === 'bool' ? `  -${name}` : `  -${name} ${typeName}`);
    // Go quotes string defaults only (`(default "metric")`, `(default 10s)`)
    const def =
      s.type === 'string' && s.default !== ''
        ? typeName === 'string'
          ? ` (default "${s.default}")`
          : ` (default ${s.default})`
        : '';
    lines.push(`    \t${s.usage}${def}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Parse a CLI's flags as Go's flag package does on error: `-h` prints usage to
 * stderr (exit 0), a bad flag prints the error and usage (exit 2). Returns the
 * parsed flags, or the exit code.
 */
export function parseCliFlags<S extends Record<string, FlagSpec>>(
  program: string,
  specs: S,
  argv: readonly string[],
): ParsedFlags<S> | number {
  try {
    return parseFlags(specs, argv);
  } catch (err) {
    if (err instanceof FlagError && err.help) {
      process.stderr.write(usage(program, specs));
      return 0;
    }
    process.stderr.write(`${(err as Error).message}\n${usage(program, specs)}`);
    return 2;
  }
}
