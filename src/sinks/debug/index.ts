export {
  createDebugSink,
  type DebugConfig,
  DebugMetricSink,
  debugSinkDefinition,
  parseDebugConfig,
  renderDebugTable,
} from './sink.js';
