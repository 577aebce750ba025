// A cut WAN (link-down, partition) stalls the transfers crossing it, as TCP does: a short cut
// delays a download by its length and a retransmission timeout (the bytes so far stay delivered); a cut longer
// than the agent's request timeout abandons the stalled request, which is retried after the cut.
import { describe, expect, it } from 'vitest';
import { simulate } from '../../../environments/index.js';
import { planes as registry } from '../../../planes/index.js';
import type { Sample } from '../../../reports/index.js';
import { scenario } from './helpers.js';

const text = (faults: string) => `
name: link-cut
seed: 3
fleet:
  sites: 1
  nodesPerSite: 1
  node: {access: {down: 16Mbit, up: 16Mbit, rtt: 10ms}, boot: 0s}
  site: {wan: {down: 1Gbit, up: 1Gbit, rtt: 1ms}}
origin: {uplink: 1Gbit, rtt: 1ms}
image: {size: 16MiB, chunk: 4MiB}
planes: [openstack]
clients: {startJitter: 0s}
${faults}
`;

async function run(faults: string): Promise<{ latency: number; calls: number }> {
  const r = await simulate({ scenario: scenario(text(faults)), scenarioText: '', version: 'test', registry });
  const one = (m: string) => r.samples.find((s: Sample) => s.metric === m && s.labels.repeat === 0)!.value;
  return { latency: one('deploy_latency'), calls: one('api_calls_per_deploy') };
}

describe('a cut WAN link in the simulator', () => {
  it('stalls the download for the cut and one retransmission timeout: a 2 s cut mid-transfer costs 2 s + 200 ms + the round trip', async () => {
    // 16 MiB at 16 Mbit is ~8.4 s of transfer: a cut from 3 s to 5 s falls in its middle
    const base = await run('');
    const cut = await run('faults:\n  linkDown: [{sites: [site-000], from: 3s, to: 5s}]');
    expect(cut.latency - base.latency).toBeCloseTo(2 + 0.2 + 0.001 + 0.001, 3);
    expect(cut.calls).toBe(base.calls);
  });
  it('abandons a request stalled longer than the request timeout (60 s) and fetches the rest after the cut', async () => {
    const base = await run('');
    const cut = await run('faults:\n  partitions: [{sites: [site-000], from: 3s, to: 100s}]');
    expect(cut.latency).toBeGreaterThan(100);
    expect(cut.calls).toBeGreaterThan(base.calls);
  });
});
