// Executes a `stage` action: every chunk is read back from the store, verified again (size,
// digest, GCM tag) and decrypted in manifest order, streaming into <id>@<version>.img.tmp; the
// whole plaintext's SHA-256 is checked against the signed manifest before fsync and rename.
// Plaintext exists nowhere else; a tampered image never gets its final name.
import { createHash } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../common/index.js';
import { decryptChunk, TamperedError, type ImageManifest } from '../../pipeline/index.js';
import type { ChunkStore } from './chunk-store.js';
import { fsyncDir, tempPathFor } from './durable.js';

type ChunkKeys = Parameters<typeof decryptChunk>[1];

export type StageOutcome = { ok: true } | { ok: false; reason: 'tampered' | 'io'; message: string };

export async function stageImage(opts: { manifest: ImageManifest; keys: ChunkKeys; store: ChunkStore; outPath: string; log: Logger }): Promise<StageOutcome> {
  const { manifest, store } = opts;
  const tmp = tempPathFor(opts.outPath);
  let out;
  try {
    out = await open(tmp, 'w', 0o600);
  } catch (err) {
    return { ok: false, reason: 'io', message: (err as Error).message };
  }
  let failing: string | null = null;
  try {
    const hash = createHash('sha256');
    const biggest = Math.max(0, ...manifest.chunks.map((c) => c.size));
    // two buffers: the next blob is read while this one is verified, decrypted and written
    const ring = [Buffer.allocUnsafe(biggest + 1), Buffer.allocUnsafe(biggest + 1)];
    const read = (i: number) => {
      const p = store.readInto(manifest.chunks[i].digest, ring[i % 2]);
      p.catch(() => undefined); // awaited in order below; no unhandled rejection if we stop early
      return p;
    };
    let nextBlob = manifest.chunks.length > 0 ? read(0) : null;
    let position = 0;
    let pendingWrite: Promise<unknown> = Promise.resolve();
    for (const entry of manifest.chunks) {
      failing = entry.digest;
      const blob = await nextBlob!.catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new TamperedError(`chunk ${entry.index} is missing from the store`);
        throw err;
      });
      // the other ring slot held the previous blob, already decrypted into its own buffers
      nextBlob = entry.index + 1 < manifest.chunks.length ? read(entry.index + 1) : null;
      const plain = decryptChunk(manifest, opts.keys, entry, blob);
      hash.update(plain);
      await pendingWrite;
      pendingWrite = out.write(plain, 0, plain.length, position);
      position += plain.length;
    }
    failing = null;
    await pendingWrite;
    if (hash.digest('hex') !== manifest.plaintext.sha256) throw new TamperedError('decrypted image SHA-256 does not match the manifest');
    await out.sync();
    await out.close();
    await rename(tmp, opts.outPath);
    await fsyncDir(dirname(opts.outPath));
    return { ok: true };
  } catch (err) {
    await out.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    if (err instanceof TamperedError) {
      // a stored blob that fails is useless: drop it so no restart counts it as held
      if (failing !== null) await store.remove(failing);
      opts.log.error({ image: `${manifest.imageId}@${manifest.version}`, err: err.message }, 'staging refused a tampered image');
      return { ok: false, reason: 'tampered', message: err.message };
    }
    opts.log.error({ err: (err as Error).message }, 'staging failed (I/O)');
    return { ok: false, reason: 'io', message: (err as Error).message };
  }
}
