// Assertions of the conformance suite: node:assert's AssertionError (test runners show its
// actual/expected diff), with messages that say which plane broke which promise.
import { AssertionError } from 'node:assert';
import { isDeepStrictEqual } from 'node:util';

export function ensure(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError({ message, actual: condition, expected: true, operator: '==' });
}

export function sameValue<T>(actual: unknown, expected: T, message: string): asserts actual is T {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new AssertionError({ message: `${message}\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`, actual, expected, operator: 'deepStrictEqual' });
  }
}

/** A short rendering of a value for a message (Buffers by length and first bytes). */
export function show(value: unknown): string {
  if (Buffer.isBuffer(value)) return `<${value.length} bytes ${value.subarray(0, 8).toString('hex')}${value.length > 8 ? '…' : ''}>`;
  try {
    const text = JSON.stringify(value, (_k, v: unknown) => (Buffer.isBuffer(v) ? `<${v.length} bytes>` : v));
    return text === undefined ? String(value) : text.length > 600 ? `${text.slice(0, 600)}…` : text;
  } catch {
    return String(value);
  }
}

/** What a promise settled with: `{ value }` or `{ error }`. */
export async function settle<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}
