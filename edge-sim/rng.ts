// Seeded random streams. Each (seed, key...) names an independent stream, so adding a node or a
// new purpose never perturbs the draws of another stream. Only integer arithmetic and V8's
// Math.log/sqrt/cos are used, so a stream is the same on every machine for a given Node version.
import { InputError } from '../common/index.js';

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  u32(): number;
  /** Uniform in [0, 1), 53 bits of precision. */
  float(): number;
  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number;
  bernoulli(p: number): boolean;
  /** Exponential with the given mean, rounded to integer microseconds (>= 0). */
  exponentialUs(meanUs: number): number;
  /** Lognormal with the given median and q-quantile (e.g. q = 0.99 for p99), integer microseconds. */
  lognormalUs(medianUs: number, quantileUs: number, q: number): number;
  /** The same draw with its sigma worked out already (`lognormalSigma`): for a figure drawn many times. */
  lognormalSigmaUs(medianUs: number, sigma: number): number;
  /** Standard normal deviate (Box–Muller, two floats per call). */
  normal(): number;
  /** In place, Fisher–Yates; returns `items`. */
  shuffle<T>(items: T[]): T[];
  pick<T>(items: readonly T[]): T;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

/**
 * xoroshiro128+ (Blackman and Vigna), with the state words of pure-rand's `xoroshiro128plusFromState`
 * and its outputs draw for draw (a test holds the two together). Kept in the stream's own fields
 * rather than in a generator object beside it: a fleet's streams are scattered over a large heap,
 * and one object fewer per draw is one cache miss fewer.
 */
class StreamRng implements Rng {
  constructor(
    private s01: number,
    private s00: number,
    private s11: number,
    private s10: number,
  ) {}

  private next(): number {
    const out = (this.s00 + this.s10) | 0;
    const a0 = this.s10 ^ this.s00;
    const a1 = this.s11 ^ this.s01;
    const s00 = this.s00;
    const s01 = this.s01;
    this.s00 = (s00 << 24) ^ (s01 >>> 8) ^ a0 ^ (a0 << 16);
    this.s01 = (s01 << 24) ^ (s00 >>> 8) ^ a1 ^ ((a1 << 16) | (a0 >>> 16));
    this.s10 = (a1 << 5) ^ (a0 >>> 27);
    this.s11 = (a0 << 5) ^ (a1 >>> 27);
    return out;
  }

  u32(): number {
    return this.next() >>> 0;
  }

  float(): number {
    const hi = this.next() >>> 5; // 27 bits
    const lo = this.next() >>> 6; // 26 bits
    return (hi * TWO_POW_26 + lo) / TWO_POW_53;
  }

  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) {
      throw new InputError(`Rng.int: need integers lo <= hi, got [${lo}, ${hi}]`);
    }
    const range = hi - lo + 1;
    if (range <= TWO_POW_32) {
      // Rejection sampling: drop the top partial block so every value is equally likely.
      const limit = TWO_POW_32 - (TWO_POW_32 % range);
      let x = this.u32();
      while (x >= limit) x = this.u32();
      return lo + (x % range);
    }
    if (!Number.isSafeInteger(range)) {
      throw new InputError(`Rng.int: range [${lo}, ${hi}] is wider than 2^53`);
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % range);
    let x = this.wide53();
    while (x >= limit) x = this.wide53();
    return lo + (x % range);
  }

  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) throw new InputError(`Rng.bernoulli: p must be in [0, 1], got ${p}`);
    return this.float() < p;
  }

  exponentialUs(meanUs: number): number {
    if (!(meanUs >= 0) || !Number.isFinite(meanUs)) {
      throw new InputError(`Rng.exponentialUs: mean must be a finite number >= 0, got ${meanUs}`);
    }
    const u = 1 - this.float(); // (0, 1]
    return Math.round(-meanUs * Math.log(u));
  }

  lognormalUs(medianUs: number, quantileUs: number, q: number): number {
    return this.lognormalSigmaUs(medianUs, lognormalSigma(medianUs, quantileUs, q));
  }

  lognormalSigmaUs(medianUs: number, sigma: number): number {
    const z = this.normal();
    return Math.round(medianUs * Math.exp(sigma * z));
  }

  normal(): number {
    const u1 = 1 - this.float(); // (0, 1], so the log is finite
    const u2 = this.float();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new InputError('Rng.pick: cannot pick from an empty list');
    return items[this.int(0, items.length - 1)];
  }

  private wide53(): number {
    const hi = this.next() >>> 11; // 21 bits
    return hi * TWO_POW_32 + (this.next() >>> 0);
  }
}

/**
 * The sigma of a lognormal whose median is `medianUs` and whose q-quantile is `quantileUs`:
 * ln(quantile/median) = sigma * z_q, z_q the standard normal q-quantile.
 */
export function lognormalSigma(medianUs: number, quantileUs: number, q: number): number {
  if (!(medianUs > 0) || !Number.isFinite(medianUs) || !(quantileUs > 0) || !Number.isFinite(quantileUs)) {
    throw new InputError(`lognormal: median and quantile must be finite and > 0, got ${medianUs}, ${quantileUs}`);
  }
  if (!(q > 0 && q < 1)) throw new InputError(`lognormal: q must be in (0, 1), got ${q}`);
  if (quantileUs === medianUs) return 0;
  const z = normalQuantile(q);
  const sigma = Math.log(quantileUs / medianUs) / z;
  if (!(sigma > 0) || !Number.isFinite(sigma)) {
    throw new InputError(`lognormal: a q=${q} quantile of ${quantileUs} is inconsistent with median ${medianUs} (above the median needs q > 0.5, below needs q < 0.5)`);
  }
  return sigma;
}

// Acklam's rational approximation of the standard normal inverse CDF (relative error < 1.2e-9).
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

/** Standard normal q-quantile, q in (0, 1). */
export function normalQuantile(q: number): number {
  if (!(q > 0 && q < 1)) throw new InputError(`normalQuantile: q must be in (0, 1), got ${q}`);
  if (q < P_LOW) {
    const t = Math.sqrt(-2 * Math.log(q));
    return (((((C[0] * t + C[1]) * t + C[2]) * t + C[3]) * t + C[4]) * t + C[5]) / ((((D[0] * t + D[1]) * t + D[2]) * t + D[3]) * t + 1);
  }
  if (q > 1 - P_LOW) {
    const t = Math.sqrt(-2 * Math.log(1 - q));
    return -(((((C[0] * t + C[1]) * t + C[2]) * t + C[3]) * t + C[4]) * t + C[5]) / ((((D[0] * t + D[1]) * t + D[2]) * t + D[3]) * t + 1);
  }
  const r = q - 0.5;
  const s = r * r;
  return ((((((A[0] * s + A[1]) * s + A[2]) * s + A[3]) * s + A[4]) * s + A[5]) * r) / (((((B[0] * s + B[1]) * s + B[2]) * s + B[3]) * s + B[4]) * s + 1);
}

// --- stream seeding -------------------------------------------------------------------------

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Two independent 32-bit FNV-1a-style lanes, so stream keys get a 64-bit identity. */
class KeyHasher {
  h1 = 0x811c9dc5 | 0;
  h2 = 0x9e3779b9 | 0;

  word(w: number): void {
    this.h1 = Math.imul(this.h1 ^ (w & 0xffff), 0x01000193);
    this.h1 = Math.imul(this.h1 ^ (w >>> 16), 0x01000193);
    this.h2 = Math.imul(this.h2 ^ w, 0x5bd1e995);
    this.h2 ^= this.h2 >>> 15;
  }

  text(s: string): void {
    this.word(s.length);
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
  }
}

const TAG_STRING = 0x53;
const TAG_INT = 0x49;
const TAG_FLOAT = 0x46;

/**
 * An independent stream per (seed, key...). The 128-bit generator state is derived by hashing the
 * seed and the key parts (type-tagged, so 5 and '5' name different streams).
 */
export function streamRng(seed: number, ...key: (string | number)[]): Rng {
  const [a, b] = keyLanes(seed, key);
  const s = [fmix32(a + 0x9e3779b9), fmix32(b + 0x3c6ef372), fmix32(a ^ b ^ 0x7f4a7c15), fmix32(a - b + 0x6a09e667)];
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // the all-zero state is a fixed point
  return rngFromState(s);
}

/** The stream a 128-bit generator state starts (four 32-bit words, in pure-rand's order). */
export function rngFromState(state: readonly number[]): Rng {
  if (state.length !== 4) throw new InputError(`rngFromState: need 4 state words, got ${state.length}`);
  return new StreamRng(state[0] | 0, state[1] | 0, state[2] | 0, state[3] | 0);
}

/**
 * A stable value in [0, 1) per (seed, key...): the same key always maps to the same value, whatever
 * else exists. Victims chosen by ranking these per node id stay hit when nodes or sites are added.
 */
export function stableUnit(seed: number, ...key: (string | number)[]): number {
  const [a, b] = keyLanes(seed, key);
  const hi = fmix32(a ^ 0x2545f491) >>> 5; // 27 bits
  const lo = fmix32(b + 0x61c88647) >>> 6; // 26 bits
  return (hi * TWO_POW_26 + lo) / TWO_POW_53;
}

function keyLanes(seed: number, key: (string | number)[]): [number, number] {
  if (!Number.isSafeInteger(seed)) throw new InputError(`streamRng: seed must be a safe integer, got ${seed}`);
  const hasher = new KeyHasher();
  hashInteger(hasher, seed);
  for (const part of key) {
    if (typeof part === 'string') {
      hasher.word(TAG_STRING);
      hasher.text(part);
    } else if (Number.isSafeInteger(part)) {
      hasher.word(TAG_INT);
      hashInteger(hasher, part);
    } else {
      hasher.word(TAG_FLOAT);
      hasher.text(String(part));
    }
  }
  return [fmix32(hasher.h1), fmix32(hasher.h2 ^ 0x27d4eb2f)];
}

function hashInteger(hasher: KeyHasher, n: number): void {
  const negative = n < 0;
  const abs = Math.abs(n);
  hasher.word(abs >>> 0);
  hasher.word(Math.floor(abs / TWO_POW_32) | (negative ? 0x80000000 : 0));
}

/** What a node's random draws are for: each purpose is its own stream, so one never shifts another. */
export const NODE_PURPOSES = ['machine', 'boot', 'service', 'corruption', 'placement', 'jitter', 'routing'] as const;
export type NodePurpose = (typeof NODE_PURPOSES)[number];

/** A node's streams, one per (node, purpose), created on first use (a million nodes draw from few of them). */
export class NodeStreams {
  // One field per purpose, not an array of them: one object fewer between a node and its draws.
  private machine: Rng | null = null;
  private boot: Rng | null = null;
  private service: Rng | null = null;
  private corruption: Rng | null = null;
  private placement: Rng | null = null;
  private jitter: Rng | null = null;
  private routing: Rng | null = null;

  constructor(
    private readonly seed: number,
    private readonly repeat: number,
    private readonly nodeId: string,
  ) {}

  of(purpose: NodePurpose): Rng {
    switch (purpose) {
      case 'machine':
        this.machine ??= this.create(purpose);
        return this.machine;
      case 'boot':
        this.boot ??= this.create(purpose);
        return this.boot;
      case 'service':
        this.service ??= this.create(purpose);
        return this.service;
      case 'corruption':
        this.corruption ??= this.create(purpose);
        return this.corruption;
      case 'placement':
        this.placement ??= this.create(purpose);
        return this.placement;
      case 'jitter':
        this.jitter ??= this.create(purpose);
        return this.jitter;
      case 'routing':
        this.routing ??= this.create(purpose);
        return this.routing;
    }
  }

  private create(purpose: NodePurpose): Rng {
    return streamRng(this.seed, this.repeat, 'node', this.nodeId, purpose);
  }
}
