// The worker-thread chunk crypto gives the same blobs as the in-line code, refuses what the
// in-line code refuses, and its leases bound memory without deadlocking concurrent users.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CryptoPool, decryptChunkParts, deriveChunkKeys, encryptChunk, sha256Hex, TamperedError } from '../../../pipeline/index.js';

const pool = new CryptoPool(2, { leases: 3 });
afterAll(() => pool.close());
const keys = deriveChunkKeys(randomBytes(32));

async function sealed(plain: Buffer): Promise<{ blob: Buffer; digest: string }> {
  const lease = await pool.lease(plain.length);
  plain.copy(lease.input);
  const r = await pool.seal(keys, 'img', lease, plain.length);
  const out = { blob: Buffer.from(r.blob), digest: r.digest };
  lease.release();
  return out;
}

async function opened(entry: { index: number; digest: string; size: number }, blob: Buffer): Promise<Buffer> {
  const lease = await pool.lease(blob.length);
  blob.copy(lease.input);
  try {
    return Buffer.from(await pool.open(keys, 'img', entry, lease, blob.length));
  } finally {
    lease.release();
  }
}

describe('crypto pool', () => {
  it('seals byte-identically to encryptChunk (sizes around the 1 MiB update size) and opens back', async () => {
    for (const size of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 5]) {
      const plain = randomBytes(size);
      const { blob, digest } = await sealed(plain);
      expect(blob.equals(encryptChunk(keys, 'img', plain)), `size ${size}`).toBe(true);
      expect(digest).toBe(sha256Hex(blob));
      expect((await opened({ index: 0, digest, size: blob.length }, blob)).equals(plain)).toBe(true);
      expect(Buffer.concat(decryptChunkParts(keys, 'img', blob)).equals(plain)).toBe(true);
    }
  });

  it('refuses a flipped bit, a truncated blob, a wrong digest and another lineage (TamperedError)', async () => {
    const plain = randomBytes(200_000);
    const { blob, digest } = await sealed(plain);
    const entry = { index: 7, digest, size: blob.length };
    const flipped = Buffer.from(blob);
    flipped[1000] ^= 1;
    await expect(opened(entry, flipped)).rejects.toThrow(/chunk 7: ciphertext digest does not match/);
    await expect(opened(entry, blob.subarray(0, blob.length - 1))).rejects.toThrow(/truncated/);
    // the digest matches but the tag does not: a blob sealed for another lineage
    const lease = await pool.lease(plain.length);
    plain.copy(lease.input);
    const other = await pool.seal(keys, 'other-image', lease, plain.length);
    const otherBlob = Buffer.from(other.blob);
    lease.release();
    const err = await opened({ index: 7, digest: other.digest, size: otherBlob.length }, otherBlob).catch((e) => e);
    expect(err).toBeInstanceOf(TamperedError);
    expect((err as Error).message).toMatch(/authentication failed/);
  });

  it('leases bound what is in flight; concurrent users of one pool finish', async () => {
    const plains = Array.from({ length: 12 }, () => randomBytes(300_000));
    const results = await Promise.all(plains.map((p) => sealed(p)));
    for (const [i, r] of results.entries()) expect(r.blob.equals(encryptChunk(keys, 'img', plains[i]!))).toBe(true);
    expect(pool.tryLease(10)).not.toBeNull();
  });
});
