// `edgeplane run --env emulate --node-side plane`: OpenStack's own node side on the emulated WAN.
// The real Keystone, Glance and Barbican (.ci/run's stack, EDGEPLANE_OPENSTACK_STATE, or one
// started here) serve real agents running OpenStack's node client in their namespaces; every
// call crosses the node's access link, its site router's relay and the site WAN to the origin
// host. Needs root, iproute2 and the OpenStack packages: it FAILS, never skips, without them.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEmulationNamespaces } from '../../../environments/emulate/index.js';
import { planes } from '../../../planes/index.js';
import { readResults } from '../../../reports/index.js';
import { acquireStack, type TestStack } from '../control-openstack/stack.js';
import { emulationTestbed, firstPlane } from './emulation-testbed.js';

const bed = emulationTestbed('ep-emulate-plane-');
const { cli } = bed;
let stack: TestStack | null = null;

beforeAll(async () => {
  stack = await acquireStack();
}, 900_000);

afterAll(async () => {
  await stack?.release();
});

const scenario = (name: string, faults: string[]) =>
  [
    `name: ${name}`,
    'seed: 3',
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
    ...(faults.length > 0 ? ['faults:', ...faults.map((f) => `  ${f}`)] : []),
    '',
  ].join('\n');

describe('run --env emulate --node-side plane (OpenStack)', () => {
  it("deploys through the real Keystone, Glance and Barbican over the shaped links, with crashes, a cut and corruption, and withdraws the run's pins", async () => {
    const file = join(bed.work, 'plane.yaml');
    await writeFile(file, scenario('emu-plane', ['crashes: [{at: 1s, nodes: [site-000/node-0001], downFor: 3s}]', 'linkDown: [{sites: [site-001], from: 1s, to: 4s}]', 'chunkCorruption: 25%']));
    const out = join(bed.work, 'out-plane');
    const r = await cli('run', file, '--env', 'emulate', '--node-side', 'plane', '--state', stack!.stack.stateDir, '--out', out, '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const plane = firstPlane(r.stdout);
    expect(plane.metrics.failures).toBe(0);
    // the plane's own view: every node reported RUNNING for this run's pin (Keystone's report)
    expect(plane.metrics.placement_accuracy).toBe(1);
    expect(plane.counters.crashes).toBe(1);
    expect(plane.counters.agentStarts).toBe(5);
    expect(plane.counters.cuts).toBe(1);
    // corrupted bytes on the path were caught by the agents and fetched again
    expect(plane.counters.corrupted).toBeGreaterThan(0);
    expect(plane.metrics.origin_egress_ratio).toBeGreaterThan(1);
    // every call went through the site relays: connections counted there
    expect(plane.counters.relayConnections).toBeGreaterThan(4);

    const { metas, samples } = await readResults([join(out, 'results.ndjson')]);
    expect(metas[0]!.env).toBe('emulate');
    const control = metas[0]!.assumptions.find((a) => a.name === 'control plane');
    expect(control?.value).toContain("openstack's own services");
    expect(samples.filter((s) => s.metric === 'deploy_latency' && s.labels.env === 'emulate')).toHaveLength(4);
    // no deployment beats its physical bound (16 MiB over a 40 Mbit access link)
    const makespan = samples.find((s) => s.metric === 'makespan' && s.labels.repeat === 0)!.value;
    expect(makespan).toBeGreaterThan((16 * 2 ** 20 * 8) / 40e6);

    // the stack's nodes keep their enrollment but not this run's pin
    const operator = await planes.with('openstack', 'operator', 'test').operator.open(stack!.stack.stateDir);
    const status = await operator.status(['site-000-node-0000', 'site-000-node-0001', 'site-001-node-0000', 'site-001-node-0001']);
    expect(status.map((s) => s.pin)).toEqual([null, null, null, null]);
    expect(status.every((s) => s.report?.status === 'RUNNING')).toBe(true);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 900_000);

  // Agreement is measured, not asserted: the operator pins one node after the other (~1 s each
  // through Keystone, Glance and Barbican), so emulated nodes start seconds apart where the
  // simulator pins every node at t0 (docs/emulate.md: makespan +32%, p50 -12% at this size).
  it('agreement --node-side plane: the simulator calibrated on the running stack beside the emulation, both in one results file', async () => {
    const file = join(bed.work, 'agree.yaml');
    await writeFile(file, scenario('emu-plane-agree', ['linkDown: [{sites: [site-000], from: 2s, to: 4s}]']));
    const out = join(bed.work, 'out-agree');
    const r = await cli('agreement', file, '--node-side', 'plane', '--state', stack!.stack.stateDir, '--out', out, '--no-report');
    expect([0, 1], r.stderr).toContain(r.exitCode);
    const a = JSON.parse(readFileSync(join(out, 'agreement.json'), 'utf8')) as { rows: { metric: string; sim: number; emulate: number }[]; calibrations: { plane: string; ops: Record<string, { samples: number }> }[] };
    expect(a.rows.map((x) => x.metric).sort()).toEqual(['deploy_latency_p50', 'makespan']);
    for (const row of a.rows) expect(row.sim > 0 && row.emulate > 0).toBe(true);
    // calibrated on the plane itself (as `edgeplane calibrate` measures it), not on a stand-in
    expect(a.calibrations[0]!.plane).toBe('openstack');
    expect(a.calibrations[0]!.ops['keystone.token.issue']!.samples).toBe(30);
    const { metas } = await readResults([join(out, 'results.ndjson')]);
    expect(metas.map((m) => m.env).sort()).toEqual(['emulate', 'sim']);
    expect(listEmulationNamespaces()).toEqual([]);
    const bad = await cli('agreement', file, '--state', stack!.stack.stateDir, '--out', join(bed.work, 'out-bad'));
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--state and --calibration apply to --node-side plane/);
  }, 900_000);

  it('a control-plane outage is refused up front (the emulation does not stop the running stack): exit 2, nothing built', async () => {
    const file = join(bed.work, 'outage.yaml');
    await writeFile(file, scenario('emu-plane-outage', ['controlOutages: [{service: keystone, from: 0s, to: 2s}]']));
    const r = await cli('run', file, '--env', 'emulate', '--node-side', 'plane', '--state', stack!.stack.stateDir, '--out', join(bed.work, 'out-outage'));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/not supported.*control-plane outage/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 300_000);
});
