// Every chart of a report, per scenario.
import type { ScenarioData } from '../model.js';
import { boundsChart } from './bounds.js';
import { cdfChart } from './cdf.js';
import type { Chart } from './frame.js';
import { phaseChart } from './phases.js';
import { scalingChart } from './scaling.js';
import { timelineChart } from './timeline.js';

export type { Chart } from './frame.js';
export { cdfPoints, countPoints } from './downsample.js';

export function scenarioCharts(sc: ScenarioData, index: number): Chart[] {
  const stem = `${String(index + 1).padStart(2, '0')}-${slug(sc.name)}`;
  const charts = [cdfChart(sc, `${stem}-latency-cdf`), phaseChart(sc, `${stem}-phases`), boundsChart(sc, `${stem}-bounds`)];
  if (sc.fleetSizes.length > 1) charts.push(scalingChart(sc, `${stem}-scaling`));
  charts.push(timelineChart(sc, `${stem}-timeline`));
  return charts;
}

function slug(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'scenario'
  );
}
