// The conformance suite (adapters/conformance) against the real OpenStack stack: Keystone, Glance
// and Barbican, the stack .ci/run started (EDGEPLANE_OPENSTACK_STATE) or one started here (see
// stack.ts); a stack that cannot start fails the suite, it never skips. Node clients come from the
// descriptor's factory (`openstack.nodeClient.create`), as an agent builds them from agent.yaml.
// Fault injection: one fault proxy in front of each service; the Keystone proxy rewrites the
// Glance and Barbican origins in the token's service catalog to their proxies, so every request of
// the node client (control and data) passes a proxy.
import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerConformance, type ConformanceHarness } from '../../../adapters/conformance/index.js';
import type { NodePlane } from '../../../adapters/index.js';
import { silentLogger } from '../../../common/index.js';
import { OpenStackOperator, type EnrolledNode } from '../../../control-openstack/index.js';
import { generateDataKey, generatePublisherKeys, readSealedChunk, sealImage } from '../../../pipeline/index.js';
import { planes } from '../../../planes/index.js';
import { acquireStack, type TestStack } from './stack.js';

const CHUNK = 64 * 1024;
const run = randomUUID().slice(0, 8);
const plane = planes.get('openstack');
let work = '';
let ts: TestStack | null = null;
let cleanUp: (() => Promise<void>) | null = null;

/** A node client as an agent builds it: agent.yaml's `plane` section through the descriptor's factory. */
async function client(node: EnrolledNode, authUrl = node.config.authUrl): Promise<NodePlane> {
  const factory = plane.nodeClient!;
  const section = factory.configSchema.parse({ kind: 'openstack', ...node.config, authUrl });
  return factory.create(section, { node: node.nodeId, requestTimeoutMs: 30_000, logger: silentLogger });
}

/** Seals `size` random bytes as `name`@1.0.0 (chunks of CHUNK) and publishes it; returns its blob. */
async function publish(operator: OpenStackOperator, name: string, size: number) {
  const publisher = generatePublisherKeys();
  const raw = join(work, `${name}.raw`);
  writeFileSync(raw, randomBytes(size));
  const dataKey = generateDataKey();
  const sealedDir = join(work, `${name}.sealed`);
  const sealed = await sealImage({
    imagePath: raw,
    outDir: sealedDir,
    imageId: name,
    version: '1.0.0',
    dataKey,
    signingKey: createPrivateKey(publisher.privateKeyPem),
    chunking: { algorithm: 'fixed', size: CHUNK },
  });
  const blob = Buffer.concat(await Promise.all(sealed.manifest.chunks.map((c) => readSealedChunk(sealedDir, c))));
  const published = await operator.publishImage({ name, version: '1.0.0', image: blob, manifest: sealed.envelope, key: dataKey });
  return { published, manifest: sealed.manifest, blob };
}

const harness: ConformanceHarness = {
  plane,
  async setUp() {
    work = mkdtempSync(join(tmpdir(), 'edgeplane-conformance-'));
    ts = await acquireStack();
    const { endpoints, admin } = ts.stack;
    const operator = new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName });
    // A: 3 full chunks and a short last one; B: another image
    const a = await publish(operator, `conf-a-${run}`, 3 * CHUNK + 1234);
    const b = await publish(operator, `conf-b-${run}`, 2 * CHUNK + 99);
    const nodeA = await operator.enrollNode(`conf-a-${run}`);
    const nodeB = await operator.enrollNode(`conf-b-${run}`);
    await operator.pin(nodeA.nodeId, a.published);
    await operator.pin(nodeB.nodeId, b.published);
    // a shared stack outlives this suite: its nodes' credentials do not
    cleanUp = async () => {
      for (const n of [nodeA, nodeB]) await operator.revokeNode(n.nodeId).catch(() => {});
    };
    const identity = new URL(endpoints.identity);
    const glance = new URL(endpoints.image).origin;
    const barbican = new URL(endpoints.keyManager).origin;
    return {
      // the node plane names the pin by the lineage it was sealed as (control-openstack/client/node-plane.ts)
      imageA: { imageId: a.manifest.imageId, version: a.manifest.version },
      imageB: { imageId: b.manifest.imageId, version: b.manifest.version },
      chunkSizes: a.manifest.chunks.map((c) => c.size),
      blob: a.blob,
      nodeA: () => client(nodeA),
      nodeB: () => client(nodeB),
      async nodeAVia(proxy) {
        const glanceProxy = await proxy(glance);
        const barbicanProxy = await proxy(barbican);
        const keystoneProxy = await proxy(identity.origin, {
          rewrite: [
            [glance, glanceProxy.url],
            [barbican, barbicanProxy.url],
          ],
        });
        return client(nodeA, `${keystoneProxy.url}${identity.pathname}`);
      },
    };
  },
  async tearDown() {
    await cleanUp?.();
    if (work) rmSync(work, { recursive: true, force: true });
    await ts?.release();
  },
};

registerConformance({ describe, it, beforeAll, afterAll }, harness, { registry: planes, setUpTimeoutMs: 600_000, checkTimeoutMs: 120_000 });
