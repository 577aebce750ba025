// The common frame of every chart: a titled SVG (drawn server-side by d3 into a linkedom document), a plot area
// with labelled axes, a legend, and the colour-blind-safe palette (Okabe & Ito 2008). Plane colours
// come with the series (see planes.ts); phase colours are fixed here.
import * as d3 from 'd3';
import { parseHTML } from 'linkedom';
import type { Series } from '../model.js';

export type Svg = d3.Selection<SVGSVGElement, unknown, null, undefined>;
export type Group = d3.Selection<SVGGElement, unknown, null, undefined>;

export interface Chart {
  /** file name stem under charts/, unique in a report */
  id: string;
  title: string;
  /** one sentence saying how to read it */
  caption: string;
  svg: string;
  /** spans the full width of the page (drawn wider) */
  wide?: boolean;
}

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
export const INK = '#1f2328';
export const MUTED = '#59636e';
export const GRID = '#d8dee4';

/** second, third... series of the same plane differ by dash pattern, so colour keeps meaning "plane" */
const DASHES = ['', '7 4', '2 3', '10 3 2 3'];

export const PHASE_ORDER = ['auth', 'assignment', 'manifest', 'key', 'transfer', 'verify', 'decrypt', 'boot'];
const PHASE_COLOURS: Record<string, string> = {
  auth: '#56B4E9',
  assignment: '#CC79A7',
  manifest: '#F0E442',
  key: '#D55E00',
  transfer: '#0072B2',
  verify: '#009E73',
  decrypt: '#999999',
  boot: '#E69F00',
};
const EXTRA_COLOURS = ['#000000', '#7f7f7f', '#b3b3b3'];

export function phaseColour(phase: string, index: number): string {
  return PHASE_COLOURS[phase] ?? EXTRA_COLOURS[index % EXTRA_COLOURS.length];
}

export function seriesStroke(s: Series): { colour: string; dash: string } {
  return { colour: s.colour, dash: DASHES[s.variant % DASHES.length] };
}

export interface Frame {
  svg: Svg;
  plot: Group;
  width: number;
  height: number;
  done(): string;
}

export interface FrameOptions {
  width?: number;
  height?: number;
  title: string;
  /** extra room on the right for a legend */
  legendWidth?: number;
  marginLeft?: number;
  marginTop?: number;
}

export function frame(opts: FrameOptions): Frame {
  const outerW = opts.width ?? 720;
  const outerH = opts.height ?? 380;
  const margin = { top: opts.marginTop ?? 40, right: 16 + (opts.legendWidth ?? 0), bottom: 50, left: opts.marginLeft ?? 66 };
  // linkedom, not jsdom (d3-node): about 3x faster to load, and a fresh document per chart costs little
  const { document } = parseHTML('<!doctype html><html><body></body></html>');
  const svg: Svg = d3
    .select(document.body as unknown as HTMLElement)
    .append('svg')
    .attr('xmlns', 'http://www.w3.org/2000/svg')
    .attr('width', outerW)
    .attr('height', outerH)
    .attr('viewBox', `0 0 ${outerW} ${outerH}`)
    .attr('role', 'img')
    .attr('aria-label', opts.title)
    .attr('font-family', FONT)
    .attr('font-size', 12);
  svg.append('rect').attr('width', outerW).attr('height', outerH).attr('fill', '#ffffff');
  svg.append('text').attr('x', 12).attr('y', 22).attr('font-size', 15).attr('font-weight', 600).attr('fill', INK).text(opts.title);
  const plot = svg.append('g').attr('transform', `translate(${margin.left},${margin.top})`);
  return {
    svg,
    plot,
    width: outerW - margin.left - margin.right,
    height: outerH - margin.top - margin.bottom,
    done: () => (svg.node() as SVGSVGElement).outerHTML,
  };
}

type NumberScale = d3.AxisScale<d3.NumberValue>;
type TickSetup = (axis: d3.Axis<d3.NumberValue>) => void;

/** Bottom axis with a label (the label must name the unit). */
export function xAxis(f: Frame, scale: NumberScale, label: string, ticks?: TickSetup): void {
  const axis = d3.axisBottom(scale);
  ticks?.(axis);
  const g = f.plot.append('g').attr('transform', `translate(0,${f.height})`).call(axis);
  styleAxis(g);
  f.plot
    .append('text')
    .attr('x', f.width / 2)
    .attr('y', f.height + 40)
    .attr('text-anchor', 'middle')
    .attr('fill', INK)
    .text(label);
}

export function yAxis(f: Frame, scale: NumberScale, label: string, ticks?: TickSetup, grid = true): void {
  const axis = d3.axisLeft(scale);
  ticks?.(axis);
  if (grid) axis.tickSizeInner(-f.width);
  const g = f.plot.append('g').call(axis);
  styleAxis(g);
  if (grid) g.selectAll('.tick line').attr('stroke', GRID);
  f.plot
    .append('text')
    .attr('transform', `translate(${-52},${f.height / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .attr('fill', INK)
    .text(label);
}

function styleAxis(g: d3.Selection<SVGGElement, unknown, null, undefined>): void {
  g.attr('font-family', FONT).attr('font-size', 11).attr('color', MUTED);
  g.select('.domain').attr('stroke', MUTED);
}

export interface LegendItem {
  label: string;
  colour: string;
  dash?: string;
  /** draw a filled swatch instead of a line */
  swatch?: boolean;
}

export type Corner = 'top-left' | 'top-right' | 'bottom-right' | 'outside-right';

/** Legend in a corner of the plot where the data is not, on a translucent box. */
export function legend(f: Frame, items: LegendItem[], corner: Corner): void {
  if (items.length === 0) return;
  const rowH = 18;
  const textW = Math.max(...items.map((i) => i.label.length)) * 6.6 + 34;
  const boxH = items.length * rowH + 6;
  const x = corner === 'outside-right' ? f.width + 14 : corner === 'top-left' ? 14 : f.width - textW - 6;
  const y = corner === 'bottom-right' ? f.height - boxH - 4 : 6;
  const g = f.plot.append('g').attr('transform', `translate(${x},${y})`);
  g.append('rect')
    .attr('x', -6)
    .attr('y', -4)
    .attr('width', textW + 6)
    .attr('height', boxH)
    .attr('fill', '#ffffff')
    .attr('fill-opacity', 0.85)
    .attr('stroke', GRID)
    .attr('rx', 4);
  items.forEach((item, i) => {
    const row = g.append('g').attr('transform', `translate(0,${i * rowH + 8})`);
    if (item.swatch) {
      row.append('rect').attr('x', 0).attr('y', -6).attr('width', 20).attr('height', 12).attr('fill', item.colour).attr('rx', 2);
    } else {
      row
        .append('line')
        .attr('x1', 0)
        .attr('x2', 22)
        .attr('stroke', item.colour)
        .attr('stroke-width', 2.5)
        .attr('stroke-dasharray', item.dash || null);
    }
    row.append('text').attr('x', 28).attr('y', 4).attr('fill', INK).text(item.label);
  });
}

export function seriesLegend(series: Series[]): LegendItem[] {
  return series.map((s) => {
    const { colour, dash } = seriesStroke(s);
    return { label: s.label, colour, dash };
  });
}

/** Says so in the chart instead of drawing empty axes. */
export function noData(f: Frame, message: string): void {
  f.plot
    .append('text')
    .attr('x', f.width / 2)
    .attr('y', f.height / 2)
    .attr('text-anchor', 'middle')
    .attr('fill', MUTED)
    .text(message);
}

/** 1-2-5 ticks across a log domain, so a log axis gets a few labelled lines rather than dozens. */
export function logTicks(domain: number[], max = 8): number[] {
  const [lo, hi] = [Math.min(...domain), Math.max(...domain)];
  for (const steps of [[1, 2, 5], [1, 3], [1]]) {
    const ticks: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of steps) {
        const v = m * 10 ** e;
        if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
      }
    }
    if (ticks.length <= max) return ticks;
  }
  return [lo, hi];
}

export const siFormat = d3.format('~s');

/** A step line (value holds until the next point) through [x, y] points, for CDFs and counts over time. */
export function stepLine(x: (v: number) => number, y: (v: number) => number): d3.Line<[number, number]> {
  return d3
    .line<[number, number]>()
    .x((p) => x(p[0]))
    .y((p) => y(p[1]))
    .curve(d3.curveStepAfter);
}
