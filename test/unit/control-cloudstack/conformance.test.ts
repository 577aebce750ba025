// The conformance suite (adapters/conformance) for CloudStack's agent mode, against the emulator
// in this process (only Node needed): two nodes enrolled as CloudStack accounts with their own API
// keys, a sealed image published (origin + KMS + direct-download template) and pinned to each by
// a resource tag; the node clients come from the plane's own node-client factory. Check 4 holds
// the model's deploySequence against the calls the client records.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerConformance, type ConformanceHarness } from '../../../adapters/conformance/index.js';
import type { NodePlane } from '../../../adapters/index.js';
import { silentLogger } from '../../../common/index.js';
import { assignNode, CloudStackClient, cloudstack, enrollNode, publishImage, runEmulator, type EnrolledCloudStackNode, type RunningEmulator } from '../../../control-cloudstack/index.js';
import { generateDataKey, generatePublisherKeys, sealImage } from '../../../pipeline/index.js';
import { planes } from '../../../planes/index.js';

const CHUNK = 16 * 1024;
let dir = '';
let stack: RunningEmulator | null = null;
let admin: CloudStackClient | null = null;

function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; off += 32, i++) createHash('sha256').update(`${seed}/${i}`).digest().copy(out, off);
  return out;
}

async function client(url: string, node: EnrolledCloudStackNode): Promise<NodePlane> {
  const factory = cloudstack.nodeClient!;
  const section = factory.configSchema.parse({ kind: 'cloudstack', url, accountId: node.accountId, apiKey: node.apiKey, secretKey: node.secretKey });
  return factory.create(section, { node: node.name, requestTimeoutMs: 5_000, logger: silentLogger });
}

const harness: ConformanceHarness = {
  plane: planes.get('cloudstack'),
  async setUp() {
    dir = await mkdtemp(join(tmpdir(), 'ep-conformance-cs-'));
    stack = await runEmulator({ stateDir: join(dir, 'state'), port: 0, coreHosts: 0, edgeHosts: 1, builtinAgents: false });
    const c = stack.credentials;
    admin = new CloudStackClient({ url: c.apiUrl, apiKey: c.apiKey, secretKey: c.secretKey, firstPollMs: 10, maxPollMs: 50 });
    const zoneid = String((await admin.list('listZones', 'zone')).find((z) => z.type === 'Edge')!.id);
    const ostypeid = String((await admin.list('listOsTypes', 'ostype'))[0]!.id);
    const nodeA = await enrollNode(admin, 'node-a');
    const nodeB = await enrollNode(admin, 'node-b');
    const publish = async (imageId: string, size: number, reader: EnrolledCloudStackNode) => {
      const keys = generatePublisherKeys();
      const dataKey = generateDataKey();
      const imagePath = join(dir, `${imageId}.img`);
      await writeFile(imagePath, bytes(size, imageId));
      const sealedDir = join(dir, `${imageId}.sealed`);
      await sealImage({ imagePath, outDir: sealedDir, imageId, version: '1', dataKey, signingKey: createPrivateKey(keys.privateKeyPem), chunking: { algorithm: 'fixed', size: CHUNK } });
      const image = await publishImage(admin!, { stateDir: join(dir, 'state'), sealedDir, dataKey, trusted: [createPublicKey(keys.publicKeyPem)], zoneid, ostypeid, readers: [reader.accountId] });
      await assignNode(admin!, reader, image);
      return image;
    };
    const a = await publish('conf-a', 3 * CHUNK + 1234, nodeA);
    await publish('conf-b', 2 * CHUNK + 99, nodeB);
    return {
      imageA: { imageId: 'conf-a', version: '1' },
      imageB: { imageId: 'conf-b', version: '1' },
      chunkSizes: a.manifest.chunks.map((ch) => ch.size),
      blob: await readFile(join(dir, 'state', 'origin', 'conf-a', '1', 'sealed')),
      nodeA: () => client(c.apiUrl, nodeA),
      nodeB: () => client(c.apiUrl, nodeB),
      async nodeAVia(proxy) {
        const p = await proxy(c.url);
        return client(`${p.url}/client/api`, nodeA);
      },
    };
  },
  async tearDown() {
    admin?.close();
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  },
};

registerConformance({ describe, it, beforeAll, afterAll }, harness, { registry: planes, setUpTimeoutMs: 60_000, checkTimeoutMs: 30_000 });
