// Parsers for CLI option values: bad values become usage errors (exit 2), never stack traces.
import { InvalidArgumentError } from 'commander';
import type { Calibration } from '../adapters/index.js';
import { INPUT_LIMITS, readInputText } from '../common/index.js';
import { planes } from '../planes/index.js';

/** A whole-number flag from `min` to `max` (default: the largest safe integer). */
export function integerOption(flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
  return (value) => {
    const shown = value.length > 40 ? `${value.slice(0, 30)}…` : value;
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${flag} takes a whole number, got "${shown}"`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a whole number ${range}, got "${shown}"`);
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

/** A calibration file `edgeplane calibrate` wrote, read and checked (bad input: exit 2). */
export async function readCalibration(path: string): Promise<Calibration> {
  const text = await readInputText(path, { what: 'calibration file', maxBytes: INPUT_LIMITS.calibration });
  return planes.parseCalibration(text, path);
}
