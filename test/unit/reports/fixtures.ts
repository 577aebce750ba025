// Synthesised, deterministic results for the report and gate tests (until the simulator exists):
// per-node latencies and phases shaped like a client–server rollout limited by the origin uplink,
// run aggregates computed from them, complexity profiles and meta lines.
import type { Meta, Sample } from '../../../reports/index.js';
import { quantile } from '../../../reports/index.js';

import type { ReportPlane } from '../../../reports/index.js';

type Plane = Sample['labels']['plane'];
type Env = Sample['labels']['env'];

export interface FixtureOptions {
  scenario?: string;
  planes?: Plane[];
  nodes?: number[];
  env?: Env;
  repeats?: number;
  seed?: number;
  /** multiplies every phase duration: 1.2 injects a 20% latency regression */
  latencyFactor?: number;
  /** emit per-node samples (the report needs them; the gate does not) */
  perNode?: boolean;
  faults?: boolean;
  /** adds labels.source, as readResults would */
  source?: string;
}

/** The plane list the composition root passes to renderReport: display order and colours. */
export const REPORT_PLANES: readonly ReportPlane[] = [
  { name: 'openstack', colour: '#0072B2' },
  { name: 'opennebula', colour: '#E69F00' },
  { name: 'cloudstack', colour: '#009E73' },
];

const IMAGE_BYTES = 512 * 2 ** 20;
const ORIGIN_UPLINK = 5e9; // B/s (40 Gbit/s)
const NODE_DOWNLINK = 1.25e8; // B/s (1 Gbit/s)

const PROFILE: Record<
  Plane,
  {
    phases: Record<string, number>;
    transferFactor: number;
    egress: number;
    api: number;
    placement: number;
    services: Record<string, { processes: number; memory: number; ports: number; config: number }>;
    push: number;
    lacks: string[];
  }
> = {
  openstack: {
    phases: { auth: 0.09, assignment: 0.05, manifest: 0.04, key: 0.07, verify: 1.4, decrypt: 1.1, boot: 6 },
    transferFactor: 1.15,
    egress: 1,
    api: 9,
    placement: 1,
    services: {
      keystone: { processes: 4, memory: 310, ports: 1, config: 38 },
      glance: { processes: 3, memory: 260, ports: 1, config: 45 },
      barbican: { processes: 3, memory: 220, ports: 1, config: 30 },
      mariadb: { processes: 1, memory: 420, ports: 1, config: 12 },
      memcached: { processes: 1, memory: 64, ports: 1, config: 4 },
    },
    push: 0,
    lacks: [],
  },
  opennebula: {
    phases: { auth: 0.03, assignment: 0.02, manifest: 0.05, key: 0.06, verify: 1.4, decrypt: 1.1, boot: 7 },
    transferFactor: 1.35,
    egress: 0.25,
    api: 6,
    placement: 1,
    services: {
      oned: { processes: 1, memory: 180, ports: 2, config: 120 },
      scheduler: { processes: 1, memory: 40, ports: 0, config: 25 },
      mariadb: { processes: 1, memory: 420, ports: 1, config: 12 },
    },
    push: 1,
    lacks: ['kms'],
  },
  cloudstack: {
    phases: { auth: 0.02, assignment: 0.14, manifest: 0.08, key: 0.06, verify: 1.4, decrypt: 1.1, boot: 8 },
    transferFactor: 1.6,
    egress: 1,
    api: 7,
    placement: 0.998,
    services: {
      'cloudstack-management': { processes: 1, memory: 1800, ports: 3, config: 90 },
      mysql: { processes: 1, memory: 450, ports: 1, config: 14 },
      'secondary-storage-vm': { processes: 2, memory: 512, ports: 2, config: 20 },
    },
    push: 1,
    lacks: ['kms', 'signed-manifests'],
  },
};

/** Small seeded PRNG (mulberry32): deterministic and independent per (seed, stream). */
function rng(seed: number, stream: number): () => number {
  let a = (seed * 0x9e3779b1) ^ (stream * 0x85ebca6b) ^ 0x27d4eb2f;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function lognormal(r: () => number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return Math.exp(sigma * z - (sigma * sigma) / 2);
}

export function makeResults(opts: FixtureOptions = {}): { samples: Sample[]; metas: Meta[] } {
  const scenario = opts.scenario ?? 'default';
  const planes = opts.planes ?? ['openstack', 'opennebula', 'cloudstack'];
  const env = opts.env ?? 'sim';
  const repeats = opts.repeats ?? 1;
  const seed = opts.seed ?? 42;
  const factor = opts.latencyFactor ?? 1;
  const perNode = opts.perNode ?? true;
  const samples: Sample[] = [];
  const metas: Meta[] = [];
  for (const [pi, plane] of planes.entries()) {
    const p = PROFILE[plane];
    metas.push(meta(scenario, plane, env, seed, opts.source));
    for (const nodes of opts.nodes ?? [100]) {
      const makespans: number[] = [];
      const medians: number[] = [];
      const allLat: number[] = [];
      for (let repeat = 0; repeat < repeats; repeat++) {
        const labels = {
          scenario,
          plane,
          mode: 'agent' as const,
          strategy: 'origin' as const,
          env,
          seed,
          repeat,
          nodes,
          ...(opts.source ? { source: opts.source } : {}),
        };
        // sim: same seed, same numbers in every repeat; emulate/real: each repeat draws afresh
        const r = rng(seed + 7919 * pi, env === 'sim' ? nodes : nodes * 1000 + repeat + 1);
        const bound = Math.max((nodes * IMAGE_BYTES) / ORIGIN_UPLINK, IMAGE_BYTES / NODE_DOWNLINK);
        const fault = opts.faults === false ? undefined : { t: bound * 0.5, tEnd: bound * 0.5 + 12 };
        const lat: number[] = [];
        const phaseSums: Record<string, number> = {};
        let makespan = 0;
        for (let i = 0; i < nodes; i++) {
          const start = r() * 3;
          const phases: Record<string, number> = {};
          for (const [name, mean] of Object.entries(p.phases)) phases[name] = mean * lognormal(r, 0.25) * factor;
          const share = ((nodes * IMAGE_BYTES) / ORIGIN_UPLINK) * ((i + 1) / nodes);
          phases.transfer = (IMAGE_BYTES / NODE_DOWNLINK + share * p.transferFactor) * lognormal(r, 0.1) * factor;
          let latency = Object.values(phases).reduce((a, b) => a + b, 0);
          let finish = start + latency;
          if (fault && finish > fault.t && start < fault.tEnd) {
            latency += fault.tEnd - fault.t;
            finish += fault.tEnd - fault.t;
            phases.transfer += fault.tEnd - fault.t;
          }
          makespan = Math.max(makespan, finish);
          lat.push(latency);
          for (const [k, v] of Object.entries(phases)) phaseSums[k] = (phaseSums[k] ?? 0) + v;
          if (perNode) {
            const nl = { ...labels, node: `n${String(i).padStart(5, '0')}`, site: `site-${i % 8}` };
            samples.push({ metric: 'deploy_start', value: start, unit: 's', labels: nl, t: start });
            samples.push({ metric: 'deploy_latency', value: latency, unit: 's', labels: nl, t: finish });
            for (const [phase, v] of Object.entries(phases)) samples.push({ metric: 'deploy_phase', value: v, unit: 's', labels: { ...nl, phase } });
            samples.push({ metric: 'placed_on_intended', value: r() < p.placement ? 1 : 0, unit: 'bool', labels: nl });
          }
        }
        const sorted = [...lat].sort((a, b) => a - b);
        const run = (metric: string, value: number, unit: string, extra: Record<string, string> = {}) => samples.push({ metric, value, unit, labels: { ...labels, ...extra } });
        run('deploy_latency_p50', quantile(sorted, 0.5), 's');
        run('deploy_latency_p95', quantile(sorted, 0.95), 's');
        run('deploy_latency_p99', quantile(sorted, 0.99), 's');
        run('deploy_latency_max', sorted[sorted.length - 1], 's');
        for (const [phase, sum] of Object.entries(phaseSums)) run('deploy_phase_mean', sum / nodes, 's', { phase });
        run('makespan', makespan, 's');
        run('makespan_lower_bound', bound, 's');
        run('makespan_ratio_to_bound', makespan / bound, 'ratio');
        run('api_calls_per_deploy', p.api, 'count');
        run('control_bytes_per_deploy', p.api * 1480, 'B');
        run('round_trips_per_deploy', p.api, 'count');
        run('origin_egress_bytes', nodes * IMAGE_BYTES * p.egress, 'B');
        run('origin_egress_ratio', p.egress, 'ratio');
        run('bytes_saved_cache', nodes * IMAGE_BYTES * (1 - p.egress), 'B');
        run('placement_accuracy', p.placement, 'ratio');
        run('failures', 0, 'count');
        run('failure_rate', 0, 'ratio');
        if (fault) samples.push({ metric: 'fault_window', value: fault.tEnd - fault.t, unit: 's', labels: { ...labels, kind: 'origin-outage' }, t: fault.t, tEnd: fault.tEnd });
        makespans.push(makespan);
        medians.push(quantile(sorted, 0.5));
        allLat.push(...lat);
      }
      const all = { scenario, plane, mode: 'agent' as const, strategy: 'origin' as const, env, seed, repeat: 'all' as const, nodes };
      const sortedAll = allLat.sort((a, b) => a - b);
      const cv = (v: number[]) => {
        const m = v.reduce((a, b) => a + b, 0) / v.length;
        return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length) / m;
      };
      samples.push({ metric: 'deploy_latency_cv', value: cv(medians), unit: 'ratio', labels: all });
      samples.push({ metric: 'deploy_latency_p99_over_p50', value: quantile(sortedAll, 0.99) / quantile(sortedAll, 0.5), unit: 'ratio', labels: all });
      samples.push({ metric: 'makespan_cv', value: cv(makespans), unit: 'ratio', labels: all });
    }
    const cl = { scenario, plane, mode: 'agent' as const, strategy: 'origin' as const, env, seed, repeat: 'all' as const, nodes: (opts.nodes ?? [100])[0] };
    for (const [service, s] of Object.entries(p.services)) {
      samples.push({ metric: 'complexity_processes', value: s.processes, unit: 'count', labels: { ...cl, service } });
      samples.push({ metric: 'complexity_memory', value: s.memory, unit: 'MiB', labels: { ...cl, service } });
      samples.push({ metric: 'complexity_ports', value: s.ports, unit: 'count', labels: { ...cl, service } });
      samples.push({ metric: 'complexity_config_lines', value: s.config, unit: 'count', labels: { ...cl, service } });
    }
    samples.push({ metric: 'complexity_services', value: Object.keys(p.services).length, unit: 'count', labels: cl });
    samples.push({ metric: 'complexity_push_coupling', value: p.push, unit: 'bool', labels: cl });
    for (const feature of ['kms', 'signed-manifests']) {
      samples.push({ metric: 'complexity_lacks', value: p.lacks.includes(feature) ? 1 : 0, unit: 'bool', labels: { ...cl, feature } });
    }
  }
  return { samples, metas };
}

function meta(scenario: string, plane: Plane, env: Env, seed: number, source?: string): Meta {
  return {
    type: 'meta',
    scenario: { name: scenario, text: `name: ${scenario}\nfleet:\n  nodes: 100\n  sites: 8\nimage:\n  size: 512MiB\nfaults:\n  - kind: origin-outage\n    at: 50%\n    for: 12s\n` },
    plane,
    mode: 'agent',
    strategy: 'origin',
    env,
    seed,
    version: '0.1.0',
    machine: { os: 'linux', arch: 'x64', cpus: 2, node: 'v20.20.2' },
    calibration: env === 'sim' ? 'calibration/default.json' : undefined,
    assumptions: [
      { plane, name: 'origin uplink', value: 40, unit: 'Gbit/s', source: 'scenario' },
      { plane, name: 'auth service time', value: PROFILE[plane].phases.auth, unit: 's', source: 'calibration/default.json' },
    ],
    ...(source ? { source } : {}),
  };
}

export function toNdjson(r: { samples: Sample[]; metas: Meta[] }): string {
  return `${[...r.metas, ...r.samples].map((x) => JSON.stringify(x)).join('\n')}\n`;
}
