/**
 * Self-telemetry seen by components: veneur's own `veneur.*` metrics.
 * Names are given WITHOUT the `veneur.` prefix (it is added once, centrally).
 * Calls are cheap and synchronous; values are aggregated by this veneur and
 * flushed with everything else (reference §8).
 */
export interface Telemetry {
  /** Add to a counter. */
  count(name: string, value: number, tags?: readonly string[]): void;
  /** Set a gauge (last write in the interval wins). */
  gauge(name: string, value: number, tags?: readonly string[]): void;
  /** Record one timer sample, in the unit the metric name states (e.g. `_ms`, `_ns`). */
  timing(name: string, value: number, tags?: readonly string[]): void;
}

/** A Telemetry that discards everything (tests, tools). */
export const noopTelemetry: Telemetry = {
  count() {},
  gauge() {},
  timing() {},
};

/** A Telemetry that records every call, for tests. */
export class RecordingTelemetry implements Telemetry {
  readonly calls: {
    kind: 'count' | 'gauge' | 'timing';
    name: string;
    value: number;
    tags: readonly string[];
  }[] = [];
  count(name: string, value: number, tags: readonly string[] = []): void {
    this.calls.push({ kind: 'count', name, value, tags });
  }
  gauge(name: string, value: number, tags: readonly string[] = []): void {
    this.calls.push({ kind: 'gauge', name, value, tags });
  }
  timing(name: string, value: number, tags: readonly string[] = []): void {
    this.calls.push({ kind: 'timing', name, value, tags });
  }
  /** Sum of all `count` calls for a name whose tags include every tag given. */
  total(name: string, withTags: readonly string[] = []): number {
    let sum = 0;
    for (const c of this.calls) {
      if (c.kind === 'count' && c.name === name && withTags.every((t) => c.tags.includes(t))) sum += c.value;
    }
    return sum;
  }
}
