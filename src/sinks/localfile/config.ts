/**
 * `config:` of a `kind: localfile` metric sink (reference §5.7). Keys are Go Veneur's
 * (`flush_file`, `delimiter`); env overlay is the sink name
 * (`metric_sinks: [{name: archive}]` -> `ARCHIVE_FLUSHFILE`, `ARCHIVE_DELIMITER`).
 */
import { z } from 'zod';
import { expecting, parseSection, type SectionContext } from '../../config/section.js';

/** Go Veneur has no default (§14.11: a zero delimiter writes nothing usable); we use a tab, as its legacy `flush_file` key did. */
export const DEFAULT_DELIMITER = '\t';

const DELIMITER_HINT = 'a single character such as "\\t" or ","';

/**
 * Characters Go's encoding/csv refuses as `Comma` (its validDelim): NUL, the quote,
 * CR, LF and U+FFFD. Surrogates cannot be one code point of a JS string anyway.
 */
function delimiterProblem(ch: string): string | undefined {
  switch (ch) {
    case '\0':
      return 'NUL cannot be the delimiter';
    case '"':
      return 'the double quote cannot be the delimiter (it quotes fields)';
    case '\r':
    case '\n':
      return 'a line break cannot be the delimiter';
    case '\ufffd':
      return 'U+FFFD cannot be the delimiter';
    default: {
      const cp = ch.codePointAt(0)!;
      if (cp >= 0xd800 && cp <= 0xdfff) return 'a lone surrogate cannot be the delimiter';
      return undefined;
    }
  }
}

/**
 * The delimiter as a user writes it in YAML:
 * - a one-character string: `"\t"` (YAML turns it into a real tab), `","`, `"|"`;
 * - the two characters backslash + t, as YAML leaves `'\t'` or a plain `\t`: a tab;
 * - an integer code point, which is what Go Veneur's decoder accepts (`delimiter: 9`);
 * - absent, empty, or 0: the default tab.
 */
const zDelimiter = z
  .union([z.string(), z.number()], { error: expecting(DELIMITER_HINT) })
  .transform((v, ctx) => {
    let ch: string;
    if (typeof v === 'number') {
      if (v === 0) return DEFAULT_DELIMITER;
      if (!Number.isInteger(v) || v < 1 || v > 0x10ffff) {
        ctx.addIssue({
          code: 'custom',
          message: `expected ${DELIMITER_HINT} or a Unicode code point, got ${v}`,
        });
        return z.NEVER;
      }
      ch = String.fromCodePoint(v);
    } else if (v === '') {
      return DEFAULT_DELIMITER;
    } else if (v === '\\t') {
      ch = '\t';
    } else {
      const chars = [...v];
      if (chars.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: `expected ${DELIMITER_HINT}, got ${JSON.stringify(v)} (${chars.length} characters)`,
        });
        return z.NEVER;
      }
      ch = chars[0]!;
    }
    const problem = delimiterProblem(ch);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${DELIMITER_HINT}: ${problem}` });
      return z.NEVER;
    }
    return ch;
  });

export const localfileConfigSchema = z.object({
  flush_file: z
    .string({ error: expecting('the path of the file each flush appends to') })
    .min(1, 'required (the path of the file each flush appends to); got an empty string'),
  delimiter: zDelimiter.default(DEFAULT_DELIMITER),
});

export interface LocalfileConfig {
  /** Path of the multi-member gzip file each flush appends one member to. */
  readonly flushFile: string;
  /** One code point (possibly two UTF-16 units); never `"`, CR, LF, NUL or U+FFFD. */
  readonly delimiter: string;
}

export function parseLocalfileConfig(raw: unknown, ctx: SectionContext): LocalfileConfig {
  const c = parseSection(localfileConfigSchema, raw, ctx);
  return Object.freeze({ flushFile: c.flush_file, delimiter: c.delimiter });
}
