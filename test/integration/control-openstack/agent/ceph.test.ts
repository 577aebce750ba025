// The edge agent deploying through the real OpenStack with Glance on Ceph RBD (`up openstack
// --with-ceph`), end to end, with real VMs. Glance on RBD answers 400 to every ranged GET: an agent
// missing most of an image streams it whole at once (fetch.wholeStreamAt), one holding more learns
// the refusal from one range per image, and both stream the image whole through Glance (same
// token, same membership check), slicing it by the manifest's blob offsets. As the file-store
// e2e: a bootable appliance is sealed and published (v1) into RBD, three nodes are pinned and
// boot it under qemu (TCG) and report RUNNING; one of them is killed (-9) in the middle of its
// fetch and started again: it reads past the chunks it had verified (neither verified nor stored
// again) and fetches only the rest. Then v2 (same lineage and data key) is pinned: each node
// stores and verifies only the chunks v1 lacked, and stops the stream once the last one is in.
// A node that was not shared an image cannot read it on this path either (Glance's membership
// check: 404, for the whole-image GET as for a range). Uses the --with-ceph stack named by
// EDGEPLANE_OPENSTACK_CEPH_STATE, or starts one in a temp dir on free ports. Fails, never skips,
// without Ceph, qemu or a kernel.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { requireExecutable } from '../../../../agent/index.js';
import { controlErrorKind } from '../../../../adapters/transport/index.js';
import { agentFileFor, assignFleet, enrollFleet, openFleet, publishToFleet, type Fleet } from '../../../../control-openstack/index.js';
import { OpenStackNodePlane } from '../../../../control-openstack/client/index.js';
import { CEPH_DAEMONS, cephCli, measureLiveProfile } from '../../../../control-openstack/server/index.js';
import { LocalAgent, writeLocalAgentConfig } from '../../../../environments/index.js';
import { bootMarker, buildAppliance, deltaPlan, findKernel, MiB, readPublicKey, readSealed, writeKeyFiles } from '../../../../pipeline/index.js';
import { acquireCephStack, type TestStack } from '../stack.js';
import { alive, buildPrivateCli, consoleLogs, waitForDeployed, waitUntil, type Image } from './helpers.js';

const run = randomUUID().slice(0, 6);
let ts: TestStack;
let fleet: Fleet;
let CLI = '';
let work = '';
const agents: LocalAgent[] = [];

type Raw = Record<string, unknown> & { type: string; t: number; boot: number };
/** every line of events.ndjson, as written (fetch lines included) */
function rawEvents(stateDir: string): Raw[] {
  const file = join(stateDir, 'events.ndjson');
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Raw);
}
type FetchLine = Raw & { image: string; chunks: number; bytes: number; mode?: string; streamedBytes?: number; skippedBytes?: number; stoppedEarly?: boolean };
type CallLine = Raw & { op: string; url: string; path: string; status: number; bytesIn: number; error?: string; stopped?: string };
const fetchesOf = (lines: Raw[]) => lines.filter((l): l is FetchLine => l.type === 'fetch');
/** the image file's calls (not the manifest image's) */
const fileCalls = (lines: Raw[], op: string, glanceId: string) => lines.filter((l): l is CallLine => l.type === 'call' && l.op === op && l.path === '/v2/images/{image_id}/file' && String(l.url).includes(glanceId));
const verifiedCount = (stateDir: string): number => {
  try {
    return (JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { verifiedChunks: number[] }).verifiedChunks.length;
  } catch {
    return 0;
  }
};

beforeAll(async () => {
  await requireExecutable('qemu-system-x86_64', 'apt-get install -y qemu-system-x86');
  await findKernel();
  const t = Date.now();
  [CLI, ts] = await Promise.all([buildPrivateCli(), acquireCephStack()]);
  console.log(
    `openstack+ceph stack ready in ${((Date.now() - t) / 1000).toFixed(1)} s (${process.env.EDGEPLANE_OPENSTACK_CEPH_STATE ? 'shared' : `started, cold ${ts.stack.coldStartMs} ms, Ceph ${ts.stack.state.cephStartMs} ms`})`,
  );
  fleet = openFleet(ts.stack.stateDir);
  work = await mkdtemp(join(tmpdir(), 'ep-os-ceph-e2e-'));
}, 900_000);

afterAll(async () => {
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

it('on Glance/RBD: three agents stream v1 whole and boot it under qemu, one resumes after kill -9 mid-fetch, v2 stores only the changed chunks; no node reads an image not shared with it', async () => {
  expect(ts.stack.state.withCeph).toBe(true);
  const lineage = `ceph-e2e-${run}`;
  const keys = join(work, 'keys');
  await writeKeyFiles(keys);
  const trusted = [await readPublicKey(join(keys, 'publisher.pub'))];
  const size = 48 * MiB;
  const chunking = { algorithm: 'fixed' as const, size: MiB };

  const a1 = await buildAppliance({ outDir: join(work, 'img'), imageId: lineage, version: '1', size, then: 'idle' });
  const pub1 = await publishToFleet(fleet.operator, { source: a1.path, imageId: lineage, version: '1', keysDir: keys, sealedDir: join(work, 'sealed-1'), chunking });
  const v1: Image = { imageId: lineage, version: '1' };
  const pin1: Image = { imageId: pub1.imageId, version: '1' };
  const m1 = (await readSealed(join(work, 'sealed-1'), trusted)).manifest;
  const n1 = m1.chunks.length;
  // the bytes are in Ceph: Glance wrote the image as an RBD image named by its id
  expect((await cephCli(ts.stack.layout, 'rbd', ['ls', 'images'])).split('\n')).toContain(pub1.imageId);

  const nodes = ['a', 'b', 'c', 'outsider'].map((x) => `ceph-${run}-${x}`);
  const enrolled = await enrollFleet(fleet.operator, nodes);
  const fleetNodes = nodes.slice(0, 3);
  await assignFleet(fleet.operator, pin1, fleetNodes);

  const configs: string[] = [];
  for (const { node } of enrolled.filter((e) => fleetNodes.includes(e.node.nodeId))) {
    const stateDir = join(work, 'nodes', node.nodeId);
    const file = writeLocalAgentConfig({ nodeId: node.nodeId, agentPlane: { ...agentFileFor(node, []).plane } }, join(work, 'agents'), {
      stateDir,
      trust: [join(keys, 'publisher.pub')],
      hypervisor: 'qemu',
      accel: 'tcg',
      pollIntervalS: 1,
      bootTimeoutS: 300,
    });
    configs.push(file);
  }
  // node c is the one killed mid-fetch: small batches (its progress reaches state.json every 20 ms), one chunk landing at a time
  const cConfig = parseYaml(readFileSync(configs[2], 'utf8')) as { fetch: Record<string, number> };
  cConfig.fetch = { ...cConfig.fetch, rangesInFlight: 1, batchMs: 20, cryptoWorkers: 1 };
  writeFileSync(configs[2], toYaml(cConfig), { mode: 0o600 });
  const stateDirs = fleetNodes.map((id) => join(work, 'nodes', id));
  const start = (i: number) => {
    const a = new LocalAgent(fleetNodes[i], configs[i], stateDirs[i], CLI);
    agents.push(a);
    return a;
  };

  const started = Date.now();
  const [, , c1] = [start(0), start(1), start(2)];
  // ---- kill -9 node c once some, not all, of its chunks are verified and persisted
  await waitUntil(`${fleetNodes[2]} to verify its first chunks`, () => verifiedCount(stateDirs[2]) > 0 || !c1.running, 300_000, 5);
  expect(c1.running, `agent c exited: ${c1.stderr}`).toBe(true);
  process.kill(c1.child.pid!, 'SIGSTOP');
  const heldAtKill = verifiedCount(stateDirs[2]);
  process.kill(c1.child.pid!, 'SIGKILL');
  await c1.exited;
  console.log(`node c killed (-9) with ${heldAtKill} of ${n1} chunks verified`);
  expect(heldAtKill).toBeGreaterThan(0);
  expect(heldAtKill, 'node c had fetched the whole image before it could be killed').toBeLessThan(n1);
  const c2 = start(2);
  const live = () => [agents[0], agents[1], c2];

  const deployed = (image: Image, pin: Image) => waitForDeployed(live(), fleet, fleetNodes, image, pin, 600_000);

  await deployed(v1, pin1);
  console.log(`3 agents (one killed and restarted) deployed and booted v1 from Glance/RBD under qemu in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const wholeBytes = m1.chunks.reduce((s, c) => s + c.size, 0);
  for (const [i, a] of live().entries()) {
    const lines = rawEvents(a.stateDir);
    expect(consoleLogs(a.stateDir)).toContain(bootMarker(v1));
    expect(readFileSync(join(a.stateDir, 'staged', `${lineage}@1.img`)).equals(readFileSync(a1.path))).toBe(true);
    const latest = i === 2 ? lines.filter((l) => l.boot === Math.max(...lines.map((x) => x.boot))) : lines;
    // at most one ranged GET per agent process, answered 400 by Glance/RBD, then only whole-image
    // streams; none at all when most of the image was missing (fetch.wholeStreamAt streams at once)
    const ranges = fileCalls(latest, 'glance.image.download_range', pub1.imageId);
    expect(ranges.length, a.node).toBeLessThanOrEqual(1);
    expect(ranges.every((c) => c.status === 400)).toBe(true);
    if (i < 2) expect(ranges, `${a.node}: nothing held, so no range probe`).toEqual([]);
    const streams = fileCalls(latest, 'glance.image.download_whole', pub1.imageId);
    expect(streams.length, a.node).toBeGreaterThanOrEqual(1);
    expect(streams.every((c) => c.status === 200 && c.error === undefined)).toBe(true);
    const f = fetchesOf(latest).filter((l) => l.image === `${lineage}@1`);
    expect(f.every((l) => l.mode === 'whole')).toBe(true);
    if (i < 2) {
      expect(f.reduce((s, l) => s + l.chunks, 0)).toBe(n1);
      expect(f.reduce((s, l) => s + l.bytes, 0)).toBe(wholeBytes);
    }
  }
  // node c after its restart: only the chunks it had not verified were verified and stored
  {
    const lines = rawEvents(stateDirs[2]);
    const boot = Math.max(...lines.map((x) => x.boot));
    const reconciled = readFileSync(join(stateDirs[2], 'agent.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('reconciled the state directory'))
      .map((l) => JSON.parse(l) as { adopted: number });
    const adopted = reconciled.at(-1)?.adopted ?? 0;
    const after = fetchesOf(lines).filter((l) => l.boot === boot && l.image === `${lineage}@1`);
    const stored = after.reduce((s, l) => s + l.chunks, 0);
    console.log(`node c resumed: ${heldAtKill} chunks verified before the kill, ${adopted} adopted from disk at start, ${stored} fetched after; read past ${after.reduce((s, l) => s + (l.skippedBytes ?? 0), 0)} bytes`);
    expect(stored).toBe(n1 - heldAtKill - adopted);
    expect(after.reduce((s, l) => s + (l.skippedBytes ?? 0), 0)).toBeGreaterThan(0);
    for (const l of after) expect(l.skippedBytes).toBe((l.streamedBytes ?? 0) - l.bytes);
  }

  // ---- v2: the same lineage, same data key: only the changed chunks are verified and stored
  const a2 = await buildAppliance({ outDir: join(work, 'img'), imageId: lineage, version: '2', size, then: 'idle' });
  const pub2 = await publishToFleet(fleet.operator, { source: a2.path, imageId: lineage, version: '2', keysDir: keys, sealedDir: join(work, 'sealed-2'), chunking });
  const m2 = (await readSealed(join(work, 'sealed-2'), trusted)).manifest;
  const delta = deltaPlan(m1, m2);
  expect(delta.fetch.length).toBeGreaterThan(0);
  expect(delta.fetch.length).toBeLessThan(m2.chunks.length / 2);
  const v1Digests = new Set(m1.chunks.map((c) => c.digest));
  const changed = m2.chunks.filter((c) => !v1Digests.has(c.digest));
  const lastChanged = Math.max(...changed.map((c) => c.index));
  console.log(`v2 changes ${delta.fetch.length} of ${m2.chunks.length} chunks (${delta.fetchBytes} of ${delta.totalBytes} bytes), the last at chunk ${lastChanged}`);

  const v2: Image = { imageId: lineage, version: '2' };
  const pin2: Image = { imageId: pub2.imageId, version: '2' };
  const pinnedAt = Date.now();
  await assignFleet(fleet.operator, pin2, fleetNodes);
  await deployed(v2, pin2);
  console.log(`3 agents updated to v2 from Glance/RBD in ${((Date.now() - pinnedAt) / 1000).toFixed(1)} s`);
  for (const a of live()) {
    const lines = rawEvents(a.stateDir).filter((l) => l.t > pinnedAt);
    expect(consoleLogs(a.stateDir)).toContain(bootMarker(v2));
    expect(readFileSync(join(a.stateDir, 'staged', `${lineage}@2.img`)).equals(readFileSync(a2.path))).toBe(true);
    expect(fileCalls(lines, 'glance.image.download_range', pub2.imageId).map((c) => c.status)).toEqual([400]);
    const streams = fileCalls(lines, 'glance.image.download_whole', pub2.imageId);
    expect(streams.length).toBeGreaterThanOrEqual(1);
    expect(streams.every((c) => c.status === 200 && c.error === undefined)).toBe(true);
    const f = fetchesOf(lines).filter((l) => l.image === `${lineage}@2`);
    // bytes verified and stored: the changed chunks only
    expect(
      f.reduce((s, l) => s + l.chunks, 0),
      a.node,
    ).toBe(changed.length);
    expect(f.reduce((s, l) => s + l.bytes, 0)).toBe(changed.reduce((s, c) => s + c.size, 0));
    expect(f.every((l) => l.mode === 'whole')).toBe(true);
    // the stream stops after the last changed chunk when it is not the image's last
    if (lastChanged < m2.chunks.length - 1) {
      expect(f.at(-1)!.stoppedEarly).toBe(true);
      expect(streams.at(-1)!.stopped).toMatch(/stopped by the reader/);
      expect(streams.at(-1)!.bytesIn).toBeLessThan(m2.chunks.reduce((s, c) => s + c.size, 0));
    }
  }

  // ---- isolation on this path: a node that was shared nothing cannot read the image, whole or by range
  const outsider = enrolled.find((e) => e.node.nodeId === nodes[3])!.node;
  const plane = new OpenStackNodePlane(outsider.config);
  await plane.login();
  for (const id of [pub1.imageId, pub2.imageId]) {
    const whole = await plane.downloadBlob(id).then(
      () => null,
      (e: unknown) => e,
    );
    expect(whole, `outsider streamed ${id}`).not.toBeNull();
    expect(['notFound', 'forbidden']).toContain(controlErrorKind(whole));
    const range = await plane.downloadRange(id, 0, MiB).then(
      () => null,
      (e: unknown) => e,
    );
    expect(['notFound', 'forbidden']).toContain(controlErrorKind(range));
  }
  expect(plane.recorder.records().every((r) => r.status === 201 || r.status === 403 || r.status === 404)).toBe(true);

  // what Ceph costs in memory here, holding v1 and v2 (and their manifests) in the memstore OSD
  const profile = measureLiveProfile(ts.stack.stateDir);
  const mem = Object.fromEntries(profile.services.map((x) => [x.name, x.memoryMiB]));
  const cephMiB = CEPH_DAEMONS.reduce((sum, d) => sum + (mem[d] ?? 0), 0);
  console.log(
    `RSS (MiB) with 2 x ${size / MiB} MiB images in RBD: ${JSON.stringify(mem)}; Ceph daemons together ${cephMiB.toFixed(0)} MiB; load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  expect(cephMiB).toBeGreaterThan(0);

  const vmPids = live().map((a) => (JSON.parse(readFileSync(join(a.stateDir, 'vm.json'), 'utf8')) as { pid: number }).pid);
  const codes = await Promise.all(live().map((a) => a.stop()));
  expect(codes).toEqual([0, 0, 0]);
  await waitUntil('the VMs to end', () => vmPids.every((p) => !alive(p)), 15_000);
});
