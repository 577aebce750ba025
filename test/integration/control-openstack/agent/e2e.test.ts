// The edge agent deploying through the real OpenStack, end to end, with real VMs: a bootable
// appliance is built, sealed and published (v1), three nodes are enrolled and pinned, three
// `edgeplane agent` processes boot it under qemu (TCG, 256 MiB) and report RUNNING to the operator;
// then v2 of the same lineage (same data key, so unchanged chunks encrypt to the same blobs) is
// published and pinned, and each node ends RUNNING v2 having fetched only the chunks v1 lacked.
// Fails, never skips, without the stack, qemu or a kernel.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { requireExecutable } from '../../../../agent/index.js';
import { agentFileFor, assignFleet, enrollFleet, openFleet, publishToFleet, type Fleet } from '../../../../control-openstack/index.js';
import { LocalAgent, writeLocalAgentConfig } from '../../../../environments/index.js';
import { bootMarker, buildAppliance, deltaPlan, findKernel, MiB, readPublicKey, readSealed, writeKeyFiles } from '../../../../pipeline/index.js';
import { acquireStack, type TestStack } from '../stack.js';
import { alive, buildPrivateCli, callsOf, consoleLogs, eventsOf, same, waitForDeployed, waitUntil, type Image } from './helpers.js';

const run = randomUUID().slice(0, 6);
let ts: TestStack;
let fleet: Fleet;
let CLI = '';
let work = '';
const agents: LocalAgent[] = [];

beforeAll(async () => {
  await requireExecutable('qemu-system-x86_64', 'apt-get install -y qemu-system-x86');
  await findKernel();
  [CLI, ts] = await Promise.all([buildPrivateCli(), acquireStack()]);
  fleet = openFleet(ts.stack.stateDir);
  work = await mkdtemp(join(tmpdir(), 'ep-os-e2e-'));
}, 600_000);

afterAll(async () => {
  // SIGTERM: each agent stops its VM; anything left (a VM of a killed agent) is killed by its pid
  await Promise.all(agents.map((a) => a.stop()));
  for (const a of agents) {
    try {
      const { pid } = JSON.parse(readFileSync(join(a.stateDir, 'vm.json'), 'utf8')) as { pid: number };
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // no VM recorded
    }
  }
  await ts?.release();
  if (work && !process.env.EDGEPLANE_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

it('three agents boot v1 under qemu through Keystone/Glance/Barbican, then update to v2 fetching only the changed chunks', async () => {
  const lineage = `e2e-${run}`;
  const keys = join(work, 'keys');
  await writeKeyFiles(keys);
  const trusted = [await readPublicKey(join(keys, 'publisher.pub'))];
  const size = 24 * MiB;
  const chunking = { algorithm: 'fixed' as const, size: MiB };

  // v1: a bootable appliance, sealed and published (blob + manifest in Glance, key in Barbican)
  const a1 = await buildAppliance({ outDir: join(work, 'img'), imageId: lineage, version: '1', size, then: 'idle' });
  const pub1 = await publishToFleet(fleet.operator, { source: a1.path, imageId: lineage, version: '1', keysDir: keys, sealedDir: join(work, 'sealed-1'), chunking });
  const v1: Image = { imageId: lineage, version: '1' };
  const pin1: Image = { imageId: pub1.imageId, version: '1' };

  const nodes = ['a', 'b', 'c'].map((x) => `e2e-${run}-${x}`);
  const enrolled = await enrollFleet(fleet.operator, nodes);
  await assignFleet(fleet.operator, pin1, nodes);

  const started = Date.now();
  for (const { node } of enrolled) {
    const stateDir = join(work, 'nodes', node.nodeId);
    const config = writeLocalAgentConfig({ nodeId: node.nodeId, agentPlane: { ...agentFileFor(node, []).plane } }, join(work, 'agents'), {
      stateDir,
      trust: [join(keys, 'publisher.pub')],
      hypervisor: 'qemu',
      accel: 'tcg',
      pollIntervalS: 1,
      bootTimeoutS: 300,
    });
    agents.push(new LocalAgent(node.nodeId, config, stateDir, CLI));
  }

  const deployed = (image: Image, pin: Image) => waitForDeployed(agents, fleet, nodes, image, pin, 480_000);

  await deployed(v1, pin1);
  console.log(`3 agents deployed and booted v1 under qemu in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const a of agents) {
    const lines = eventsOf(a.stateDir);
    expect(lines.some((l) => l.type === 'status' && l.status === 'RUNNING' && same(l.running, v1))).toBe(true);
    expect(consoleLogs(a.stateDir)).toContain(bootMarker(v1));
    expect(readFileSync(join(a.stateDir, 'staged', `${lineage}@1.img`)).equals(readFileSync(a1.path))).toBe(true);
    // nothing held: one whole GET of the pinned Glance image's file (fetch.wholeStreamAt), no range
    const whole = callsOf(lines, 'glance.image.download_whole');
    expect(whole.map((c) => c.status)).toEqual([200]);
    expect(whole[0]!.bytesIn).toBe(pub1.blobBytes);
    expect(String(whole[0]!.url)).toContain(pub1.imageId);
    expect(callsOf(lines, 'glance.image.download_range')).toEqual([]);
    const fetchLine = readFileSync(join(a.stateDir, 'events.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.type === 'fetch');
    expect(fetchLine).toMatchObject({ mode: 'whole', why: 'most-missing', chunks: pub1.chunks });
  }

  // v2: the same appliance lineage (new version: new boot marker and header), same data key
  const a2 = await buildAppliance({ outDir: join(work, 'img'), imageId: lineage, version: '2', size, then: 'idle' });
  const pub2 = await publishToFleet(fleet.operator, { source: a2.path, imageId: lineage, version: '2', keysDir: keys, sealedDir: join(work, 'sealed-2'), chunking });
  const m1 = (await readSealed(join(work, 'sealed-1'), trusted)).manifest;
  const m2 = (await readSealed(join(work, 'sealed-2'), trusted)).manifest;
  const delta = deltaPlan(m1, m2);
  expect(delta.fetch.length).toBeGreaterThan(0);
  expect(delta.fetch.length).toBeLessThan(m2.chunks.length / 2);
  console.log(`v2 changes ${delta.fetch.length} of ${m2.chunks.length} chunks (${delta.fetchBytes} of ${delta.totalBytes} bytes)`);

  const v2: Image = { imageId: lineage, version: '2' };
  const pin2: Image = { imageId: pub2.imageId, version: '2' };
  const pinnedAt = Date.now();
  await assignFleet(fleet.operator, pin2, nodes);
  await deployed(v2, pin2);
  console.log(`3 agents updated to v2 in ${((Date.now() - pinnedAt) / 1000).toFixed(1)} s`);

  for (const a of agents) {
    const lines = eventsOf(a.stateDir);
    expect(lines.some((l) => l.type === 'status' && l.status === 'RUNNING' && same(l.running, v2))).toBe(true);
    expect(consoleLogs(a.stateDir)).toContain(bootMarker(v2));
    expect(readFileSync(join(a.stateDir, 'staged', `${lineage}@2.img`)).equals(readFileSync(a2.path))).toBe(true);
    // after the v2 pin: ranges of the v2 Glance image only, exactly the chunks v1 lacked
    const ranges = callsOf(lines, 'glance.image.download_range').filter((c) => c.t > pinnedAt);
    const ok = ranges.filter((c) => c.status === 206);
    expect(ok, `${a.node}: ${ok.length} ranges, delta ${delta.fetch.length}`).toHaveLength(delta.fetch.length);
    expect(ok.reduce((s, c) => s + c.bytesIn, 0)).toBe(delta.fetchBytes);
    expect(ranges.every((c) => String(c.url).includes(pub2.imageId))).toBe(true);
    expect(ranges.length).toBe(ok.length); // no failed or repeated range on a quiet stack
    expect(callsOf(lines, 'glance.image.download_whole').filter((c) => c.t > pinnedAt)).toEqual([]); // a small delta is ranged
  }

  // stopping the agents stops their VMs
  const vmPids = agents.map((a) => (JSON.parse(readFileSync(join(a.stateDir, 'vm.json'), 'utf8')) as { pid: number }).pid);
  expect(vmPids.every(alive)).toBe(true);
  const codes = await Promise.all(agents.map((a) => a.stop()));
  expect(codes).toEqual([0, 0, 0]);
  await waitUntil('the VMs to end', () => vmPids.every((p) => !alive(p)), 15_000);
});
