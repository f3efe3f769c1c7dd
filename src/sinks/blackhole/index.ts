export { type BlackholeConfig, BlackholeMetricSink, blackholeSinkDefinition } from './sink.js';
