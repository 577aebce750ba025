import * as d3 from 'd3';
import { formatValue } from '../format.js';
import type { ScenarioData, Series } from '../model.js';
import { runValue } from './data.js';
import { type Chart, frame, type Frame, INK, MUTED } from './frame.js';

interface Panel {
  metric: string;
  heading: string;
  axis: string;
  reference: string;
}

const PANELS: Panel[] = [
  { metric: 'makespan_ratio_to_bound', heading: 'Makespan ÷ physical lower bound', axis: 'makespan ratio (×, 1 = optimal)', reference: 'bound' },
  { metric: 'origin_egress_ratio', heading: 'Origin egress ÷ N·S', axis: 'egress ratio (×, 1 = all from origin)', reference: 'N·S' },
];

/** How far each series is from the physics: makespan and origin egress as ratios. */
export function boundsChart(sc: ScenarioData, id: string): Chart {
  const title = `Distance from the bound — ${sc.name} (${sc.mainNodes.toLocaleString('en-US')} nodes)`;
  const rows = sc.series.map((d) => ({ series: d.series, run: d.runs.get(sc.mainNodes) }));
  const labelW = Math.max(80, ...rows.map((r) => r.series.label.length * 6.8 + 16));
  const f = frame({ title, height: Math.max(220, 130 + rows.length * 40), marginLeft: labelW, legendWidth: 20 });
  const y = d3
    .scaleBand<string>()
    .domain(rows.map((r) => r.series.id))
    .range([18, f.height])
    .padding(0.28);
  rows.forEach((r) => {
    f.plot
      .append('text')
      .attr('x', -10)
      .attr('y', (y(r.series.id) ?? 0) + y.bandwidth() / 2 + 4)
      .attr('text-anchor', 'end')
      .attr('fill', INK)
      .text(r.series.label);
  });
  const gap = 36;
  const panelW = (f.width - gap) / 2;
  PANELS.forEach((p, i) => {
    const values = rows.map((r) => ({ ...r, v: runValue(r.run, p.metric) }));
    drawPanel(f, p, values, y, i * (panelW + gap), panelW);
  });
  return {
    id,
    title,
    caption:
      'Left: makespan over its physical lower bound, the largest of the link terms (the bytes that must cross the origin uplink, a site WAN or LAN, the slowest access link, the swarm upload capacity, a native plane’s copy workers) over that link’s capacity; the table names the term that binds. Right: bytes leaving the origin over N image copies; below 1 means caches or peers served the rest.',
    svg: f.done(),
  };
}

function drawPanel(f: Frame, p: Panel, values: { series: Pick<Series, 'id' | 'colour' | 'variant'>; v: number | undefined }[], y: d3.ScaleBand<string>, x0: number, width: number): void {
  const g = f.plot.append('g').attr('transform', `translate(${x0},0)`);
  const max = d3.max(values, (d) => d.v) ?? 1;
  const x = d3
    .scaleLinear()
    .domain([0, Math.max(1.1, max * 1.12)])
    .nice()
    .range([0, width]);
  g.append('text').attr('x', 0).attr('y', 4).attr('font-weight', 600).attr('fill', INK).text(p.heading);
  const axis = g.append('g').attr('transform', `translate(0,${f.height})`).call(d3.axisBottom(x).ticks(5));
  axis.attr('font-size', 11).attr('color', MUTED);
  g.append('text')
    .attr('x', width / 2)
    .attr('y', f.height + 40)
    .attr('text-anchor', 'middle')
    .attr('fill', INK)
    .text(p.axis);
  for (const d of values) {
    const yPos = y(d.series.id) ?? 0;
    if (d.v === undefined) {
      g.append('text')
        .attr('x', 4)
        .attr('y', yPos + y.bandwidth() / 2 + 4)
        .attr('fill', MUTED)
        .attr('font-style', 'italic')
        .text('not reported');
      continue;
    }
    g.append('rect')
      .attr('class', 'data')
      .attr('x', 0)
      .attr('y', yPos)
      .attr('width', Math.max(1, x(d.v)))
      .attr('height', y.bandwidth())
      .attr('fill', d.series.colour)
      .attr('fill-opacity', 1 - 0.3 * Math.min(d.series.variant, 2));
    const inside = x(d.v) > width - 48;
    g.append('text')
      .attr('x', inside ? x(d.v) - 6 : x(d.v) + 6)
      .attr('y', yPos + y.bandwidth() / 2 + 4)
      .attr('text-anchor', inside ? 'end' : 'start')
      .attr('fill', inside ? '#ffffff' : INK)
      .attr('font-size', 11)
      .text(formatValue(d.v, 'ratio'));
  }
  g.append('line').attr('x1', x(1)).attr('x2', x(1)).attr('y1', 12).attr('y2', f.height).attr('stroke', INK).attr('stroke-dasharray', '4 3');
  g.append('text')
    .attr('x', x(1) + 4)
    .attr('y', f.height - 4)
    .attr('font-size', 10)
    .attr('fill', MUTED)
    .text(`= ${p.reference}`);
}
