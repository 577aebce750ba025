// The `sim` environment: the deterministic simulator (edge-sim/) in virtual time. Each repeat is
// one simulated run; its records, the bound's inputs from the expanded fleet and the run's
// counters become a DeploymentRun.
import { modelAssumptions, type Calibration, type PlaneModel, type PlaneRegistry } from '../adapters/index.js';
import { silentLogger } from '../common/index.js';
import { expandFleet, simulateRun, type Fleet } from '../edge-sim/index.js';
import type { BoundInputs, DeploymentRun } from '../reports/index.js';
import type { Scenario } from '../scenarios/index.js';
import { runLabels, runScenario, type ScenarioResult } from './run.js';
import type { Environment, PlaneRun, PlaneRunContext } from './types.js';

/** The bound's inputs for this fleet: link figures in bytes per second. */
export function simBoundInputs(scenario: Scenario, fleet: Fleet, model: PlaneModel, bytesPerNode: number): BoundInputs {
  let dMin = Infinity;
  let uPeers = 0;
  for (const n of fleet.nodes) {
    dMin = Math.min(dMin, n.access.downBitsPerS / 8, fleet.sites[n.site].wan.downBitsPerS / 8);
    uPeers += n.access.upBitsPerS / 8;
  }
  const sharing = scenario.strategy === 'peer' && model.mode === 'agent' ? 'peer' : scenario.strategy === 'site-cache' || model.sitesShareCopy ? 'site' : 'none';
  return {
    nodes: fleet.nodes.length,
    sites: fleet.sites.length,
    bytesPerNode,
    originUpBytesPerS: scenario.origin.uplinkBitsPerS / 8,
    minDownBytesPerS: dMin,
    peersUpBytesPerS: uPeers,
    sharing,
  };
}

/** The environment's cache of expanded fleets: one per scenario object, shared by its planes. */
const fleets = new WeakMap<Scenario, Fleet>();

export const simEnvironment: Environment = {
  name: 'sim',
  strategyOf: (scenario) => scenario.strategy,
  async open(ctx: PlaneRunContext): Promise<PlaneRun> {
    const { scenario, plane } = ctx;
    const model = ctx.registry.model(plane.name, plane.mode, { placement: plane.placement, flags: plane.flags, calibration: ctx.calibration });
    let fleet = fleets.get(scenario);
    if (!fleet) {
      fleet = expandFleet(scenario);
      fleets.set(scenario, fleet);
    }
    const f = fleet;
    let events = 0;
    return {
      nodes: f.nodes.length,
      async repeat(repeat): Promise<DeploymentRun> {
        const r = simulateRun({ scenario, plane, repeat, fleet: f, model, onProgress: ctx.onProgress ? (done, total) => ctx.onProgress!(repeat, done, total) : undefined });
        events += r.events;
        return {
          labels: runLabels(scenario, plane, simEnvironment, f.nodes.length, repeat),
          records: r.rec,
          nodeId: (i) => f.nodes[i].id,
          siteId: (i) => f.sites[f.nodes[i].site].id,
          bytesPerNode: r.bytesPerNode,
          originEgressBytes: r.originEgressBytes,
          dataRequestsPerRoundTrip: plane.mode === 'agent' ? scenario.concurrency.rangesInFlight : 1,
          bound: simBoundInputs(scenario, f, model, r.bytesPerNode),
          deltaSavedBytes: plane.mode === 'agent' && r.images.previous ? (r.images.sealedBytes - r.images.fetchBytesPerNode) * f.nodes.length : null,
          faults: r.faults,
          envCounters: [{ metric: 'sim_events', value: r.events, unit: 'count' }],
          sla: scenario.sla,
        };
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
