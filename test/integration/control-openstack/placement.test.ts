// The real clients and "placement without Nova" against real Keystone, Glance and Barbican:
// one full deployment's call sequence, token reuse and re-auth, image statuses, and the security
// properties (a node reads only its own assignment, image and key; cannot change its pin; revoked
// credentials stop new deployments).
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallRecorder, HttpError, Transport, toControlError } from '../../../adapters/transport/index.js';
import { GlanceApi, ImageStatusError, KeystoneApi, OpenStackNodeClient, OpenStackOperator, type EnrolledNode, type PublishedImage } from '../../../control-openstack/client/index.js';
import { decodeReport, encodePinTag } from '../../../control-openstack/placement.js';
import { acquireStack, type TestStack } from './stack.js';

const CHUNK = 64 * 1024;
let ts: TestStack;
let operator: OpenStackOperator;
let nodeA: EnrolledNode;
let nodeB: EnrolledNode;
let imageA: PublishedImage;
let imageB: PublishedImage;
const dataA = randomBytes(3 * CHUNK + 1234);
const dataB = randomBytes(2 * CHUNK);
const run = randomUUID().slice(0, 8);

function statusOf(p: Promise<unknown>): Promise<number> {
  return p.then(
    () => 200,
    (err: unknown) => {
      if (err instanceof HttpError) return err.status;
      throw err;
    },
  );
}

beforeAll(async () => {
  ts = await acquireStack();
  const { endpoints, admin } = ts.stack;
  operator = new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName });
  nodeA = await operator.enrollNode(`a-${run}`);
  nodeB = await operator.enrollNode(`b-${run}`);
  imageA = await operator.publishImage({ name: `img-a-${run}`, version: '1.0.0', image: dataA, manifest: Buffer.from(`manifest-a-${run}`), key: randomBytes(32) });
  imageB = await operator.publishImage({ name: `img-b-${run}`, version: '2.0.0', image: dataB, manifest: Buffer.from(`manifest-b-${run}`), key: randomBytes(32) });
  await operator.pin(nodeA.nodeId, imageA);
  await operator.pin(nodeB.nodeId, imageB);
});

afterAll(async () => {
  await ts?.release();
});

describe('one deployment through the real services', () => {
  it('records exactly the agreed op sequence', async () => {
    const node = new OpenStackNodeClient(nodeA.config);
    await node.login();
    const assignment = await node.getAssignment();
    expect(assignment).toEqual({ imageId: imageA.imageId, version: '1.0.0' });
    const manifest = await node.getManifest(assignment!);
    expect(manifest.bytes.toString()).toBe(`manifest-a-${run}`);
    const key = await node.getKey(manifest.keyRef);
    expect(key.length).toBe(32);
    const parts: Buffer[] = [];
    for (let off = 0; off < dataA.length; off += CHUNK) parts.push(await node.downloadRange(imageA.imageId, off, Math.min(CHUNK, dataA.length - off)));
    expect(Buffer.concat(parts).equals(dataA)).toBe(true);
    await node.report({ status: 'RUNNING', image: assignment, failure: null, seq: 1 });

    const ops = node.recorder.records().map((r) => r.op);
    expect(ops).toEqual([
      'keystone.token.issue',
      'keystone.project.show',
      'glance.image.show',
      'glance.image.download',
      'barbican.secret.payload',
      ...Array(4).fill('glance.image.download_range'),
      'keystone.credential.update',
    ]);
    const paths = [...new Set(node.recorder.records().map((r) => `${r.method} ${r.path}`))];
    expect(paths).toEqual([
      'POST /v3/auth/tokens',
      'GET /v3/projects/{project_id}',
      'GET /v2/images/{image_id}',
      'GET /v2/images/{manifest_image_id}/file',
      'GET /v1/secrets/{secret_id}/payload',
      'GET /v2/images/{image_id}/file',
      'PATCH /v3/credentials/{credential_id}',
    ]);
    const ranged = node.recorder.records().filter((r) => r.op === 'glance.image.download_range');
    expect(ranged.map((r) => r.bytesIn)).toEqual([CHUNK, CHUNK, CHUNK, 1234]);
    expect(ranged.every((r) => r.status === 206 && r.attempt === 1)).toBe(true);
    expect(await operator.readReport(nodeA.nodeId)).toEqual({ status: 'RUNNING', image: assignment, failure: null, seq: 1 });
  });

  it('reuses its token, and logs in again once on 401', async () => {
    const node = new OpenStackNodeClient(nodeA.config);
    await node.login();
    await node.getAssignment();
    await node.getAssignment();
    expect(node.recorder.records().filter((r) => r.op === 'keystone.token.issue')).toHaveLength(1);
    // the operator revokes that token: the next call gets 401, re-authenticates, succeeds
    const adminToken = await operator.session.token();
    await operator.session.keystone.revokeToken(adminToken, await node.session.token());
    node.recorder.clear();
    expect(await node.getAssignment()).toEqual({ imageId: imageA.imageId, version: '1.0.0' });
    expect(node.recorder.records().map((r) => `${r.op} ${r.status}`)).toEqual(['keystone.project.show 401', 'keystone.token.issue 201', 'keystone.project.show 200']);
  });

  it('authenticates with an application credential', async () => {
    const config = await operator.createNodeApplicationCredential(nodeA);
    const node = new OpenStackNodeClient(config);
    await node.login();
    expect(node.session.projectId).toBe(nodeA.projectId);
    expect(await node.getAssignment()).toEqual({ imageId: imageA.imageId, version: '1.0.0' });
    const manifest = await node.getManifest({ imageId: imageA.imageId, version: '1.0.0' });
    expect((await node.getKey(manifest.keyRef)).length).toBe(32);
  });
});

describe('Glance statuses', () => {
  it('a queued image is not ready (retry later); a deactivated one is forbidden to the node', async () => {
    const glance = new GlanceApi(operator.transport, await operator.session.endpoint('image'));
    const t = await operator.session.token();
    const queued = await glance.createImage(t, { name: `queued-${run}`, properties: { edgeplane_version: '9', edgeplane_manifest_image: imageA.manifestImageId, edgeplane_key_secret: imageA.keySecretId } });
    expect(queued.status).toBe('queued');
    await glance.addMember(t, queued.id, nodeA.projectId);
    const node = new OpenStackNodeClient(nodeA.config);
    const err = await node.getManifest({ imageId: queued.id, version: '9' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageStatusError);
    expect(toControlError(err).kind).toBe('unavailable');

    await glance.deactivate(t, imageA.imageId);
    try {
      expect((await glance.showImage(t, imageA.imageId)).status).toBe('deactivated');
      const denied = await node.downloadRange(imageA.imageId, 0, 10).catch((e: unknown) => e);
      expect(toControlError(denied).kind).toBe('forbidden');
      const shown = await node.getManifest({ imageId: imageA.imageId, version: '1.0.0' }).catch((e: unknown) => e);
      expect(toControlError(shown).kind).toBe('forbidden');
    } finally {
      await glance.reactivate(t, imageA.imageId);
    }
    await glance.deleteImage(t, queued.id);
  });
});

describe('security: a node reads only its own assignment, image and key', () => {
  it("cannot read another node's assignment, image, manifest or key", async () => {
    const a = new OpenStackNodeClient(nodeA.config);
    await a.login();
    const ks = new KeystoneApi(new Transport({ plane: 'openstack' }), ts.stack.endpoints.identity);
    const glance = new GlanceApi(new Transport({ plane: 'openstack' }), ts.stack.endpoints.image);
    const token = await a.session.token();
    expect(await statusOf(ks.showProject(token, nodeB.projectId))).toBe(403);
    expect(await statusOf(glance.showImage(token, imageB.imageId))).toBe(404);
    expect(await statusOf(glance.download(token, imageB.manifestImageId))).toBe(404);
    expect(await statusOf(a.downloadRange(imageB.imageId, 0, 16))).toBe(404);
    expect(await statusOf(a.getKey(imageB.keySecretId))).toBe(403);
    expect(toControlError(await a.getKey(imageB.keySecretId).catch((e: unknown) => e)).kind).toBe('forbidden');
    // nor B's status channel
    expect([403, 404]).toContain(await statusOf(ks.updateCredential(token, nodeB.reportCredentialId, '{"status":"FAILED","seq":99}')));
    expect(decodeReport((await operator.session.keystone.showCredential(await operator.session.token(), nodeB.reportCredentialId)).blob)?.seq).toBe(0);
  });

  it('cannot modify its own assignment', async () => {
    const a = new OpenStackNodeClient(nodeA.config);
    await a.login();
    const token = await a.session.token();
    const ks = a.session.keystone;
    const evil = encodePinTag({ imageId: imageB.imageId, version: '2.0.0' });
    expect(await statusOf(ks.addProjectTag(token, nodeA.projectId, evil))).toBe(403);
    expect(await statusOf(ks.replaceProjectTags(token, nodeA.projectId, [evil]))).toBe(403);
    expect(await statusOf(ks.deleteProjectTag(token, nodeA.projectId, encodePinTag(imageA)))).toBe(403);
    expect(await a.getAssignment()).toEqual({ imageId: imageA.imageId, version: '1.0.0' });
  });

  it('after unpin the node loses the image and the key', async () => {
    const c = await operator.enrollNode(`c-${run}`);
    await operator.pin(c.nodeId, imageB);
    const node = new OpenStackNodeClient(c.config);
    const m = await node.getManifest((await node.getAssignment())!);
    expect((await node.getKey(m.keyRef)).length).toBe(32);
    await operator.unpin(c.nodeId);
    expect(await node.getAssignment()).toBeNull();
    expect(await statusOf(node.getKey(imageB.keySecretId))).toBe(403);
    expect(await statusOf(node.downloadRange(imageB.imageId, 0, 16))).toBe(404);
    // B still has its key: unpinning C did not touch B's ACL entry
    const b = new OpenStackNodeClient(nodeB.config);
    expect((await b.getKey(imageB.keySecretId)).length).toBe(32);
  });

  it('a revoked node credential stops new deployments', async () => {
    const d = await operator.enrollNode(`d-${run}`);
    await operator.pin(d.nodeId, imageB);
    const node = new OpenStackNodeClient(d.config);
    await node.login();
    expect(await node.getAssignment()).not.toBeNull();
    await operator.revokeNode(d.nodeId);
    // the token it holds is revoked with the user; the one re-login is refused
    const err = await node.getAssignment().catch((e: unknown) => e);
    expect(toControlError(err).kind).toBe('unauthorized');
    const fresh = new OpenStackNodeClient(d.config);
    expect(toControlError(await fresh.login().catch((e: unknown) => e)).kind).toBe('unauthorized');
    expect(await statusOf(fresh.getKey(imageB.keySecretId))).toBe(401);
  });

  it('the same pin is idempotent: pinning twice changes nothing', async () => {
    const before = await operator.assignmentOf(nodeB.nodeId);
    await operator.pin(nodeB.nodeId, imageB);
    expect(await operator.assignmentOf(nodeB.nodeId)).toEqual(before);
  });
});

describe('transport', () => {
  it('records one record per attempt with bytes and timing', async () => {
    const recorder = new CallRecorder();
    const seen: string[] = [];
    recorder.onRecord = (r) => seen.push(r.op);
    const node = new OpenStackNodeClient(nodeB.config, { recorder });
    await node.login();
    const [r] = recorder.records();
    expect(r).toMatchObject({ op: 'keystone.token.issue', plane: 'openstack', method: 'POST', path: '/v3/auth/tokens', status: 201, attempt: 1 });
    expect(r!.bytesOut).toBeGreaterThan(50);
    expect(r!.bytesIn).toBeGreaterThan(500);
    expect(r!.ms).toBeGreaterThan(0);
    expect(seen).toEqual(['keystone.token.issue']);
  });
});
