// `run --env emulate --agents-per-process K` for real: agent host processes that each drive
// several agent machines, every machine with its own address, shaped access link, sockets and
// state directory, beside a node a crash fault hits (its own process, SIGKILLed). Needs root and
// iproute2 (CI runs as root): it FAILS, never skips, without them. ~1-3 min on 2 shared cores.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listEmulationNamespaces } from '../../../environments/emulate/index.js';
import { readResults } from '../../../reports/index.js';
import { emulationTestbed, firstPlane } from './emulation-testbed.js';

const bed = emulationTestbed('ep-emulate-hosts-');

const MiB = 2 ** 20;

describe('run --env emulate with agent hosts', () => {
  it('runs several agent machines per process, each on its own shaped link; a crashed node alone; memory per agent recorded', async () => {
    const file = join(bed.work, 'hosts.yaml');
    await writeFile(
      file,
      [
        'name: emu-hosts',
        'seed: 5',
        'repeat: 1',
        'fleet:',
        '  sites: 2',
        '  nodesPerSite: 3',
        '  node: {access: {down: 40Mbit, up: 10Mbit, rtt: 20ms}, boot: 1s}',
        '  site: {wan: {down: 200Mbit, up: 200Mbit, rtt: 10ms}, lan: 1Gbit}',
        // one hosted machine on a slow link: its host's other machines must not share it
        '  nodeOverrides: [{nodes: [site-000/node-0002], access: {down: 2Mbit}}]',
        'origin: {uplink: 1Gbit, rtt: 2ms}',
        'image: {size: 4MiB, chunk: 1MiB}',
        'planes: [openstack]',
        'strategy: origin',
        'faults:',
        '  crashes: [{at: 1s, nodes: [site-001/node-0001], downFor: 2s}]',
        '',
      ].join('\n'),
    );
    const out = join(bed.work, 'out');
    const r = await bed.cli('run', file, '--env', 'emulate', '--agents-per-process', '3', '--out', out, '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const plane = firstPlane(r.stdout);
    expect(plane.metrics.failures).toBe(0);
    expect(plane.metrics.placement_accuracy).toBe(1);
    expect(plane.counters.crashes).toBe(1);
    expect(plane.counters.agentStarts).toBe(7);

    const { metas, samples } = await readResults([join(out, 'results.ndjson')]);
    const value = (metric: string) => samples.find((s) => s.metric === metric && s.labels.repeat === 0 && s.labels.node === undefined)!.value;
    // site-000: one host of 3; site-001: one host of 2 and the crashed node alone
    expect(value('emulate_agent_processes')).toBe(3);
    expect(metas[0]!.assumptions.find((a) => a.name === 'agent processes')!.value).toBe(3);
    // a machine in a host costs far less than a Node process of its own (~40-75 MiB private measured)
    expect(value('emulate_agent_private_memory')).toBeGreaterThan(1 * MiB);
    expect(value('emulate_agent_pss')).toBeGreaterThan(1 * MiB);
    expect(value('emulate_agent_cpu')).toBeGreaterThan(0);

    // each machine's own link: the slow one needs at least 4 MiB at 2 Mbit; its host neighbours
    // on 40 Mbit finish well before that
    const transfer = (node: string) => samples.find((s) => s.metric === 'deploy_phase' && s.labels.phase === 'transfer' && s.labels.node === node)!.value;
    const slowBoundS = (4 * MiB * 8) / 2e6;
    expect(transfer('site-000/node-0002')).toBeGreaterThanOrEqual(slowBoundS * 0.95);
    expect(Math.max(transfer('site-000/node-0000'), transfer('site-000/node-0001'))).toBeLessThan(transfer('site-000/node-0002'));
    for (const node of ['site-000/node-0000', 'site-000/node-0001', 'site-001/node-0000', 'site-001/node-0002']) expect(transfer(node)).toBeGreaterThanOrEqual(((4 * MiB * 8) / 40e6) * 0.95);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 600_000);
});
