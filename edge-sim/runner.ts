// One simulated run: a scenario, one of its planes, one repeat. Builds the world, admits the
// deployments, injects the scenario's faults and runs until every node has finished.
import type { PlaneModel } from '../adapters/index.js';
import { DEFAULT_AGENT_CONFIG } from '../agent/machine/index.js';
import type { Scenario } from '../scenarios/index.js';
import { AgentFleet } from './agent-node.js';
import { expandFleet, selectNodes, type Fleet } from './fleet.js';
import { installedPrevious, rolloutImages, type RolloutImages } from './images.js';
import { NativeFleet } from './native-node.js';
import { RunRecords, type FaultWindow } from '../reports/index.js';
import { runSharing } from './bounds.js';
import type { FidelityReport } from './checks.js';
import { NodeStreams } from './rng.js';
import { World } from './world.js';

export type PlaneSpec = Scenario['planes'][number];

/** A run that has not finished after this much virtual time is stopped; the rest count as failed. */
export const MAX_VIRTUAL_US = 30 * 24 * 3600 * 1_000_000;

export interface SimRunResult {
  scenario: Scenario;
  plane: PlaneSpec;
  repeat: number;
  model: PlaneModel;
  fleet: Fleet;
  images: RolloutImages;
  rec: RunRecords;
  /** bytes one node has to receive for this plane (sealed chunks for agents, the raw image for native copies) */
  bytesPerNode: number;
  originEgressBytes: number;
  events: number;
  endUs: number;
  faults: FaultWindow[];
  /** the physics and causality invariants this run was held to, and any that failed */
  fidelity: FidelityReport;
}

export interface SimRunOptions {
  scenario: Scenario;
  plane: PlaneSpec;
  repeat: number;
  fleet?: Fleet;
  /** the plane's model for this entry's mode and options (the registry builds it) */
  model: PlaneModel;
  /** called whenever a node finishes: (finished, total) */
  onProgress?: (finished: number, total: number) => void;
}

export function simulateRun(opts: SimRunOptions): SimRunResult {
  const { scenario, plane, repeat } = opts;
  const fleet = opts.fleet ?? expandFleet(scenario);
  const { model } = opts;
  const world = new World(scenario, fleet, model, scenario.seed);
  const sim = world.sim;
  const images = rolloutImages(scenario, scenario.seed);
  const N = fleet.nodes.length;
  const rec = new RunRecords(N);
  const agentMode = plane.mode === 'agent';
  const bytesPerNode = agentMode ? images.fetchBytesPerNode : scenario.image.sizeBytes;

  // Admission: the operator pins up to `maxConcurrentDeploys` nodes at a time, in fleet order.
  const limit = scenario.concurrency.maxConcurrentDeploys > 0 ? scenario.concurrency.maxConcurrentDeploys : N;
  const admitted = new Uint8Array(N);
  let nextToAdmit = 0;
  let admit: (node: number) => void;
  const admitNext = (): void => {
    if (nextToAdmit >= N) return;
    const node = nextToAdmit++;
    admitted[node] = 1;
    rec.startUs[node] = sim.now;
    admit(node);
  };
  const onFinished = (): void => {
    opts.onProgress?.(rec.finished, N);
    if (rec.finished === N) sim.stop();
    else admitNext();
  };

  let crash: (node: number) => void;
  let reboot: (node: number) => void;
  let originEgress = (): number => world.originEgressBytes;
  if (agentMode) {
    const agents = new AgentFleet({
      world,
      rec,
      repeat,
      config: { ...DEFAULT_AGENT_CONFIG, pollIntervalUs: scenario.clients.pollIntervalUs, backoffCapUs: scenario.clients.backoffCapUs },
      manifest: images.manifest,
      fetchList: images.fetchList,
      fullFetchBytes: images.fetchBytesPerNode,
      rangesInFlight: scenario.concurrency.rangesInFlight,
      wholeStreamAt: scenario.concurrency.wholeStreamAt,
      chunkCorruption: scenario.faults.chunkCorruption,
      assignmentFor: (node) => (admitted[node] ? images.target : (images.previous?.assignment ?? null)),
      initialPersisted: () => installedPrevious(images),
      onFinished,
    });
    // The pins are set at t=0; each agent sees them at its next poll, a uniformly spread moment
    // within the start-up jitter (its poll phase), and polls on from there.
    admit = () => {};
    const jitter = scenario.clients.startJitterUs;
    sim.at(0, () => {
      for (let i = 0; i < limit; i++) admitNext();
      for (let i = 0; i < N; i++) {
        const at = jitter > 0 ? new NodeStreams(scenario.seed, repeat, fleet.nodes[i].id).of('jitter').int(0, jitter - 1) : 0;
        if (at === 0) agents.start(i);
        else sim.at(at, () => agents.start(i));
      }
    });
    originEgress = () => agents.originEgressBytes;
    crash = (n) => agents.crash(n);
    reboot = (n) => agents.boot(n);
  } else {
    const placement = model.placement;
    const hitProbability = placement.kind === 'exact' || plane.placement === 'pinned' ? 1 : placement.unpinnedHitProbability(scenario.fleet.nodesPerSite);
    const natives = new NativeFleet({ world, rec, repeat, payloadBytes: bytesPerNode, hitProbability, onFinished });
    admit = (node) => natives.deploy(node);
    crash = (n) => natives.crash(n);
    reboot = (n) => natives.boot(n);
    sim.at(0, () => {
      for (let i = 0; i < limit; i++) admitNext();
    });
  }

  const faults = scheduleFaults(world, repeat, crash, reboot);
  sim.run({ untilUs: MAX_VIRTUAL_US });
  for (let i = 0; i < N; i++) if (rec.outcome[i] === 0) rec.finish(i, sim.now, false, 'unfinished');
  const originEgressBytes = originEgress();
  const sharing = runSharing(scenario, model);
  const fidelity = world.checks.evaluate({
    bytesPerNode,
    sharing,
    swarmScope: scenario.swarm.scope,
    bootsFromSiteCopy: !agentMode && sharing === 'site',
    running: (i) => rec.outcome[i] === 1,
    siteOf: (i) => fleet.nodes[i].site,
    nodeName: (i) => fleet.nodes[i].id,
    downBytesPerS: (i) => fleet.nodes[i].access.downBitsPerS / 8,
    originEgressBytes,
  });

  return {
    scenario,
    plane,
    repeat,
    model,
    fleet,
    images,
    rec,
    bytesPerNode,
    originEgressBytes,
    events: sim.events,
    endUs: sim.now,
    faults,
    fidelity,
  };
}

function scheduleFaults(world: World, repeat: number, crash: (n: number) => void, reboot: (n: number) => void): FaultWindow[] {
  const { scenario, fleet, sim } = world;
  const f = scenario.faults;
  const windows: FaultWindow[] = [];
  const siteIndex = new Map(fleet.sites.map((s) => [s.id, s.index]));

  f.crashes.forEach((c, i) => {
    for (const n of selectNodes(fleet, c.select, scenario.seed, `crash-${i}`)) {
      sim.at(c.at, () => crash(n.index));
      sim.at(c.at + c.downForUs, () => reboot(n.index));
    }
    windows.push({ kind: 'crash', target: describeSelector(c.select), fromUs: c.at, toUs: c.at + c.downForUs });
  });

  if (f.crashRate && f.crashRate.perNodePerHour > 0) {
    const meanUs = 3600e6 / f.crashRate.perNodePerHour;
    const down = f.crashRate.downForUs;
    // A rate so large that crashes repeat with (almost) no delay is caught by the budget
    // (environments/budget.ts up front, the engine's loop check while running); say why.
    sim.loopHint = `faults.crashRate (${f.crashRate.perNodePerHour} per node-hour, down for ${down / 1e6} s): every node crashes again after ~${meanUs < 1 ? '0' : Math.round(meanUs)} us`;
    for (const n of fleet.nodes) {
      const rng = world.rngFor(repeat, 'crash-rate', n.id);
      const next = (): void => {
        crash(n.index);
        sim.after(down, () => {
          reboot(n.index);
          sim.after(rng.exponentialUs(meanUs), next);
        });
      };
      sim.at(rng.exponentialUs(meanUs), next);
    }
  }

  const cut = (kind: string, sites: string[], fromUs: number, toUs: number): void => {
    for (const id of sites) {
      const s = siteIndex.get(id);
      if (s === undefined) continue;
      sim.at(fromUs, () => world.setSiteCut(s, true));
      sim.at(toUs, () => world.setSiteCut(s, false));
    }
    windows.push({ kind, target: sites.join(','), fromUs, toUs });
  };
  for (const w of f.linkDown) cut('link-down', w.sites, w.fromUs, w.toUs);
  for (const w of f.partitions) cut('partition', w.sites, w.fromUs, w.toUs);

  for (const o of f.controlOutages) {
    const stations = o.service === 'all' ? [...world.stations.values()] : [world.stations.get(o.service)].filter((s) => s !== undefined);
    if (stations.length === 0) continue; // a service this plane does not have
    sim.at(o.fromUs, () => stations.forEach((s) => s.setOutage(true)));
    sim.at(o.toUs, () => stations.forEach((s) => s.setOutage(false)));
    windows.push({ kind: 'control-outage', target: o.service, fromUs: o.fromUs, toUs: o.toUs });
  }
  return windows;
}

function describeSelector(sel: Parameters<typeof selectNodes>[1]): string {
  if ('count' in sel) return `${sel.count} nodes`;
  if ('fraction' in sel) return `${(sel.fraction * 100).toFixed(2)}% of nodes`;
  if ('ids' in sel) return sel.ids.join(',');
  return sel.sites.join(',');
}
