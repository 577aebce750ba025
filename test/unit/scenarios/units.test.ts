import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBitsPerS, formatBytes, formatDurationUs, parseBandwidth, parseDuration, parseFraction, parseSize } from '../../../scenarios/index.js';

describe('parseBandwidth', () => {
  it.each([
    ['100Mbit', 100e6],
    ['1Gbit', 1e9],
    ['10Gbit', 10e9],
    ['500kbit', 500e3],
    ['1.5Gbit', 1.5e9],
    ['100Mbps', 100e6],
    ['100 Mbit/s', 100e6],
    ['50MB/s', 50 * 8e6],
    ['50MiB/s', 50 * 8 * 2 ** 20],
  ])('%s is %d bit/s', (text, bps) => {
    expect(parseBandwidth(text)).toBeCloseTo(bps, 6);
  });

  it.each(['', '100', 'fast', '100Mbits', '-1Gbit', '1Gb', '0Mbit', '1.2.3Gbit'])('rejects %j', (text) => {
    expect(() => parseBandwidth(text)).toThrow(/bandwidth/);
  });

  it('says a unit is missing for a bare number', () => {
    expect(() => parseBandwidth('100')).toThrow(/a unit is required/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500us', 500],
    ['40ms', 40_000],
    ['2s', 2_000_000],
    ['1.5m', 90_000_000],
    ['1h', 3_600_000_000],
    ['0s', 0],
  ])('%s is %d µs', (text, us) => {
    expect(parseDuration(text)).toBe(us);
  });

  it('returns integer microseconds', () => {
    expect(Number.isInteger(parseDuration('0.0004ms'))).toBe(true);
  });

  it.each(['40', 'soon', '40 sec', '-2s', '1d'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});

describe('parseSize', () => {
  it.each([
    ['512KiB', 512 * 1024],
    ['4MiB', 4 * 2 ** 20],
    ['2GiB', 2 * 2 ** 30],
    ['1GB', 1e9],
    ['100MB', 100e6],
    ['1024B', 1024],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['4M', '4 mib', 'big', '1024'])('rejects %j', (text) => {
    expect(() => parseSize(text)).toThrow(/size/);
  });
});

describe('parseFraction', () => {
  it.each([
    ['0.5%', 0.005],
    ['12%', 0.12],
    ['100%', 1],
    [0.25, 0.25],
    [0, 0],
  ] as const)('%j is %d', (value, fraction) => {
    expect(parseFraction(value)).toBeCloseTo(fraction, 12);
  });

  it.each(['12', '150%', 'half', 1.5, -0.1])('rejects %j', (value) => {
    expect(() => parseFraction(value)).toThrow(/fraction/);
  });
});

describe('formatters', () => {
  it('print readable values', () => {
    expect(formatBitsPerS(1.5e9)).toBe('1.5Gbit/s');
    expect(formatBitsPerS(100e6)).toBe('100Mbit/s');
    expect(formatDurationUs(40_000)).toBe('40ms');
    expect(formatDurationUs(90_000_000)).toBe('1.5m');
    expect(formatDurationUs(500)).toBe('500us');
    expect(formatBytes(4 * 2 ** 20)).toBe('4MiB');
    expect(formatBytes(1023)).toBe('1023B');
  });

  // Formatting rounds to two decimals of the chosen unit, so a round trip is exact to within that.
  it('round-trip through the parsers within rounding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 45 }), (n) => {
        expect(relErr(parseBandwidth(formatBitsPerS(n)), n)).toBeLessThan(0.01);
        expect(relErr(parseSize(formatBytes(n)), n)).toBeLessThan(0.01);
        expect(relErr(parseDuration(formatDurationUs(n)), n)).toBeLessThan(0.01);
      }),
    );
  });
});

function relErr(actual: number, expected: number): number {
  return Math.abs(actual - expected) / expected;
}
