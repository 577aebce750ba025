// Parsers for CLI option values: bad values become usage errors (exit 2), never stack traces.
import { InvalidArgumentError } from 'commander';
import { planes } from '../planes/index.js';

export function integerOption(flag: string, min: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${flag} takes a whole number, got "${value}"`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be a whole number >= ${min}, got "${value}"`);
    return n;
  };
}

/** Accepts `--plane a --plane b` and `--plane a,b`. */
export function planeFilter(value: string, previous: string[] | undefined): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!planes.has(n)) throw new InvalidArgumentError(`unknown plane "${n}" (choose from ${planes.names.join(', ')})`);
  }
  return [...(previous ?? []), ...names];
}

/** A plane's own parser of a flag value, as commander wants it (bad values: a usage error). */
export function flagParser(parse: (value: string) => unknown): (value: string) => unknown {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** For repeatable options: `--trust a --trust b` collects ['a', 'b']. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** One line of a command's normal output. */
export const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
