// The per-plane summary table printed after a run (and its JSON form for --json).
import { planeLabel, type EnvName, type ScenarioResult } from '../environments/index.js';
import type { Scenario } from '../scenarios/index.js';
import { formatBytes } from '../scenarios/index.js';

const COLUMNS: { head: string; metric: string; fmt: (v: number) => string }[] = [
  { head: 'p50', metric: 'deploy_latency_p50', fmt: seconds },
  { head: 'p95', metric: 'deploy_latency_p95', fmt: seconds },
  { head: 'p99', metric: 'deploy_latency_p99', fmt: seconds },
  { head: 'makespan', metric: 'makespan', fmt: seconds },
  { head: 'x bound', metric: 'makespan_ratio_to_bound', fmt: (v) => v.toFixed(2) },
  { head: 'API calls/node', metric: 'api_calls_per_deploy', fmt: (v) => v.toFixed(1) },
  { head: 'origin egress', metric: 'origin_egress_bytes', fmt: (v) => formatBytes(Math.round(v)) },
  { head: 'egress/N·S', metric: 'origin_egress_ratio', fmt: (v) => v.toFixed(3) },
  { head: 'placement', metric: 'placement_accuracy', fmt: (v) => `${(v * 100).toFixed(1)}%` },
  { head: 'failures', metric: 'failures', fmt: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)) },
];

function seconds(v: number): string {
  return v >= 100 ? `${v.toFixed(0)} s` : `${v.toFixed(2)} s`;
}

export function printSummary(scenario: Scenario, result: ScenarioResult, env: EnvName, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  const nodes = result.planes[0]?.nodes ?? scenario.fleet.sites * scenario.fleet.nodesPerSite;
  const where = env === 'sim' ? '' : ` (${env})`;
  write(`\n${scenario.name}${where}: ${nodes} nodes, ${formatBytes(scenario.image.sizeBytes)} image, strategy ${scenario.strategy}, seed ${scenario.seed}, ${scenario.repeat} repeat(s) (mean over repeats)\n`);
  const rows = [['plane', ...COLUMNS.map((c) => c.head)]];
  for (const p of result.planes) {
    rows.push([`${planeLabel(p.plane)}${where}`, ...COLUMNS.map((c) => (p.metrics[c.metric] === undefined ? '-' : c.fmt(p.metrics[c.metric])))]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  rows.forEach((r, k) => {
    write(`${r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')}\n`);
    if (k === 0) write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  });
}

export function summaryJson(results: { scenario: Scenario; result: ScenarioResult }[], resultsPath: string, env: EnvName): unknown {
  return {
    results: resultsPath,
    scenarios: results.map(({ scenario, result }) => ({
      scenario: scenario.name,
      seed: scenario.seed,
      repeat: scenario.repeat,
      env,
      events: result.planes.reduce((sum, p) => sum + (p.counters.events ?? 0), 0),
      planes: result.planes.map((p) => ({ plane: p.plane.name, mode: p.plane.mode, label: planeLabel(p.plane), metrics: p.metrics, counters: p.counters })),
    })),
  };
}
