// The one path from deployment records to result samples, for every environment (sim, emulate,
// real): per node, per run (repeat) and across repeats, with the physical lower bound, placement
// accuracy and the plane's complexity profile. Pure: no I/O, no clock.
import { PHASES } from '../agent/machine/index.js';
import { quantile } from '../common/index.js';
import { OUTCOME, type RunRecords } from './records.js';
import type { Labels, Sample } from './sample.js';

/** Per-node detail (phases, placement) is written only for fleets up to this size (files stay small). */
export const PER_NODE_DETAIL_MAX_NODES = 5_000;

const S = 1e6;

/**
 * What the physical lower bound of a rollout's makespan depends on: the bytes every node needs,
 * the origin's uplink, the slowest node's download path, and who may serve copies besides the origin.
 */
export interface BoundInputs {
  nodes: number;
  sites: number;
  /** bytes each node must receive */
  bytesPerNode: number;
  originUpBytesPerS: number;
  /** min over nodes of the slower of its access downlink and its site's WAN downlink */
  minDownBytesPerS: number;
  /** sum of the nodes' access uplinks (peers serve each other) */
  peersUpBytesPerS: number;
  /** `peer`: nodes serve each other; `site`: the origin sends one copy per site; `none`: client-server */
  sharing: 'none' | 'site' | 'peer';
  /** link by link: bytes that must cross each link of the path, and its capacity (the largest term binds) */
  terms?: readonly { link: string; bytes: number; bytesPerS: number }[];
}

/** The bound's terms (µs each): the classic formula, then every link term; the largest binds. */
export function boundTermsUs(b: BoundInputs): { link: string; us: number }[] {
  const out = [{ link: classicName(b), us: classicBoundUs(b) }];
  for (const t of b.terms ?? []) out.push({ link: t.link, us: (t.bytes / t.bytesPerS) * S });
  return out;
}

/** The bound that binds: the largest term (first of equals). */
export function bindingTerm(b: BoundInputs): { link: string; us: number } {
  let best = { link: '', us: -1 };
  for (const t of boundTermsUs(b)) if (t.us > best.us) best = t;
  return best;
}

function classicName(b: BoundInputs): string {
  const bytes = b.bytesPerNode;
  const perNode = bytes / b.minDownBytesPerS;
  const origin = b.sharing === 'peer' ? bytes / b.originUpBytesPerS : ((b.sharing === 'site' ? b.sites : b.nodes) * bytes) / b.originUpBytesPerS;
  const swarm = b.sharing === 'peer' ? (b.nodes * bytes) / (b.originUpBytesPerS + b.peersUpBytesPerS) : 0;
  if (perNode >= origin && perNode >= swarm) return 'slowest download path';
  return origin >= swarm ? 'origin uplink' : 'swarm upload capacity (origin + all peers)';
}

/** Physical lower bound of the makespan (µs): client-server `max(N·S/u, S/d)`, per site `max(sites·S/u, S/d)`, peer-assisted `max(S/u, S/d, N·S/(u+Σu_i))`. */
export function lowerBoundUs(b: BoundInputs): number {
  return bindingTerm(b).us;
}

function classicBoundUs(b: BoundInputs): number {
  const bytes = b.bytesPerNode;
  const uOrigin = b.originUpBytesPerS;
  const perNode = bytes / b.minDownBytesPerS;
  let seconds: number;
  if (b.sharing === 'peer') seconds = Math.max(bytes / uOrigin, perNode, (b.nodes * bytes) / (uOrigin + b.peersUpBytesPerS));
  else if (b.sharing === 'site') seconds = Math.max((b.sites * bytes) / uOrigin, perNode);
  else seconds = Math.max((b.nodes * bytes) / uOrigin, perNode);
  return seconds * S;
}

export interface FaultWindow {
  kind: string;
  target: string;
  fromUs: number;
  toUs: number;
}

/** One repeat of one plane in one environment, as the environment observed it. */
export interface DeploymentRun {
  /** labels of the run (repeat index included; nodes = fleet size run) */
  labels: Labels;
  records: RunRecords;
  nodeId(i: number): string;
  siteId(i: number): string;
  /** bytes each node needs (sealed chunks for agents, the raw image for native copies) */
  bytesPerNode: number;
  /** bytes the origin sent */
  originEgressBytes: number;
  /** data requests one round trip carries (ranges in flight per node; 1 for whole-image copies) */
  dataRequestsPerRoundTrip: number;
  /** null when the environment does not shape links (no physical bound applies) */
  bound: BoundInputs | null;
  /** bytes a delta update saved over a full fetch, fleet-wide; null when not a delta update */
  deltaSavedBytes: number | null;
  faults: readonly FaultWindow[];
  /** the environment's own counters (e.g. `sim_events`) */
  envCounters: readonly { metric: string; value: number; unit: string }[];
  sla: { deployP99Us: number | null; makespanUs: number | null; failureRate: number | null };
  /** the physics and causality invariants the environment held this run to (sim), and the ones that failed */
  fidelity?: { checked: readonly string[]; violations: readonly string[] };
}

export interface RunSummary {
  latenciesUs: number[];
  makespanUs: number;
}

/** Per-node and per-run samples of one repeat. */
export function runSamples(r: DeploymentRun): { samples: Sample[]; summary: RunSummary } {
  const { records: rec, labels } = r;
  const N = rec.nodes;
  const out: Sample[] = [];
  const push = (metric: string, value: number, unit: string, extra: Partial<Labels> = {}, t?: { t?: number; tEnd?: number }): void => {
    out.push({ metric, value, unit, labels: { ...labels, ...extra } as Labels, ...t });
  };
  const perNodeDetail = N <= PER_NODE_DETAIL_MAX_NODES;
  const latencies: number[] = [];
  let makespanUs = 0;
  let placed = 0;
  const phaseTotals = new Float64Array(PHASES.length);

  for (let i = 0; i < N; i++) {
    const who = { node: r.nodeId(i), site: r.siteId(i) };
    push('deploy_start', rec.startUs[i] / S, 's', who, { t: rec.startUs[i] / S });
    placed += rec.placedOnIntended[i];
    if (perNodeDetail) push('placed_on_intended', rec.placedOnIntended[i], 'bool', who);
    if (rec.outcome[i] !== OUTCOME.RUNNING) {
      push('deploy_failed', 1, 'count', { ...who, kind: rec.reasons.get(i) ?? 'unknown' }, rec.endUs[i] >= 0 ? { t: rec.endUs[i] / S } : {});
      continue;
    }
    const latency = rec.endUs[i] - rec.startUs[i];
    latencies.push(latency);
    makespanUs = Math.max(makespanUs, rec.endUs[i]);
    push('deploy_latency', latency / S, 's', who, { t: rec.endUs[i] / S });
    for (let p = 0; p < PHASES.length; p++) {
      const us = rec.phaseUs(i, p);
      phaseTotals[p] += us;
      if (perNodeDetail) push('deploy_phase', us / S, 's', { ...who, phase: PHASES[p] });
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
  push('makespan', makespanUs / S, 's');
  if (r.bound) {
    const binding = bindingTerm(r.bound);
    const bound = binding.us;
    push('makespan_lower_bound', bound / S, 's');
    push('bound_binding', 1, 'bool', { kind: binding.link });
    if (ok > 0 && bound > 0) push('makespan_ratio_to_bound', makespanUs / bound, 'ratio');
  }
  if (r.fidelity) {
    push('fidelity_checks', r.fidelity.checked.length, 'count');
    push('fidelity_violations', r.fidelity.violations.length, 'count');
    for (const v of r.fidelity.violations) push('fidelity_violation', 1, 'count', { kind: v });
  }
  const deploys = Math.max(1, N);
  push('api_calls_per_deploy', rec.apiCalls / deploys, 'count');
  push('control_bytes_per_deploy', rec.controlBytes / deploys, 'B');
  const controlCalls = rec.apiCalls - rec.dataRequests;
  const dataRounds = rec.dataRequests / Math.max(1, r.dataRequestsPerRoundTrip);
  push('round_trips_per_deploy', (controlCalls + dataRounds) / deploys, 'count');
  const totalNeeded = N * r.bytesPerNode;
  push('origin_egress_bytes', r.originEgressBytes, 'B');
  if (totalNeeded > 0) push('origin_egress_ratio', r.originEgressBytes / totalNeeded, 'ratio');
  if (r.originEgressBytes < totalNeeded) push('bytes_saved_cache', totalNeeded - r.originEgressBytes, 'B');
  if (r.deltaSavedBytes !== null) push('bytes_saved_delta', r.deltaSavedBytes, 'B');
  push('placement_accuracy', N > 0 ? placed / N : 0, 'ratio');
  const failures = N - ok;
  push('failures', failures, 'count');
  push('failure_rate', N > 0 ? failures / N : 0, 'ratio');
  for (const c of r.envCounters) push(c.metric, c.value, c.unit);
  for (const w of r.faults) push('fault_window', (w.toUs - w.fromUs) / S, 's', { kind: w.kind, target: w.target }, { t: w.fromUs / S, tEnd: w.toUs / S });
  const sla = r.sla;
  if (sla.deployP99Us !== null) push('sla_missed', ok === 0 || quantile(sorted, 0.99) > sla.deployP99Us ? 1 : 0, 'count', { kind: 'deployP99' });
  if (sla.makespanUs !== null) push('sla_missed', failures === N || makespanUs > sla.makespanUs ? 1 : 0, 'count', { kind: 'makespan' });
  if (sla.failureRate !== null) push('sla_missed', N > 0 && failures / N > sla.failureRate ? 1 : 0, 'count', { kind: 'failureRate' });
  return { samples: out, summary: { latenciesUs: latencies, makespanUs } };
}

/** What the complexity samples are made of (adapters' ComplexityProfile, in part). */
export interface ProfileFacts {
  services: readonly { name: string; processes: number; memoryMiB: number; ports: readonly number[]; configLines: number }[];
  coupling: 'push' | 'pull';
  lacks: readonly string[];
}

/** Jitter across repeats (labels.repeat = "all") and the plane's complexity profile. */
export function planeSamples(summaries: readonly RunSummary[], labels: Labels, profile: ProfileFacts | null): Sample[] {
  const all: Labels = { ...labels, repeat: 'all' };
  const out = repeatSamples(summaries, all);
  if (!profile) return out;
  const push = (metric: string, value: number, unit: string, extra: Partial<Labels> = {}): void => {
    out.push({ metric, value, unit, labels: { ...all, ...extra } as Labels });
  };
  const p = profile;
  push('complexity_services', p.services.length, 'count');
  push(
    'complexity_processes',
    p.services.reduce((s, x) => s + x.processes, 0),
    'count',
  );
  push(
    'complexity_memory',
    p.services.reduce((s, x) => s + x.memoryMiB, 0),
    'MiB',
  );
  push('complexity_ports', new Set(p.services.flatMap((x) => x.ports)).size, 'count');
  push(
    'complexity_config_lines',
    p.services.reduce((s, x) => s + x.configLines, 0),
    'count',
  );
  push('complexity_push_coupling', p.coupling === 'push' ? 1 : 0, 'bool');
  for (const s of p.services) push('complexity_memory', s.memoryMiB, 'MiB', { service: s.name });
  for (const feature of p.lacks) push('complexity_lacks', 1, 'bool', { feature });
  return out;
}

/** Jitter across repeats (labels.repeat = "all"), on seconds: CV, p99/p50 and spread of the pooled latencies, CV of the makespans. */
function repeatSamples(summaries: readonly RunSummary[], labels: Labels): Sample[] {
  const out: Sample[] = [];
  const push = (metric: string, value: number, unit: string): void => {
    out.push({ metric, value, unit, labels });
  };
  const all = summaries.flatMap((s) => s.latenciesUs.map((us) => us / S)).sort((a, b) => a - b);
  if (all.length > 0) {
    const mean = all.reduce((s, x) => s + x, 0) / all.length;
    const sd = Math.sqrt(all.reduce((s, x) => s + (x - mean) ** 2, 0) / all.length);
    const median = quantile(all, 0.5);
    push('deploy_latency_cv', mean > 0 ? sd / mean : 0, 'ratio');
    if (median > 0) {
      push('deploy_latency_p99_over_p50', quantile(all, 0.99) / median, 'ratio');
      push('deploy_latency_spread', (all[all.length - 1]! - all[0]!) / median, 'ratio');
    }
  }
  const makespans = summaries.map((s) => s.makespanUs / S);
  const mMean = makespans.reduce((s, x) => s + x, 0) / Math.max(1, makespans.length);
  if (mMean > 0) {
    const mSd = Math.sqrt(makespans.reduce((s, x) => s + (x - mMean) ** 2, 0) / makespans.length);
    push('makespan_cv', mSd / mMean, 'ratio');
  }
  return out;
}
