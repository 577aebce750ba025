import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CHUNK_OVERHEAD,
  chunkKeysFor,
  decryptChunk,
  deltaPlan,
  encodeManifest,
  generateDataKey,
  generatePublisherKeys,
  openImage,
  readSealedChunk,
  sealImage,
  signManifest,
  TamperedError,
  toManifestInfo,
  verifyChunk,
  verifyManifest,
  type ImageManifest,
} from '../../../pipeline/index.js';
import { InputError } from '../../../common/index.js';
import { bytes, tempDir, writeTemp } from './helpers.js';

const publisher = generatePublisherKeys();
const signingKey = createPrivateKey(publisher.privateKeyPem);
const trusted = [publisher.publicKeyPem];
const chunking = { algorithm: 'fixed', size: 256 * 1024 } as const;

interface Sealed {
  dir: string;
  image: Buffer;
  dataKey: Buffer;
  manifest: ImageManifest;
  envelope: Buffer;
}

async function seal(image: Buffer, opts: { dir?: string; dataKey?: Buffer; version?: string; imageId?: string } = {}): Promise<Sealed> {
  const work = await tempDir();
  const dir = opts.dir ?? join(work, 'sealed');
  const dataKey = opts.dataKey ?? generateDataKey();
  const imagePath = await writeTemp(work, 'image.img', image);
  const r = await sealImage({ imagePath, outDir: dir, imageId: opts.imageId ?? 'app', version: opts.version ?? '1', dataKey, signingKey, keyRef: 'barbican:secret/123', chunking });
  return { dir, image, dataKey, manifest: r.manifest, envelope: r.envelope };
}

async function openTo(s: Sealed, overrides: { dataKey?: Buffer; trustedKeys?: string[] } = {}): Promise<Buffer> {
  const out = join(await tempDir(), 'opened.img');
  await openImage({ sealedDir: s.dir, dataKey: overrides.dataKey ?? s.dataKey, trustedPublicKeys: overrides.trustedKeys ?? trusted, outPath: out });
  return readFile(out);
}

function flipBit(buf: Buffer, byte: number, bit = 0): Buffer {
  const copy = Buffer.from(buf);
  copy[byte] ^= 1 << bit;
  return copy;
}

describe('seal and open', () => {
  let s: Sealed;
  beforeAll(async () => {
    s = await seal(bytes(3 * 1024 * 1024 + 12345));
  });

  it('round-trips the image byte for byte', async () => {
    expect((await openTo(s)).equals(s.image)).toBe(true);
  });

  it('writes a manifest listing sizes, digests, cipher parameters and the key reference', async () => {
    const m = s.manifest;
    expect(m.plaintext.size).toBe(s.image.length);
    expect(m.chunks).toHaveLength(13);
    expect(m.chunks[0]).toMatchObject({ index: 0, size: 256 * 1024 + CHUNK_OVERHEAD, plainSize: 256 * 1024 });
    expect(m.cipher.algorithm).toBe('AES-256-GCM');
    expect(m.keyRef).toBe('barbican:secret/123');
    const files = await readdir(join(s.dir, 'chunks'));
    expect(files.sort()).toEqual([...new Set(m.chunks.map((c) => c.digest))].sort());
  });

  it('exposes the machine contract subset', () => {
    const info = toManifestInfo(s.manifest);
    expect(info).toEqual({ imageId: 'app', version: '1', size: s.image.length, keyRef: 'barbican:secret/123', chunks: s.manifest.chunks.map(({ index, digest, size }) => ({ index, digest, size })) });
  });

  it('is deterministic under one data key: same image, same blobs and manifest', async () => {
    const again = await seal(s.image, { dataKey: s.dataKey });
    expect(encodeManifest(again.manifest).equals(encodeManifest(s.manifest))).toBe(true);
  });

  it('uses a distinct nonce for each distinct chunk', () => {
    const nonces = new Set<string>();
    return Promise.all(s.manifest.chunks.map(async (c) => nonces.add((await readSealedChunk(s.dir, c)).subarray(0, 12).toString('hex')))).then(() =>
      expect(nonces.size).toBe(new Set(s.manifest.chunks.map((c) => c.digest)).size),
    );
  });

  it('verifies and decrypts single chunks (the agent runtime API)', async () => {
    const keys = chunkKeysFor(s.manifest, s.dataKey);
    const ref = s.manifest.chunks[2];
    const blob = await readSealedChunk(s.dir, ref);
    expect(verifyChunk(ref, blob)).toBe(true);
    expect(verifyChunk(ref, flipBit(blob, 100))).toBe(false);
    expect(decryptChunk(s.manifest, keys, ref, blob).equals(s.image.subarray(2 * 262144, 3 * 262144))).toBe(true);
    expect(decryptChunk(s.manifest, s.dataKey, ref, blob).length).toBe(262144);
  });
});

describe('tampering is detected', () => {
  let s: Sealed;
  beforeAll(async () => {
    s = await seal(bytes(600 * 1024, 'tamper'));
  });

  async function withChunk(index: number, edit: (b: Buffer) => Buffer): Promise<Sealed> {
    const copy = await seal(s.image, { dataKey: s.dataKey });
    const p = join(copy.dir, 'chunks', copy.manifest.chunks[index].digest);
    await writeFile(p, edit(await readFile(p)));
    return copy;
  }

  it('a flipped bit in a chunk (open, and the per-chunk API)', async () => {
    const bad = await withChunk(1, (b) => flipBit(b, 5000, 3));
    await expect(openTo(bad)).rejects.toThrow(/chunk 1: ciphertext digest does not match/);
    const blob = flipBit(await readSealedChunk(s.dir, s.manifest.chunks[1]), 5000, 3);
    expect(() => decryptChunk(s.manifest, s.dataKey, s.manifest.chunks[1], blob)).toThrow(TamperedError);
  });

  it('a truncated chunk', async () => {
    const bad = await withChunk(0, (b) => b.subarray(0, b.length - 1));
    await expect(openTo(bad)).rejects.toThrow(/chunk 0: .* \(truncated\)/);
  });

  it('a chunk that matches its digest but fails GCM authentication (forged by someone with the digest list)', async () => {
    // rewrite a manifest so that a modified blob's digest is listed, signed by the real key:
    // only the GCM tag can catch this (e.g. a compromised publisher pipeline step)
    const blob = flipBit(await readSealedChunk(s.dir, s.manifest.chunks[0]), 40);
    const forged: ImageManifest = structuredClone(s.manifest);
    const { sha256Hex } = await import('../../../pipeline/index.js');
    forged.chunks[0].digest = sha256Hex(blob);
    expect(() => decryptChunk(forged, s.dataKey, forged.chunks[0], blob)).toThrow(/chunk 0: authentication failed/);
  });

  it('a chunk of another lineage under the same key (AAD binds the image id)', async () => {
    const other = await seal(s.image, { dataKey: s.dataKey, imageId: 'other' });
    const blob = await readSealedChunk(other.dir, other.manifest.chunks[0]);
    const forged: ImageManifest = structuredClone(s.manifest);
    forged.chunks[0].digest = other.manifest.chunks[0].digest;
    expect(() => decryptChunk(forged, s.dataKey, forged.chunks[0], blob)).toThrow(TamperedError);
  });

  it('a flipped bit anywhere in the signed manifest file', async () => {
    // every byte position, one bit each: parse error, bad base64 or bad signature, never accepted
    for (let i = 0; i < s.envelope.length; i += 7) {
      expect(() => verifyManifest(flipBit(s.envelope, i, i % 7), trusted), `byte ${i}`).toThrow(TamperedError);
    }
  });

  it('a modified manifest field (re-encoded payload, original signature)', () => {
    const env = JSON.parse(s.envelope.toString());
    const m = JSON.parse(Buffer.from(env.payload, 'base64').toString());
    m.chunks[0].digest = m.chunks[1].digest;
    env.payload = Buffer.from(JSON.stringify(m)).toString('base64');
    expect(() => verifyManifest(JSON.stringify(env), trusted)).toThrow(/signature does not verify/);
  });

  it('a flipped bit in the signature', () => {
    const env = JSON.parse(s.envelope.toString());
    const sig = Buffer.from(env.signatures[0].sig, 'base64');
    sig[10] ^= 0x10;
    env.signatures[0].sig = sig.toString('base64');
    expect(() => verifyManifest(JSON.stringify(env), trusted)).toThrow(/signature does not verify/);
  });

  it('a manifest signed by an unknown key', async () => {
    const mallory = generatePublisherKeys();
    const envelope = signManifest(s.manifest, createPrivateKey(mallory.privateKeyPem));
    expect(() => verifyManifest(envelope, trusted)).toThrow(/untrusted key/);
    // and trusting only mallory rejects the real one
    await expect(openTo(s, { trustedKeys: [mallory.publicKeyPem] })).rejects.toThrow(/untrusted key/);
    // claiming the trusted key id does not help an unknown signer
    const env = JSON.parse(envelope.toString());
    env.signatures[0].keyid = JSON.parse(s.envelope.toString()).signatures[0].keyid;
    expect(() => verifyManifest(JSON.stringify(env), trusted)).toThrow(/signature does not verify/);
  });

  it('a wrong data key', async () => {
    await expect(openTo(s, { dataKey: generateDataKey() })).rejects.toThrow(/wrong data key/);
    expect(() => decryptChunk(s.manifest, generateDataKey(), s.manifest.chunks[0], Buffer.alloc(10))).toThrow(TamperedError);
  });

  it('tampering errors are input errors (exit 2) and leave no output file', async () => {
    const bad = await withChunk(2, (b) => flipBit(b, 1));
    const out = join(await tempDir(), 'x.img');
    const err = await openImage({ sealedDir: bad.dir, dataKey: bad.dataKey, trustedPublicKeys: trusted, outPath: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    await expect(readdir(join(out, '..'))).resolves.toEqual([]);
  });

  it('accepts KeyObjects as trusted keys and rejects non-Ed25519 ones', () => {
    expect(verifyManifest(s.envelope, [createPublicKey(publisher.publicKeyPem)]).imageId).toBe('app');
    expect(() => verifyManifest(s.envelope, [])).toThrow(/no trusted publisher keys/);
  });
});

describe('delta between versions', () => {
  it('reports only changed chunks; unchanged ones encrypt identically under the lineage key', async () => {
    const v1 = bytes(2 * 1024 * 1024, 'v1');
    const v2 = Buffer.from(v1);
    v2.write('patched', 700_000); // inside chunk 2
    const dataKey = generateDataKey();
    const dir = join(await tempDir(), 'store');
    const a = await seal(v1, { dataKey, dir, version: '1' });
    const b = await seal(v2, { dataKey, dir, version: '2' });
    const plan = deltaPlan(toManifestInfo(a.manifest), toManifestInfo(b.manifest));
    expect(plan.fetch.map((c) => c.index)).toEqual([2]);
    expect(plan.fetchBytes).toBe(256 * 1024 + CHUNK_OVERHEAD);
    expect(plan.reusedBytes).toBe(plan.totalBytes - plan.fetchBytes);
    expect(deltaPlan(null, b.manifest).fetchBytes).toBe(plan.totalBytes);
    // sealing v2 into v1's directory added one blob and v2 opens from it
    expect(await readdir(join(dir, 'chunks'))).toHaveLength(a.manifest.chunks.length + 1);
    expect((await openTo(b)).equals(v2)).toBe(true);
  });

  it('counts a chunk repeated within one version once', () => {
    const c = (index: number, digest: string) => ({ index, digest: digest.repeat(64), size: 100 });
    const plan = deltaPlan(null, { chunks: [c(0, 'a'), c(1, 'b'), c(2, 'a')] });
    expect(plan.fetch).toHaveLength(2);
    expect(plan.fetchBytes).toBe(200);
    expect(plan.reusedBytes).toBe(100);
  });
});
