// Plaintext past the page cache (agent/runtime/direct-io.ts): whole aligned blocks go O_DIRECT,
// the rest buffered, and the file holds exactly the bytes either way; the crypto pool places a
// lease's plaintext where the probe accepts it, so a decrypted chunk can be written directly.
import { randomBytes } from 'node:crypto';
import { constants, openSync, closeSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECT_BLOCK, DirectWriter } from '../../../../agent/index.js';
import { alignedOffset, CryptoPool, deriveChunkKeys } from '../../../../pipeline/index.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeplane-dio-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** whether this directory's file system takes O_DIRECT at all (then DirectWriter must not be null) */
function fsTakesDirect(d: string): boolean {
  if (constants.O_DIRECT === undefined) return false;
  try {
    closeSync(openSync(join(d, 'probe'), constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600));
    return true;
  } catch {
    return false;
  }
}

describe('direct writes of the staged image', () => {
  it('aligned, unaligned and mixed pieces land byte-identical; the probe refuses unaligned memory', async () => {
    const path = join(dir, 'img.part');
    await writeFile(path, '');
    const dio = await DirectWriter.open(path);
    expect(dio !== null).toBe(fsTakesDirect(dir));
    if (!dio) return;
    const fh = await open(path, 'r+');
    const image = randomBytes(5 * DIRECT_BLOCK + 1234);
    try {
      // memory at an accepted offset: found by the probe within one block
      const region = Buffer.alloc(image.length + 2 * DIRECT_BLOCK);
      const at = alignedOffset(region, dio.probe);
      expect(at).toBeGreaterThanOrEqual(0);
      expect(dio.probe(region.subarray(at + 16, at + 16 + DIRECT_BLOCK))).toBe(false);
      const aligned = region.subarray(at);
      // piece 1: two whole blocks at 0 (all direct); piece 2: 1.5 blocks at an aligned offset (direct + buffered tail);
      // piece 3: the rest at an unaligned offset (all buffered)
      const pieces: [number, number][] = [
        [0, 2 * DIRECT_BLOCK],
        [2 * DIRECT_BLOCK, 1.5 * DIRECT_BLOCK],
        [3.5 * DIRECT_BLOCK, image.length - 3.5 * DIRECT_BLOCK],
      ];
      for (const [pos, len] of pieces) {
        image.copy(aligned, 0, pos, pos + len);
        await dio.write(fh, aligned.subarray(0, len), pos, true);
      }
      await fh.datasync();
      expect((await readFile(path)).equals(image)).toBe(true);
    } finally {
      await fh.close();
      await dio.close();
    }
  });

  it('a lease places its plaintext where the probe accepts it, and the decrypted chunk goes direct', async () => {
    const path = join(dir, 'chunk.part');
    await writeFile(path, '');
    const dio = await DirectWriter.open(path);
    if (!dio) return expect(fsTakesDirect(dir)).toBe(false);
    const pool = new CryptoPool(1, { leases: 1 });
    const keys = deriveChunkKeys(randomBytes(32));
    const plain = randomBytes(4 * DIRECT_BLOCK);
    const fh = await open(path, 'r+');
    try {
      const lease = await pool.lease(plain.length + 64);
      plain.copy(lease.input);
      const sealed = await pool.seal(keys, 'img', lease, plain.length);
      const blob = Buffer.from(sealed.blob);
      blob.copy(lease.input);
      expect(lease.alignOutput(dio.probe)).toBe(true);
      const out = await pool.open(keys, 'img', { index: 0, digest: sealed.digest, size: blob.length }, lease, blob.length);
      expect(out.equals(plain)).toBe(true);
      expect(dio.probe(Buffer.from(out.buffer, out.byteOffset, DIRECT_BLOCK))).toBe(true);
      await dio.write(fh, out, 0, true);
      lease.release();
      await fh.datasync();
      expect((await readFile(path)).equals(plain)).toBe(true);
    } finally {
      await fh.close();
      await dio.close();
      await pool.close();
    }
  });
});
