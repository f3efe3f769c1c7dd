export { DEFAULT_DELIMITER, type LocalfileConfig, parseLocalfileConfig } from './config.js';
export { CsvFieldWriter, formatFloatF, formatTimestamp, RowEncoder } from './format.js';
export {
  type AppendHandle,
  createLocalfileSink,
  LocalfileMetricSink,
  type LocalfileSinkOptions,
  localfileSinkDefinition,
  type OpenForAppend,
  openForAppend,
} from './sink.js';
