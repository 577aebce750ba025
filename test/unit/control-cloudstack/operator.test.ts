// The CloudStack operator (`edgeplane fleet ... --plane cloudstack`) against the emulator in this
// process: publish seals and registers the image, enroll writes agent configs whose keys work,
// assign pins and opens the template and the key to the node, revoke disables the node's account
// (its signed calls, origin and KMS requests answer 401 at once), an assignment to a revoked node
// is refused with exit 2, a re-enrolled node gets fresh keys (the old ones stay refused), status
// reads pins and reports.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { NodePlane } from '../../../adapters/index.js';
import { silentLogger } from '../../../common/index.js';
import { CloudStackApiError, CloudStackNodePlane, cloudstack, openCloudStackFleet, runEmulator, type CloudStackFleet, type RunningEmulator } from '../../../control-cloudstack/index.js';

let dir = '';
let stateDir = '';
let stack: RunningEmulator;
let fleet: CloudStackFleet;
const IMAGE = Buffer.alloc(200 * 1024);
for (let off = 0, i = 0; off < IMAGE.length; off += 32, i++) createHash('sha256').update(`cs-op/${i}`).digest().copy(IMAGE, off);

async function nodeClient(agentPlane: Record<string, unknown>, node: string): Promise<NodePlane & { close(): void }> {
  const f = cloudstack.nodeClient!;
  const c = await f.create(f.configSchema.parse(agentPlane), { node, requestTimeoutMs: 5_000, logger: silentLogger });
  expect(c).toBeInstanceOf(CloudStackNodePlane);
  return c as CloudStackNodePlane;
}

async function status401(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).not.toBeNull();
  const code = err instanceof CloudStackApiError ? err.errorcode : (err as { status?: number }).status;
  expect(code, String(err)).toBe(401);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ep-cs-op-'));
  stateDir = join(dir, 'state');
  stack = await runEmulator({ stateDir, port: 0, coreHosts: 0, edgeHosts: 1, builtinAgents: false });
  fleet = await openCloudStackFleet(stateDir);
}, 30_000);

afterAll(async () => {
  await fleet?.close();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cloudstack fleet operator', () => {
  let enrolled: Awaited<ReturnType<CloudStackFleet['enroll']>>;

  it('is the descriptor operator; no emulator in a folder is exit 3; --cloud is not supported (exit 2)', async () => {
    expect(cloudstack.operator?.nodeName('site-000/node-0001')).toBe('site-000-node-0001');
    expect(cloudstack.operator?.parsePin('img@v1')).toEqual({ imageId: 'img', version: 'v1' });
    expect(() => cloudstack.operator?.parsePin('img')).toThrow(expect.objectContaining({ exitCode: 2 }));
    await expect(openCloudStackFleet(join(dir, 'nothing'))).rejects.toMatchObject({ exitCode: 3 });
    await expect(openCloudStackFleet(stateDir, { cloud: 'x' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/not supported/) });
  });

  it('publish seals the image and registers it; enroll writes 0600 agent configs', async () => {
    const src = join(dir, 'image.raw');
    await writeFile(src, IMAGE);
    const p = await fleet.publish({ source: src, imageId: 'app', version: 'v1', keysDir: join(dir, 'keys'), chunking: { algorithm: 'fixed', size: 64 * 1024 } });
    expect(p.pin).toEqual({ imageId: 'app', version: 'v1' });
    expect(p.chunks).toBe(4);
    expect(p.keysGenerated).toBe(true);
    expect(p.blobBytes).toBeGreaterThan(IMAGE.length);
    await expect(fleet.publish({ source: src, imageId: 'app', version: 'v1', keysDir: join(dir, 'keys') })).rejects.toMatchObject({ exitCode: 2 });
    enrolled = await fleet.enroll(['node-b', 'node-a', 'node-a'], { outDir: join(dir, 'agents') });
    expect(enrolled.map((e) => e.nodeId)).toEqual(['node-a', 'node-b']);
    for (const e of enrolled) {
      expect(((await stat(e.configFile!)).mode & 0o777).toString(8)).toBe('600');
      const yaml = parseYaml(await readFile(e.configFile!, 'utf8')) as { plane: Record<string, unknown> };
      expect(cloudstack.nodeClient!.configSchema.safeParse(yaml.plane).success).toBe(true);
    }
    await expect(fleet.enroll(['Bad_Name'])).rejects.toMatchObject({ exitCode: 2 });
    await expect(fleet.enroll(['admin'])).rejects.toMatchObject({ exitCode: 2 });
    const st = await fleet.status();
    expect(st.map((s) => [s.nodeId, s.enabled, s.pin])).toEqual([
      ['node-a', true, null],
      ['node-b', true, null],
    ]);
  });

  it('assign: the node reads its pin, manifest, key and bytes with its own keys; a node not pinned cannot read the key', async () => {
    await expect(fleet.assign({ imageId: 'app', version: 'v9' }, ['node-a'])).rejects.toMatchObject({ exitCode: 2 });
    await expect(fleet.assign({ imageId: 'app', version: 'v1' }, ['node-zz'])).rejects.toMatchObject({ exitCode: 2 });
    expect(await fleet.assign({ imageId: 'app', version: 'v1' }, ['node-a'])).toEqual([{ nodeId: 'node-a', pin: 'app@v1' }]);
    const a = await nodeClient(enrolled[0]!.agentPlane, 'node-a');
    const b = await nodeClient(enrolled[1]!.agentPlane, 'node-b');
    try {
      await a.login();
      expect(await a.getAssignment()).toEqual({ imageId: 'app', version: 'v1' });
      const m = await a.getManifest({ imageId: 'app', version: 'v1' });
      const key = await a.getKey(m.keyRef);
      expect(key.equals(await readFile(join(dir, 'keys', 'data.key')))).toBe(true);
      const first = await a.downloadRange(m.blobRef, 0, 1000);
      expect(first.length).toBe(1000);
      // node-b is enrolled but not pinned: no pin, no key
      await b.login();
      expect(await b.getAssignment()).toBeNull();
      await expect(b.getKey(m.keyRef)).rejects.toThrow(/403/);
      await a.report({ status: 'RUNNING', image: { imageId: 'app', version: 'v1' } });
      let st = await fleet.status(['node-a']);
      for (let i = 0; i < 50 && st[0]!.report === null; i++) {
        await new Promise((r) => setTimeout(r, 20));
        st = await fleet.status(['node-a']);
      }
      expect(st[0]).toMatchObject({ nodeId: 'node-a', enabled: true, pin: { imageId: 'app', version: 'v1' }, report: { status: 'RUNNING', image: { imageId: 'app', version: 'v1' } } });
      expect(st[0]!.report!.seq).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      a.close();
      b.close();
    }
  });

  it('revoke: the node gets 401 on the API, the origin and the KMS; assigning to it is exit 2; the other node keeps working', async () => {
    await fleet.assign({ imageId: 'app', version: 'v1' }, ['node-b']);
    const a = await nodeClient(enrolled[0]!.agentPlane, 'node-a');
    const b = await nodeClient(enrolled[1]!.agentPlane, 'node-b');
    try {
      const m = await a.getManifest({ imageId: 'app', version: 'v1' });
      expect(await fleet.revoke(['node-a'])).toEqual(['node-a']);
      await status401(a.login());
      await status401(a.getAssignment());
      await status401(a.getKey(m.keyRef));
      await status401(a.downloadRange(m.blobRef, 0, 100));
      await expect(fleet.assign({ imageId: 'app', version: 'v1' }, ['node-a'])).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/revoked/) });
      await expect(fleet.revoke(['node-zz'])).rejects.toMatchObject({ exitCode: 2 });
      const st = await fleet.status();
      expect(st.find((s) => s.nodeId === 'node-a')).toMatchObject({ enabled: false, pin: null });
      expect(st.find((s) => s.nodeId === 'node-b')).toMatchObject({ enabled: true, pin: { imageId: 'app', version: 'v1' } });
      await b.login();
      expect((await b.getKey(m.keyRef)).length).toBe(32);
      // revoking twice is harmless
      expect(await fleet.revoke(['node-a'])).toEqual(['node-a']);
    } finally {
      a.close();
      b.close();
    }
  });

  it('re-enroll: fresh keys work, the revoked ones stay refused', async () => {
    const [again] = await fleet.enroll(['node-a']);
    expect(again!.agentPlane.apiKey).not.toBe(enrolled[0]!.agentPlane.apiKey);
    const fresh = await nodeClient(again!.agentPlane, 'node-a');
    const old = await nodeClient(enrolled[0]!.agentPlane, 'node-a');
    try {
      await fresh.login();
      await status401(old.login());
      expect((await fleet.status(['node-a']))[0]).toMatchObject({ enabled: true, pin: null });
      await fleet.assign({ imageId: 'app', version: 'v1' }, ['node-a']);
      expect(await fresh.getAssignment()).toEqual({ imageId: 'app', version: 'v1' });
    } finally {
      fresh.close();
      old.close();
    }
  });
});
