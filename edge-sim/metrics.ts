// Turns simulated runs into result samples (reports/sample.ts): per node, per run, across repeats.
import { PHASES } from '../agent/index.js';
import type { Labels, Sample } from '../reports/index.js';
import { quantile } from '../common/index.js';
import { repeatSamples } from '../reports/index.js';
import { OUTCOME } from './records.js';
import type { SimRunResult } from './runner.js';

/** Per-node phase samples are written only for fleets up to this size (files stay small). */
export const PER_NODE_PHASES_MAX_NODES = 5_000;

const S = 1e6;

export function baseLabels(r: SimRunResult, repeat: number | 'all'): Labels {
  return {
    scenario: r.scenario.name,
    plane: r.plane.name,
    mode: r.plane.mode,
    strategy: r.scenario.strategy,
    env: 'sim',
    seed: r.scenario.seed,
    repeat,
    nodes: r.fleet.nodes.length,
    ...(r.plane.placement !== 'pinned' ? { placement: r.plane.placement } : {}),
    ...(r.plane.replicaCache ? { replicaCache: 'on' } : {}),
    ...(r.plane.directDownload ? { directDownload: 'on' } : {}),
  };
}

/** Physical lower bound of the rollout's makespan for the bytes every node must receive (µs). */
export function lowerBoundUs(r: SimRunResult): number {
  const { fleet, scenario, bytesPerNode: bytes } = r;
  const N = fleet.nodes.length;
  const uOrigin = scenario.origin.uplinkBps / 8;
  let dMin = Infinity;
  let uPeers = 0;
  for (const n of fleet.nodes) {
    dMin = Math.min(dMin, n.access.downBps / 8, fleet.sites[n.site].wan.downBps / 8);
    uPeers += n.access.upBps / 8;
  }
  const perNode = bytes / dMin;
  let seconds: number;
  if (scenario.strategy === 'peer' && r.plane.mode === 'agent') seconds = Math.max(bytes / uOrigin, perNode, (N * bytes) / (uOrigin + uPeers));
  else if (scenario.strategy === 'site-cache' || r.plane.replicaCache) seconds = Math.max((fleet.sites.length * bytes) / uOrigin, perNode);
  else seconds = Math.max((N * bytes) / uOrigin, perNode);
  return seconds * S;
}

export interface RunSummary {
  latenciesUs: number[];
  makespanUs: number;
}

export function runSamples(r: SimRunResult): { samples: Sample[]; summary: RunSummary } {
  const { rec } = r;
  const N = r.fleet.nodes.length;
  const labels = baseLabels(r, r.repeat);
  const out: Sample[] = [];
  const push = (metric: string, value: number, unit: string, extra: Partial<Labels> = {}, t?: { t?: number; tEnd?: number }): void => {
    out.push({ metric, value, unit, labels: { ...labels, ...extra } as Labels, ...t });
  };
  const perNodePhases = N <= PER_NODE_PHASES_MAX_NODES;
  const latencies: number[] = [];
  let makespanUs = 0;
  let placed = 0;
  const phaseTotals = new Float64Array(PHASES.length);

  for (const node of r.fleet.nodes) {
    const i = node.index;
    const who = { node: node.id, site: r.fleet.sites[node.site].id };
    push('deploy_start', rec.startUs[i] / S, 's', who, { t: rec.startUs[i] / S });
    placed += rec.placedOnIntended[i];
    if (rec.outcome[i] !== OUTCOME.RUNNING) {
      push('deploy_failed', 1, 'count', { ...who, kind: rec.reasons.get(i) ?? 'unknown' }, { t: rec.endUs[i] / S });
      continue;
    }
    const latency = rec.endUs[i] - rec.startUs[i];
    latencies.push(latency);
    makespanUs = Math.max(makespanUs, rec.endUs[i]);
    push('deploy_latency', latency / S, 's', who, { t: rec.endUs[i] / S });
    for (let p = 0; p < PHASES.length; p++) {
      const us = rec.phaseUs(i, p);
      phaseTotals[p] += us;
      if (perNodePhases) push('deploy_phase', us / S, 's', { ...who, phase: PHASES[p] });
    }
  }

  const sorted = [...latencies].sort((a, b) => a - b);
  const ok = sorted.length;
  if (ok > 0) {
    push('deploy_latency_p50', quantile(sorted, 0.5) / S, 's');
    push('deploy_latency_p95', quantile(sorted, 0.95) / S, 's');
    push('deploy_latency_p99', quantile(sorted, 0.99) / S, 's');
    push('deploy_latency_max', sorted[ok - 1] / S, 's');
    PHASES.forEach((phase, p) => push('deploy_phase_mean', phaseTotals[p] / ok / S, 's', { phase }));
  }
  const bound = lowerBoundUs(r);
  push('makespan', makespanUs / S, 's');
  push('makespan_lower_bound', bound / S, 's');
  if (ok > 0 && bound > 0) push('makespan_ratio_to_bound', makespanUs / bound, 'ratio');
  const deploys = Math.max(1, ok + rec.reasons.size);
  push('api_calls_per_deploy', rec.apiCalls / deploys, 'count');
  push('control_bytes_per_deploy', rec.controlBytes / deploys, 'B');
  const controlCalls = rec.apiCalls - rec.dataRequests;
  const dataRounds = rec.dataRequests / Math.max(1, r.plane.mode === 'agent' ? r.scenario.concurrency.rangesInFlight : 1);
  push('round_trips_per_deploy', (controlCalls + dataRounds) / deploys, 'count');
  const totalNeeded = N * r.bytesPerNode;
  push('origin_egress_bytes', r.originEgressBytes, 'B');
  if (totalNeeded > 0) push('origin_egress_ratio', r.originEgressBytes / totalNeeded, 'ratio');
  if (r.originEgressBytes < totalNeeded) push('bytes_saved_cache', totalNeeded - r.originEgressBytes, 'B');
  if (r.plane.mode === 'agent' && r.images.previous) push('bytes_saved_delta', (r.images.sealedBytes - r.images.fetchBytesPerNode) * N, 'B');
  push('placement_accuracy', placed / N, 'ratio');
  const failures = N - ok;
  push('failures', failures, 'count');
  push('failure_rate', failures / N, 'ratio');
  push('sim_events', r.events, 'count');
  for (const w of r.faults) push('fault_window', (w.toUs - w.fromUs) / S, 's', { kind: w.kind, target: w.target }, { t: w.fromUs / S, tEnd: w.toUs / S });
  const sla = r.scenario.sla;
  if (sla.deployP99Us !== null) push('sla_missed', ok === 0 || quantile(sorted, 0.99) > sla.deployP99Us ? 1 : 0, 'count', { kind: 'deployP99' });
  if (sla.makespanUs !== null) push('sla_missed', failures === N || makespanUs > sla.makespanUs ? 1 : 0, 'count', { kind: 'makespan' });
  if (sla.failureRate !== null) push('sla_missed', failures / N > sla.failureRate ? 1 : 0, 'count', { kind: 'failureRate' });
  return { samples: out, summary: { latenciesUs: latencies, makespanUs } };
}

/** Jitter across repeats (labels.repeat = "all") and the plane's complexity profile. */
export function planeSamples(first: SimRunResult, summaries: RunSummary[]): Sample[] {
  const labels = baseLabels(first, 'all');
  const out: Sample[] = [];
  const push = (metric: string, value: number, unit: string, extra: Partial<Labels> = {}): void => {
    out.push({ metric, value, unit, labels: { ...labels, ...extra } as Labels });
  };
  // the same jitter definitions as real runs: seconds in, unit-free ratios out
  for (const j of repeatSamples(
    summaries.map((s) => ({ latenciesS: s.latenciesUs.map((us) => us / S), makespanS: s.makespanUs / S })),
    labels,
  )) {
    out.push(j);
  }
  const p = first.model.profile;
  push('complexity_services', p.services.length, 'count');
  push('complexity_processes', p.services.reduce((s, x) => s + x.processes, 0), 'count');
  push('complexity_memory', p.services.reduce((s, x) => s + x.memoryMiB, 0), 'MiB');
  push('complexity_ports', new Set(p.services.flatMap((x) => x.ports)).size, 'count');
  push('complexity_config_lines', p.services.reduce((s, x) => s + x.configLines, 0), 'count');
  push('complexity_push_coupling', p.coupling === 'push' ? 1 : 0, 'bool');
  for (const s of p.services) push('complexity_memory', s.memoryMiB, 'MiB', { service: s.name });
  for (const feature of p.lacks) push('complexity_lacks', 1, 'bool', { feature });
  return out;
}
