import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { simulate } from '../../../environments/index.js';
import { planes as registry } from '../../../planes/index.js';
import { scenario } from './helpers.js';

const yaml = (seed: number): string => `
name: det
seed: ${seed}
repeat: 2
fleet:
  sites: 4
  nodesPerSite: 10
  node: {access: {down: 100Mbit, up: 20Mbit, rtt: 30ms, loss: 0.01%}, boot: {median: 5s, p99: 15s}}
image: {size: 64MiB, chunk: 4MiB}
planes: [openstack, {name: opennebula, mode: native, placement: scheduler}, {name: cloudstack, mode: native}]
faults:
  crashes: [{at: 3s, nodes: 3, downFor: 5s}]
  linkDown: [{sites: [site-001], from: 2s, to: 6s}]
  chunkCorruption: 1%
`;

async function run(seed: number): Promise<{ bytes: string; latencies: number[] }> {
  const s = scenario(yaml(seed));
  const r = await simulate({ scenario: s, scenarioText: yaml(seed), version: 'test', registry });
  return {
    bytes: r.lines.join('\n'),
    latencies: r.samples.filter((x) => x.metric === 'deploy_latency').map((x) => x.value),
  };
}

describe('determinism', () => {
  it('same scenario and seed give byte-identical results', async () => {
    const a = await run(7);
    const b = await run(7);
    expect(a.latencies.length).toBeGreaterThan(0);
    expect(createHash('sha256').update(a.bytes).digest('hex')).toBe(createHash('sha256').update(b.bytes).digest('hex'));
  });

  it('a different seed gives different latencies', async () => {
    const a = await run(7);
    const c = await run(8);
    expect(c.latencies).not.toEqual(a.latencies);
  });

  it('repeats of one run differ from each other (independent streams per repeat)', async () => {
    const s = scenario(yaml(3));
    const r = await simulate({ scenario: s, scenarioText: '', version: 'test', registry });
    const byRepeat = (rep: number) => r.samples.filter((x) => x.metric === 'deploy_latency' && x.labels.repeat === rep && x.labels.plane === 'openstack').map((x) => x.value);
    expect(byRepeat(0).length).toBe(40);
    expect(byRepeat(0)).not.toEqual(byRepeat(1));
  });
});
