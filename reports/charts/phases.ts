import * as d3 from 'd3';
import { formatSeconds } from '../format.js';
import type { ScenarioData } from '../model.js';
import { orderPhases, phaseMeans } from './data.js';
import { type Chart, frame, INK, noData, phaseColour, xAxis } from './frame.js';

/** Mean time per deployment phase, stacked, one bar per series. */
export function phaseChart(sc: ScenarioData, id: string): Chart {
  const title = `Where the time goes — ${sc.name} (${sc.mainNodes.toLocaleString('en-US')} nodes)`;
  const bars = sc.series.map((d) => ({ series: d.series, phases: phaseMeans(d.runs.get(sc.mainNodes)) }));
  const phases = orderPhases(bars.flatMap((b) => [...b.phases.keys()]));
  const labelW = Math.max(80, ...bars.map((b) => b.series.label.length * 6.8 + 16));
  const f = frame({ title, height: Math.max(230, 140 + bars.length * 46), marginLeft: labelW, marginTop: 64, legendWidth: 44 });
  if (phases.length === 0) noData(f, 'no deploy_phase samples');
  // phase legend across the top
  const legendG = f.plot.append('g').attr('transform', 'translate(0,-12)');
  let lx = 0;
  phases.forEach((p, i) => {
    legendG.append('rect').attr('x', lx).attr('y', -10).attr('width', 12).attr('height', 12).attr('rx', 2).attr('fill', phaseColour(p, i));
    legendG
      .append('text')
      .attr('x', lx + 16)
      .attr('y', 0)
      .attr('fill', INK)
      .text(p);
    lx += 16 + p.length * 6.8 + 14;
  });
  const totals = bars.map((b) => d3.sum([...b.phases.values()]));
  const x = d3
    .scaleLinear()
    .domain([0, d3.max(totals) || 1])
    .nice()
    .range([0, f.width]);
  const y = d3
    .scaleBand<string>()
    .domain(bars.map((b) => b.series.id))
    .range([14, f.height])
    .padding(0.3);
  xAxis(f, x, 'mean time per node (s)', (a) => a.ticks(8));
  f.plot
    .append('g')
    .selectAll(null)
    .data(x.ticks(8))
    .enter()
    .append('line')
    .attr('x1', (t) => x(t))
    .attr('x2', (t) => x(t))
    .attr('y1', 14)
    .attr('y2', f.height)
    .attr('stroke', '#eef1f4');
  bars.forEach((b, bi) => {
    const yPos = y(b.series.id) ?? 0;
    f.plot
      .append('text')
      .attr('x', -10)
      .attr('y', yPos + y.bandwidth() / 2 + 4)
      .attr('text-anchor', 'end')
      .attr('fill', INK)
      .text(b.series.label);
    let acc = 0;
    phases.forEach((p, i) => {
      const v = b.phases.get(p) ?? 0;
      if (v <= 0) return;
      f.plot
        .append('rect')
        .attr('class', 'data')
        .attr('x', x(acc))
        .attr('y', yPos)
        .attr('width', Math.max(0.5, x(acc + v) - x(acc)))
        .attr('height', y.bandwidth())
        .attr('fill', phaseColour(p, i))
        .attr('stroke', '#ffffff')
        .attr('stroke-width', 1)
        .append('title')
        .text(`${b.series.label} — ${p}: ${formatSeconds(v)}`);
      acc += v;
    });
    f.plot
      .append('text')
      .attr('x', x(totals[bi]) + 6)
      .attr('y', yPos + y.bandwidth() / 2 + 4)
      .attr('fill', INK)
      .attr('font-size', 11)
      .text(formatSeconds(totals[bi]));
  });
  return {
    id,
    title,
    caption: 'Mean duration of each deployment phase per node; the bar length is the mean deploy latency without queueing between phases.',
    svg: f.done(),
  };
}
