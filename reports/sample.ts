// The results format: newline-delimited JSON, one sample per line. Reports and the gate read
// only this. Metric names and label keys are part of the format (see docs/results-format.md).
import { z } from 'zod';

export const LabelsSchema = z
  .object({
    scenario: z.string(),
    /** the control plane's name, as the composition root lists it; reports/ knows no concrete plane */
    plane: z.string().min(1),
    mode: z.enum(['agent', 'native']),
    strategy: z.enum(['origin', 'site-cache', 'peer']),
    env: z.enum(['sim', 'emulate', 'real']),
    seed: z.number().int(),
    /** repeat index, or "all" for cross-repeat aggregates */
    repeat: z.union([z.number().int().nonnegative(), z.literal('all')]),
    nodes: z.number().int().positive(),
    node: z.string().optional(),
    site: z.string().optional(),
    phase: z.string().optional(),
    kind: z.string().optional(),
    feature: z.string().optional(),
    service: z.string().optional(),
  })
  .catchall(z.union([z.string(), z.number()]));

export const SampleSchema = z.object({
  metric: z.string().min(1),
  value: z.number().refine(Number.isFinite, 'value must be a finite number'),
  unit: z.string(),
  labels: LabelsSchema,
  /** virtual (sim) or wall (emulate/real) time of the event the sample describes, seconds from rollout start */
  t: z.number().optional(),
  /** for windows (faults): end time in seconds */
  tEnd: z.number().optional(),
});

export type Labels = z.infer<typeof LabelsSchema>;
export type Sample = z.infer<typeof SampleSchema>;

/** Metric names and their units and directions (lower/higher is better). */
export const METRICS = {
  // per node (labels.node, labels.site)
  deploy_latency: { unit: 's', better: 'lower', scope: 'node' },
  deploy_phase: { unit: 's', better: 'lower', scope: 'node' }, // labels.phase
  deploy_start: { unit: 's', better: 'none', scope: 'node' }, // t = when the node began
  deploy_failed: { unit: 'count', better: 'lower', scope: 'node' }, // labels.kind = reason
  placed_on_intended: { unit: 'bool', better: 'higher', scope: 'node' },
  // per plane and repeat
  deploy_latency_p50: { unit: 's', better: 'lower', scope: 'run' },
  deploy_latency_p95: { unit: 's', better: 'lower', scope: 'run' },
  deploy_latency_p99: { unit: 's', better: 'lower', scope: 'run' },
  deploy_latency_max: { unit: 's', better: 'lower', scope: 'run' },
  deploy_phase_mean: { unit: 's', better: 'lower', scope: 'run' }, // labels.phase
  makespan: { unit: 's', better: 'lower', scope: 'run' },
  makespan_lower_bound: { unit: 's', better: 'none', scope: 'run' },
  makespan_ratio_to_bound: { unit: 'ratio', better: 'lower', scope: 'run' },
  bound_binding: { unit: 'bool', better: 'none', scope: 'run' }, // labels.kind = the link whose bound binds
  fidelity_checks: { unit: 'count', better: 'none', scope: 'run' }, // invariants checked (sim)
  fidelity_violations: { unit: 'count', better: 'lower', scope: 'run' },
  fidelity_violation: { unit: 'count', better: 'lower', scope: 'run' }, // labels.kind = which invariant, first offender
  api_calls_per_deploy: { unit: 'count', better: 'lower', scope: 'run' },
  control_bytes_per_deploy: { unit: 'B', better: 'lower', scope: 'run' },
  round_trips_per_deploy: { unit: 'count', better: 'lower', scope: 'run' },
  origin_egress_bytes: { unit: 'B', better: 'lower', scope: 'run' },
  origin_egress_ratio: { unit: 'ratio', better: 'lower', scope: 'run' }, // to N*S
  bytes_saved_cache: { unit: 'B', better: 'higher', scope: 'run' },
  bytes_saved_delta: { unit: 'B', better: 'higher', scope: 'run' },
  placement_accuracy: { unit: 'ratio', better: 'higher', scope: 'run' },
  failures: { unit: 'count', better: 'lower', scope: 'run' },
  failure_rate: { unit: 'ratio', better: 'lower', scope: 'run' },
  sim_events: { unit: 'count', better: 'none', scope: 'run' },
  fault_window: { unit: 's', better: 'none', scope: 'run' }, // labels.kind, t..tEnd
  sla_missed: { unit: 'count', better: 'lower', scope: 'run' }, // labels.kind = which SLA
  // across repeats (labels.repeat = "all")
  deploy_latency_cv: { unit: 'ratio', better: 'lower', scope: 'all' },
  deploy_latency_p99_over_p50: { unit: 'ratio', better: 'lower', scope: 'all' },
  deploy_latency_spread: { unit: 'ratio', better: 'lower', scope: 'all' }, // (max-min)/median
  makespan_cv: { unit: 'ratio', better: 'lower', scope: 'all' },
  // complexity profile (labels.service where per service)
  complexity_services: { unit: 'count', better: 'lower', scope: 'plane' },
  complexity_processes: { unit: 'count', better: 'lower', scope: 'plane' },
  complexity_memory: { unit: 'MiB', better: 'lower', scope: 'plane' },
  complexity_ports: { unit: 'count', better: 'lower', scope: 'plane' },
  complexity_config_lines: { unit: 'count', better: 'lower', scope: 'plane' },
  complexity_push_coupling: { unit: 'bool', better: 'lower', scope: 'plane' },
  complexity_lacks: { unit: 'bool', better: 'lower', scope: 'plane' }, // labels.feature
} as const satisfies Record<string, { unit: string; better: 'lower' | 'higher' | 'none'; scope: string }>;

export type MetricName = keyof typeof METRICS;
