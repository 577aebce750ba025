// Model/client agreement: one deployment's control calls made by the real OpenStackNodeClient
// against real Keystone/Glance/Barbican record exactly the op sequence, methods and path templates
// of the simulation model (planes.model('openstack','agent',…)). The expected list is derived from
// the model, never written by hand.
import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApiOp } from '../../../adapters/index.js';
import { CallRecorder } from '../../../adapters/transport/index.js';
import type { ControlOp } from '../../../agent/machine/types.js';
import { OpenStackNodeClient, OpenStackOperator, type EnrolledNode, type PublishedImage } from '../../../control-openstack/index.js';
import { planes } from '../../../planes/index.js';
import { generateDataKey, generatePublisherKeys, readSealedChunk, sealImage, toPublicKey, verifyChunk, verifyManifest, type ImageManifest } from '../../../pipeline/index.js';
import { acquireStack, type TestStack } from './stack.js';

const CHUNK = 64 * 1024;
const run = randomUUID().slice(0, 8);
const work = mkdtempSync(join(tmpdir(), 'edgeplane-seq-'));
let ts: TestStack;
let node: EnrolledNode;
let published: PublishedImage;
let manifest: ImageManifest;
const publisher = generatePublisherKeys();

beforeAll(async () => {
  ts = await acquireStack();
  const { endpoints, admin } = ts.stack;
  const operator = new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName });
  // a small image sealed by the pipeline: 3 full chunks and a short last one
  const raw = join(work, 'image.raw');
  writeFileSync(raw, randomBytes(3 * CHUNK + 1234));
  const dataKey = generateDataKey();
  const sealedDir = join(work, 'sealed');
  const sealed = await sealImage({
    imagePath: raw,
    outDir: sealedDir,
    imageId: `seq-${run}`,
    version: '1.0.0',
    dataKey,
    signingKey: createPrivateKey(publisher.privateKeyPem),
    chunking: { algorithm: 'fixed', size: CHUNK },
  });
  manifest = sealed.manifest;
  expect(manifest.chunks.length).toBe(4);
  const blob = Buffer.concat(await Promise.all(manifest.chunks.map((c) => readSealedChunk(sealedDir, c))));
  node = await operator.enrollNode(`seq-${run}`);
  published = await operator.publishImage({ name: `seq-${run}`, version: '1.0.0', image: blob, manifest: sealed.envelope, key: dataKey });
  await operator.pin(node.nodeId, published);
});

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await ts?.release();
});

it('one deployment by the real node client records the model deploySequence, methods and paths', async () => {
  const recorder = new CallRecorder();
  const client = new OpenStackNodeClient(node.config, { recorder });
  await client.login();
  const assignment = await client.getAssignment();
  expect(assignment).toEqual({ imageId: published.imageId, version: '1.0.0' });
  const fetched = await client.getManifest(assignment!);
  const signed = verifyManifest(fetched.bytes, [toPublicKey(publisher.publicKeyPem)]);
  expect(signed.chunks).toEqual(manifest.chunks);
  const key = await client.getKey(fetched.keyRef);
  expect(key.length).toBe(32);
  // the blob is the sealed chunks concatenated in manifest order
  let offset = 0;
  for (const c of signed.chunks) {
    const blob = await client.downloadRange(published.imageId, offset, c.size);
    expect(verifyChunk(c, blob)).toBe(true);
    offset += c.size;
  }
  await client.report({ status: 'RUNNING', image: assignment, failure: null, seq: 1 });

  const model = planes.model('openstack', 'agent', { placement: 'pinned', flags: {} });
  const chunks = signed.chunks.length;
  const controls = (c: ControlOp): ApiOp[] => model.agentOps(c);
  const expected: ApiOp[] = [...controls('login'), ...controls('getAssignment'), ...controls('getManifest'), ...controls('getKey'), ...Array.from({ length: chunks }, () => model.dataPath.op), ...controls('report')];
  // the model's own two descriptions agree
  expect(expected.map((o) => o.op)).toEqual(model.deploySequence({ chunks }));

  const records = recorder.records();
  expect(records.every((r) => r.attempt === 1 && r.status >= 200 && r.status < 300)).toBe(true);
  expect(records.map((r) => r.op)).toEqual(model.deploySequence({ chunks }));
  expect(records.map((r) => `${r.method} ${r.path}`)).toEqual(expected.map((o) => `${o.method} ${o.path}`));
  // each op hits the service the model queues it at
  const stationOf: Record<string, string> = { [new URL(ts.stack.endpoints.identity).port]: 'keystone', [new URL(ts.stack.endpoints.image).port]: 'glance-api', [new URL(ts.stack.endpoints.keyManager).port]: 'barbican' };
  expect(records.map((r) => stationOf[new URL(r.url).port])).toEqual(expected.map((o) => o.station));
});
