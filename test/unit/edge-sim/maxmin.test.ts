import { describe, expect, it } from 'vitest';
import { mathisCapBitsPerS, maxMinRates } from '../../../edge-sim/maxmin.js';

describe('maxMinRates (reference progressive filling)', () => {
  it('classic two links, one long flow crossing both: everyone gets half', () => {
    expect(maxMinRates([1, 1], [{ path: [0, 1] }, { path: [0] }, { path: [1] }])).toEqual([0.5, 0.5, 0.5]);
  });

  it('unequal links: the long flow is held by the narrow link, the other link gives the rest away', () => {
    // A=10, B=4. B is the bottleneck: f0 and f2 get 2 each; f1 takes what is left on A: 8.
    const rates = maxMinRates([10, 4], [{ path: [0, 1] }, { path: [0] }, { path: [1] }]);
    expect(rates[0]).toBeCloseTo(2, 12);
    expect(rates[1]).toBeCloseTo(8, 12);
    expect(rates[2]).toBeCloseTo(2, 12);
  });

  it('a capped flow leaves its unused share to the others', () => {
    const rates = maxMinRates([10], [{ path: [0], capBitsPerS: 1 }, { path: [0] }, { path: [0] }]);
    expect(rates[0]).toBeCloseTo(1, 12);
    expect(rates[1]).toBeCloseTo(4.5, 12);
    expect(rates[2]).toBeCloseTo(4.5, 12);
  });

  it('parking-lot chain: the flow across all links gets the smallest share', () => {
    // Links 0..2 of capacity 6; long flow over all three, one short flow per link, plus a second
    // short flow on link 1. Link 1 (3 flows) fixes long = 2; links 0 and 2 give their short flows 4.
    const rates = maxMinRates([6, 6, 6], [{ path: [0, 1, 2] }, { path: [0] }, { path: [1] }, { path: [1] }, { path: [2] }]);
    expect(rates.map((r) => Math.round(r * 1e9) / 1e9)).toEqual([2, 4, 2, 2, 4]);
  });

  it('a zero-capacity link stops its flows, others are unaffected', () => {
    expect(maxMinRates([0, 10], [{ path: [0, 1] }, { path: [1] }])).toEqual([0, 10]);
  });

  it('rejects flows without links or cap and unknown links', () => {
    expect(() => maxMinRates([1], [{ path: [] }])).toThrow();
    expect(() => maxMinRates([1], [{ path: [3] }])).toThrow();
  });
});

describe('mathisCapBitsPerS', () => {
  it('follows MSS/RTT * sqrt(3/2)/sqrt(p)', () => {
    // 1460 B, 100 ms, 1% loss: 11680 b / 0.1 s * 1.2247 / 0.1 = 1.4305 Mb/s
    expect(mathisCapBitsPerS(100_000, 0.01)).toBeCloseTo(116_800 * Math.sqrt(1.5) * 10, 3);
    expect(mathisCapBitsPerS(50_000, 0.01)).toBeCloseTo(2 * mathisCapBitsPerS(100_000, 0.01), 3);
    expect(mathisCapBitsPerS(100_000, 0.04)).toBeCloseTo(mathisCapBitsPerS(100_000, 0.01) / 2, 3);
    expect(mathisCapBitsPerS(10_000, 0)).toBe(Infinity);
    expect(() => mathisCapBitsPerS(0, 0.01)).toThrow();
    expect(() => mathisCapBitsPerS(10, 2)).toThrow();
  });
});
