import { describe, expect, it } from 'vitest';
import { simulate } from '../../../environments/index.js';
import { planes as registry } from '../../../planes/index.js';
import type { Sample } from '../../../reports/index.js';
import { scenario } from './helpers.js';

function metric(samples: Sample[], name: string, plane: string): number {
  const s = samples.find((x) => x.metric === name && x.labels.plane === plane && x.labels.repeat === 0 && x.labels.node === undefined);
  if (!s) throw new Error(`no ${name} for ${plane}`);
  return s.value;
}

const planes = '[openstack, {name: opennebula, mode: native}, {name: cloudstack, mode: native}]';

describe('makespan against the physical lower bound', () => {
  it('origin strategy on a single bottleneck (origin uplink) ends within 5% of the bound', async () => {
    // 50 nodes x 256 MiB through a 1 Gbit origin: N*S/u = 107 s; access 1 Gbit each; boot 0.
    const s = scenario(`
name: bottleneck
fleet:
  sites: 5
  nodesPerSite: 10
  node: {access: {down: 1Gbit, up: 1Gbit, rtt: 2ms}, boot: 0s, disk: 10GB/s}   # staging at disk speed is not a link: keep it short
  site: {wan: {down: 10Gbit, up: 10Gbit, rtt: 1ms}}
origin: {uplink: 1Gbit, rtt: 1ms}
image: {size: 256MiB, chunk: 4MiB}
planes: [openstack]
clients: {startJitter: 0s}   # all agents see the pin at once: the bound assumes they start together
`);
    const r = await simulate({ scenario: s, scenarioText: '', version: 'test', registry });
    const makespan = metric(r.samples, 'makespan', 'openstack');
    const bound = metric(r.samples, 'makespan_lower_bound', 'openstack');
    expect(bound).toBeCloseTo((50 * (256 * 2 ** 20 + 64 * 16) * 8) / 1e9, 3);
    expect(makespan).toBeGreaterThanOrEqual(bound);
    expect(makespan / bound).toBeLessThan(1.05);
  });

  for (const strategy of ['origin', 'site-cache', 'peer']) {
    it(`never ends below the bound (${strategy}, all planes, faults)`, async () => {
      const s = scenario(`
name: bound-${strategy}
seed: 5
fleet:
  sites: 3
  nodesPerSite: 8
  node: {access: {down: 50Mbit, up: 10Mbit, rtt: 20ms, loss: 0.1%}, boot: {median: 3s, p99: 10s}}
origin: {uplink: 200Mbit}
image: {size: 32MiB, chunk: 1MiB}
planes: ${planes}
strategy: ${strategy}
faults:
  crashes: [{at: 2s, nodes: 2, downFor: 3s}]
  partitions: [{sites: [site-002], from: 1s, to: 4s}]
  chunkCorruption: 0.5%
`);
      const r = await simulate({ scenario: s, scenarioText: '', version: 'test', registry });
      for (const plane of ['openstack', 'opennebula', 'cloudstack']) {
        expect(metric(r.samples, 'failures', plane)).toBe(0);
        expect(metric(r.samples, 'makespan_ratio_to_bound', plane)).toBeGreaterThanOrEqual(1);
      }
    });
  }

  it('a site cache sends one copy per site from the origin', async () => {
    const s = scenario(`
name: cache
fleet: {sites: 4, nodesPerSite: 10}
image: {size: 16MiB, chunk: 4MiB}
planes: [openstack]
strategy: site-cache
`);
    const r = await simulate({ scenario: s, scenarioText: '', version: 'test', registry });
    expect(metric(r.samples, 'origin_egress_ratio', 'openstack')).toBeCloseTo(4 / 40, 3);
  });

  it('a delta update fetches only the chunks the previous version lacks', async () => {
    const s = scenario(`
name: delta
fleet: {sites: 2, nodesPerSite: 5}
image: {size: 400MiB, chunk: 4MiB, previous: {shared: 90%}}
planes: [openstack, {name: cloudstack, mode: native}]
`);
    const r = await simulate({ scenario: s, scenarioText: '', version: 'test', registry });
    const agentEgress = metric(r.samples, 'origin_egress_bytes', 'openstack');
    const nativeEgress = metric(r.samples, 'origin_egress_bytes', 'cloudstack');
    // ~10% of 100 chunks are new (seeded): far below a full copy per node
    expect(agentEgress).toBeLessThan(0.25 * nativeEgress);
    expect(agentEgress).toBeGreaterThan(0);
    expect(metric(r.samples, 'bytes_saved_delta', 'openstack')).toBeGreaterThan(0);
  });
});
