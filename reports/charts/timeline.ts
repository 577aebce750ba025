import * as d3 from 'd3';
import type { FaultWindow, ScenarioData } from '../model.js';
import { sortedAscending } from '../stats.js';
import { countPoints } from './downsample.js';
import { type Chart, frame, INK, legend, noData, seriesLegend, seriesStroke, siFormat, stepLine, xAxis, yAxis } from './frame.js';

const FAULT_FILL = '#7f7f7f';

/** Nodes running over time in the first repeat, fault windows shaded. */
export function timelineChart(sc: ScenarioData, id: string): Chart {
  const title = `Rollout timeline — ${sc.name} (${sc.mainNodes.toLocaleString('en-US')} nodes)`;
  const f = frame({ title, width: 1400, height: 400 });
  const runs = sc.series.map((d) => ({ series: d.series, run: d.runs.get(sc.mainNodes) }));
  const lines = runs.map((r) => ({ series: r.series, points: countPoints(sortedAscending(r.run?.finishes ?? [])) })).filter((l) => l.points.length > 0);
  const faults = uniqueFaults(runs.flatMap((r) => r.run?.faults ?? []));
  if (lines.length === 0) noData(f, 'no per-node deploy_latency samples with finish times');
  const maxT = Math.max(d3.max(lines, (l) => l.points[l.points.length - 1][0]) ?? 1, d3.max(faults, (w) => w.tEnd) ?? 0);
  const x = d3.scaleLinear().domain([0, maxT]).nice().range([0, f.width]);
  const y = d3.scaleLinear().domain([0, sc.mainNodes]).nice().range([f.height, 0]);
  for (const w of faults) {
    const x0 = x(Math.max(0, w.t));
    const x1 = Math.max(x(Math.min(w.tEnd, x.domain()[1])), x0 + 2);
    f.plot
      .append('rect')
      .attr('class', 'fault')
      .attr('x', x0)
      .attr('y', 0)
      .attr('width', x1 - x0)
      .attr('height', f.height)
      .attr('fill', FAULT_FILL)
      .attr('fill-opacity', 0.16);
    f.plot
      .append('text')
      .attr('x', x0 + 4)
      .attr('y', 14)
      .attr('font-size', 11)
      .attr('fill', INK)
      .text(w.kind);
  }
  yAxis(f, y, 'nodes running (count)', (a) => a.ticks(6).tickFormat(siFormat));
  xAxis(f, x, 'time since rollout start (s)', (a) => a.ticks(8));
  const line = stepLine(x, y);
  for (const l of lines) {
    const { colour, dash } = seriesStroke(l.series);
    const last = l.points[l.points.length - 1];
    const points: [number, number][] = [...l.points, [x.domain()[1], last[1]]];
    f.plot
      .append('path')
      .attr('class', 'data')
      .attr('d', line(points))
      .attr('fill', 'none')
      .attr('stroke', colour)
      .attr('stroke-width', 2.2)
      .attr('stroke-dasharray', dash || null);
  }
  const items = seriesLegend(lines.map((l) => l.series));
  if (faults.length > 0) items.push({ label: 'fault window', colour: FAULT_FILL, swatch: true });
  legend(f, items, 'bottom-right');
  return {
    id,
    title,
    caption: 'Nodes with their VM running over time in the first repeat; grey bands are injected faults.',
    svg: f.done(),
    wide: true,
  };
}

function uniqueFaults(list: FaultWindow[]): FaultWindow[] {
  const seen = new Map<string, FaultWindow>();
  for (const w of list) seen.set(`${w.kind}|${w.t}|${w.tEnd}`, w);
  return [...seen.values()].sort((a, b) => a.t - b.t);
}
