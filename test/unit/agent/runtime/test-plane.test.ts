import { afterEach, describe, expect, it } from 'vitest';
import { HttpError, toControlError } from '../../../../adapters/transport/index.js';
import { assignInTestPlane, parseRange, TestPlaneClient } from '../../../../control-test-plane/index.js';
import { bytes, MiB, newRig, publish, type Rig } from './helpers.js';

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.server.close();
});

async function rigWithTwoNodes() {
  const r = await newRig();
  rigs.push(r);
  const a = await publish(r.planeDir, r.pub, { imageId: 'app', version: '1' }, bytes(1 * MiB, 'tp-a'));
  const b = await publish(r.planeDir, r.pub, { imageId: 'other', version: '1' }, bytes(1 * MiB, 'tp-b'));
  await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: a.image });
  const other = await assignInTestPlane({ dir: r.planeDir, node: 'edge-2', pin: b.image });
  const mine = new TestPlaneClient({ url: r.server.url, node: r.node, token: r.token });
  const theirs = new TestPlaneClient({ url: r.server.url, node: 'edge-2', token: other.token });
  return { r, a, b, mine, theirs, otherToken: other.token };
}

const kindOf = async (p: Promise<unknown>) =>
  toControlError(
    await p.then(
      () => null,
      (e: unknown) => e,
    ),
  ).kind;

describe('test plane', () => {
  it('a node reads its own assignment, manifest, key and blob ranges; every call is recorded', async () => {
    const { a, mine } = await rigWithTwoNodes();
    await mine.login();
    expect(await mine.getAssignment()).toEqual(a.image);
    const m = await mine.getManifest(a.image);
    expect(m).toMatchObject({ keyRef: 'app@1', blobRef: 'app@1' });
    expect((await mine.getKey(m.keyRef)).length).toBe(32);
    const c1 = a.manifest.chunks[1];
    const range = await mine.downloadRange(m.blobRef, a.manifest.chunks[0].size, c1.size);
    expect(range.length).toBe(c1.size);
    expect(mine.recorder.records().map((c) => [c.op, c.status])).toEqual([
      ['test-plane.login', 200],
      ['test-plane.assignment.show', 200],
      ['test-plane.manifest.show', 200],
      ['test-plane.key.show', 200],
      ['test-plane.blob.range', 206],
    ]);
    expect(mine.recorder.records().at(-1)!.bytesIn).toBe(c1.size);
  });

  it('403 for another node’s assignment, image or key; 401 without a session or with a wrong token', async () => {
    const { r, b, mine, theirs, otherToken: other } = await rigWithTwoNodes();
    expect(await kindOf(mine.getAssignment())).toBe('unauthorized');
    await mine.login();
    expect(await kindOf(mine.getManifest(b.image))).toBe('forbidden');
    expect(await kindOf(mine.getKey('other@1'))).toBe('forbidden');
    expect(await kindOf(mine.downloadRange('other@1', 0, 100))).toBe('forbidden');
    const spy = new TestPlaneClient({ url: r.server.url, node: r.node, token: 'x'.repeat(48) });
    expect(await kindOf(spy.login())).toBe('unauthorized');
    expect(
      await theirs.getAssignment().then(
        () => 'ok',
        (e: unknown) => toControlError(e).kind,
      ),
    ).toBe('unauthorized');
    // edge-2, logged in, asks for edge-1's assignment and writes edge-1's report
    const login = await fetch(`${r.server.url}/login`, { method: 'POST', body: JSON.stringify({ node: 'edge-2', token: other }) });
    const { session } = (await login.json()) as { session: string };
    const auth = { Authorization: `Bearer ${session}` };
    expect((await fetch(`${r.server.url}/nodes/${r.node}/assignment`, { headers: auth })).status).toBe(403);
    expect((await fetch(`${r.server.url}/nodes/${r.node}/report`, { method: 'POST', headers: auth, body: JSON.stringify({ status: 'RUNNING', image: null }) })).status).toBe(403);
    expect((await fetch(`${r.server.url}/nodes/edge-2/assignment`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${r.server.url}/nodes/edge-2/assignment`, { headers: { Authorization: 'Bearer nope' } })).status).toBe(401);
  });

  it('outage answers 503 (unavailable); a stopped plane refuses connections; sessions survive a restart, not a revoke', async () => {
    const { r, mine } = await rigWithTwoNodes();
    await mine.login();
    r.server.setOutage(true);
    const err = await mine.getAssignment().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(toControlError(err).kind).toBe('unavailable');
    r.server.setOutage(false);
    await r.server.stop();
    expect(await kindOf(mine.getAssignment())).toBe('unavailable');
    await r.server.start();
    expect(await mine.getAssignment()).not.toBeNull();
    r.server.revokeSessions();
    expect(await kindOf(mine.getAssignment())).toBe('unauthorized');
    // a range request renews its session by itself (the machine cannot in mid-fetch)
    expect((await mine.downloadRange('app@1', 0, 10)).length).toBe(10);
  });

  it('parses single byte ranges', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-9', 100)).toEqual([0, 9]);
    expect(parseRange('bytes=90-', 100)).toEqual([90, 99]);
    expect(parseRange('bytes=-10', 100)).toEqual([90, 99]);
    expect(parseRange('bytes=95-200', 100)).toEqual([95, 99]);
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBe('unsatisfiable');
  });
});
