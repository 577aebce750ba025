// Simulates a whole scenario: every plane it names, every repeat. Returns the results lines
// (NDJSON: one meta line per plane, then its samples) and a per-plane summary for printing.
import type { Calibration } from '../adapters/index.js';
import { modelAssumptions } from '../adapters/index.js';
import type { Meta, Sample } from '../reports/index.js';
import type { Scenario } from '../scenarios/index.js';
import { expandFleet } from './fleet.js';
import { planeSamples, runSamples, type RunSummary } from './metrics.js';
import { simulateRun, type PlaneSpec } from './runner.js';

export interface SuiteOptions {
  scenario: Scenario;
  /** the scenario file's text, kept in the results so a report can show exactly what ran */
  scenarioText: string;
  version: string;
  calibration?: Calibration;
  onProgress?: (label: string, finished: number, total: number) => void;
}

export interface PlaneSummary {
  plane: PlaneSpec;
  /** per-run metric values, averaged over repeats */
  metrics: Record<string, number>;
  events: number;
}

export interface SuiteResult {
  lines: string[];
  metas: Meta[];
  samples: Sample[];
  planes: PlaneSummary[];
  events: number;
}

export function planeLabel(p: PlaneSpec): string {
  const opts = [p.placement !== 'pinned' ? p.placement : '', p.replicaCache ? 'replica-cache' : '', p.directDownload ? 'direct-download' : '']
    .filter(Boolean)
    .join(',');
  return `${p.name}/${p.mode}${opts ? ` (${opts})` : ''}`;
}

export function simulateScenario(opts: SuiteOptions): SuiteResult {
  const { scenario } = opts;
  const fleet = expandFleet(scenario);
  const lines: string[] = [];
  const samples: Sample[] = [];
  const metas: Meta[] = [];
  const planes: PlaneSummary[] = [];
  let events = 0;
  for (const plane of scenario.planes) {
    const summaries: RunSummary[] = [];
    const perRun: Sample[][] = [];
    let first: ReturnType<typeof simulateRun> | null = null;
    let planeEvents = 0;
    for (let repeat = 0; repeat < scenario.repeat; repeat++) {
      const label = `${scenario.name} ${planeLabel(plane)} #${repeat + 1}/${scenario.repeat}`;
      const run = simulateRun({
        scenario,
        plane,
        repeat,
        fleet,
        calibration: plane.name === opts.calibration?.plane ? opts.calibration : undefined,
        onProgress: opts.onProgress ? (f, t) => opts.onProgress!(label, f, t) : undefined,
      });
      first ??= run;
      const { samples: s, summary } = runSamples(run);
      perRun.push(s);
      summaries.push(summary);
      planeEvents += run.events;
    }
    const meta: Meta = {
      type: 'meta',
      scenario: { name: scenario.name, text: opts.scenarioText },
      description: scenario.description,
      plane: plane.name,
      mode: plane.mode,
      strategy: scenario.strategy,
      env: 'sim',
      seed: scenario.seed,
      repeats: scenario.repeat,
      nodes: fleet.nodes.length,
      version: opts.version,
      ...(plane.name === opts.calibration?.plane ? { calibration: opts.calibration.source } : {}),
      assumptions: modelAssumptions(first!.model),
    };
    lines.push(JSON.stringify(meta));
    metas.push(meta);
    for (const s of [...perRun.flat(), ...planeSamples(first!, summaries)]) {
      lines.push(JSON.stringify(s));
      samples.push(s);
    }
    planes.push({ plane, metrics: averageRunMetrics(perRun), events: planeEvents });
    events += planeEvents;
  }
  return { lines, metas, samples, planes, events };
}

const SUMMARY_METRICS = [
  'deploy_latency_p50',
  'deploy_latency_p95',
  'deploy_latency_p99',
  'makespan',
  'makespan_ratio_to_bound',
  'api_calls_per_deploy',
  'origin_egress_bytes',
  'origin_egress_ratio',
  'placement_accuracy',
  'failures',
  'sla_missed',
];

function averageRunMetrics(perRun: Sample[][]): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const run of perRun) {
    for (const s of run) {
      if (!SUMMARY_METRICS.includes(s.metric) || s.labels.node !== undefined) continue;
      sums[s.metric] = (sums[s.metric] ?? 0) + s.value / perRun.length;
    }
  }
  return sums;
}
