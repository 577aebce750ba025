// Which control planes a report shows, in what order and in what colour. reports/ names no plane:
// the caller (the composition root) passes its list, and any plane the results hold beyond it is
// still shown, after the listed ones, in a colour of its own.

/** A plane as the report's caller describes it: its name (as in `labels.plane`) and optionally its colour. */
export interface ReportPlane {
  name: string;
  /** any SVG/CSS colour; default: the next unused colour of FALLBACK_COLOURS */
  colour?: string;
}

/** A plane present in the results, with its resolved colour. */
export interface PlaneStyle {
  name: string;
  colour: string;
}

/**
 * The colour-blind-safe palette of Okabe & Ito (2008), in the order it is handed out to planes
 * without a colour of their own; yellow (weak on white) and black (reads as text) come last.
 */
export const FALLBACK_COLOURS: readonly string[] = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

/**
 * The display order and colours of the planes `seen` in the results (in first-seen order):
 * first those of `listed`, in its order, then the others in the order they were seen. A plane
 * takes its listed colour; the others take, in that order, the fallback colours no listed plane
 * uses (cycling when there are more planes than colours). Deterministic in its inputs.
 */
export function resolvePlanes(listed: readonly ReportPlane[] | undefined, seen: Iterable<string>): PlaneStyle[] {
  const order: ReportPlane[] = [];
  const names = new Set<string>();
  for (const p of listed ?? []) {
    if (!p.name || names.has(p.name)) continue;
    names.add(p.name);
    order.push(p);
  }
  const present = new Set<string>();
  for (const name of seen) {
    present.add(name);
    if (!names.has(name)) {
      names.add(name);
      order.push({ name });
    }
  }
  const taken = new Set(order.flatMap((p) => (p.colour ? [p.colour.toLowerCase()] : [])));
  const free = FALLBACK_COLOURS.filter((c) => !taken.has(c.toLowerCase()));
  const palette = free.length > 0 ? free : FALLBACK_COLOURS;
  let next = 0;
  // listed planes without a colour take theirs even when absent from these results, so a plane
  // keeps its colour from one report to the next as long as the list does not change
  const styles = order.map((p) => ({ name: p.name, colour: p.colour || palette[next++ % palette.length] }));
  return styles.filter((p) => present.has(p.name));
}
