/**
 * `config:` of a `kind: datadog` metric sink (reference §5.1). Keys are Go Veneur's;
 * env overlay is the sink name (`metric_sinks: [{name: dd}]` -> `DD_APIKEY`).
 */
import { z } from 'zod';
import { Secret } from '../../config/secret.js';
import { parseSection, type SectionContext } from '../../config/section.js';

/**
 * Go Veneur's new-style config has no default for `flush_max_per_body` and divides by
 * it (0 -> panic, §14.11); the legacy config defaulted to 25000. We use 25000 when the
 * key is absent or 0.
 */
export const DEFAULT_FLUSH_MAX_PER_BODY = 25_000;

function required(what: string) {
  return {
    error: (iss: { input: unknown }) => (iss.input === undefined ? `required: ${what}` : 'expected a string'),
  };
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
  } catch {
    return false;
  }
}

export const datadogConfigSchema = z.object({
  api_key: z
    .string(required('the Datadog API key'))
    .min(1, 'required: the Datadog API key must not be empty'),
  api_hostname: z
    .string(required('the Datadog API base URL, e.g. https://app.datadoghq.com'))
    .refine(isHttpUrl, 'expected an http(s) URL such as https://app.datadoghq.com'),
  flush_max_per_body: z.number().int().min(0, 'expected 0 (default 25000) or a positive number').default(0),
  metric_name_prefix_drops: z.array(z.string()).default([]),
  exclude_tags_prefix_by_prefix_metric: z
    .array(z.object({ metric_prefix: z.string(), tags: z.array(z.string()).default([]) }))
    .default([]),
  /**
   * Not a Go key: the app fills it from the global `tags_exclude` entries that apply
   * to this sink (Go calls SetExcludedTags). Prefix match on the whole tag (§14.20).
   */
  excluded_tags: z.array(z.string()).default([]),
});

export interface DatadogConfig {
  readonly apiKey: Secret;
  /** Base URL without trailing slash. */
  readonly apiHostname: string;
  readonly flushMaxPerBody: number;
  readonly metricNamePrefixDrops: readonly string[];
  readonly excludeTagsPrefixByPrefixMetric: readonly {
    readonly metricPrefix: string;
    readonly tags: readonly string[];
  }[];
  readonly excludedTags: readonly string[];
}

export function parseDatadogConfig(raw: unknown, ctx: SectionContext): DatadogConfig {
  const c = parseSection(datadogConfigSchema, raw, ctx);
  return Object.freeze({
    apiKey: new Secret(c.api_key),
    // Go formats `%s/api/v1/series`; a trailing slash would give `//api`.
    apiHostname: c.api_hostname.replace(/\/+$/, ''),
    flushMaxPerBody: c.flush_max_per_body > 0 ? c.flush_max_per_body : DEFAULT_FLUSH_MAX_PER_BODY,
    metricNamePrefixDrops: Object.freeze([...c.metric_name_prefix_drops]),
    excludeTagsPrefixByPrefixMetric: Object.freeze(
      c.exclude_tags_prefix_by_prefix_metric.map((r) =>
        Object.freeze({ metricPrefix: r.metric_prefix, tags: Object.freeze([...r.tags]) }),
      ),
    ),
    excludedTags: Object.freeze([...c.excluded_tags]),
  });
}
