// The one path of `edgeplane run`, whatever the environment: every plane of the scenario, every
// repeat, deployment records turned into samples by reports/deployments.ts, one meta line per
// plane, then its samples (NDJSON lines, handed to the sink as soon as the plane's repeats are
// done, so a run that fails late has written the planes before) and a per-plane summary for printing.
import type { Calibration, PlaneRegistry } from '../adapters/index.js';
import { EdgeplaneError, EXIT, type Logger } from '../common/index.js';
import { planeSamples, runSamples, type Labels, type Meta, type RunSummary, type Sample } from '../reports/index.js';
import type { PlaneConfig, Scenario } from '../scenarios/index.js';
import type { Environment } from './types.js';

export interface ScenarioRunOptions {
  env: Environment;
  scenario: Scenario;
  /** the scenario file's text, kept in the results so a report can show exactly what ran */
  scenarioText: string;
  registry: PlaneRegistry;
  version: string;
  calibration?: Calibration;
  logger: Logger;
  onProgress?: (label: string, finished: number, total: number) => void;
  say?: (message: string) => void;
  /** receives every results line (a meta line, then the plane's samples; no newline), in order */
  sink: (line: string) => void;
  /** where the run is: called before each repeat of each plane (for "stopped at …" messages) */
  onStep?: (step: { plane: PlaneConfig; label: string; repeat: number }) => void;
  /** stop with exit 1 when a run breaks a physics or causality invariant (the simulator checks them on every run) */
  assertFidelity?: boolean;
}

export interface PlaneResult {
  plane: PlaneConfig;
  /** nodes run */
  nodes: number;
  /** per-run metric values, averaged over repeats */
  metrics: Record<string, number>;
  /** the environment's counters summed over repeats (sim: events) */
  counters: Record<string, number>;
}

export interface ScenarioResult {
  metas: Meta[];
  samples: Sample[];
  planes: PlaneResult[];
}

/** `openstack/agent`, `opennebula/native (scheduler,replica-cache)`: a plane entry as people read it. */
export function planeLabel(p: PlaneConfig): string {
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const opts = [p.placement !== 'pinned' ? p.placement : '', ...Object.entries(p.flags).map(([k, on]) => (on ? kebab(k) : ''))].filter(Boolean).join(',');
  return `${p.name}/${p.mode}${opts ? ` (${opts})` : ''}`;
}

/** The labels every sample of a plane run carries. */
export function runLabels(scenario: Scenario, plane: PlaneConfig, env: Environment, nodes: number, repeat: number | 'all'): Labels {
  const flags = Object.fromEntries(Object.entries(plane.flags).flatMap(([k, on]) => (on ? [[k, 'on']] : [])));
  return {
    scenario: scenario.name,
    plane: plane.name,
    mode: plane.mode,
    strategy: env.strategyOf(scenario),
    env: env.name,
    seed: scenario.seed,
    repeat,
    nodes,
    ...(plane.placement !== 'pinned' ? { placement: plane.placement } : {}),
    ...flags,
  };
}

const SUMMARY_METRICS = new Set([
  'deploy_latency_p50',
  'deploy_latency_p95',
  'deploy_latency_p99',
  'makespan',
  'makespan_ratio_to_bound',
  'api_calls_per_deploy',
  'control_bytes_per_deploy',
  'origin_egress_bytes',
  'origin_egress_ratio',
  'placement_accuracy',
  'failures',
  'sla_missed',
]);

function averageRunMetrics(perRun: Sample[][]): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const run of perRun) {
    for (const s of run) {
      if (!SUMMARY_METRICS.has(s.metric) || s.labels.node !== undefined) continue;
      sums[s.metric] = (sums[s.metric] ?? 0) + s.value / perRun.length;
    }
  }
  return sums;
}

export async function runScenario(o: ScenarioRunOptions): Promise<ScenarioResult> {
  const { scenario, env } = o;
  const samples: Sample[] = [];
  const metas: Meta[] = [];
  const planes: PlaneResult[] = [];
  env.prepare?.({ scenario, registry: o.registry, calibration: o.calibration });
  for (const plane of scenario.planes) {
    const descriptor = o.registry.get(plane.name);
    const calibration = plane.name === o.calibration?.plane ? o.calibration : undefined;
    const label = planeLabel(plane);
    const run = await env.open({
      scenario,
      plane,
      descriptor,
      registry: o.registry,
      calibration,
      logger: o.logger,
      say: (m) => o.say?.(`${scenario.name} ${label}: ${m}`),
      onProgress: o.onProgress ? (r, f, t) => o.onProgress!(`${scenario.name} ${label} #${r + 1}/${scenario.repeat}`, f, t) : undefined,
    });
    try {
      const summaries: RunSummary[] = [];
      const perRun: Sample[][] = [];
      for (let repeat = 0; repeat < scenario.repeat; repeat++) {
        o.onStep?.({ plane, label, repeat });
        const data = await run.repeat(repeat);
        if (o.assertFidelity && data.fidelity && data.fidelity.violations.length > 0) {
          throw new EdgeplaneError(`${scenario.name} ${label} repeat ${repeat + 1}: the simulated run broke ${data.fidelity.violations.length} physics/causality invariant(s)`, EXIT.FAILED_CHECK, [
            ...data.fidelity.violations,
          ]);
        }
        const { samples: s, summary } = runSamples(data);
        perRun.push(s);
        summaries.push(summary);
      }
      const m = run.meta();
      const meta: Meta = {
        type: 'meta',
        scenario: { name: scenario.name, text: o.scenarioText },
        description: scenario.description,
        plane: plane.name,
        mode: plane.mode,
        strategy: env.strategyOf(scenario),
        env: env.name,
        seed: scenario.seed,
        repeats: scenario.repeat,
        nodes: run.nodes,
        version: o.version,
        ...(m.calibration !== undefined ? { calibration: m.calibration } : {}),
        assumptions: m.assumptions,
        ...(m.machine ? { machine: m.machine } : {}),
        ...(m.startedAt ? { startedAt: m.startedAt } : {}),
      };
      o.sink(JSON.stringify(meta));
      metas.push(meta);
      const profile = run.profile();
      for (const s of [...perRun.flat(), ...planeSamples(summaries, runLabels(scenario, plane, env, run.nodes, 'all'), profile)]) {
        o.sink(JSON.stringify(s));
        samples.push(s);
      }
      planes.push({ plane, nodes: run.nodes, metrics: averageRunMetrics(perRun), counters: run.counters() });
    } finally {
      await run.close();
    }
  }
  return { metas, samples, planes };
}
