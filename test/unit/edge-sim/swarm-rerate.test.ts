// The swarm re-rates only the transfers a start or end can move (issue 9 item 7: a busy site LAN
// made it quadratic). Held against re-rating everything on every shared link the change crosses:
// the results must be the same, byte for byte, on a fleet where the LAN, the WANs and the origin
// each bind at some point.
import { afterEach, describe, expect, it } from 'vitest';
import { swarmRerating } from '../../../edge-sim/index.js';
import { simulate } from '../../../environments/index.js';
import { planes as registry, scenarios } from '../../../planes/index.js';

const yaml = (origin: string): string => `
name: rerate
seed: 5
fleet:
  sites: 3
  nodesPerSite: 12
  node: {access: {down: 100Mbit, up: 40Mbit, rtt: 20ms}}
  site: {wan: {down: 400Mbit, up: 200Mbit, rtt: 10ms}, lan: 1Gbit}
origin: {uplink: ${origin}}
image: {size: 48MiB, chunk: 2MiB}
planes: [openstack]
strategy: peer
swarm: {scope: fleet, uploadSlots: 3, downloadSlots: 3}
faults:
  crashes: [{at: 5s, nodes: 3, downFor: 5s}]
`;

async function run(origin: string, exhaustive: boolean): Promise<string> {
  swarmRerating.exhaustive = exhaustive;
  const r = await simulate({ scenario: scenarios.parse(yaml(origin), 'rerate.yaml'), scenarioText: '', version: 'test', registry });
  return JSON.stringify(r.samples);
}

describe('swarm re-rating', () => {
  afterEach(() => {
    swarmRerating.exhaustive = false;
  });
  // 1Gbit: the origin binds (36 nodes x 100Mbit); 10Gbit: it cannot, and each origin upload is rated alone
  for (const origin of ['1Gbit', '10Gbit']) {
    it(`re-rating only what a change can move gives the results of re-rating everything (origin ${origin})`, async () => {
      const fast = await run(origin, false);
      const full = await run(origin, true);
      expect(fast.length).toBeGreaterThan(1000);
      expect(fast).toBe(full);
    }, 60_000);
  }
});
