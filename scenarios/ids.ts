// Site and node ids, formatted in one place so every folder names them the same way:
// site-000 ... and site-000/node-0000 ..., zero-padded to at least 3 and 4 digits.

function digitsFor(count: number): number {
  return String(Math.max(0, count - 1)).length;
}

/** Id of site `index` in a fleet of `sites` sites, e.g. siteId(3, 10) = "site-003". */
export function siteId(index: number, sites: number): string {
  return `site-${String(index).padStart(Math.max(3, digitsFor(sites)), '0')}`;
}

/** Id of node `nodeIndex` of site `siteIndex`, e.g. nodeId(3, 7, 10, 20) = "site-003/node-0007". */
export function nodeId(siteIndex: number, nodeIndex: number, sites: number, nodesPerSite: number): string {
  return `${siteId(siteIndex, sites)}/node-${String(nodeIndex).padStart(Math.max(4, digitsFor(nodesPerSite)), '0')}`;
}

/** The index of a site id that exists in the fleet, or undefined. */
export function siteIndexOf(id: string, sites: number): number | undefined {
  const match = /^site-(\d+)$/.exec(id);
  if (!match) return undefined;
  const index = Number(match[1]);
  return index < sites && siteId(index, sites) === id ? index : undefined;
}

/** Whether a node id exists in the fleet. */
export function nodeExists(id: string, sites: number, nodesPerSite: number): boolean {
  const match = /^(site-\d+)\/node-(\d+)$/.exec(id);
  if (!match) return false;
  const siteIndex = siteIndexOf(match[1]!, sites);
  const nodeIndex = Number(match[2]);
  return siteIndex !== undefined && nodeIndex < nodesPerSite && nodeId(siteIndex, nodeIndex, sites, nodesPerSite) === id;
}
