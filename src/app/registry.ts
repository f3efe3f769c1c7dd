/**
 * THE table of pluggable kinds. An unknown kind is a config error naming the
 * YAML path; a kind Go Veneur has but we do not implement yet says so.
 */
import { blackholeSinkDefinition } from '../sinks/blackhole/index.js';
import { datadogSinkDefinition } from '../sinks/datadog/index.js';
import { debugSinkDefinition } from '../sinks/debug/index.js';
import { localfileSinkDefinition } from '../sinks/localfile/index.js';
import type { MetricSinkDefinition } from '../sinks/types.js';

export const metricSinkKinds: ReadonlyMap<string, MetricSinkDefinition> = new Map<
  string,
  MetricSinkDefinition
>([
  [datadogSinkDefinition.kind, datadogSinkDefinition as MetricSinkDefinition],
  [debugSinkDefinition.kind, debugSinkDefinition as MetricSinkDefinition],
  [blackholeSinkDefinition.kind, blackholeSinkDefinition as MetricSinkDefinition],
  [localfileSinkDefinition.kind, localfileSinkDefinition as MetricSinkDefinition],
]);

/** Metric sink kinds of Go Veneur (reference §5) that are planned but not built yet. */
export const plannedMetricSinkKinds: ReadonlySet<string> = new Set([
  'cortex',
  'kafka',
  'newrelic',
  'prometheus',
  's3',
  'signalfx',
  'cloudwatch',
]);
