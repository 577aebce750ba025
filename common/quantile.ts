/**
 * Quantile of an ascending-sorted array, Hyndman & Fan type 7 (linear interpolation between
 * closest ranks; the default of R, NumPy and Excel's PERCENTILE.INC). The one definition used
 * everywhere in edgeplane: reports, the simulator's metrics and calibration. It lives here, not
 * in reports/, so that using it does not load the chart renderer.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of an empty array');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be in [0, 1], got ${q}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
