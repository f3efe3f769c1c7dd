/**
 * Go (RE2) regular expressions as written in Veneur configs, compiled to JS RegExp.
 * The common syntax is the same; the differences that show up in real configs are
 * handled: a leading inline flag group `(?i)` / `(?s)` / `(?m)` (JS on Node 20 has
 * no inline flags) and the `\A` / `\z` anchors. Like Go's MatchString, the result
 * is unanchored.
 */
export function compileGoRegex(pattern: string): RegExp {
  let source = pattern;
  let flags = '';
  const m = /^\(\?([imsU]+)\)/.exec(source);
  if (m) {
    for (const f of m[1]!) {
      if (f === 'U') throw new SyntaxError('the (?U) flag is not supported');
      if (!flags.includes(f)) flags += f;
    }
    source = source.slice(m[0].length);
  }
  // \A and \z are absolute (never per-line, even with (?m)).
  source = source.replace(/(^|[^\\])\\A/g, '$1(?<![\\s\\S])').replace(/(^|[^\\])\\z/g, '$1(?![\\s\\S])');
  return new RegExp(source, flags);
}
