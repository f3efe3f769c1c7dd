/**
 * Tag matchers as Go's util/matcher.TagMatcher evaluates them: `exact` (equal),
 * `prefix` (strings.HasPrefix), `regex` (unanchored RE2 MatchString, compiled by
 * config/regex.ts). `unset` does not change what a single matcher matches (Go's
 * Match ignores it; only sink routing reads it), so ignore_tags disregards it too.
 */
import { compileGoRegex } from '../config/regex.js';
import type { TagMatcherConfig } from '../config/types.js';

export interface TagMatcher {
  match(tag: string): boolean;
}

export function compileTagMatcher(c: TagMatcherConfig): TagMatcher {
  switch (c.kind) {
    case 'exact': {
      const v = c.value;
      return { match: (tag) => tag === v };
    }
    case 'prefix': {
      const v = c.value;
      return { match: (tag) => tag.startsWith(v) };
    }
    case 'regex': {
      const re = compileGoRegex(c.value);
      // a global/sticky regex would keep lastIndex between calls; compileGoRegex makes neither
      return { match: (tag) => re.test(tag) };
    }
  }
}

/** Whether any matcher matches the tag. */
export function matchesAny(matchers: readonly TagMatcher[], tag: string): boolean {
  for (let i = 0; i < matchers.length; i++) if (matchers[i]!.match(tag)) return true;
  return false;
}
