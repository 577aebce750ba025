// The agent runtime's whole-stream mode: the data path is a Glance that refuses ranges (the fake
// RBD-like Glance: 400 to any Range, whole-image streams), the control path the test plane. The
// agent learns the refusal from one 400, streams the blob, slices it by the manifest's offsets,
// verifies/decrypts/stages each chunk as a range would be, stops the stream once the last missing
// chunk is in, and on a later round (a v2, a stream cut short, a corrupted chunk, a restart)
// reads past the chunks it holds without verifying or storing them again.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentRuntime, type Assignment } from '../../../../agent/index.js';
import type { NodePlane, NodeReport, PlaneManifest } from '../../../../adapters/index.js';
import { assignInTestPlane, TestPlaneClient } from '../../../../control-test-plane/index.js';
import { OpenStackNodePlane } from '../../../../control-openstack/client/index.js';
import { FakeGlance } from '../../control-openstack/fake-glance.js';
import { bytes, FAST_MACHINE, KiB, MiB, newRig, publish, RecordingHypervisor, running, sha256, tempDir, type PublishedImage, type Rig } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Control calls to the test plane; the data path (blob refs are Glance image ids) to the fake Glance through the OpenStack node plane. */
class GlanceDataPlane implements NodePlane {
  readonly plane = 'openstack';
  constructor(
    private readonly control: TestPlaneClient,
    readonly data: OpenStackNodePlane,
  ) {}
  get recorder() {
    return this.data.recorder;
  }
  async login(): Promise<void> {
    await Promise.all([this.control.login(), this.data.login()]);
  }
  getAssignment(): Promise<Assignment | null> {
    return this.control.getAssignment();
  }
  getManifest(a: Assignment): Promise<PlaneManifest> {
    return this.control.getManifest(a);
  }
  getKey(keyRef: string): Promise<Buffer> {
    return this.control.getKey(keyRef);
  }
  report(r: NodeReport): Promise<void> {
    return this.control.report(r);
  }
  downloadRange(blobRef: string, offset: number, length: number): Promise<Buffer> {
    return this.data.downloadRange(blobRef, offset, length);
  }
  downloadBlob(blobRef: string) {
    return this.data.downloadBlob(blobRef);
  }
  rangesRefused(blobRef: string): boolean {
    return this.data.rangesRefused(blobRef);
  }
}

interface Setup {
  r: Rig;
  glance: FakeGlance;
  /** `wholeStreamAt` defaults to 'never' here: these cases test the path a refusal of ranges takes */
  agent(stateDir: string, opts?: { hv?: RecordingHypervisor; batchMs?: number; streamIdleMs?: number; wholeStreamAt?: number | 'never' }): AgentRuntime;
  /** makes the published image's blob readable from the fake Glance, by the test-plane node */
  serve(img: PublishedImage): Promise<Buffer>;
}

async function setup(): Promise<Setup> {
  const r = await newRig();
  cleanups.push(() => r.server.close());
  const glance = new FakeGlance();
  await glance.start();
  cleanups.push(() => glance.stop());
  const reader = new TestPlaneClient({ url: r.server.url, node: r.node, token: r.token, timeoutMs: 5_000 });
  return {
    r,
    glance,
    agent(stateDir, opts = {}) {
      const plane = new GlanceDataPlane(new TestPlaneClient({ url: r.server.url, node: r.node, token: r.token, timeoutMs: 5_000 }), new OpenStackNodePlane(glance.nodeConfig(r.node)));
      const a = new AgentRuntime({
        stateDir,
        plane,
        hypervisor: opts.hv ?? new RecordingHypervisor(),
        trusted: [r.pub.publicKey],
        machine: FAST_MACHINE,
        seed: 7,
        rangesInFlight: 4,
        batchMs: opts.batchMs ?? 20,
        streamIdleMs: opts.streamIdleMs,
        wholeStreamAt: opts.wholeStreamAt ?? 'never',
        bootTimeoutMs: 5_000,
      });
      cleanups.push(() => a.stop());
      return a;
    },
    async serve(img) {
      await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: img.image });
      await reader.login();
      const m = await reader.getManifest(img.image);
      const total = img.manifest.chunks.reduce((n, c) => n + c.size, 0);
      const blob = await reader.downloadRange(m.blobRef, 0, total);
      glance.addImage(m.blobRef, blob, [r.node]);
      return blob;
    },
  };
}

type Line = Record<string, unknown> & { type: string };
async function events(stateDir: string): Promise<Line[]> {
  const text = await readFile(join(stateDir, 'events.ndjson'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}
const fetches = (lines: Line[]) => lines.filter((l) => l.type === 'fetch') as (Line & { chunks: number; bytes: number; mode?: string; streamedBytes: number; skippedBytes: number; stoppedEarly: boolean })[];
const downloads = (lines: Line[]) => lines.filter((l) => l.type === 'call' && l.op === 'glance.image.download_whole') as (Line & { status: number; bytesIn: number; error?: string; stopped?: string })[];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('agent runtime, whole-stream policy (fetch.wholeStreamAt)', () => {
  it('streams a fresh image whole at once (no range asked), and fetches a small delta by ranges', async () => {
    const s = await setup();
    const v1 = bytes(3 * MiB + 5000, 'p1');
    const v2 = Buffer.from(v1);
    bytes(100 * KiB, 'patch').copy(v2, 1 * MiB + 10); // one 256 KiB chunk of 13 changes
    const a1 = await publish(s.r.planeDir, s.r.pub, { imageId: 'pol', version: '1' }, v1);
    const a2 = await publish(s.r.planeDir, s.r.pub, { imageId: 'pol', version: '2' }, v2);
    await s.serve(a1);
    await s.serve(a2);
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a1.image });
    const stateDir = await tempDir();
    const agent = s.agent(stateDir, { wholeStreamAt: 0.5 });
    await agent.start();
    await agent.until(running(a1.image), 15_000);
    expect(sha256(await readFile(join(stateDir, 'staged', 'pol@1.img')))).toBe(sha256(v1));
    expect(s.glance.ranges('pol@1')).toHaveLength(0);
    expect(s.glance.streams('pol@1')).toHaveLength(1);
    const [f1] = fetches(await events(stateDir));
    expect(f1).toMatchObject({ mode: 'whole', why: 'most-missing', chunks: a1.manifest.chunks.length });
    // v2: 1 of 13 chunks missing, far below half: a range first (this store refuses it, so one stream follows)
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a2.image });
    await agent.until(running(a2.image), 15_000);
    expect(sha256(await readFile(join(stateDir, 'staged', 'pol@2.img')))).toBe(sha256(v2));
    expect(s.glance.ranges('pol@2')).toHaveLength(1);
    const f2 = fetches(await events(stateDir)).at(-1)!;
    expect(f2).toMatchObject({ mode: 'whole', why: 'ranges-refused' });
  });
});

describe('agent runtime, whole-stream mode (a store that refuses ranges)', () => {
  it('deploys from one 400 and one stream; a v2 reads past held chunks and stops the stream after the changed chunk', async () => {
    const s = await setup();
    const v1 = bytes(3 * MiB + 5000, 'w1');
    const v2 = Buffer.from(v1);
    bytes(100 * KiB, 'patch').copy(v2, 1 * MiB + 10); // chunk 4 of 256 KiB chunks changes
    const a1 = await publish(s.r.planeDir, s.r.pub, { imageId: 'app', version: '1' }, v1);
    const a2 = await publish(s.r.planeDir, s.r.pub, { imageId: 'app', version: '2' }, v2);
    await s.serve(a1);
    const blob2 = await s.serve(a2);
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a1.image });
    const stateDir = await tempDir();
    const hv = new RecordingHypervisor();
    const agent = s.agent(stateDir, { hv });
    await agent.start();
    await agent.until(running(a1.image), 15_000);

    expect(sha256(await readFile(join(stateDir, 'staged', 'app@1.img')))).toBe(sha256(v1));
    expect(hv.started).toEqual([{ image: a1.image, sha256: sha256(v1) }]);
    expect(s.glance.ranges('app@1')).toHaveLength(1);
    expect(s.glance.streams('app@1')).toHaveLength(1);
    let lines = await events(stateDir);
    const f1 = fetches(lines);
    expect(f1).toHaveLength(1);
    // the whole blob was wanted: read to its end, nothing read past, nothing left unread
    expect(f1[0]).toMatchObject({ mode: 'whole', chunks: a1.manifest.chunks.length, skippedBytes: 0, direct: true, stoppedEarly: false });
    expect(f1[0].bytes).toBe(sum(a1.manifest.chunks.map((c) => c.size)));
    const d1 = downloads(lines);
    expect(d1).toHaveLength(1);
    expect(d1[0].error).toBeUndefined();
    expect(d1[0].stopped).toBeUndefined();
    expect(d1[0]).toMatchObject({ status: 200, bytesIn: f1[0].bytes });

    // v2: one more 400 (another image), one stream, stopped after the one changed chunk
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a2.image });
    await agent.until(running(a2.image), 15_000);
    expect(sha256(await readFile(join(stateDir, 'staged', 'app@2.img')))).toBe(sha256(v2));
    const changed = a2.manifest.chunks.filter((c) => !a1.manifest.chunks.some((o) => o.digest === c.digest));
    expect(changed.map((c) => c.index)).toEqual([4]);
    expect(s.glance.ranges('app@2')).toHaveLength(1);
    expect(s.glance.streams('app@2')).toHaveLength(1);
    lines = await events(stateDir);
    const f2 = fetches(lines)[1];
    const offset4 = sum(a2.manifest.chunks.slice(0, 4).map((c) => c.size));
    expect(f2).toMatchObject({ mode: 'whole', chunks: 1, bytes: changed[0].size, skippedBytes: expect.any(Number), stoppedEarly: true });
    expect(f2.skippedBytes).toBeGreaterThanOrEqual(offset4);
    expect(f2.streamedBytes).toBeLessThan(blob2.length);
    const d2 = downloads(lines)[1];
    expect(d2.error).toBeUndefined();
    expect(d2.stopped).toMatch(/stopped by the reader/);
    expect(d2.bytesIn).toBeLessThan(blob2.length);
  });

  it('a stream cut short: the chunks it delivered are kept, the next stream reads past them (no re-verify, no re-store)', async () => {
    const s = await setup();
    const v1 = bytes(4 * MiB, 'cut');
    const a1 = await publish(s.r.planeDir, s.r.pub, { imageId: 'app', version: '1' }, v1);
    const blob = await s.serve(a1);
    s.glance.cut = { after: Math.floor(blob.length * 0.45), streams: 1 };
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a1.image });
    const stateDir = await tempDir();
    const agent = s.agent(stateDir);
    await agent.start();
    await agent.until(running(a1.image), 15_000);
    expect(sha256(await readFile(join(stateDir, 'staged', 'app@1.img')))).toBe(sha256(v1));

    const lines = await events(stateDir);
    const f = fetches(lines);
    expect(f.length).toBe(2);
    const n = a1.manifest.chunks.length;
    // every chunk verified and stored exactly once over the two rounds
    expect(f[0].chunks).toBeGreaterThan(0);
    expect(f[0].chunks + f[1].chunks).toBe(n);
    expect(f[0].bytes + f[1].bytes).toBe(blob.length);
    // the second stream read past what the first had delivered
    expect(f[1].skippedBytes).toBe(sum(a1.manifest.chunks.slice(0, f[0].chunks).map((c) => c.size)));
    const d = downloads(lines);
    expect(d).toHaveLength(2);
    expect(d[0].error).toMatch(/cut short|not read to its end|short read/);
    expect(d[1].error).toBeUndefined();
    // still one 400: the refusal is remembered across rounds
    expect(s.glance.ranges('app@1')).toHaveLength(1);
    expect(s.glance.streams('app@1')).toHaveLength(2);
  });

  it('a stream that stalls is dropped after the idle limit, and the next one completes the image', async () => {
    const s = await setup();
    const v1 = bytes(2 * MiB, 'stall');
    const a1 = await publish(s.r.planeDir, s.r.pub, { imageId: 'app', version: '1' }, v1);
    const blob = await s.serve(a1);
    s.glance.stall = { after: Math.floor(blob.length / 3), streams: 1 };
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a1.image });
    const stateDir = await tempDir();
    const agent = s.agent(stateDir, { streamIdleMs: 300 });
    await agent.start();
    await agent.until(running(a1.image), 15_000);
    expect(sha256(await readFile(join(stateDir, 'staged', 'app@1.img')))).toBe(sha256(v1));
    const lines = await events(stateDir);
    const f = fetches(lines);
    expect(f).toHaveLength(2);
    expect(f[0].chunks + f[1].chunks).toBe(a1.manifest.chunks.length);
    const d = downloads(lines);
    expect(d).toHaveLength(2);
    expect(d[0].error).toMatch(/no bytes for 300 ms|not read to its end|cut short/);
  });

  it('a corrupted chunk in the stream is refused and fetched again by another stream; the others are not re-stored', async () => {
    const s = await setup();
    const v1 = bytes(2 * MiB, 'bad');
    const a1 = await publish(s.r.planeDir, s.r.pub, { imageId: 'app', version: '1' }, v1);
    await s.serve(a1);
    const offset3 = sum(a1.manifest.chunks.slice(0, 3).map((c) => c.size));
    s.glance.corrupt = { at: offset3 + 100, streams: 1 };
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a1.image });
    const stateDir = await tempDir();
    const hv = new RecordingHypervisor();
    const agent = s.agent(stateDir, { hv });
    await agent.start();
    await agent.until(running(a1.image), 15_000);
    expect(hv.started).toEqual([{ image: a1.image, sha256: sha256(v1) }]);

    const f = fetches(await events(stateDir));
    expect(f).toHaveLength(2);
    expect(f[0].chunks).toBe(a1.manifest.chunks.length - 1);
    expect(f[1]).toMatchObject({ chunks: 1, bytes: a1.manifest.chunks[3].size, stoppedEarly: true });
    // read past: the chunks before it, and what came in the same read after it
    expect(f[1].skippedBytes).toBe(f[1].streamedBytes - f[1].bytes);
    expect(f[1].skippedBytes).toBeGreaterThanOrEqual(offset3);
    expect(s.glance.streams('app@1')).toHaveLength(2);
  });

  it('a restart mid-fetch resumes: one more 400 (a new process), held chunks read past and not stored again', async () => {
    const s = await setup();
    const v1 = bytes(6 * MiB, 'restart');
    const a1 = await publish(s.r.planeDir, s.r.pub, { imageId: 'app', version: '1' }, v1);
    const blob = await s.serve(a1);
    // the first process's streams all die at 50 % (so however fast it retries, it never holds more):
    // it stores what came, then is stopped while it backs off
    s.glance.cut = { after: Math.floor(blob.length / 2), streams: 1_000 };
    await assignInTestPlane({ dir: s.r.planeDir, node: s.r.node, pin: a1.image });
    const stateDir = await tempDir();
    const first = s.agent(stateDir, { batchMs: 1 });
    await first.start();
    await expect.poll(async () => fetches(await events(stateDir)).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await first.stop();
    s.glance.cut = null;
    const held = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')).verifiedChunks.length as number;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(a1.manifest.chunks.length);

    const second = s.agent(stateDir);
    await second.start();
    await second.until(running(a1.image), 15_000);
    expect(sha256(await readFile(join(stateDir, 'staged', 'app@1.img')))).toBe(sha256(v1));
    // chunks the first process stored after its last persist are re-verified from disk at start-up (reconcile), not fetched
    const adopted = second.reconciled?.adopted ?? 0;
    const f = fetches(await events(stateDir)).filter((l) => l.boot === 2);
    expect(f).toHaveLength(1);
    expect(f[0].chunks).toBe(a1.manifest.chunks.length - held - adopted);
    expect(f[0].skippedBytes).toBe(f[0].streamedBytes - f[0].bytes);
    expect(f[0].skippedBytes).toBeGreaterThanOrEqual(sum(a1.manifest.chunks.slice(0, held + adopted).map((c) => c.size)));
    expect(s.glance.ranges('app@1')).toHaveLength(2);
  });
});
