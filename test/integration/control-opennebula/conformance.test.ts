// The conformance suite (adapters/conformance) against the real OpenNebula front-end in agent mode:
// oned's XML-RPC API (pin, manifest, report) plus the edge services edgeplane adds (byte server,
// key service), the front-end .ci/run started (EDGEPLANE_OPENNEBULA_STATE) or one started here.
// Node clients come from the descriptor's factory, as an agent builds them from agent.yaml; the
// fault proxies sit in front of oned and of the edge services. Check 4 holds the model's agent
// deploySequence equal to the calls the real node client records.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerConformance, type ConformanceHarness } from '../../../adapters/conformance/index.js';
import type { NodePlane } from '../../../adapters/index.js';
import { silentLogger } from '../../../common/index.js';
import { blobFile, OneFleet, type OneNodeConfig } from '../../../control-opennebula/index.js';
import { readSealed } from '../../../pipeline/index.js';
import { planes } from '../../../planes/index.js';
import { acquireFrontEnd, START_TIMEOUT_MS, type TestFrontEnd } from './frontend.js';

const CHUNK = 64 * 1024;
const run = randomUUID().slice(0, 8);
const plane = planes.get('opennebula');
let work = '';
let fe: TestFrontEnd | null = null;
let fleet: OneFleet | null = null;

async function client(cfg: OneNodeConfig): Promise<NodePlane> {
  const factory = plane.nodeClient!;
  const section = factory.configSchema.parse({ kind: 'opennebula', ...cfg });
  return factory.create(section, { node: cfg.username, requestTimeoutMs: 30_000, logger: silentLogger });
}

async function publish(f: OneFleet, name: string, size: number) {
  const raw = join(work, `${name}.raw`);
  writeFileSync(raw, randomBytes(size));
  const sealedDir = join(work, `${name}.sealed`);
  const keysDir = join(work, `${name}.keys`);
  const p = await f.publish({ source: raw, imageId: name, version: '1.0.0', keysDir, sealedDir, chunking: { algorithm: 'fixed', size: CHUNK } });
  const { manifest } = await readSealed(sealedDir, [readFileSync(join(keysDir, 'publisher.pub'))]);
  const oneId = String((p.json as { oneImageId: number }).oneImageId);
  return { p, manifest, blob: readFileSync(blobFile(f.edgeDir, oneId)) };
}

const harness: ConformanceHarness = {
  plane,
  async setUp() {
    work = mkdtempSync(join(tmpdir(), 'edgeplane-one-conformance-'));
    fe = await acquireFrontEnd();
    fleet = new OneFleet(fe.stateDir);
    const a = await publish(fleet, `conf-a-${run}`, 3 * CHUNK + 1234);
    const b = await publish(fleet, `conf-b-${run}`, 2 * CHUNK + 99);
    const [nodeA, nodeB] = await fleet.enroll([`conf-a-${run}`, `conf-b-${run}`]);
    await fleet.assign(a.p.pin, [nodeA!.nodeId]);
    await fleet.assign(b.p.pin, [nodeB!.nodeId]);
    const cfgA = nodeA!.agentPlane as unknown as OneNodeConfig;
    const cfgB = nodeB!.agentPlane as unknown as OneNodeConfig;
    return {
      imageA: a.p.pin,
      imageB: b.p.pin,
      chunkSizes: a.manifest.chunks.map((c) => c.size),
      blob: a.blob,
      nodeA: () => client(cfgA),
      nodeB: () => client(cfgB),
      async nodeAVia(proxy) {
        const oned = new URL(cfgA.endpoint);
        const onedProxy = await proxy(oned.origin);
        const edgeProxy = await proxy(new URL(cfgA.edgeUrl).origin);
        return client({ ...cfgA, endpoint: `${onedProxy.url}${oned.pathname}`, edgeUrl: edgeProxy.url });
      },
    };
  },
  async tearDown() {
    await fleet?.revoke([`conf-a-${run}`, `conf-b-${run}`]).catch(() => {});
    await fleet?.close();
    if (work) rmSync(work, { recursive: true, force: true });
    await fe?.release();
  },
};

registerConformance({ describe, it, beforeAll, afterAll }, harness, { registry: planes, setUpTimeoutMs: START_TIMEOUT_MS, checkTimeoutMs: 120_000 });
