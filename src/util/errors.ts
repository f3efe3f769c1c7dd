/** Errors carry stable codes; only src/main turns them into exit codes. */
export class VeneurError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'VeneurError';
  }
}

/**
 * A configuration error naming the YAML path (`metric_sinks[2].config.api_key`)
 * and what was expected there.
 */
export class ConfigError extends VeneurError {
  readonly path: string;
  constructor(path: string, expected: string) {
    super('ERR_CONFIG', path === '' ? expected : `${path}: ${expected}`);
    this.path = path;
    this.name = 'ConfigError';
  }
}

/** Render a path array as `a.b[2].c`. */
export function formatPath(path: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Join a prefix path and a child path: joinPath('metric_sinks[0].config', 'api_key'). */
export function joinPath(prefix: string, child: string): string {
  if (prefix === '') return child;
  if (child === '') return prefix;
  return child.startsWith('[') ? prefix + child : `${prefix}.${child}`;
}
