// Fleet workflow helpers that need no services: assignment parsing, the Glance blob of a sealed
// image (chunks in manifest order), and the agent configuration written at enrollment.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { agentFileFor, parseAssignment, type EnrolledNode } from '../../../control-openstack/index.js';
import { writeSealedBlob } from '../../../pipeline/index.js';
import { generateDataKey, generatePublisherKeys, readSealedChunk, sealImage } from '../../../pipeline/index.js';

const work = mkdtempSync(join(tmpdir(), 'edgeplane-fleet-unit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('parseAssignment', () => {
  it('reads <image-id>@<version>', () => {
    expect(parseAssignment('9be96f1a-9d95-4745-a8c2-b9b1b87a89cb@1.0')).toEqual({ imageId: '9be96f1a-9d95-4745-a8c2-b9b1b87a89cb', version: '1.0' });
  });
  it('refuses malformed input with InputError', () => {
    for (const bad of ['x', '@1', 'img@', 'a/b@1', 'img@1,2']) expect(() => parseAssignment(bad), bad).toThrow(InputError);
  });
});

describe('writeSealedBlob', () => {
  it('concatenates the sealed chunks in manifest order, repeated chunks included', async () => {
    const block = randomBytes(8192);
    const raw = join(work, 'raw');
    writeFileSync(raw, Buffer.concat([block, randomBytes(8192), block, randomBytes(100)]));
    const dir = join(work, 'sealed');
    const { manifest } = await sealImage({
      imagePath: raw,
      outDir: dir,
      imageId: 'u',
      version: '1',
      dataKey: generateDataKey(),
      signingKey: createPrivateKey(generatePublisherKeys().privateKeyPem),
      chunking: { algorithm: 'fixed', size: 8192 },
    });
    expect(manifest.chunks[0]!.digest).toBe(manifest.chunks[2]!.digest);
    const out = join(work, 'blob');
    const bytes = await writeSealedBlob(dir, manifest, out);
    const expected = Buffer.concat(await Promise.all(manifest.chunks.map((c) => readSealedChunk(dir, c))));
    expect(bytes).toBe(expected.length);
    expect(readFileSync(out).equals(expected)).toBe(true);
  });
});

describe('agentFileFor', () => {
  it('carries the node config under plane kind openstack', () => {
    const config = { authUrl: 'http://k/v3', projectId: 'p', credentials: { kind: 'password' as const, userId: 'u', password: 'pw', projectId: 'p' }, reportCredentialId: 'c' };
    const node: EnrolledNode = { nodeId: 'n1', projectId: 'p', userId: 'u', password: 'pw', reportCredentialId: 'c', config };
    expect(agentFileFor(node, ['publisher.pub'])).toEqual({ node: 'n1', stateDir: '/var/lib/edgeplane/n1', plane: { kind: 'openstack', ...config }, trust: ['publisher.pub'] });
  });
});
