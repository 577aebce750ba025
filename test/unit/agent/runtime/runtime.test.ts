import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assignInTestPlane, testPlanePaths } from '../../../../control-test-plane/index.js';
import { bytes, MiB, newAgent, newRig, publish, RecordingHypervisor, running, sha256, tempDir, type Rig } from './helpers.js';
import type { AgentRuntime } from '../../../../agent/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function rig(opts?: { rangeDelayMs?: number }): Promise<Rig> {
  const r = await newRig(opts);
  cleanups.push(() => r.server.close());
  return r;
}

function track(agent: AgentRuntime): AgentRuntime {
  cleanups.push(() => agent.stop());
  return agent;
}

async function reports(r: Rig): Promise<{ status: string; image: unknown; failure?: string }[]> {
  const text = await readFile(testPlanePaths.reports(r.planeDir, r.node), 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('agent runtime against the test plane (sim hypervisor)', () => {
  it('deploys the assigned image: staged bit-identical, VM started once, RUNNING reported, calls recorded', async () => {
    const r = await rig();
    const img = await publish(r.planeDir, r.pub, { imageId: 'app', version: '1' }, bytes(3 * MiB + 123, 'a1'));
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: img.image });
    const stateDir = await tempDir();
    const hv = new RecordingHypervisor();
    const agent = track(newAgent(r, stateDir, hv));
    await agent.start();
    await agent.until(running(img.image), 10_000);

    const staged = await readFile(join(stateDir, 'staged', 'app@1.img'));
    expect(sha256(staged)).toBe(sha256(img.plaintext));
    expect(hv.started).toEqual([{ image: img.image, sha256: sha256(img.plaintext) }]);
    await expect.poll(async () => (await reports(r)).at(-1)).toMatchObject({ status: 'RUNNING', image: img.image });
    // every chunk fetched exactly once
    const ranges = r.server.rangeLog.filter((e) => e.status === 206);
    expect(ranges.length).toBe(img.manifest.chunks.length);
    expect(new Set(ranges.map((e) => e.offset)).size).toBe(img.manifest.chunks.length);
    // the data key and the plaintext are nowhere in the state dir but the staged image
    const keyHex = r.pub.dataKey.toString('hex');
    const stateFiles = await readdir(stateDir, { recursive: true });
    for (const f of stateFiles) {
      const p = join(stateDir, f);
      const content = await readFile(p).catch(() => null);
      if (content === null || f.startsWith('staged')) continue;
      expect(content.includes(r.pub.dataKey), f).toBe(false);
      expect(content.toString('latin1').includes(keyHex), f).toBe(false);
      expect(content.includes(img.plaintext.subarray(4096, 4096 + 64)), f).toBe(false);
    }
    // events.ndjson: marks, done, one call record per range request
    const events = (await readFile(join(stateDir, 'events.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === 'done')).toMatchObject([{ outcome: 'running', image: img.image }]);
    expect(events.filter((e) => e.type === 'call' && e.op === 'test-plane.blob.range').length).toBe(img.manifest.chunks.length);
    const phases = events.filter((e) => e.type === 'mark' && e.edge === 'end').map((e) => e.phase);
    expect(phases).toEqual(expect.arrayContaining(['auth', 'assignment', 'manifest', 'key', 'transfer', 'verify', 'decrypt', 'boot']));
  });

  it('a new assignment is staged in full before the old VM stops; unchanged chunks are not fetched again', async () => {
    const r = await rig();
    const v1 = bytes(2 * MiB, 'v1');
    const v2 = Buffer.from(v1);
    bytes(256 * 1024, 'patch').copy(v2, 512 * 1024); // chunk 2 changes
    const a1 = await publish(r.planeDir, r.pub, { imageId: 'app', version: '1' }, v1);
    const a2 = await publish(r.planeDir, r.pub, { imageId: 'app', version: '2' }, v2);
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: a1.image });
    const stateDir = await tempDir();
    const hv = new RecordingHypervisor();
    const agent = track(newAgent(r, stateDir, hv));
    await agent.start();
    await agent.until(running(a1.image), 10_000);

    const stagedWhenStopped: string[][] = [];
    const stop = hv.stop.bind(hv);
    hv.stop = async () => {
      stagedWhenStopped.push(await readdir(join(stateDir, 'staged')));
      return stop();
    };
    const before = r.server.rangeLog.length;
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: a2.image });
    await agent.until(running(a2.image), 10_000);

    expect(stagedWhenStopped[0]).toContain('app@2.img');
    const fetched = r.server.rangeLog.slice(before).filter((e) => e.blobRef === 'app@2');
    expect(fetched.map((e) => e.offset)).toEqual([a2.manifest.chunks[2].size * 2]);
    expect(hv.started.map((s) => s.image.version)).toEqual(['1', '2']);
    expect(hv.started[1].sha256).toBe(sha256(v2));
    await expect.poll(async () => (await readdir(join(stateDir, 'staged'))).sort()).toEqual(['app@2.img']);
  });

  // The machine restores the staged VM without a deployment: on reconnection it logs in and polls
  // its assignment (the plane sees it alive), but sends no report (see docs/agent.md).
  it('offline: after a restart with the plane down, the staged VM runs again; the node polls once the plane is back', async () => {
    const r = await rig();
    const img = await publish(r.planeDir, r.pub, { imageId: 'app', version: '1' }, bytes(1 * MiB, 'off'));
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: img.image });
    const stateDir = await tempDir();
    const first = newAgent(r, stateDir);
    await first.start();
    await first.until(running(img.image), 10_000);
    await first.stop();

    await r.server.stop();
    const reportsBefore = (await reports(r)).length;
    const hv = new RecordingHypervisor();
    const second = track(newAgent(r, stateDir, hv));
    await second.start();
    await second.until((s) => s.running?.version === '1', 5_000);
    expect(hv.started).toEqual([{ image: img.image, sha256: sha256(img.plaintext) }]);
    expect((await reports(r)).length).toBe(reportsBefore);

    const calls = (op: string) => second.plane.recorder.records().filter((c) => c.op === op);
    expect(calls('test-plane.login').every((c) => c.status === 0)).toBe(true);
    await r.server.start();
    await expect.poll(() => calls('test-plane.assignment.show').filter((c) => c.status === 200).length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(second.state.running).toEqual(img.image);
    expect(hv.started.length).toBe(1);
    expect(r.server.rangeLog.filter((e) => e.blobRef === 'app@1').length).toBe(img.manifest.chunks.length);
  });

  it('a staged image changed on disk is refused at the next start and staged again before it boots', async () => {
    const r = await rig();
    const img = await publish(r.planeDir, r.pub, { imageId: 'app', version: '1' }, bytes(2 * MiB, 'st'));
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: img.image });
    const stateDir = await tempDir();
    const first = newAgent(r, stateDir);
    await first.start();
    await first.until(running(img.image), 10_000);
    await first.stop();
    // someone on the node edits the bootable image
    const stagedPath = join(stateDir, 'staged', 'app@1.img');
    const changed = await readFile(stagedPath);
    changed[MiB + 17] ^= 0x40;
    await writeFile(stagedPath, changed);

    const hv = new RecordingHypervisor();
    const second = track(newAgent(r, stateDir, hv));
    await second.start();
    expect(second.reconciled?.stagedRefused).toBe(true);
    await second.until(running(img.image), 10_000);
    // what booted is the signed image, never the edited one
    expect(hv.started).toEqual([{ image: img.image, sha256: sha256(img.plaintext) }]);
    expect(sha256(await readFile(stagedPath))).toBe(sha256(img.plaintext));
  });

  it('gives up after maxAuthFailures refused logins: gaveUp resolves, a halt line, no more calls', async () => {
    const r = await rig();
    const stateDir = await tempDir();
    const agent = track(newAgent(r, stateDir, new RecordingHypervisor(), { token: 'not-the-token', machine: { maxAuthFailures: 3 } }));
    await agent.start();
    const halt = await Promise.race([agent.gaveUp(), new Promise<null>((res) => setTimeout(() => res(null), 10_000))]);
    expect(halt).toMatchObject({ reason: 'unauthorized', authFailures: 3 });
    expect(halt!.message).toContain("refused this node's credentials 3 times in a row");
    const logins = () => agent.plane.recorder.records().filter((c) => c.op === 'test-plane.login');
    expect(logins().map((c) => c.status)).toEqual([401, 401, 401]);
    await new Promise((res) => setTimeout(res, 500)); // several poll intervals: nothing more is asked
    expect(logins().length).toBe(3);
    expect(agent.state.status).toBe('FAILED');
    const events = (await readFile(join(stateDir, 'events.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === 'halt')).toMatchObject([{ reason: 'unauthorized', authFailures: 3 }]);
  });

  it('an outage (503) in the middle of a fetch: the agent backs off and finishes without refetching stored chunks', async () => {
    const r = await rig({ rangeDelayMs: 5 });
    const img = await publish(r.planeDir, r.pub, { imageId: 'app', version: '1' }, bytes(4 * MiB, 'outage'), 64 * 1024);
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: img.image });
    const agent = track(newAgent(r, await tempDir(), new RecordingHypervisor(), { rangesInFlight: 2 }));
    await agent.start();
    await agent.until((s) => s.status === 'FETCHING_CHUNKS', 5_000);
    await new Promise((res) => setTimeout(res, 40));
    r.server.setOutage(true);
    await new Promise((res) => setTimeout(res, 300));
    r.server.setOutage(false);
    await agent.until(running(img.image), 15_000);
    expect(agent.plane.recorder.records().some((c) => c.status === 503)).toBe(true);
    const ok = r.server.rangeLog.filter((e) => e.status === 206);
    expect(ok.length).toBe(img.manifest.chunks.length);
    expect(new Set(ok.map((e) => e.offset)).size).toBe(img.manifest.chunks.length);
  });
});
