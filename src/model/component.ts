/**
 * Everything pluggable is a Component. `stop` is idempotent and safe without `start`.
 * `deadline` is an absolute time in ms (Date.now() scale) by which stop should finish.
 */
export interface Component {
  readonly kind: string;
  readonly name: string;
  start(): Promise<void>;
  stop(deadline: number): Promise<void>;
}
