// `edgeplane run --env emulate` and `edgeplane agreement` for real: network namespaces, tbf-shaped
// veth links, relays, real agent processes against the test plane in the origin namespace. Needs
// root and iproute2 (CI runs as root; scripts/install-emulate-deps.sh): it FAILS, never skips,
// without them. Takes ~3-6 min on 2 shared cores.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { cleanupStale, listEmulationNamespaces } from '../../../environments/emulate/index.js';
import { readResults } from '../../../reports/index.js';
import { emulationTestbed, firstPlane } from './emulation-testbed.js';

const bed = emulationTestbed('ep-emulate-');
const { cli } = bed;

const tiny = (name: string, extra = '') =>
  [
    `name: ${name}`,
    'seed: 5',
    'repeat: 1',
    'fleet:',
    '  sites: 2',
    '  nodesPerSite: 2',
    '  node: {access: {down: 40Mbit, up: 10Mbit, rtt: 20ms}, boot: 1s}',
    '  site: {wan: {down: 60Mbit, up: 60Mbit, rtt: 10ms}, lan: 1Gbit}',
    'origin: {uplink: 1Gbit, rtt: 2ms}',
    'image: {size: 16MiB, chunk: 2MiB}',
    'planes: [openstack]',
    'strategy: origin',
    extra,
    '',
  ].join('\n');

describe('run --env emulate', () => {
  it('deploys on every emulated node with the faults applied, results in the simulator format, everything torn down', async () => {
    const file = join(bed.work, 'faults.yaml');
    await writeFile(
      file,
      tiny(
        'emu-faults',
        [
          'faults:',
          '  crashes: [{at: 1s, nodes: [site-000/node-0001], downFor: 3s}]',
          '  linkDown: [{sites: [site-001], from: 1s, to: 4s}]',
          '  controlOutages: [{service: keystone, from: 0s, to: 2s}]',
          '  chunkCorruption: 25%',
        ].join('\n'),
      ),
    );
    const out = join(bed.work, 'out-faults');
    const r = await cli('run', file, '--env', 'emulate', '--out', out, '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const plane = firstPlane(r.stdout);
    expect(plane.metrics.failures).toBe(0);
    expect(plane.metrics.placement_accuracy).toBe(1);
    // every fault happened for real: a crash and restart, a cut, an outage, corrupted chunks refetched
    expect(plane.counters.crashes).toBe(1);
    expect(plane.counters.agentStarts).toBe(5);
    expect(plane.counters.cuts).toBe(1);
    expect(plane.counters.outages).toBe(1);
    expect(plane.counters.corrupted).toBeGreaterThan(0);
    // corrupted chunks were fetched again: more bytes left the origin than nodes x image
    expect(plane.metrics.origin_egress_ratio).toBeGreaterThan(1);

    const { metas, samples } = await readResults([join(out, 'results.ndjson')]);
    expect(metas).toHaveLength(1);
    expect(metas[0]!.env).toBe('emulate');
    expect(metas[0]!.machine?.cpus).toBeGreaterThan(0);
    expect(metas[0]!.assumptions.map((a) => a.name)).toEqual(expect.arrayContaining(['network', 'control plane', 'agent private memory (mean)']));
    expect(samples.filter((s) => s.metric === 'deploy_latency' && s.labels.env === 'emulate')).toHaveLength(4);
    expect(samples.filter((s) => s.metric === 'fault_window').map((s) => s.labels.kind)).toEqual(expect.arrayContaining(['crash', 'link-down', 'control-outage']));
    // no deployment beats its physical bound (16 MiB over a 40 Mbit access link)
    const makespan = samples.find((s) => s.metric === 'makespan' && s.labels.repeat === 0)!.value;
    expect(makespan).toBeGreaterThan((16 * 2 ** 20 * 8) / 40e6);
    expect(samples.find((s) => s.metric === 'makespan_ratio_to_bound' && s.labels.repeat === 0)!.value).toBeGreaterThanOrEqual(1);
    // the report and the gate read the results unchanged
    const report = await cli('report', join(out, 'results.ndjson'), '--out', join(bed.work, 'report'));
    expect(report.exitCode, report.stderr).toBe(0);
    const gate = await cli('gate', '--baseline', join(out, 'results.ndjson'), '--current', join(out, 'results.ndjson'));
    expect(gate.exitCode, gate.stderr).toBe(0);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 600_000);

  it('Ctrl-C removes the topology; a SIGKILLed run leaves a state file the next start cleans up', async () => {
    const file = join(bed.work, 'plain.yaml');
    await writeFile(file, tiny('emu-plain'));
    const waitForNamespaces = async () => {
      for (let i = 0; i < 600 && listEmulationNamespaces().length < 8; i++) await new Promise((r) => setTimeout(r, 100));
      expect(listEmulationNamespaces().length).toBeGreaterThanOrEqual(8);
    };
    const interrupted = execa(process.execPath, [bed.cliPath, 'run', file, '--env', 'emulate', '--out', join(bed.work, 'out-int'), '--no-report'], { reject: false, cwd: bed.work });
    await waitForNamespaces();
    await new Promise((r) => setTimeout(r, 1_000));
    interrupted.kill('SIGINT');
    const ri = await interrupted;
    expect(ri.exitCode).toBe(130);
    expect(listEmulationNamespaces()).toEqual([]);

    const killed = execa(process.execPath, [bed.cliPath, 'run', file, '--env', 'emulate', '--out', join(bed.work, 'out-kill'), '--no-report'], { reject: false, cwd: bed.work });
    await waitForNamespaces();
    killed.kill('SIGKILL');
    await killed;
    expect(listEmulationNamespaces().length).toBeGreaterThan(0);
    expect(cleanupStale().length).toBeGreaterThan(0);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 600_000);
});

describe('edgeplane agreement', () => {
  // Means over 3 repeats (one emulated makespan of 4 nodes spreads by ~1 s: two nodes of one site
  // came back from the same cut 2 s apart): -0.8% / -2.3% and +3.7% / +0.2% at load 3.6-4.9
  // (docs/emulate.md); before the simulator stalled transfers through a cut (it aborted them),
  // -10.6% / -10.2%. The agents share the machine's two cores with the emulation, so a heavily
  // loaded machine can still fail this.
  it('the simulator, calibrated to the stand-in, agrees with the emulation within 10% (makespan, p50) at a small size', async () => {
    const file = join(bed.work, 'agree.yaml');
    await writeFile(file, tiny('emu-agree', 'faults:\n  linkDown: [{sites: [site-000], from: 2s, to: 4s}]').replace('size: 16MiB', 'size: 24MiB'));
    const out = join(bed.work, 'out-agree');
    const r = await cli('agreement', file, '--repeat', '3', '--out', out, '--no-report');
    console.log(r.stdout);
    const a = JSON.parse(readFileSync(join(out, 'agreement.json'), 'utf8')) as { rows: { metric: string; sim: number; emulate: number; diffPct: number; within: boolean }[] };
    expect(a.rows.map((x) => x.metric).sort()).toEqual(['deploy_latency_p50', 'makespan']);
    for (const row of a.rows) expect(Math.abs(row.diffPct), `${row.metric}: sim ${row.sim} s, emulate ${row.emulate} s`).toBeLessThanOrEqual(10);
    expect(r.exitCode, r.stderr).toBe(0);
    // both environments' lines in one results file, in the simulator's format
    const { metas } = await readResults([join(out, 'results.ndjson')]);
    expect(metas.map((m) => m.env).sort()).toEqual(['emulate', 'sim']);
  }, 900_000);
});
