// The staged image written as chunks arrive: each verified chunk (SHA-256 of its blob against the
// signed manifest, AES-256-GCM tag) is decrypted on a crypto worker and its plaintext written once,
// at its offset, into staged/<id>@<version>.img.tmp. `finish` fills in what did not come over the
// wire in this process (chunks held from an earlier version or an earlier start: read back from
// the chunk store, verified and decrypted the same way), checks the whole plaintext's SHA-256 on a
// worker (a read of the page-cached file, no second decrypt or write), then fsync and rename.
// A tampered image never gets its final name.
import { rename, unlink, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../common/index.js';
import { TamperedError, type CryptoPool, type ImageManifest, type Lease } from '../../pipeline/index.js';
import type { ChunkStore } from './chunk-store.js';
import { fsyncDir, tempPathFor } from './durable.js';

type ChunkKeys = Parameters<CryptoPool['open']>[0];

export type StageOutcome = { ok: true } | { ok: false; reason: 'tampered' | 'io'; message: string };

export class DirectStage {
  readonly tmp: string;
  /** plaintext offset of each chunk, by index */
  private readonly offsets: number[];
  private fh: Promise<FileHandle> | null = null;
  private readonly written = new Set<number>();
  private broken: Error | null = null;

  constructor(
    readonly manifest: ImageManifest,
    readonly outPath: string,
    private readonly pool: CryptoPool,
    private readonly keys: ChunkKeys,
    private readonly log: Logger,
  ) {
    this.tmp = tempPathFor(outPath);
    let at = 0;
    this.offsets = manifest.chunks.map((c) => {
      const here = at;
      at += c.plainSize;
      return here;
    });
  }

  private file(): Promise<FileHandle> {
    this.fh ??= open(this.tmp, 'w', 0o600);
    return this.fh;
  }

  /** Chunks whose plaintext is in the file. */
  get landed(): number {
    return this.written.size;
  }

  /**
   * Verifies and decrypts one blob (copied into a crypto lease) and writes its plaintext at the
   * offset of every index that holds it. TamperedError when it fails verification.
   */
  async land(indices: readonly number[], blob: Buffer): Promise<void> {
    const lease = await this.lease(blob.length);
    try {
      blob.copy(lease.input);
      await this.landLeased(indices, lease, blob.length);
    } finally {
      lease.release();
    }
  }

  /** Crypto working memory for a blob of `bytes` (a caller filling it itself saves a copy: `landLeased`). */
  async lease(bytes: number): Promise<Lease> {
    return this.pool.lease(bytes);
  }

  /** `land` for a blob already in `lease.input[0, length)`; the caller keeps the lease (and releases it). */
  async landLeased(indices: readonly number[], lease: Lease, length: number): Promise<void> {
    const entry = this.manifest.chunks[indices[0]];
    try {
      const plain = await this.pool.open(this.keys, this.manifest.imageId, entry, lease, length);
      const fh = await this.file();
      for (const i of indices) {
        await fh.write(plain, 0, plain.length, this.offsets[i]);
        this.written.add(i);
      }
    } catch (err) {
      if (!(err instanceof TamperedError)) this.broken ??= err as Error;
      throw err;
    }
  }

  /** Completes the image from the store where needed, checks it whole, and gives it its final name. */
  async finish(store: ChunkStore): Promise<StageOutcome> {
    let failing: string | null = null;
    try {
      if (this.broken) throw this.broken;
      const biggest = Math.max(0, ...this.manifest.chunks.map((c) => c.size));
      const buf = Buffer.allocUnsafe(biggest + 1);
      for (const entry of this.manifest.chunks) {
        if (this.written.has(entry.index)) continue;
        failing = entry.digest;
        const blob = await store.readInto(entry.digest, buf).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') throw new TamperedError(`chunk ${entry.index} is missing from the store`);
          throw err;
        });
        await this.land([entry.index], blob);
      }
      failing = null;
      const fh = await this.file();
      await fh.sync();
      const whole = await this.pool.hashFile(this.tmp);
      if (whole.bytes !== this.manifest.plaintext.size || whole.digest !== this.manifest.plaintext.sha256) throw new TamperedError('decrypted image SHA-256 does not match the manifest');
      await fh.close();
      this.fh = null;
      await rename(this.tmp, this.outPath);
      await fsyncDir(dirname(this.outPath));
      return { ok: true };
    } catch (err) {
      await this.discard();
      if (err instanceof TamperedError) {
        // a stored blob that fails is useless: drop it so no restart counts it as held
        if (failing !== null) await store.remove(failing);
        this.log.error({ image: `${this.manifest.imageId}@${this.manifest.version}`, err: err.message }, 'staging refused a tampered image');
        return { ok: false, reason: 'tampered', message: err.message };
      }
      this.log.error({ err: (err as Error).message }, 'staging failed (I/O)');
      return { ok: false, reason: 'io', message: (err as Error).message };
    }
  }

  /** Closes and deletes the temp file (an abandoned or failed attempt). */
  async discard(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await (await fh.catch(() => null))?.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }
}
