// Seeded jitter for retry backoff. The machine carries the PRNG state in AgentState.rngState,
// so the generator must be a pure function of a 32-bit integer (mulberry32).

/** One mulberry32 draw: a float in [0, 1) and the next state. */
export function nextRandom(rngState: number): { value: number; rngState: number } {
  const next = (rngState + 0x6d2b79f5) | 0;
  let t = Math.imul(next ^ (next >>> 15), next | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, rngState: next };
}

/** Ceiling of the delay before retry number `failures` (1-based): min(cap, base·2^(failures−1)). */
export function backoffCeilingUs(baseUs: number, capUs: number, failures: number): number {
  return Math.min(capUs, baseUs * 2 ** Math.max(0, failures - 1));
}

/** "Equal jitter": half the ceiling plus a uniform share of the other half, in whole µs. */
export function backoffDelayUs(baseUs: number, capUs: number, failures: number, random: number): number {
  const ceiling = backoffCeilingUs(baseUs, capUs, failures);
  const half = Math.floor(ceiling / 2);
  return half + Math.floor(random * (ceiling - half));
}
