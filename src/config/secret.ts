import { inspect } from 'node:util';

/**
 * A secret string. It prints as REDACTED everywhere (toString, JSON, util.inspect)
 * unless explicitly revealed; only the component that needs it calls reveal().
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  get isEmpty(): boolean {
    return this.#value === '';
  }
  toString(): string {
    return this.#value === '' ? '' : 'REDACTED';
  }
  toJSON(): string {
    return this.toString();
  }
  /** util.inspect / console.log: show that a value is present without showing it. */
  [inspect.custom](): string {
    return this.#value === '' ? "Secret('')" : 'Secret(REDACTED)';
  }
}
