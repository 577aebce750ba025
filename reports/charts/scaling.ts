import * as d3 from 'd3';
import type { ScenarioData } from '../model.js';
import { runValue } from './data.js';
import { type Chart, frame, legend, logTicks, MUTED, seriesLegend, seriesStroke, siFormat, xAxis, yAxis } from './frame.js';

/** Makespan against fleet size on log–log axes, with each series' lower bound dotted. */
export function scalingChart(sc: ScenarioData, id: string): Chart {
  const title = `Scaling — ${sc.name}`;
  const f = frame({ title });
  const lines = sc.series.map((d) => {
    const pts = (key: string) =>
      sc.fleetSizes.flatMap((n) => {
        const v = runValue(d.runs.get(n), key);
        return v !== undefined && v > 0 ? [[n, v] as [number, number]] : [];
      });
    return { series: d.series, makespan: pts('makespan'), bound: pts('makespan_lower_bound') };
  });
  const all = lines.flatMap((l) => [...l.makespan, ...l.bound]);
  const x = d3
    .scaleLog()
    .domain(d3.extent(sc.fleetSizes) as [number, number])
    .range([0, f.width]);
  const y = d3
    .scaleLog()
    .domain([d3.min(all, (p) => p[1]) ?? 1, d3.max(all, (p) => p[1]) ?? 10])
    .range([f.height, 0])
    .nice();
  yAxis(f, y, 'makespan (s)', (a) => a.tickValues(logTicks(y.domain())).tickFormat(siFormat));
  xAxis(f, x, 'fleet size (nodes)', (a) => a.tickValues(logTicks(x.domain())).tickFormat(siFormat));
  const line = d3
    .line<[number, number]>()
    .x((p) => x(p[0]))
    .y((p) => y(p[1]));
  for (const l of lines) {
    const { colour, dash } = seriesStroke(l.series);
    if (l.bound.length > 1) {
      f.plot.append('path').attr('d', line(l.bound)).attr('fill', 'none').attr('stroke', colour).attr('stroke-opacity', 0.55).attr('stroke-width', 1.5).attr('stroke-dasharray', '1 4').attr('stroke-linecap', 'round');
    }
    f.plot
      .append('path')
      .attr('class', 'data')
      .attr('d', line(l.makespan))
      .attr('fill', 'none')
      .attr('stroke', colour)
      .attr('stroke-width', 2.2)
      .attr('stroke-dasharray', dash || null);
    f.plot
      .selectAll(null)
      .data(l.makespan)
      .enter()
      .append('circle')
      .attr('cx', (p) => x(p[0]))
      .attr('cy', (p) => y(p[1]))
      .attr('r', 3.5)
      .attr('fill', colour);
  }
  const items = seriesLegend(lines.map((l) => l.series));
  if (lines.some((l) => l.bound.length > 1)) items.push({ label: 'lower bound', colour: MUTED, dash: '1 4' });
  legend(f, items, 'top-left');
  return {
    id,
    title,
    caption: 'Makespan (last node running) per fleet size, log–log; dotted lines are each series’ physical lower bound.',
    svg: f.done(),
  };
}
