// `edgeplane up openstack --with-ceph` against the real packages: a stack with a one-node Ceph
// (mon, mgr, memstore OSD, RGW) in a temp dir on free ports, Glance on RBD. Uploads an image
// through Glance and reads it back whole through Glance and by ranges straight from RBD (librbd),
// byte-identical; pins that Glance refuses Range requests on RBD (glance_store's RBD driver has no
// READ_RANDOM capability: the agent's ranged downloads do not work on this backend); finds the
// image in `rbd ls images`, measures upload/download throughput (and the file store's, when a
// shared stack is given) and an RBD copy-on-write clone; checks status and the live profile list
// the Ceph daemons, that a second `up` starts nothing, and that `down` stops every pid.
// Always starts its own stack; fails (never skips) when Ceph cannot start.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenStackNodeClient, OpenStackOperator, type EnrolledNode, type PublishedImage } from '../../../control-openstack/client/index.js';
import { CEPH_DAEMONS, cephCli, down, loadStack, measureLiveProfile, SERVICES, status, up, type RunningStack } from '../../../control-openstack/server/index.js';
import { freeCephPortBase, freePorts } from './stack.js';

const MiB = 1024 * 1024;
const IMAGE_BYTES = 64 * MiB;
const CHUNK = 4 * MiB;
const BENCH_BYTES = 256 * MiB;

/** Reads an RBD image (at Glance's snapshot) in ranges with librbd (Debian's python3: its python3-rbd); prints the SHA-256 and one unaligned slice. */
const LIBRBD_READ = `
import hashlib, sys, rados, rbd
conf, pool, name, chunk, off, length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
cluster = rados.Rados(conffile=conf, rados_id='admin')
cluster.connect(timeout=10)
io = cluster.open_ioctx(pool)
img = rbd.Image(io, name, snapshot='snap', read_only=True)
size, h, pos = img.size(), hashlib.sha256(), 0
while pos < size:
    h.update(img.read(pos, min(chunk, size - pos)))
    pos += chunk
print(size, h.hexdigest(), hashlib.sha256(img.read(off, length)).hexdigest())
img.close(); io.close(); cluster.shutdown()
`;

const dir = mkdtempSync(join(tmpdir(), 'edgeplane-ceph-'));
const work = mkdtempSync(join(tmpdir(), 'edgeplane-ceph-work-'));
let stack: RunningStack;
let startedPids: number[] = [];
/** the image of the round-trip test, fetched again after a restart */
let kept: { node: EnrolledNode; imageId: string; sha: string } | null = null;

async function wholeImageSha(node: EnrolledNode, imageId: string): Promise<string> {
  const client = new OpenStackNodeClient(node.config);
  await client.login();
  const hash = createHash('sha256');
  await pipeline(await client.downloadImage(imageId), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) hash.update(chunk);
  });
  return hash.digest('hex');
}

async function randomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = bytes; left > 0; left -= 16 * MiB) {
    const chunk = randomBytes(Math.min(16 * MiB, left));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', r));
  }
  await new Promise<void>((r) => out.end(r));
  return hash.digest('hex');
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** Upload and download `file` through Glance with curl (as an operator would): seconds for each. */
async function curlRoundTrip(endpoint: string, token: string, file: string): Promise<{ uploadS: number; downloadS: number; imageId: string }> {
  const res = await fetch(`${endpoint}/v2/images`, {
    method: 'POST',
    headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: `ceph-bench-${randomBytes(3).toString('hex')}`, disk_format: 'raw', container_format: 'bare' }),
  });
  expect(res.status).toBe(201);
  const imageId = ((await res.json()) as { id: string }).id;
  let t = performance.now();
  execFileSync('curl', ['-sf', '-X', 'PUT', '-H', `X-Auth-Token: ${token}`, '-H', 'Content-Type: application/octet-stream', '-T', file, `${endpoint}/v2/images/${imageId}/file`]);
  const uploadS = (performance.now() - t) / 1000;
  t = performance.now();
  execFileSync('curl', ['-sf', '-o', '/dev/null', '-H', `X-Auth-Token: ${token}`, `${endpoint}/v2/images/${imageId}/file`]);
  const downloadS = (performance.now() - t) / 1000;
  return { uploadS, downloadS, imageId };
}

beforeAll(async () => {
  const ports = await freePorts();
  const cephPortBase = await freeCephPortBase();
  try {
    stack = await up({ stateDir: dir, ports, withCeph: true, cephPortBase });
  } catch (err) {
    await down(dir).catch(() => {});
    throw err;
  }
  startedPids = Object.values(stack.state.pids);
  console.log(`openstack+ceph cold start: ${stack.coldStartMs} ms, of which Ceph ${stack.state.cephStartMs} ms (ports ${JSON.stringify(ports)}, ceph ${JSON.stringify(stack.state.ceph?.ports)})`);
});

afterAll(async () => {
  await down(dir);
  rmSync(dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('edgeplane up openstack --with-ceph', () => {
  it('records Ceph in the state and configures Glance with the rbd backend', () => {
    expect(stack.started).toBe(true);
    expect(stack.state.withCeph).toBe(true);
    expect(stack.state.ceph?.memstoreBytes).toBe(2 * 1024 ** 3);
    for (const d of CEPH_DAEMONS) expect(stack.state.pids[d]).toBeGreaterThan(0);
    const glance = readFileSync(stack.layout.glance.conf, 'utf8');
    expect(glance).toContain('enabled_backends = rbd:rbd');
    expect(glance).toMatch(/\[glance_store\]\ndefault_backend = rbd/);
    expect(glance).toContain(`rbd_store_ceph_conf = ${stack.layout.ceph.conf}`);
    const conf = readFileSync(stack.layout.ceph.conf, 'utf8');
    expect(conf).toContain('osd objectstore = memstore');
    expect(conf).toContain(`run dir = ${stack.layout.ceph.runDir}`);
    expect(loadStack(dir).state.withCeph).toBe(true);
  });

  it('status lists the Ceph daemons healthy', async () => {
    const st = await status(dir);
    expect(st.services.map((s) => [s.name, s.healthy])).toEqual([...SERVICES, ...CEPH_DAEMONS].map((s) => [s, true]));
    expect(st.ceph?.conf).toBe(stack.layout.ceph.conf);
  });

  it('stores an image uploaded through Glance in RBD: whole through Glance and by ranges from RBD, byte-identical; Glance refuses ranges', async () => {
    const { endpoints, admin } = stack;
    const file = join(work, 'image.raw');
    const sha = await randomFile(file, IMAGE_BYTES);
    const operator = new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName });
    const run = randomBytes(4).toString('hex');
    const node: EnrolledNode = await operator.enrollNode(`ceph-${run}`);
    const image: PublishedImage = await operator.publishImage({ name: `ceph-${run}`, version: '1', image: { file }, manifest: Buffer.from('manifest'), key: randomBytes(32) });
    await operator.pin(node.nodeId, image);

    // whole, through Glance, as the node downloads it
    expect(await wholeImageSha(node, image.imageId)).toBe(sha);
    kept = { node, imageId: image.imageId, sha };
    const client = new OpenStackNodeClient(node.config);
    await client.login();

    // by ranges through Glance: refused on RBD (upstream glance_store: the RBD driver lacks READ_RANDOM)
    await expect(client.downloadRange(image.imageId, 0, CHUNK)).rejects.toThrow(/HTTP 400.*Getting images randomly from this store is not supported/s);

    // by ranges straight from RBD (librbd, 4 MiB reads), and an unaligned slice across an 8 MiB object boundary
    const [size, rbdSha, sliceSha] = execFileSync('/usr/bin/python3', ['-c', LIBRBD_READ, stack.layout.ceph.conf, 'images', image.imageId, String(CHUNK), String(8 * MiB - 1000), '3000'], { encoding: 'utf8' })
      .trim()
      .split(' ');
    expect(Number(size)).toBe(IMAGE_BYTES);
    expect(rbdSha).toBe(sha);
    expect(sliceSha).toBe(
      createHash('sha256')
        .update(readFileSync(file).subarray(8 * MiB - 1000, 8 * MiB + 2000))
        .digest('hex'),
    );

    const rbdImages = (await cephCli(stack.layout, 'rbd', ['ls', 'images'])).split('\n');
    expect(rbdImages).toContain(image.imageId);
    expect(rbdImages).toContain(image.manifestImageId);
    // Glance's RBD store keeps a protected snapshot per image: a copy-on-write clone of it is cheap
    const snaps = JSON.parse(await cephCli(stack.layout, 'rbd', ['snap', 'ls', `images/${image.imageId}`, '--format', 'json'])) as { name: string }[];
    expect(snaps.map((s) => s.name)).toContain('snap');
    const t = performance.now();
    await cephCli(stack.layout, 'rbd', ['clone', `images/${image.imageId}@snap`, `images/edgeplane-clone-${run}`]);
    const cloneMs = performance.now() - t;
    await cephCli(stack.layout, 'rbd', ['rm', `images/edgeplane-clone-${run}`]);
    console.log(`ceph rbd copy-on-write clone of a ${IMAGE_BYTES / MiB} MiB image: ${cloneMs.toFixed(0)} ms (rbd CLI start included)`);
  });

  it('measures upload and download throughput through Glance on RBD', async () => {
    const { endpoints, admin } = stack;
    const file = join(work, 'bench.raw');
    await randomFile(file, BENCH_BYTES);
    const operator = new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName });
    const token = await operator.session.token();
    const rbd = await curlRoundTrip(endpoints.image, token, file);
    // the same on the file store, when a file-store stack is shared (.ci/run starts one)
    let fileStore: Awaited<ReturnType<typeof curlRoundTrip>> | null = null;
    const shared = process.env.EDGEPLANE_OPENSTACK_STATE;
    if (shared) {
      const other = loadStack(shared);
      if (!other.state.withCeph) {
        const op = new OpenStackOperator({ authUrl: other.endpoints.identity, username: other.admin.username, password: other.admin.password, projectName: other.admin.projectName });
        fileStore = await curlRoundTrip(other.endpoints.image, await op.session.token(), file);
        await fetch(`${other.endpoints.image}/v2/images/${fileStore.imageId}`, { method: 'DELETE', headers: { 'X-Auth-Token': await op.session.token() } });
      }
    }
    await fetch(`${endpoints.image}/v2/images/${rbd.imageId}`, { method: 'DELETE', headers: { 'X-Auth-Token': token } });
    rmSync(file);
    const mbps = (s: number) => Math.round(BENCH_BYTES / MiB / s);
    const row = (r: { uploadS: number; downloadS: number }) => ({ uploadS: r.uploadS, uploadMiBps: mbps(r.uploadS), downloadS: r.downloadS, downloadMiBps: mbps(r.downloadS) });
    const figures = {
      measuredAt: new Date().toISOString(),
      coldStartMs: stack.coldStartMs,
      cephStartMs: stack.state.cephStartMs,
      tool: 'curl PUT/GET /v2/images/{id}/file on loopback',
      rbd256MiB: row(rbd),
      fileStore256MiB: fileStore ? row(fileStore) : 'not measured (set EDGEPLANE_OPENSTACK_STATE to a file-store stack)',
    };
    console.log(`openstack ceph figures: ${JSON.stringify(figures, null, 2)}`);
    mkdirSync('out', { recursive: true });
    writeFileSync('out/openstack-ceph-figures.json', `${JSON.stringify(figures, null, 2)}\n`);
    expect(figures.rbd256MiB.downloadMiBps).toBeGreaterThan(0);
  });

  it('measures the Ceph daemons in the live profile', () => {
    const profile = measureLiveProfile(dir);
    const byName = Object.fromEntries(profile.services.map((s) => [s.name, s]));
    console.log(`openstack+ceph live profile: ${JSON.stringify(profile.services.map(({ source: _s, ...rest }) => rest))}`);
    const c = stack.state.ceph!;
    for (const d of CEPH_DAEMONS) {
      expect(byName[d]!.processes).toBeGreaterThanOrEqual(1);
      expect(byName[d]!.memoryMiB).toBeGreaterThan(5);
      expect(byName[d]!.configLines).toBeGreaterThan(20);
    }
    expect(byName['ceph-mon']!.ports).toEqual(expect.arrayContaining([c.ports.mon, c.ports.monV1]));
    expect(byName.radosgw!.ports).toContain(c.ports.rgw);
    for (const p of byName['ceph-osd']!.ports) expect(p >= c.ports.bindMin && p <= c.ports.bindMax).toBe(true);
    expect(byName['ceph-osd']!.ports.length).toBeGreaterThan(0);
    expect(profile.notes.some((n) => n.includes('Ceph RBD'))).toBe(true);
  });

  it('is idempotent: a second up (without --with-ceph) starts nothing and keeps Ceph', async () => {
    const again = await up({ stateDir: dir });
    expect(again.started).toBe(false);
    expect(again.state.withCeph).toBe(true);
    expect(again.state.pids).toEqual(stack.state.pids);
  });

  it('down stops exactly the processes it started, Ceph daemons included', async () => {
    const stopped = await down(dir);
    expect(stopped.map((s) => s.name).sort()).toEqual([...SERVICES, ...CEPH_DAEMONS].sort());
    expect(stopped.filter((s) => s.result !== 'stopped')).toEqual([]);
    for (const pid of startedPids) expect(alive(pid)).toBe(false);
    expect((await status(dir)).services.every((s) => !s.running)).toBe(true);
  });

  it('up again from the same state: the memstore OSD kept the image (saved on its clean stop)', async () => {
    const warm = await up({ stateDir: dir });
    console.log(`openstack+ceph warm start (state kept): ${warm.coldStartMs} ms, Ceph ${warm.state.cephStartMs} ms`);
    expect(warm.started).toBe(true);
    expect((await status(dir)).services.every((s) => s.healthy)).toBe(true);
    expect(kept).not.toBeNull();
    expect(await wholeImageSha(kept!.node, kept!.imageId)).toBe(kept!.sha);
  });
});
