// Every kind of tampering is detected; nothing of a tampered image reaches the hypervisor; the
// agent reports the failure and the old VM keeps running.
import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assignInTestPlane, testPlanePaths } from '../../../../control-test-plane/index.js';
import { DirectStage } from '../../../../agent/index.js';
import { silentLogger } from '../../../../common/index.js';
import { chunkKeysFor, generateDataKey, sharedCryptoPool, signManifest, type ImageManifest } from '../../../../pipeline/index.js';
import { bytes, MiB, newAgent, newPublisher, newRig, publish, RecordingHypervisor, running, sha256, tempDir, type Rig } from './helpers.js';

const V1 = { imageId: 'app', version: '1' };
const V2 = { imageId: 'app', version: '2' };
const CHUNK = 128 * 1024;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function flipBit(buf: Buffer, at: number): Buffer {
  const out = Buffer.from(buf);
  out[at] ^= 0x10;
  return out;
}

type Envelope = { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] };

async function editEnvelope(r: Rig, edit: (e: Envelope) => void): Promise<void> {
  const path = testPlanePaths.manifest(r.planeDir, 'app@2');
  const env = JSON.parse(await readFile(path, 'utf8')) as Envelope;
  edit(env);
  await writeFile(path, JSON.stringify(env));
}

async function editBlob(r: Rig, edit: (blob: Buffer) => Buffer): Promise<void> {
  const path = testPlanePaths.blob(r.planeDir, 'app@2');
  await writeFile(path, edit(await readFile(path)));
}

interface Case {
  name: string;
  reason: string;
  tamper: (r: Rig, m: ImageManifest) => Promise<void>;
}

const offsetOf = (m: ImageManifest, index: number) => m.chunks.slice(0, index).reduce((sum, c) => sum + c.size, 0);

const CASES: Case[] = [
  ...[0, 5, 11].map((index) => ({
    name: `a flipped bit in chunk ${index}`,
    reason: 'tampered',
    tamper: (r: Rig, m: ImageManifest) => editBlob(r, (b) => flipBit(b, offsetOf(m, index) + 1000 + index)),
  })),
  {
    name: 'a truncated chunk in the middle (the rest of the blob shifts)',
    reason: 'tampered',
    tamper: (r, m) => editBlob(r, (b) => Buffer.concat([b.subarray(0, offsetOf(m, 6) + 100), b.subarray(offsetOf(m, 7))])),
  },
  {
    name: 'a truncated last chunk (short blob)',
    reason: 'tampered',
    tamper: async (r) => truncate(testPlanePaths.blob(r.planeDir, 'app@2'), (await readFile(testPlanePaths.blob(r.planeDir, 'app@2'))).length - 10),
  },
  {
    name: 'a flipped bit in the manifest',
    reason: 'invalid',
    tamper: (r) => editEnvelope(r, (e) => (e.payload = flipBit(Buffer.from(e.payload, 'base64'), 200).toString('base64'))),
  },
  {
    name: 'a flipped bit in the signature',
    reason: 'invalid',
    tamper: (r) => editEnvelope(r, (e) => (e.signatures[0].sig = flipBit(Buffer.from(e.signatures[0].sig, 'base64'), 7).toString('base64'))),
  },
  {
    name: 'a manifest signed by an unknown key',
    reason: 'invalid',
    tamper: async (r, m) => writeFile(testPlanePaths.manifest(r.planeDir, 'app@2'), signManifest(m, newPublisher().signingKey)),
  },
  {
    name: 'a wrong data key',
    reason: 'invalid',
    tamper: async (r) => writeFile(testPlanePaths.key(r.planeDir, 'app@2'), generateDataKey()),
  },
  {
    name: 'a signed manifest whose plaintext digest does not match (caught at staging)',
    reason: 'tampered',
    tamper: async (r, m) => writeFile(testPlanePaths.manifest(r.planeDir, 'app@2'), signManifest({ ...m, plaintext: { ...m.plaintext, sha256: sha256(Buffer.from('other')) } }, r.pub.signingKey)),
  },
];

describe('tampering never reaches the hypervisor', () => {
  it.each(CASES)('$name: detected, reported ($reason), old VM kept', async ({ tamper, reason }) => {
    const r = await newRig();
    cleanups.push(() => r.server.close());
    const v1 = await publish(r.planeDir, r.pub, V1, bytes(1 * MiB, 'v1'), CHUNK);
    const v2 = await publish(r.planeDir, r.pub, V2, bytes(1.5 * MiB, 'v2'), CHUNK);
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: V1 });
    const stateDir = await tempDir();
    const hv = new RecordingHypervisor();
    const agent = newAgent(r, stateDir, hv);
    cleanups.push(() => agent.stop());
    await agent.start();
    await agent.until(running(V1), 10_000);

    await tamper(r, v2.manifest);
    await assignInTestPlane({ dir: r.planeDir, node: r.node, pin: V2 });
    await agent.until((s) => s.status === 'FAILED', 10_000);

    expect(hv.started).toEqual([{ image: V1, sha256: sha256(v1.plaintext) }]);
    expect(hv.status()).toBe('running');
    expect(agent.state.running).toEqual(V1);
    expect(agent.state.lastFailure).toBe(reason);
    // no image of v2 (a partial one may stay: it holds only chunks that passed verification, for the retry)
    expect((await readdir(join(stateDir, 'staged'))).filter((n) => n.endsWith('.img'))).toEqual(['app@1.img']);
    await expect
      .poll(async () =>
        (await readFile(testPlanePaths.reports(r.planeDir, r.node), 'utf8'))
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
          .at(-1),
      )
      .toMatchObject({
        status: 'FAILED',
        image: V2,
        failure: reason,
      });
  });

  it('a journaled chunk damaged in the partial image on local disk is caught at staging: the part goes, no image file appears', async () => {
    const pub = newPublisher();
    const img = await publish(await tempDir(), pub, V1, bytes(1 * MiB, 'disk'), CHUNK);
    const keys = chunkKeysFor(img.manifest, pub.dataKey);
    const dir = await tempDir();
    const out = join(dir, 'app@1.img');
    const first = await DirectStage.open(img.manifest, out, sharedCryptoPool(), keys, silentLogger);
    for (const c of img.manifest.chunks) await first.land([c.index], await readFile(join(img.sealedDir, 'chunks', c.digest)));
    await first.sync();
    await first.close();
    // someone edits the partial image between two starts of the agent
    await writeFile(first.part, flipBit(await readFile(first.part), 3 * CHUNK + 99));
    const second = await DirectStage.open(img.manifest, out, sharedCryptoPool(), keys, silentLogger);
    expect(second.held.size).toBe(new Set(img.manifest.chunks.map((c) => c.digest)).size);
    const outcome = await second.finish(() => undefined);
    expect(outcome).toMatchObject({ ok: false, reason: 'tampered' });
    expect(await readdir(dir)).toEqual([]);
  });
});
