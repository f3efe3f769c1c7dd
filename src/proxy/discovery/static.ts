/** `forward_addresses`: a fixed list, re-offered on every discovery tick. */
import type { Discoverer } from './types.js';

export class StaticDiscoverer implements Discoverer {
  readonly kind = 'static';
  readonly #addresses: readonly string[];

  constructor(addresses: readonly string[]) {
    this.#addresses = [...new Set(addresses)];
  }

  async discover(): Promise<string[]> {
    return [...this.#addresses];
  }

  async close(): Promise<void> {}
}
