// The physical lower bound of a simulated rollout, link by link: for every link on the bytes' path
// (origin uplink, each site's WAN and LAN, each node's access link, the swarm's upload capacity)
// the bytes that must cross it over its capacity. The makespan can beat none of them; the largest
// is the bound that binds and is named in the report.
import type { PlaneModel } from '../adapters/index.js';
import type { Scenario } from '../scenarios/index.js';
import { stagingUs, type Fleet } from './fleet.js';
import { streamsWhole } from './images.js';

export interface BoundTerm {
  /** which link (or capacity) this term is about, e.g. `site LAN (site-003)` */
  link: string;
  /** bytes that must cross it */
  bytes: number;
  bytesPerS: number;
}

export type Sharing = 'none' | 'site' | 'peer';

/** How copies are shared in a run: peers (agent mode, strategy peer), one origin copy per site, or none. */
export function runSharing(scenario: Scenario, model: PlaneModel): Sharing {
  if (scenario.strategy === 'peer' && model.mode === 'agent') return 'peer';
  if (model.mode === 'native') {
    const steps = model.nativeSteps?.({ siteCache: scenario.strategy === 'site-cache', firstOnSite: true }) ?? [];
    return steps.some((s) => s.kind === 'transfer' && s.from === 'siteReplica') ? 'site' : 'none';
  }
  return scenario.strategy === 'site-cache' ? 'site' : 'none';
}

export interface BoundOptions {
  /** the whole sealed image, when known: a node that streams it whole (the plane has a whole GET and enough is missing) has one stream, not `rangesInFlight` */
  blobBytes?: number;
  /** the nodes' disks run at the scenario's rate (simulated), so an agent's staging read is a floor too */
  scenarioDisks?: boolean;
}

export function boundTerms(scenario: Scenario, fleet: Fleet, model: PlaneModel, bytesPerNode: number, opts: BoundOptions = {}): BoundTerm[] {
  const { blobBytes } = opts;
  const S = bytesPerNode;
  const sharing = runSharing(scenario, model);
  const N = fleet.nodes.length;
  const perSite = new Float64Array(fleet.sites.length);
  const upPerSite = new Float64Array(fleet.sites.length);
  let upAll = 0;
  let slowest = fleet.nodes[0];
  for (const n of fleet.nodes) {
    perSite[n.site]++;
    upPerSite[n.site] += n.access.upBitsPerS / 8;
    upAll += n.access.upBitsPerS / 8;
    if (n.access.downBitsPerS < slowest.access.downBitsPerS) slowest = n;
  }
  const u = scenario.origin.uplinkBitsPerS / 8;
  const siteScope = sharing === 'site' || (sharing === 'peer' && scenario.swarm.scope === 'site');
  const terms: BoundTerm[] = [];
  const originBytes = sharing === 'none' ? N * S : siteScope ? fleet.sites.length * S : S;
  terms.push({ link: 'origin uplink', bytes: originBytes, bytesPerS: u });
  const worst = (items: BoundTerm[]): void => {
    let best: BoundTerm | null = null;
    for (const t of items) if (!best || t.bytes / t.bytesPerS > best.bytes / best.bytesPerS) best = t;
    if (best) terms.push(best);
  };
  worst(fleet.sites.map((s) => ({ link: `site WAN (${s.id})`, bytes: sharing === 'none' ? perSite[s.index] * S : S, bytesPerS: s.wan.downBitsPerS / 8 })));
  // every byte a node receives crosses its site's LAN (from the WAN, the cache or a peer)
  worst(fleet.sites.map((s) => ({ link: `site LAN (${s.id})`, bytes: perSite[s.index] * S, bytesPerS: s.lanBitsPerS / 8 })));
  terms.push({ link: `node access (${slowest.id})`, bytes: S, bytesPerS: slowest.access.downBitsPerS / 8 });
  if (model.mode === 'agent' && opts.scenarioDisks) {
    // an agent stages after its last byte: its download, then one read of the image at its disk rate
    let worstS = 0;
    let worstNode = fleet.nodes[0];
    for (const n of fleet.nodes) {
      const s = (S * 8) / n.access.downBitsPerS + stagingUs(scenario.image.sizeBytes, n.diskBitsPerS) / 1e6;
      if (s > worstS) {
        worstS = s;
        worstNode = n;
      }
    }
    terms.push({ link: `node access, then staging on its disk (${worstNode.id})`, bytes: worstS, bytesPerS: 1 });
  }
  if (sharing === 'peer') {
    terms.push({ link: 'swarm upload capacity (origin + all peers)', bytes: N * S, bytesPerS: u + upAll });
    if (scenario.swarm.scope === 'site') {
      worst(fleet.sites.map((s) => ({ link: `swarm upload capacity (${s.id}: WAN + its peers)`, bytes: perSite[s.index] * S, bytesPerS: Math.min(u, s.wan.downBitsPerS / 8) + upPerSite[s.index] })));
    }
  }
  if (sharing === 'site' && model.mode === 'native') {
    // store and forward: the centre copies the whole image into the site, then clones it to each node
    let worstSite = 0;
    for (const s of fleet.sites) {
      const fill = Math.max((fleet.sites.length * S) / u, S / (s.wan.downBitsPerS / 8));
      const clone = Math.max(S / (slowest.access.downBitsPerS / 8), (perSite[s.index] * S) / (s.lanBitsPerS / 8));
      worstSite = Math.max(worstSite, fill + clone);
    }
    terms.push({ link: 'site copy, then clone over the LAN (store and forward)', bytes: worstSite, bytesPerS: 1 });
  }
  if (model.mode === 'native' && sharing === 'none') {
    // each per-node copy holds one worker of its driver station while its bytes move: some worker
    // carries ceil(N / workers) copies in turn, each no shorter than the fastest node's access time
    let fastest = fleet.nodes[0];
    for (const n of fleet.nodes) if (n.access.downBitsPerS > fastest.access.downBitsPerS) fastest = n;
    const steps = model.nativeSteps?.({ siteCache: scenario.strategy === 'site-cache', firstOnSite: true }) ?? [];
    for (const s of steps) {
      const station = s.kind === 'transfer' && s.worker === 'copy' ? model.stations.find((x) => x.name === s.op.station) : undefined;
      if (!station || station.workers >= N) continue;
      terms.push({ link: `copy workers of ${station.name} (${station.workers} at a time)`, bytes: Math.ceil(N / station.workers) * S, bytesPerS: fastest.access.downBitsPerS / 8 });
    }
  }
  const perStream = model.dataPath.originThroughput?.bytesPerSecond;
  if (perStream && sharing !== 'peer' && model.mode === 'agent') {
    // blob size unknown: the ranges' streams (the lower of the two bounds)
    const whole = blobBytes !== undefined && streamsWhole(scenario.concurrency.wholeStreamAt, model.dataPath.wholeOp !== undefined, S, blobBytes);
    const streams = whole ? 1 : scenario.concurrency.rangesInFlight;
    terms.push({ link: `origin per-stream limit (${streams} stream${streams === 1 ? '' : 's'})`, bytes: S, bytesPerS: perStream * streams });
  }
  return terms.filter((t) => t.bytesPerS > 0);
}
