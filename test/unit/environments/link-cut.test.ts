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

// CloudStack native, direct download: the host's download connection begun during a cut is a TCP
// connect whose SYN is retransmitted 1, 3, 7 s after the first; it is made at the first
// retransmission after the link is back, or fails at direct.download.connect.timeout (5 s) and the
// deployment's copy is retried 30 s later.
const nativeText = (faults: string) => text(faults).replace('planes: [openstack]', 'planes: [{name: cloudstack, mode: native, placement: pinned, directDownload: true}]').replace('clients: {startJitter: 0s}', '');

async function runNative(faults: string): Promise<number> {
  const r = await simulate({ scenario: scenario(nativeText(faults)), scenarioText: '', version: 'test', registry });
  return r.samples.find((s: Sample) => s.metric === 'deploy_latency' && s.labels.repeat === 0)!.value;
}

describe('a native copy begun while the WAN is cut', () => {
  it('connects at the first SYN retransmission after the cut, not after a copy retry', async () => {
    const base = await runNative('');
    // the download connects after the copy's set-up (~2.1 s): during a 0-4 s cut its SYN goes again
    // at +1 s (still cut) and +3 s (through): 3 s later than without the cut
    const cut = await runNative('faults:\n  linkDown: [{sites: [site-000], from: 0s, to: 4s}]');
    expect(cut - base).toBeGreaterThan(2.9);
    expect(cut - base).toBeLessThan(3.1);
  });
  it('fails at the connect timeout when the cut outlasts it, and the copy is retried 30 s later', async () => {
    const base = await runNative('');
    const cut = await runNative('faults:\n  linkDown: [{sites: [site-000], from: 0s, to: 20s}]');
    // the connect timeout, the 30 s retry wait and the copy's set-up (2 s) once more
    expect(cut - base).toBeGreaterThan(5 + 30 + 2 - 0.5);
    expect(cut - base).toBeLessThan(5 + 30 + 2 + 0.5);
  });
});
