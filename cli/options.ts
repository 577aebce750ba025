// Parsers for CLI option values: bad values become usage errors (exit 2), never stack traces.
import { InvalidArgumentError } from 'commander';

export const PLANE_NAMES = ['openstack', 'opennebula', 'cloudstack'] as const;

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
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(PLANE_NAMES as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown plane "${n}" (choose from ${PLANE_NAMES.join(', ')})`);
  }
  return [...(previous ?? []), ...names];
}
