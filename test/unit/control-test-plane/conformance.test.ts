// The conformance suite (adapters/conformance) against the real TestPlaneServer on 127.0.0.1:
// every check, the error mapping through the fault proxy for all six faults. Only Node needed.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerConformance, type ConformanceHarness } from '../../../adapters/conformance/index.js';
import type { NodePlane } from '../../../adapters/index.js';
import { silentLogger } from '../../../common/index.js';
import { assignInTestPlane, imageRef, publishToTestPlane, TEST_PLANE_PREFIX, TestPlaneServer, testPlane, testPlanePaths } from '../../../control-test-plane/index.js';
import { generateDataKey, generatePublisherKeys, sealImage } from '../../../pipeline/index.js';
import { planes } from '../../../planes/index.js';

const CHUNK = 16 * 1024;
let dir = '';
let server: TestPlaneServer | null = null;

/** Deterministic pseudo-random bytes. */
function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; off += 32, i++) createHash('sha256').update(`${seed}/${i}`).digest().copy(out, off);
  return out;
}

/** Seals `size` bytes as `imageId`@1 in chunks of CHUNK and publishes it into the plane directory. */
async function publish(imageId: string, size: number) {
  const keys = generatePublisherKeys();
  const dataKey = generateDataKey();
  const imagePath = join(dir, `${imageId}.img`);
  await writeFile(imagePath, bytes(size, imageId));
  const sealedDir = join(dir, `${imageId}.sealed`);
  const image = { imageId, version: '1' };
  const { manifest } = await sealImage({ imagePath, outDir: sealedDir, ...image, dataKey, signingKey: createPrivateKey(keys.privateKeyPem), chunking: { algorithm: 'fixed', size: CHUNK } });
  await publishToTestPlane({ dir, sealedDir, dataKey, trusted: [createPublicKey(keys.publicKeyPem)] });
  return { image, manifest };
}

async function client(url: string, node: string, token: string): Promise<NodePlane> {
  const factory = testPlane.nodeClient!;
  const section = factory.configSchema.parse({ kind: 'test-plane', url, token });
  return factory.create(section, { node, requestTimeoutMs: 5_000, logger: silentLogger });
}

const harness: ConformanceHarness = {
  plane: planes.get('test-plane'),
  async setUp() {
    dir = await mkdtemp(join(tmpdir(), 'ep-conformance-tp-'));
    server = new TestPlaneServer({ dir });
    const url = await server.start();
    // 3 full chunks and a short last one; B's image is another one
    const a = await publish('conf-a', 3 * CHUNK + 1234);
    const b = await publish('conf-b', 2 * CHUNK + 99);
    const nodeA = await assignInTestPlane({ dir, node: 'node-a', pin: a.image });
    const nodeB = await assignInTestPlane({ dir, node: 'node-b', pin: b.image });
    return {
      imageA: a.image,
      imageB: b.image,
      chunkSizes: a.manifest.chunks.map((c) => c.size),
      blob: await readFile(testPlanePaths.blob(dir, imageRef(a.image))),
      nodeA: () => client(url, 'node-a', nodeA.token),
      nodeB: () => client(url, 'node-b', nodeB.token),
      async nodeAVia(proxy) {
        const p = await proxy(new URL(url).origin);
        return client(`${p.url}${TEST_PLANE_PREFIX}`, 'node-a', nodeA.token);
      },
    };
  },
  async tearDown() {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  },
  // no simulation model: the test plane client's ops, in the agent machine's order
  expectedDeploySequence: (chunks) => [
    'test-plane.login',
    'test-plane.assignment.show',
    'test-plane.manifest.show',
    'test-plane.key.show',
    ...Array.from({ length: chunks }, () => testPlane.nodeClient!.dataOps[0]!),
    ...testPlane.nodeClient!.reportOps,
  ],
};

registerConformance({ describe, it, beforeAll, afterAll }, harness, { registry: planes, setUpTimeoutMs: 60_000, checkTimeoutMs: 30_000 });
