// The `sim` environment: the deterministic simulator (edge-sim/) in virtual time. Each repeat is
// one simulated run; its records, the bound's inputs from the expanded fleet and the run's
// counters become a DeploymentRun. With worker threads configured (configureSimThreads), every
// (plane, repeat) of a scenario starts at once on a pool of threads (sim-pool.ts) and the runs
// are handed back in order: a run's result depends only on (scenario, plane, repeat), so the
// results are byte-identical for any thread count.
import { modelAssumptions, type Calibration, type PlaneModel, type PlaneRegistry } from '../adapters/index.js';
import { silentLogger } from '../common/index.js';
import { type BoundOptions, boundTerms, expandFleet, type Fleet, runSharing, type SimRunResult, simulateRun, simulatorLimits } from '../edge-sim/index.js';
import { RunRecords, type BoundInputs, type DeploymentRun } from '../reports/index.js';
import type { PlaneConfig, Scenario } from '../scenarios/index.js';
import { runLabels, runScenario, type ScenarioResult } from './run.js';
import { type PoolJob, SimPool, type SimJob, type SimJobResult } from './sim-pool.js';
import type { Environment, PlaneRun, PlaneRunContext } from './types.js';

/** The bound's inputs for this fleet: link figures in bytes per second. */
export function simBoundInputs(scenario: Scenario, fleet: Fleet, model: PlaneModel, bytesPerNode: number, opts: BoundOptions = {}): BoundInputs {
  let dMin = Infinity;
  let uPeers = 0;
  for (const n of fleet.nodes) {
    dMin = Math.min(dMin, n.access.downBitsPerS / 8, fleet.sites[n.site].wan.downBitsPerS / 8);
    uPeers += n.access.upBitsPerS / 8;
  }
  const sharing = runSharing(scenario, model);
  return {
    nodes: fleet.nodes.length,
    sites: fleet.sites.length,
    bytesPerNode,
    originUpBytesPerS: scenario.origin.uplinkBitsPerS / 8,
    minDownBytesPerS: dMin,
    peersUpBytesPerS: uPeers,
    sharing,
    terms: boundTerms(scenario, fleet, model, bytesPerNode, opts),
  };
}

/** A DeploymentRun without its two functions: plain data, so it can cross a thread. */
export type SimRunData = Omit<DeploymentRun, 'nodeId' | 'siteId'>;

/** The model of a plane entry, calibrated when the calibration is for that plane (as run.ts hands it out). */
function planeModel(registry: PlaneRegistry, plane: PlaneConfig, calibration: Calibration | undefined): PlaneModel {
  return registry.model(plane.name, plane.mode, { placement: plane.placement, flags: plane.flags, calibration });
}

/** One simulated repeat as plain data: the same function on the main thread and on worker threads. */
export function simRunData(scenario: Scenario, plane: PlaneConfig, repeat: number, fleet: Fleet, model: PlaneModel, onProgress?: (done: number, total: number) => void): SimRunData {
  const r: SimRunResult = simulateRun({ scenario, plane, repeat, fleet, model, onProgress });
  return {
    labels: runLabels(scenario, plane, simEnvironment, fleet.nodes.length, repeat),
    records: r.rec,
    bytesPerNode: r.bytesPerNode,
    originEgressBytes: r.originEgressBytes,
    dataRequestsPerRoundTrip: plane.mode === 'agent' ? scenario.concurrency.rangesInFlight : 1,
    bound: simBoundInputs(scenario, fleet, model, r.bytesPerNode, { blobBytes: plane.mode === 'agent' ? r.images.sealedBytes : undefined, scenarioDisks: true }),
    deltaSavedBytes: plane.mode === 'agent' && r.images.previous ? (r.images.sealedBytes - r.images.fetchBytesPerNode) * fleet.nodes.length : null,
    faults: r.faults,
    fidelity: r.fidelity,
    envCounters: [{ metric: 'sim_events', value: r.events, unit: 'count' }],
    sla: scenario.sla,
  };
}

/** Runs one job on a worker thread (sim-worker.ts calls this with the composition root's registry). */
export function runSimJob(job: SimJob, registry: PlaneRegistry, fleetOf: (scenario: Scenario) => Fleet): SimJobResult {
  const model = planeModel(registry, job.plane, job.calibration);
  return { data: simRunData(job.scenario, job.plane, job.repeat, fleetOf(job.scenario), model) };
}

/** Records that crossed a thread arrive as plain fields: give them their class back. */
function revive(data: SimRunData): SimRunData {
  if (!(data.records instanceof RunRecords)) Object.setPrototypeOf(data.records, RunRecords.prototype);
  return data;
}

export interface SimThreadOptions {
  /** threads to run repeats and planes on; 1 runs everything on the calling thread. Default: the machine's CPUs, at most one per run */
  threads?: number;
  /** the worker entry module (the composition root's planes/sim-worker.js); without it everything runs on the calling thread */
  workerEntry?: URL;
}

let threadOptions: SimThreadOptions = {};

/** How the sim environment spreads runs over threads, from now on (the CLI's --threads; tests and benchmarks). */
export function configureSimThreads(o: SimThreadOptions): void {
  threadOptions = { ...threadOptions, ...o };
}

export function simThreadOptions(): Readonly<SimThreadOptions> {
  return threadOptions;
}

/** The environment's cache of expanded fleets: one per scenario object, shared by its planes. */
const fleets = new WeakMap<Scenario, Fleet>();

function fleetOf(scenario: Scenario): Fleet {
  let fleet = fleets.get(scenario);
  if (!fleet) {
    fleet = expandFleet(scenario);
    fleets.set(scenario, fleet);
  }
  return fleet;
}

/** Runs started ahead by `prepare`, per plane entry (the scenario's own objects) and repeat. */
const started = new WeakMap<PlaneConfig, { pool: SimPool; jobs: PoolJob[] }>();

export const simEnvironment: Environment = {
  name: 'sim',
  strategyOf: (scenario) => scenario.strategy,
  prepare({ scenario, registry, calibration }): void {
    const runs = scenario.planes.length * scenario.repeat;
    const { workerEntry } = threadOptions;
    const threads = Math.min(threadOptions.threads ?? SimPool.defaultThreads(), runs);
    if (!workerEntry || threads <= 1) return;
    const limits = simulatorLimits();
    const pool = new SimPool(workerEntry, threads, (job) => runSimJob(job, registry, fleetOf));
    for (const plane of scenario.planes) {
      const cal = plane.name === calibration?.plane ? calibration : undefined;
      const jobs: PoolJob[] = [];
      for (let repeat = 0; repeat < scenario.repeat; repeat++) jobs.push(pool.submit({ scenario, plane, repeat, calibration: cal, limits }));
      started.set(plane, { pool, jobs });
    }
    pool.closeWhenIdle();
  },
  async open(ctx: PlaneRunContext): Promise<PlaneRun> {
    const { scenario, plane } = ctx;
    const model = planeModel(ctx.registry, plane, ctx.calibration);
    const f = fleetOf(scenario);
    const ahead = started.get(plane);
    started.delete(plane);
    let events = 0;
    return {
      nodes: f.nodes.length,
      async repeat(repeat): Promise<DeploymentRun> {
        const progress = ctx.onProgress ? (done: number, total: number) => ctx.onProgress!(repeat, done, total) : undefined;
        let data: SimRunData;
        const job = ahead?.jobs[repeat];
        if (job) {
          data = revive((await ahead.pool.result(job)).data);
          progress?.(f.nodes.length, f.nodes.length);
        } else data = simRunData(scenario, plane, repeat, f, model, progress);
        events += data.envCounters.find((c) => c.metric === 'sim_events')?.value ?? 0;
        return { ...data, nodeId: (i) => f.nodes[i].id, siteId: (i) => f.sites[f.nodes[i].site].id };
      },
      meta: () => ({ ...(ctx.calibration ? { calibration: ctx.calibration.source } : {}), assumptions: modelAssumptions(model) }),
      profile: () => model.profile,
      counters: () => ({ events }),
      async close() {},
    };
  },
};

/** A scenario simulated on every plane it names, silently, its results lines collected: for tests and benchmarks. */
export async function simulate(o: { scenario: Scenario; scenarioText?: string; version: string; registry: PlaneRegistry; calibration?: Calibration }): Promise<ScenarioResult & { lines: string[] }> {
  const lines: string[] = [];
  const result = await runScenario({
    env: simEnvironment,
    scenario: o.scenario,
    scenarioText: o.scenarioText ?? '',
    registry: o.registry,
    version: o.version,
    calibration: o.calibration,
    logger: silentLogger,
    sink: (line) => lines.push(line),
  });
  return { ...result, lines };
}
