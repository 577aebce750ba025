// Writes what the SimPy model (rollout.py) needs to simulate a scenario, as JSON on stdout:
// topology and link figures, client behaviour, and each plane's stations, service times, agent
// operations, data path and native steps, all read from edgeplane's own models and functions, so
// both simulators run the same figures. Only what rollout.py models is accepted (uniform fleet, no
// faults, origin strategy, fresh nodes, retry forever, native copies from the origin).
//   node dist/bench/simpy/export.js <scenario name or file>
import { DEFAULT_AGENT_CONFIG, type ControlOp } from '../../agent/machine/index.js';
import type { ApiOp, NativeStep, PlaneModel, ServiceTime, Station } from '../../adapters/index.js';
import { MAX_VIRTUAL_US, mathisCapBitsPerS, NATIVE_MAX_COPY_ATTEMPTS, NATIVE_RETRY_US, rolloutImages, stagingUs, streamsWhole } from '../../edge-sim/index.js';
import { planes, scenarios } from '../../planes/index.js';
import type { Scenario } from '../../scenarios/index.js';

const CONTROL_OPS: ControlOp[] = ['login', 'getAssignment', 'getManifest', 'getKey', 'report'];

function service(t: ServiceTime): { kind: 'fixed'; us: number } | { kind: 'lognormal'; medianUs: number; p95Us: number } {
  return t.kind === 'fixed' ? { kind: 'fixed', us: t.us } : { kind: 'lognormal', medianUs: t.medianUs, p95Us: t.p95Us };
}

function apiOp(model: PlaneModel, op: ApiOp) {
  const station = model.stations.find((s) => s.name === op.station);
  if (!station) throw new Error(`${model.plane}: op ${op.op} on unknown station ${op.station}`);
  return { op: op.op, station: op.station, service: service(op.serviceTime ?? station.serviceTime) };
}

function step(model: PlaneModel, s: NativeStep, refuse: (why: string) => never) {
  switch (s.kind) {
    case 'api':
      return { kind: 'api', ...apiOp(model, s.op) };
    case 'poll':
      return { kind: 'poll', polls: s.polls, intervalUs: s.intervalUs, ...apiOp(model, s.op) };
    case 'cycle':
      return { kind: 'cycle', name: s.name, periodUs: s.periodUs, perCycleLimit: s.perCycleLimit };
    case 'transfer':
      if (s.from !== 'origin') refuse(`${model.plane}'s copies from a site replica`);
      // `copy`: the op's station worker is held for the set-up and while the bytes move; `none`: set-up and bytes on the host
      return { kind: 'transfer', from: s.from, worker: s.worker, ...apiOp(model, s.op) };
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
  // the agent as the simulator runs it (edge-sim/runner.ts): the machine's defaults, the scenario's poll interval and backoff cap
  const agent = { ...DEFAULT_AGENT_CONFIG, pollIntervalUs: s.clients.pollIntervalUs, backoffCapUs: s.clients.backoffCapUs };
  if (agent.maxAttempts > 0) refuse('a limit on retries');
  const images = rolloutImages(s, s.seed);
  const access = f.node.access;
  const wan = f.site.wan;
  const rttUs = access.rttUs + wan.rttUs + s.origin.rttUs;
  const loss = 1 - (1 - access.loss) * (1 - wan.loss);
  const mathis = mathisCapBitsPerS(Math.max(1, rttUs), loss);
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
    boot: f.node.boot,
    /** native copies move the raw image */
    imageBytes: s.image.sizeBytes,
    /** agents fetch the sealed image (chunks plus their tags) */
    sealedBytes: images.sealedBytes,
    chunks: images.manifest.chunks.length,
    rangesInFlight: s.concurrency.rangesInFlight,
    /** agents: one read of the staged image at the disk rate after the fetch */
    stageUs: stagingUs(s.image.sizeBytes, f.node.diskBitsPerS),
    startJitterUs: s.clients.startJitterUs,
    requestTimeoutUs: s.clients.requestTimeoutUs,
    queueLimit: s.servers.queueLimit,
    agent: { backoffBaseUs: agent.backoffBaseUs, backoffCapUs: agent.backoffCapUs, pollIntervalUs: agent.pollIntervalUs },
    native: { retryUs: NATIVE_RETRY_US, maxCopyAttempts: NATIVE_MAX_COPY_ATTEMPTS },
    /** a run not finished by then is stopped (edgeplane's limit) */
    maxVirtualUs: MAX_VIRTUAL_US,
    planes: s.planes.map((p) => {
      const model = planes.model(p.name, p.mode, { placement: p.placement, flags: p.flags });
      if (model.sitesShareCopy) refuse(`${p.name}'s shared site copy`);
      const tv = model.tokenValidation;
      const stream = model.dataPath.originThroughput;
      const wholeOp = model.dataPath.wholeOp;
      // a fresh node misses the whole blob: the agent's whole-stream rule decides once for the plane
      const whole = p.mode === 'agent' && streamsWhole(s.concurrency.wholeStreamAt, wholeOp !== undefined, images.sealedBytes, images.sealedBytes);
      return {
        name: p.name,
        mode: p.mode,
        stations: model.stations.map((st: Station) => ({
          name: st.name,
          workers: st.workers,
          processes: st.processes ?? st.workers,
          queueLimit: st.queueLimit ?? 0,
        })),
        originStreamBps: stream ? stream.bytesPerSecond * 8 : null,
        /** agent mode: the ranged GET (one per chunk), and the whole-stream GET when the agent makes one */
        dataOp: apiOp(model, model.dataPath.op),
        wholeOp: whole && wholeOp ? apiOp(model, wholeOp) : null,
        agentOps: p.mode === 'agent' ? Object.fromEntries(CONTROL_OPS.map((op) => [op, model.agentOps(op).map((o) => apiOp(model, o))])) : null,
        tokenValidation: tv ? { ...apiOp(model, tv.op), validatingStations: tv.validatingStations, cacheTtlUs: tv.cacheTtlUs, cacheScope: tv.cacheScope } : null,
        nativeSteps:
          p.mode === 'native'
            ? {
                first: model.nativeSteps!({ siteCache: false, firstOnSite: true }).map((x) => step(model, x, refuse)),
                other: model.nativeSteps!({ siteCache: false, firstOnSite: false }).map((x) => step(model, x, refuse)),
              }
            : null,
      };
    }),
  };
}

if (process.argv[1]?.endsWith('export.js')) {
  const name = process.argv[2] ?? 'rollout-10k';
  const { scenario } = await scenarios.load(name);
  process.stdout.write(`${JSON.stringify(exportScenario(scenario), null, 1)}\n`);
}
