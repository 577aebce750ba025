import * as d3 from 'd3';
import type { ScenarioData } from '../model.js';
import { sortedAscending } from '../stats.js';
import { cdfPoints } from './downsample.js';
import { type Chart, frame, legend, noData, seriesLegend, seriesStroke, stepLine, xAxis, yAxis } from './frame.js';

/** Deploy-latency CDF of one scenario at its largest fleet size, planes overlaid. */
export function cdfChart(sc: ScenarioData, id: string): Chart {
  const title = `Deploy latency CDF — ${sc.name} (${sc.mainNodes.toLocaleString('en-US')} nodes)`;
  const f = frame({ title });
  const lines = sc.series.map((d) => ({ series: d.series, points: cdfPoints(sortedAscending(d.runs.get(sc.mainNodes)?.latencies ?? [])) })).filter((l) => l.points.length > 0);
  if (lines.length === 0) noData(f, 'no per-node deploy_latency samples');
  const maxX = d3.max(lines, (l) => l.points[l.points.length - 1][0]) ?? 1;
  const x = d3.scaleLinear().domain([0, maxX]).nice().range([0, f.width]);
  const y = d3.scaleLinear().domain([0, 1]).range([f.height, 0]);
  yAxis(f, y, 'nodes deployed (fraction)', (a) => a.ticks(5, '.0%'));
  xAxis(f, x, 'deploy latency (s)', (a) => a.ticks(8));
  const line = stepLine(x, y);
  for (const l of lines) {
    const { colour, dash } = seriesStroke(l.series);
    f.plot
      .append('path')
      .attr('class', 'data')
      .attr('d', line(l.points))
      .attr('fill', 'none')
      .attr('stroke', colour)
      .attr('stroke-width', 2.2)
      .attr('stroke-dasharray', dash || null);
  }
  legend(f, seriesLegend(lines.map((l) => l.series)), 'bottom-right');
  return {
    id,
    title,
    caption: 'Fraction of nodes whose VM was running within a given time of the rollout start (all repeats pooled); further left is faster.',
    svg: f.done(),
  };
}
