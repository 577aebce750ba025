import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mannWhitneyU, minimumAttainableP, quantile } from '../../../reports/index.js';

describe('quantile (Hyndman-Fan type 7)', () => {
  it('matches NumPy/R defaults on known values', () => {
    expect(quantile([1, 2, 3, 4], 0.25)).toBeCloseTo(1.75, 12);
    const v = [15, 20, 35, 40, 50];
    expect([0.05, 0.3, 0.4, 0.95].map((q) => quantile(v, q))).toEqual([16, 23, 29, 48]);
    expect(quantile([7], 0.99)).toBe(7);
  });

  it('is monotone in q and stays within the data', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q1, q2) => {
        const s = [...xs].sort((a, b) => a - b);
        const [lo, hi] = q1 <= q2 ? [q1, q2] : [q2, q1];
        expect(quantile(s, lo)).toBeLessThanOrEqual(quantile(s, hi) + 1e-9);
        expect(quantile(s, lo)).toBeGreaterThanOrEqual(s[0]);
        expect(quantile(s, hi)).toBeLessThanOrEqual(s[s.length - 1]);
      }),
    );
  });

  it('rejects an empty array and q outside [0, 1]', () => {
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
  });
});

describe('Mann-Whitney U', () => {
  // SciPy documentation example (males vs females): U1 = 17, exact two-sided p = 1/9
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];

  it('gives the exact p-value of the SciPy textbook example', () => {
    const r = mannWhitneyU(males, females);
    expect(r.exact).toBe(true);
    expect(r.u).toBe(17);
    expect(r.p).toBeCloseTo(0.1111111111111111, 12);
  });

  it('gives the asymptotic p-value with continuity correction', () => {
    const r = mannWhitneyU(males, females, { method: 'asymptotic' });
    expect(r.exact).toBe(false);
    expect(r.p).toBeCloseTo(0.11134688653314041, 6);
    expect(r.z).toBeDefined();
  });

  it('matches R/SciPy on the wilcox.test example (exact)', () => {
    const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const y = [1.15, 0.88, 0.9, 0.74, 1.21];
    const r = mannWhitneyU(x, y);
    expect(r.u).toBe(35);
    expect(r.p).toBeCloseTo(0.2544122544122544, 10);
  });

  it('uses tie-corrected ranks when values repeat (SciPy: U = 11, p = 0.01755)', () => {
    const r = mannWhitneyU([1, 2, 2, 3, 4, 5, 5, 5, 6], [3, 4, 6, 6, 7, 8, 8, 9]);
    expect(r.exact).toBe(false);
    expect(r.u).toBe(11);
    expect(r.p).toBeCloseTo(0.01754696188101204, 6);
  });

  it('is symmetric: swapping samples gives U2 = mn - U1 and the same p', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 }), (a, b) => {
        const ab = mannWhitneyU(a, b);
        const ba = mannWhitneyU(b, a);
        expect(ab.u + ba.u).toBeCloseTo(a.length * b.length, 9);
        expect(ab.p).toBeCloseTo(ba.p, 9);
        expect(ab.p).toBeGreaterThan(0);
        expect(ab.p).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('all-identical samples have p = 1', () => {
    expect(mannWhitneyU([3, 3, 3], [3, 3]).p).toBe(1);
  });

  it('knows the smallest p a sample size can reach', () => {
    expect(minimumAttainableP(3, 3)).toBeCloseTo(0.1, 12); // 2 / C(6,3)
    expect(minimumAttainableP(4, 4)).toBeCloseTo(2 / 70, 12);
    // the exact test does reach it on completely separated samples
    expect(mannWhitneyU([1, 2, 3, 4], [5, 6, 7, 8]).p).toBeCloseTo(minimumAttainableP(4, 4), 12);
  });
});
