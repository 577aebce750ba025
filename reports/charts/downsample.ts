// Charts of 10k+ nodes are drawn from a few hundred points picked evenly by rank: the shape of
// a CDF or cumulative count is kept, the SVG stays small and fast to render.

export const MAX_POINTS = 300;

/** Empirical CDF points [value, fraction ≤ value] of an ascending array, starting at fraction 0. */
export function cdfPoints(sorted: readonly number[], maxPoints = MAX_POINTS): [number, number][] {
  const n = sorted.length;
  if (n === 0) return [];
  const points: [number, number][] = [[sorted[0], 0]];
  for (const i of evenIndices(n, maxPoints)) points.push([sorted[i], (i + 1) / n]);
  return points;
}

/** Cumulative count points [time, count ≤ time] of ascending event times, starting at (0, 0). */
export function countPoints(sortedTimes: readonly number[], maxPoints = MAX_POINTS): [number, number][] {
  const n = sortedTimes.length;
  if (n === 0) return [];
  const points: [number, number][] = [[Math.min(0, sortedTimes[0]), 0]];
  for (const i of evenIndices(n, maxPoints)) points.push([sortedTimes[i], i + 1]);
  return points;
}

/** Up to `max` indices spread evenly over 0..n-1, always including the last. */
export function evenIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = 1; k <= max; k++) out.push(Math.round((k * n) / max) - 1);
  return out;
}
