// Writes what the SimPy model (rollout.py) needs to simulate a scenario, as JSON on stdout:
// topology and link figures, client behaviour, and each plane's stations, service times, agent
// operations and native steps, all read from edgeplane's own models, so both simulators run the
// same figures. Only what rollout.py models is accepted (uniform fleet, no faults, origin strategy).
//   node dist/bench/simpy/export.js <scenario name or file>
import { DEFAULT_AGENT_CONFIG, type ControlOp } from '../../agent/machine/index.js';
import type { ApiOp, NativeStep, PlaneModel, ServiceTime, Station } from '../../adapters/index.js';
import { mathisCapBitsPerS } from '../../edge-sim/index.js';
import { planes, scenarios } from '../../planes/index.js';
import type { Scenario } from '../../scenarios/index.js';

const CONTROL_OPS: ControlOp[] = ['login', 'getAssignment', 'getManifest', 'getKey', 'report'];
/** AES-256-GCM tag per sealed chunk (edge-sim/images.ts). */
const GCM_TAG_BYTES = 16;

function service(t: ServiceTime): { kind: 'fixed'; us: number } | { kind: 'lognormal'; medianUs: number; p95Us: number } {
  return t.kind === 'fixed' ? { kind: 'fixed', us: t.us } : { kind: 'lognormal', medianUs: t.medianUs, p95Us: t.p95Us };
}

function apiOp(model: PlaneModel, op: ApiOp) {
  const station = model.stations.find((s) => s.name === op.station);
  if (!station) throw new Error(`${model.plane}: op ${op.op} on unknown station ${op.station}`);
  return { op: op.op, station: op.station, service: service(op.serviceTime ?? station.serviceTime) };
}

function step(model: PlaneModel, s: NativeStep) {
  switch (s.kind) {
    case 'api':
      return { kind: 'api', ...apiOp(model, s.op) };
    case 'poll':
      return { kind: 'poll', polls: s.polls, intervalUs: s.intervalUs, ...apiOp(model, s.op) };
    case 'cycle':
      return { kind: 'cycle', name: s.name, periodUs: s.periodUs, perCycleLimit: s.perCycleLimit };
    case 'transfer':
      return { kind: 'transfer', from: s.from };
    case 'boot':
      return { kind: 'boot' };
  }
}

export function exportScenario(s: Scenario) {
  const f = s.fleet;
  const refuse = (why: string): never => {
    throw new Error(`the SimPy model does not model ${why} (scenario ${s.name})`);
  };
  if (f.siteOverrides.length > 0 || f.nodeOverrides.length > 0) refuse('site or node overrides');
  const faults = s.faults;
  if (faults.crashes.length || faults.crashRate || faults.linkDown.length || faults.partitions.length || faults.controlOutages.length || faults.chunkCorruption > 0) refuse('faults');
  if (s.strategy !== 'origin') refuse(`strategy ${s.strategy}`);
  if (s.image.previous) refuse('delta updates');
  if (s.concurrency.maxConcurrentDeploys > 0) refuse('an admission limit');
  const chunks = Math.ceil(s.image.sizeBytes / s.image.chunkBytes);
  const access = f.node.access;
  const wan = f.site.wan;
  const rttUs = access.rttUs + wan.rttUs + s.origin.rttUs;
  const loss = 1 - (1 - access.loss) * (1 - wan.loss);
  const mathis = mathisCapBitsPerS(rttUs, loss);
  // client behaviour and admission limits: absent in older scenario formats (no jitter, no timeout, no limit)
  const { clients, servers } = s as { clients?: { startJitterUs: number; requestTimeoutUs: number }; servers?: { queueLimit: 'plane' | number } };
  return {
    scenario: s.name,
    seed: s.seed,
    sites: f.sites,
    nodesPerSite: f.nodesPerSite,
    originUpBps: s.origin.uplinkBitsPerS,
    originRttUs: s.origin.rttUs,
    wanDownBps: wan.downBitsPerS,
    lanBps: f.site.lanBitsPerS,
    accessDownBps: access.downBitsPerS,
    rttToCentreUs: rttUs,
    /** per TCP stream, bits/s (null: no loss, no Mathis cap) */
    mathisBps: Number.isFinite(mathis) ? mathis : null,
    diskBps: f.node.diskBitsPerS,
    boot: f.node.boot,
    imageBytes: s.image.sizeBytes,
    sealedBytes: s.image.sizeBytes + chunks * GCM_TAG_BYTES,
    chunks,
    rangesInFlight: s.concurrency.rangesInFlight,
    startJitterUs: clients?.startJitterUs ?? 0,
    requestTimeoutUs: clients?.requestTimeoutUs ?? 0,
    queueLimit: servers?.queueLimit ?? 'plane',
    agent: { backoffBaseUs: DEFAULT_AGENT_CONFIG.backoffBaseUs, backoffCapUs: DEFAULT_AGENT_CONFIG.backoffCapUs, maxAttempts: DEFAULT_AGENT_CONFIG.maxAttempts },
    planes: s.planes.map((p) => {
      const model = planes.model(p.name, p.mode, { placement: p.placement, flags: p.flags });
      if (model.sitesShareCopy) refuse(`${p.name}'s shared site copy`);
      const tv = model.tokenValidation;
      const stream = model.dataPath.originThroughput;
      return {
        name: p.name,
        mode: p.mode,
        stations: model.stations.map((st: Station & { processes?: number; queueLimit?: number }) => ({
          name: st.name,
          workers: st.workers,
          processes: st.processes ?? st.workers,
          queueLimit: st.queueLimit ?? 0,
          service: service(st.serviceTime),
        })),
        originStreamBps: stream ? stream.bytesPerSecond * 8 : null,
        dataStation: model.dataPath.op.station,
        agentOps: p.mode === 'agent' ? Object.fromEntries(CONTROL_OPS.map((op) => [op, model.agentOps(op).map((o) => apiOp(model, o))])) : null,
        tokenValidation: tv ? { ...apiOp(model, tv.op), validatingStations: tv.validatingStations, cacheTtlUs: tv.cacheTtlUs, cacheScope: tv.cacheScope } : null,
        nativeSteps:
          p.mode === 'native'
            ? {
                first: model.nativeSteps!({ siteCache: false, firstOnSite: true }).map((x) => step(model, x)),
                other: model.nativeSteps!({ siteCache: false, firstOnSite: false }).map((x) => step(model, x)),
              }
            : null,
        hitProbability: model.placement.kind === 'exact' || p.placement === 'pinned' ? 1 : model.placement.unpinnedHitProbability(f.nodesPerSite),
      };
    }),
  };
}

if (process.argv[1]?.endsWith('export.js')) {
  const name = process.argv[2] ?? 'rollout-10k';
  const { scenario } = await scenarios.load(name);
  process.stdout.write(`${JSON.stringify(exportScenario(scenario), null, 1)}\n`);
}
