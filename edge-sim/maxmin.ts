// Max-min fair sharing, pure helpers: the reference progressive filling (for tests and small
// cases) and the Mathis TCP cap.
import { InputError } from '../common/index.js';

/**
 * Max-min fair rates by progressive filling: raise every unfrozen flow's rate together until a
 * link saturates or a flow reaches its cap; freeze those flows; repeat. O(flows × links × rounds),
 * meant as a readable reference, not for large inputs.
 */
export function maxMinRates(capacities: number[], flows: { path: number[]; capBitsPerS?: number }[]): number[] {
  for (const [i, c] of capacities.entries()) {
    if (!(c >= 0) || !Number.isFinite(c)) throw new InputError(`maxMinRates: capacity of link ${i} must be finite and >= 0, got ${c}`);
  }
  for (const [i, f] of flows.entries()) {
    for (const l of f.path) {
      if (!Number.isInteger(l) || l < 0 || l >= capacities.length) throw new InputError(`maxMinRates: flow ${i} crosses unknown link ${l}`);
    }
    const cap = f.capBitsPerS ?? Infinity;
    if (!(cap >= 0)) throw new InputError(`maxMinRates: cap of flow ${i} must be >= 0, got ${cap}`);
    if (f.path.length === 0 && cap === Infinity) throw new InputError(`maxMinRates: flow ${i} has neither links nor a cap`);
  }
  const rates = flows.map(() => 0);
  const frozen = flows.map(() => false);
  const remaining = capacities.slice();
  let unfrozen = flows.length;
  while (unfrozen > 0) {
    const crossing = capacities.map(() => 0);
    flows.forEach((f, i) => {
      if (!frozen[i]) for (const l of f.path) crossing[l]++;
    });
    let increment = Infinity;
    crossing.forEach((n, l) => {
      if (n > 0) increment = Math.min(increment, remaining[l] / n);
    });
    flows.forEach((f, i) => {
      if (!frozen[i]) increment = Math.min(increment, (f.capBitsPerS ?? Infinity) - rates[i]);
    });
    increment = Math.max(0, increment);
    flows.forEach((_, i) => {
      if (!frozen[i]) rates[i] += increment;
    });
    crossing.forEach((n, l) => {
      remaining[l] = Math.max(0, remaining[l] - n * increment);
    });
    flows.forEach((f, i) => {
      if (frozen[i]) return;
      const cap = f.capBitsPerS ?? Infinity;
      const atCap = rates[i] >= cap - 1e-9 * cap;
      const saturated = f.path.some((l) => remaining[l] <= 1e-9 * capacities[l]);
      if (atCap || saturated) {
        frozen[i] = true;
        unfrozen--;
      }
    });
  }
  return rates;
}

const MATHIS_C = Math.sqrt(3 / 2);

/** TCP throughput cap under random loss (Mathis et al. 1997): MSS/RTT · C/√p, in bits per second. */
export function mathisCapBitsPerS(rttUs: number, loss: number, mssBytes = 1460): number {
  if (!(rttUs > 0) || !Number.isFinite(rttUs)) throw new InputError(`mathisCapBitsPerS: rtt must be finite and > 0 us, got ${rttUs}`);
  if (!(loss >= 0 && loss <= 1)) throw new InputError(`mathisCapBitsPerS: loss must be in [0, 1], got ${loss}`);
  if (!(mssBytes > 0)) throw new InputError(`mathisCapBitsPerS: mss must be > 0, got ${mssBytes}`);
  if (loss === 0) return Infinity;
  return ((mssBytes * 8) / (rttUs / 1e6)) * (MATHIS_C / Math.sqrt(loss));
}
