// Sim-vs-emulation agreement: the simulator calibrated to the control plane the emulated nodes
// actually talked to (the test plane standing in for the scenario's plane), then the same
// scenario's makespan and p50 deploy latency compared, with the difference. The calibration is
// measured from the emulated agents' own call records: each control call's time minus the path's
// round trip (the simulator adds the round trip itself).
import type { Calibration } from '../../adapters/index.js';
import { quantile } from '../../common/index.js';

/** One control call an emulated agent made (first attempts that succeeded), with its path's one-way delay. */
export interface MeasuredCall {
  op: string;
  ms: number;
  oneWayUs: number;
}

/**
 * For each plane the stand-in can calibrate: which of its model's ops each stand-in op measures.
 * Ops the stand-in has no call for get FLOOR (they cost it nothing: the test plane answers a node's
 * image record with its manifest, and checks sessions in memory).
 */
const STAND_IN_OPS: Record<string, { measured: Record<string, string[]>; free: string[] }> = {
  openstack: {
    measured: {
      'test-plane.login': ['keystone.token.issue'],
      'test-plane.assignment.show': ['keystone.project.show'],
      'test-plane.manifest.show': ['glance.image.download'],
      'test-plane.key.show': ['barbican.secret.payload'],
      'test-plane.report': ['keystone.credential.update'],
    },
    free: ['glance.image.show', 'keystone.token.validate', 'glance.image.download_range'],
  },
};

/** What an op the stand-in does not have costs in the calibrated model (the format needs > 0). */
const FLOOR_US = 100;

export function calibratablePlanes(): string[] {
  return Object.keys(STAND_IN_OPS);
}

/** The plane's calibration from the stand-in's measured calls; null for a plane with no mapping. */
export function standInCalibration(plane: string, calls: readonly MeasuredCall[], source: string): Calibration | null {
  const map = STAND_IN_OPS[plane];
  if (!map) return null;
  const ops: Calibration['ops'] = {};
  for (const [standIn, targets] of Object.entries(map.measured)) {
    const service = calls
      .filter((c) => c.op === standIn)
      .map((c) => Math.max(FLOOR_US, Math.round(c.ms * 1000 - 2 * c.oneWayUs)))
      .sort((a, b) => a - b);
    if (service.length === 0) continue;
    const medianUs = Math.max(FLOOR_US, Math.round(quantile(service, 0.5)));
    const p95Us = Math.max(medianUs, Math.round(quantile(service, 0.95)));
    for (const t of targets) ops[t] = { medianUs, p95Us, samples: service.length };
  }
  for (const t of map.free) ops[t] = { medianUs: FLOOR_US, p95Us: FLOOR_US, samples: 1 };
  return { plane, source, ops };
}

export interface AgreementRow {
  plane: string;
  strategy: string;
  metric: 'makespan' | 'deploy_latency_p50';
  sim: number;
  emulate: number;
  /** (emulate - sim) / sim, in percent */
  diffPct: number;
  within: boolean;
}

/** Rows for each plane both runs have: makespan and p50 (seconds, means over repeats). */
export function compareRuns(
  sim: readonly { plane: string; strategy: string; metrics: Record<string, number> }[],
  emulate: readonly { plane: string; strategy: string; metrics: Record<string, number> }[],
  tolerancePct: number,
): AgreementRow[] {
  const rows: AgreementRow[] = [];
  for (const e of emulate) {
    const s = sim.find((x) => x.plane === e.plane && x.strategy === e.strategy);
    if (!s) continue;
    for (const metric of ['makespan', 'deploy_latency_p50'] as const) {
      const a = s.metrics[metric];
      const b = e.metrics[metric];
      if (a === undefined || b === undefined) continue;
      const diffPct = a > 0 ? ((b - a) / a) * 100 : Number.POSITIVE_INFINITY;
      rows.push({ plane: e.plane, strategy: e.strategy, metric, sim: a, emulate: b, diffPct, within: Math.abs(diffPct) <= tolerancePct });
    }
  }
  return rows;
}

/** The agreement table in Markdown (for agreement.md and the terminal). */
export function agreementMarkdown(o: { scenario: string; rows: readonly AgreementRow[]; tolerancePct: number; notes: readonly string[] }): string {
  const lines = [
    `# Simulator vs emulation: ${o.scenario}`,
    '',
    `Agreement when |emulate - sim| / sim <= ${o.tolerancePct}%.`,
    '',
    '| plane | strategy | metric | sim | emulate | difference | agrees |',
    '|---|---|---|---:|---:|---:|---|',
    ...o.rows.map((r) => `| ${r.plane} | ${r.strategy} | ${r.metric} | ${r.sim.toFixed(2)} s | ${r.emulate.toFixed(2)} s | ${r.diffPct >= 0 ? '+' : ''}${r.diffPct.toFixed(1)}% | ${r.within ? 'yes' : 'NO'} |`),
    '',
    ...o.notes.map((n) => `- ${n}`),
    '',
  ];
  return lines.join('\n');
}
