// Expands a scenario's fleet description into explicit sites and nodes, overrides applied.
// Nodes without overrides share their parameter objects, so 100k nodes stay cheap.
import type { Scenario } from '../scenarios/index.js';
import { nodeId, siteId } from '../scenarios/index.js';
import { stableUnit } from './rng.js';

type FleetSpec = Scenario['fleet'];
export type LinkParams = FleetSpec['node']['access'];
export type BootDist = FleetSpec['node']['boot'];
export type NodeSelector = FleetSpec['nodeOverrides'][number]['select'];

export interface SiteInfo {
  index: number;
  id: string;
  wan: LinkParams;
  lanBitsPerS: number;
}

export interface NodeInfo {
  /** position in the fleet (site-major order) */
  index: number;
  id: string;
  site: number;
  /** position within its site */
  slot: number;
  access: LinkParams;
  diskBitsPerS: number;
  boot: BootDist;
}

export interface Fleet {
  sites: SiteInfo[];
  nodes: NodeInfo[];
  byId: Map<string, NodeInfo>;
}

export function expandFleet(scenario: Scenario): Fleet {
  const f = scenario.fleet;
  const siteIndexById = new Map<string, number>();
  const sites: SiteInfo[] = [];
  for (let s = 0; s < f.sites; s++) {
    const id = siteId(s, f.sites);
    siteIndexById.set(id, s);
    sites.push({ index: s, id, wan: f.site.wan, lanBitsPerS: f.site.lanBitsPerS });
  }
  for (const o of f.siteOverrides) {
    for (const sid of o.sites) {
      const site = sites[siteIndexById.get(sid)!];
      if (!site) continue; // the schema checks references; keep going on the rest
      if (o.wan) site.wan = { ...site.wan, ...o.wan };
      if (o.lanBitsPerS !== undefined) site.lanBitsPerS = o.lanBitsPerS;
    }
  }

  const nodes: NodeInfo[] = [];
  const byId = new Map<string, NodeInfo>();
  for (let s = 0; s < f.sites; s++) {
    for (let k = 0; k < f.nodesPerSite; k++) {
      const node: NodeInfo = {
        index: nodes.length,
        id: nodeId(s, k, f.sites, f.nodesPerSite),
        site: s,
        slot: k,
        access: f.node.access,
        diskBitsPerS: f.node.diskBitsPerS,
        boot: f.node.boot,
      };
      nodes.push(node);
      byId.set(node.id, node);
    }
  }
  const fleet: Fleet = { sites, nodes, byId };
  f.nodeOverrides.forEach((o, i) => {
    for (const n of selectNodes(fleet, o.select, scenario.seed, `override-${i}`)) {
      if (o.access) n.access = { ...n.access, ...o.access };
      if (o.diskBitsPerS !== undefined) n.diskBitsPerS = o.diskBitsPerS;
      if (o.boot) n.boot = o.boot;
    }
  });
  return fleet;
}

/**
 * Resolves a selector to nodes, in fleet order. Counts and fractions pick nodes by a stable hash of
 * (seed, purpose, node id): a fraction takes every node whose hash is below it, a count the nodes
 * with the smallest hashes. Adding nodes or sites never makes another existing node a victim (a
 * fraction keeps exactly the same existing nodes; a count can only drop some for new ones).
 */
export function selectNodes(fleet: Fleet, sel: NodeSelector, seed: number, purpose: string): NodeInfo[] {
  if ('ids' in sel) return sel.ids.map((id) => fleet.byId.get(id)).filter((n): n is NodeInfo => n !== undefined);
  if ('sites' in sel) {
    const wanted = new Set(sel.sites);
    return fleet.nodes.filter((n) => wanted.has(fleet.sites[n.site].id));
  }
  if ('fraction' in sel) return fleet.nodes.filter((n) => stableUnit(seed, 'select', purpose, n.id) < sel.fraction);
  const total = fleet.nodes.length;
  const count = Math.min(sel.count, total);
  const keys = new Float64Array(total);
  for (let i = 0; i < total; i++) keys[i] = stableUnit(seed, 'select', purpose, fleet.nodes[i].id);
  const order = Array.from({ length: total }, (_, i) => i).sort((a, b) => keys[a] - keys[b] || a - b);
  return order
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => fleet.nodes[i]);
}

/**
 * Staging time on a node (µs): the agent decrypts into the staged image as the bytes arrive (the
 * write overlaps the fetch), then reads the whole image once more at its disk rate to check its
 * SHA-256 before it boots it (agent/runtime/direct-stage.ts).
 */
export function stagingUs(plainBytes: number, diskBitsPerS: number): number {
  return Math.ceil((plainBytes * 8 * 1e6) / diskBitsPerS);
}
