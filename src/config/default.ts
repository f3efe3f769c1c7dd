/**
 * The embedded default configuration, used when `veneur` runs without `-f`
 * (Go Veneur requires `-f`; running with no file is our convenience). It is kept
 * as YAML text so that `/config/yaml`, `--help` and docs can show exactly what is
 * loaded, and it goes through the same loadConfig path (VENEUR_* env included).
 */
import { type LoadConfigOptions, loadConfig } from './load.js';
import type { Config } from './types.js';

export const DEFAULT_CONFIG_YAML = `# Veneur built-in default configuration (used when no -f file is given).
# DogStatsD over UDP on loopback, flushed every 10s to the debug sink (logs).
statsd_listen_addresses:
  - udp://127.0.0.1:8126
http_address: 127.0.0.1:8127
interval: 10s
num_readers: 1
percentiles: [0.5, 0.75, 0.99]
aggregates: [min, max, count]
metric_sinks:
  - kind: debug
    name: debug
`;

/** Load the embedded default (plus the VENEUR_* overlay from `opts.env`). */
export function loadDefaultConfig(opts: Omit<LoadConfigOptions, 'file' | 'text'> = {}): Config {
  return loadConfig({ ...opts, file: '<built-in default>', text: DEFAULT_CONFIG_YAML });
}
