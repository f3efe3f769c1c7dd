export { type DatadogConfig, DEFAULT_FLUSH_MAX_PER_BODY, parseDatadogConfig } from './config.js';
export { createDatadogSink, DatadogMetricSink, datadogSinkDefinition } from './sink.js';
