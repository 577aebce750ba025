import { describe, expect, it } from 'vitest';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { NODE_PURPOSES, NodeStreams, normalQuantile, rngFromState, streamRng } from '../../../edge-sim/rng.js';

function draws(rng: { u32(): number }, n: number): number[] {
  return Array.from({ length: n }, () => rng.u32());
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

describe('streamRng', () => {
  it('is reproducible for the same seed and key', () => {
    expect(draws(streamRng(42, 'node', 7), 50)).toEqual(draws(streamRng(42, 'node', 7), 50));
  });

  it('gives different streams for different seeds, keys and key types', () => {
    const base = draws(streamRng(42, 'node', 7), 8);
    expect(draws(streamRng(43, 'node', 7), 8)).not.toEqual(base);
    expect(draws(streamRng(42, 'node', 8), 8)).not.toEqual(base);
    expect(draws(streamRng(42, 'node', '7'), 8)).not.toEqual(base);
    expect(draws(streamRng(42, 'node7'), 8)).not.toEqual(base);
    expect(draws(streamRng(2 ** 40 + 42, 'node', 7), 8)).not.toEqual(base);
  });

  it('adding streams or drawing from others never changes a stream', () => {
    const alone = draws(streamRng(1, 'node', 3, 'jitter'), 20);
    const others = Array.from({ length: 100 }, (_, i) => streamRng(1, 'node', i, 'jitter'));
    for (const o of others) draws(o, 5);
    const again = streamRng(1, 'node', 3, 'jitter');
    draws(others[3], 100);
    expect(draws(again, 20)).toEqual(alone);
  });

  it('first draws of many sibling streams look uniform (no seeding bias)', () => {
    const n = 20_000;
    const buckets = new Array(16).fill(0);
    for (let i = 0; i < n; i++) buckets[streamRng(9, 'node', i).int(0, 15)]++;
    for (const b of buckets) expect(Math.abs(b - n / 16)).toBeLessThan(5 * Math.sqrt(n / 16));
  });

  it('float is in [0,1) with mean near 1/2; int covers [lo,hi] inclusively', () => {
    const rng = streamRng(5, 'u');
    let sum = 0;
    const seen = new Set<number>();
    let inRange = true;
    for (let i = 0; i < 20_000; i++) {
      const f = rng.float();
      if (!(f >= 0 && f < 1)) inRange = false;
      sum += f;
      seen.add(rng.int(-2, 3));
    }
    expect(inRange).toBe(true);
    expect(Math.abs(sum / 20_000 - 0.5)).toBeLessThan(0.01);
    expect([...seen].sort()).toEqual([-1, -2, 0, 1, 2, 3].sort());
    const wide = rng.int(0, 2 ** 40);
    expect(Number.isInteger(wide) && wide >= 0 && wide <= 2 ** 40).toBe(true);
    expect(() => rng.int(3, 2)).toThrow();
  });

  it('bernoulli frequency matches p', () => {
    const rng = streamRng(5, 'b');
    let hits = 0;
    for (let i = 0; i < 20_000; i++) if (rng.bernoulli(0.3)) hits++;
    expect(Math.abs(hits / 20_000 - 0.3)).toBeLessThan(0.015);
    expect(() => rng.bernoulli(1.5)).toThrow();
  });

  it('exponential has the requested mean and integer values', () => {
    const rng = streamRng(5, 'exp');
    let sum = 0;
    let integral = true;
    for (let i = 0; i < 40_000; i++) {
      const x = rng.exponentialUs(1000);
      if (!(Number.isInteger(x) && x >= 0)) integral = false;
      sum += x;
    }
    expect(integral).toBe(true);
    expect(Math.abs(sum / 40_000 - 1000)).toBeLessThan(30);
  });

  it('lognormal hits the requested median and p99 / p95', () => {
    for (const [median, qv, q] of [
      [20_000, 150_000, 0.99],
      [5_000, 8_000, 0.95],
    ] as const) {
      const rng = streamRng(11, 'lognormal', q);
      const xs = Array.from({ length: 40_000 }, () => rng.lognormalUs(median, qv, q)).sort((a, b) => a - b);
      expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
      expect(Math.abs(quantile(xs, 0.5) / median - 1)).toBeLessThan(0.03);
      expect(Math.abs(quantile(xs, q) / qv - 1)).toBeLessThan(0.06);
    }
  });

  it('lognormal rejects inconsistent parameters and degenerates to a constant', () => {
    const rng = streamRng(1, 'x');
    expect(() => rng.lognormalUs(100, 50, 0.99)).toThrow(/inconsistent/);
    expect(() => rng.lognormalUs(0, 50, 0.99)).toThrow();
    expect(rng.lognormalUs(100, 100, 0.99)).toBe(100);
  });

  it('normalQuantile matches known values', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 8);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.99)).toBeCloseTo(2.326348, 5);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  });

  it('shuffle is a permutation and reproducible; pick returns members', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const a = streamRng(3, 's').shuffle(items.slice());
    const b = streamRng(3, 's').shuffle(items.slice());
    expect(a).toEqual(b);
    expect(a).not.toEqual(items);
    expect(a.slice().sort((x, y) => x - y)).toEqual(items);
    const rng = streamRng(3, 'p');
    for (let i = 0; i < 100; i++) expect(items).toContain(rng.pick(items));
    expect(() => rng.pick([])).toThrow();
  });
});

describe('xoroshiro128+', () => {
  it('draws what pure-rand draws from the same state', () => {
    for (const state of [
      [1, 2, 3, 4],
      [-1, 0x7fffffff, -0x80000000, 12345],
      [0x9e3779b9 | 0, 0x3c6ef372, 0x7f4a7c15, 0x6a09e667],
    ]) {
      const theirs = xoroshiro128plusFromState(state);
      const ours = rngFromState(state);
      for (let i = 0; i < 10_000; i++) expect(ours.u32()).toBe(theirs.next() >>> 0);
    }
  });
});

describe('NodeStreams', () => {
  it('gives every purpose its own stream', () => {
    const n = new NodeStreams(3, 0, 'site-001/node-0002');
    const firsts = NODE_PURPOSES.map((p) => n.of(p).u32());
    expect(new Set(firsts).size).toBe(NODE_PURPOSES.length);
  });

  it('is the (seed, repeat, node, purpose) stream, whichever purposes were drawn before', () => {
    const a = new NodeStreams(7, 1, 'site-000/node-0001');
    const b = new NodeStreams(7, 1, 'site-000/node-0001');
    a.of('boot').u32();
    a.of('service').u32();
    for (const purpose of NODE_PURPOSES) {
      const fresh = streamRng(7, 1, 'node', 'site-000/node-0001', purpose);
      const drawn = purpose === 'boot' || purpose === 'service' ? 1 : 0;
      for (let i = 0; i < drawn; i++) fresh.u32();
      expect(a.of(purpose).u32()).toBe(fresh.u32());
    }
    expect(b.of('routing')).toBe(b.of('routing'));
  });
});
