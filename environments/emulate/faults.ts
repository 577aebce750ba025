// The scenario's faults as a timeline of real actions for one emulated repeat (pure: the
// environment executes it against processes and links). The same nodes the simulator picks
// (selectNodes with the scenario seed), restricted to the nodes emulated; crash-rate crashes are
// drawn from their own seeded streams per (repeat, node), so they are reproducible but not the
// simulator's draws. Chunk corruption is not here: the relays apply it on the path.
import { selectNodes, streamRng, type Fleet } from '../../edge-sim/index.js';
import type { FaultWindow } from '../../reports/index.js';
import type { Scenario } from '../../scenarios/index.js';

export type FaultAction = { atUs: number; kind: 'crash' | 'reboot'; node: number } | { atUs: number; kind: 'cut' | 'restore'; site: number } | { atUs: number; kind: 'outage-start' | 'outage-end'; service: string };

export interface FaultPlan {
  actions: FaultAction[];
  windows: FaultWindow[];
}

/**
 * `emulated`: fleet indices of the emulated nodes; `sites`: how many sites are built;
 * `horizonUs`: crash-rate crashes are drawn up to here (the repeat's timeout).
 */
export function planFaults(scenario: Scenario, fleet: Fleet, o: { emulated: readonly number[]; sites: number; repeat: number; horizonUs: number; services: readonly string[] }): FaultPlan {
  const f = scenario.faults;
  const inRun = new Set(o.emulated);
  const actions: FaultAction[] = [];
  const windows: FaultWindow[] = [];
  f.crashes.forEach((c, i) => {
    const hit = selectNodes(fleet, c.select, scenario.seed, `crash-${i}`).filter((n) => inRun.has(n.index));
    for (const n of hit) {
      actions.push({ atUs: c.at, kind: 'crash', node: n.index });
      actions.push({ atUs: c.at + c.downForUs, kind: 'reboot', node: n.index });
    }
    if (hit.length > 0) windows.push({ kind: 'crash', target: hit.map((n) => n.id).join(','), fromUs: c.at, toUs: c.at + c.downForUs });
  });
  if (f.crashRate && f.crashRate.perNodePerHour > 0) {
    const meanUs = 3600e6 / f.crashRate.perNodePerHour;
    for (const index of o.emulated) {
      const rng = streamRng(scenario.seed, 'emulate-crash-rate', String(o.repeat), fleet.nodes[index]!.id);
      let t = rng.exponentialUs(meanUs);
      while (t < o.horizonUs) {
        actions.push({ atUs: t, kind: 'crash', node: index });
        actions.push({ atUs: t + f.crashRate.downForUs, kind: 'reboot', node: index });
        t += f.crashRate.downForUs + Math.max(1, rng.exponentialUs(meanUs));
      }
    }
  }
  const cut = (kind: string, ids: readonly string[], fromUs: number, toUs: number) => {
    const built = ids.map((id) => fleet.sites.findIndex((s) => s.id === id)).filter((s) => s >= 0 && s < o.sites);
    for (const s of built) {
      actions.push({ atUs: fromUs, kind: 'cut', site: s });
      actions.push({ atUs: toUs, kind: 'restore', site: s });
    }
    if (built.length > 0) windows.push({ kind, target: built.map((s) => fleet.sites[s]!.id).join(','), fromUs, toUs });
  };
  for (const w of f.linkDown) cut('link-down', w.sites, w.fromUs, w.toUs);
  for (const w of f.partitions) cut('partition', w.sites, w.fromUs, w.toUs);
  for (const c of f.controlOutages) {
    if (c.service !== 'all' && !o.services.includes(c.service)) continue;
    actions.push({ atUs: c.fromUs, kind: 'outage-start', service: c.service });
    actions.push({ atUs: c.toUs, kind: 'outage-end', service: c.service });
    windows.push({ kind: 'control-outage', target: c.service, fromUs: c.fromUs, toUs: c.toUs });
  }
  // stable: equal times keep scenario order (a cut and a restore of overlapping windows stay paired)
  actions.sort((a, b) => a.atUs - b.atUs);
  return { actions, windows };
}
