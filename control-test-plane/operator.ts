import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FleetOperator, PlaneOperator } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { preparePublishInput } from '../pipeline/index.js';
import { assignInTestPlane, checkNodeName, parseImageRef, publishToTestPlane, readNodeRecord, testPlanePaths } from './layout.js';
import { TEST_PLANE_PREFIX } from './server.js';

/** What an enrolled node's agent.yaml gets as its plane URL until the caller sets where the plane is served. */
export const DEFAULT_TEST_PLANE_URL = `http://127.0.0.1:8080${TEST_PLANE_PREFIX}`;

async function openTestPlaneOperator(dir: string): Promise<FleetOperator> {
  const unpin = async (nodeIds: readonly string[]) => {
    for (const nodeId of nodeIds) await assignInTestPlane({ dir, node: checkNodeName(nodeId), pin: null });
    return [...nodeIds];
  };
  return {
    async publish(o) {
      const work = mkdtempSync(join(dir, '.seal-'));
      try {
        const { sealedDir, manifest, dataKey, publicKey, sealed, keysGenerated, keysDir } = await preparePublishInput({ ...o, workDir: work });
        const r = await publishToTestPlane({ dir, sealedDir, dataKey, trusted: [publicKey] });
        return {
          pin: { imageId: manifest.imageId, version: manifest.version },
          chunks: manifest.chunks.length,
          blobBytes: r.blobBytes,
          sealed,
          keysGenerated,
          keysDir,
          details: { ref: r.ref },
          json: { ref: r.ref, chunks: manifest.chunks.length, blobBytes: r.blobBytes },
        };
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    async enroll(nodeIds) {
      const out = [];
      for (const nodeId of nodeIds) {
        const record = await assignInTestPlane({ dir, node: checkNodeName(nodeId) });
        out.push({ nodeId, agentPlane: { kind: 'test-plane', url: DEFAULT_TEST_PLANE_URL, token: record.token }, configFile: null, details: {} });
      }
      return out;
    },
    async assign(pin, nodeIds) {
      const out = [];
      for (const nodeId of nodeIds) {
        await assignInTestPlane({ dir, node: checkNodeName(nodeId), pin });
        out.push({ nodeId, pin: `${pin.imageId}@${pin.version}` });
      }
      return out;
    },
    // the test plane has no node accounts to disable: revoking a node withdraws its pin
    revoke: unpin,
    unassign: unpin,
    async status(nodeIds = []) {
      const ids = nodeIds.length > 0 ? nodeIds : (await readdir(join(dir, 'nodes')).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
      const out = [];
      for (const nodeId of ids) {
        const record = await readNodeRecord(dir, nodeId);
        const text = await readFile(testPlanePaths.reports(dir, nodeId), 'utf8').catch(() => '');
        const last = text.split('\n').filter(Boolean).at(-1);
        const rep = last ? (JSON.parse(last) as { at: number; status: string; image: { imageId: string; version: string } | null; failure?: string }) : null;
        out.push({
          nodeId,
          enabled: record !== null,
          pin: record?.pin ?? null,
          report: rep && { status: rep.status, seq: rep.at, image: rep.image, ...(rep.failure ? { failure: rep.failure } : {}) },
        });
      }
      return out;
    },
  };
}

export const testPlaneOperator: PlaneOperator = {
  nodeName: (id) => id.replace(/\//g, '.'),
  parsePin(text) {
    const a = parseImageRef(text);
    if (!a) throw new InputError(`"${text}" is not <image>@<version>`);
    return a;
  },
  open: openTestPlaneOperator,
};
