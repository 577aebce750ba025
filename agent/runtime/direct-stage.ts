// The staged image, written once. Each verified chunk (SHA-256 of its blob against the signed
// manifest, AES-256-GCM tag) is decrypted on a crypto worker and its plaintext written at its
// offset into staged/<ref>.img.part. That partial image and its journal (<ref>.img.journal: the
// digest of each landed blob, one a line, appended only after the part's bytes were fdatasynced)
// are the agent's resume and delta store; no ciphertext is kept:
//  - a restart keeps every journaled chunk (reconcile counts it verified: it is not fetched again);
//  - a new version copies its unchanged chunks (same blob digest, so the same plaintext) from the
//    staged image of the old one, or from another partial image, by plaintext offset.
// `finish` completes the part from those copies, checks the whole plaintext's SHA-256 against the
// signed manifest on a worker (this is what catches a journaled chunk or an old image changed on
// disk), fsyncs and renames it to <ref>.img. A tampered image never gets its final name.
import { constants } from 'node:fs';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../common/index.js';
import { TamperedError, type CryptoPool, type ImageManifest, type Lease } from '../../pipeline/index.js';
import { DirectWriter } from './direct-io.js';
import { fsyncDir } from './durable.js';

type ChunkKeys = Parameters<CryptoPool['open']>[0];

export type StageOutcome = { ok: true } | { ok: false; reason: 'tampered' | 'io'; message: string };

export const partPathFor = (outPath: string): string => `${outPath}.part`;
export const journalPathFor = (outPath: string): string => `${outPath}.journal`;

const DIGEST_LINE = /^[0-9a-f]{64}$/;

/** The digests a journal lists (whole, well-formed lines only: a line cut by a power loss is not counted); [] when there is none. */
export async function readJournal(path: string): Promise<string[]> {
  const text = await readFile(path, 'latin1').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line not finished
  return lines.filter((l) => DIGEST_LINE.test(l));
}

/** Where a chunk's plaintext can be copied from: `size` bytes at `offset` of the file at `path`. */
export interface PlainSource {
  path: string;
  offset: number;
  size: number;
}
export type SourceOf = (digest: string) => PlainSource | undefined;

/** Plaintext offset of each chunk of a manifest, by position. */
export function plainOffsets(manifest: ImageManifest): number[] {
  let at = 0;
  return manifest.chunks.map((c) => {
    const here = at;
    at += c.plainSize;
    return here;
  });
}

export class DirectStage {
  readonly part: string;
  readonly journal: string;
  /** plaintext offset of each chunk, by position */
  readonly offsets: number[];
  private fh: Promise<FileHandle> | null = null;
  /** the part's O_DIRECT descriptor (null where the file system has none) */
  private dio: Promise<DirectWriter | null> | null = null;
  /** blob digests whose plaintext is in the part at every index holding them (journaled or landed in this process) */
  private readonly landedDigests: Set<string>;
  /** landed since the last `sync`: journaled there */
  private unjournaled: string[] = [];
  private readonly positionsOf = new Map<string, number[]>();
  private broken: Error | null = null;

  private constructor(
    readonly manifest: ImageManifest,
    readonly outPath: string,
    private readonly pool: CryptoPool,
    private readonly keys: ChunkKeys,
    private readonly log: Logger,
    journaled: readonly string[],
  ) {
    this.part = partPathFor(outPath);
    this.journal = journalPathFor(outPath);
    this.offsets = plainOffsets(manifest);
    manifest.chunks.forEach((c, position) => {
      const at = this.positionsOf.get(c.digest);
      if (at) at.push(position);
      else this.positionsOf.set(c.digest, [position]);
    });
    this.landedDigests = new Set(journaled.filter((d) => this.positionsOf.has(d)));
  }

  /** The partial image of `manifest` at `outPath`: what its journal lists is counted landed (`finish` checks it whole). */
  static async open(manifest: ImageManifest, outPath: string, pool: CryptoPool, keys: ChunkKeys, log: Logger): Promise<DirectStage> {
    return new DirectStage(manifest, outPath, pool, keys, log, await readJournal(journalPathFor(outPath)));
  }

  private file(): Promise<FileHandle> {
    // never O_TRUNC: a part left by an earlier process holds journaled chunks
    this.fh ??= open(this.part, constants.O_RDWR | constants.O_CREAT, 0o600);
    return this.fh;
  }

  private direct(): Promise<DirectWriter | null> {
    this.dio ??= this.file().then(() => DirectWriter.open(this.part));
    return this.dio;
  }

  /** Blob digests whose plaintext the part holds. */
  get held(): ReadonlySet<string> {
    return this.landedDigests;
  }

  /** Where the plaintext of `digest` is in the part, if it is there. */
  sourceOf(digest: string): PlainSource | undefined {
    if (!this.landedDigests.has(digest)) return undefined;
    const position = this.positionsOf.get(digest)![0];
    return { path: this.part, offset: this.offsets[position], size: this.manifest.chunks[position].plainSize };
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
      const dio = await this.direct();
      const aligned = dio !== null && lease.alignOutput(dio.probe);
      const plain = await this.pool.open(this.keys, this.manifest.imageId, entry, lease, length);
      const fh = await this.file();
      for (const i of indices) {
        if (dio) await dio.write(fh, plain, this.offsets[i], aligned);
        else await fh.write(plain, 0, plain.length, this.offsets[i]);
      }
      if (!this.landedDigests.has(entry.digest)) {
        this.landedDigests.add(entry.digest);
        this.unjournaled.push(entry.digest);
      }
    } catch (err) {
      if (!(err instanceof TamperedError)) this.broken ??= err as Error;
      throw err;
    }
  }

  /**
   * Makes every chunk landed so far durable: the part's bytes are fdatasynced, then the chunks are
   * appended to the journal (fdatasynced too). A crash before it leaves them unjournaled: fetched again.
   */
  async sync(): Promise<void> {
    const batch = this.unjournaled;
    if (batch.length === 0) return;
    this.unjournaled = [];
    try {
      await (await this.file()).datasync();
      const j = await open(this.journal, 'a', 0o600);
      try {
        await j.write(`${batch.join('\n')}\n`);
        await j.datasync();
      } finally {
        await j.close();
      }
    } catch (err) {
      this.unjournaled.unshift(...batch);
      throw err;
    }
  }

  /** Completes the image from `sourceOf` where needed, checks it whole, and gives it its final name. */
  async finish(sourceOf: SourceOf): Promise<StageOutcome> {
    try {
      if (this.broken) throw this.broken;
      const fh = await this.file();
      await this.copyMissing(fh, sourceOf);
      await fh.truncate(this.manifest.plaintext.size);
      await fh.sync();
      const whole = await this.pool.hashFile(this.part, { direct: (await this.direct()) !== null });
      if (whole.bytes !== this.manifest.plaintext.size || whole.digest !== this.manifest.plaintext.sha256) throw new TamperedError('decrypted image SHA-256 does not match the manifest');
      await (await this.dio)?.close();
      this.dio = null;
      await fh.close();
      this.fh = null;
      await rename(this.part, this.outPath);
      await unlink(this.journal).catch(() => undefined);
      await fsyncDir(dirname(this.outPath));
      return { ok: true };
    } catch (err) {
      if (err instanceof TamperedError) {
        // a part that fails is useless: none of it may count as held any more
        await this.discard();
        this.log.error({ image: `${this.manifest.imageId}@${this.manifest.version}`, err: err.message }, 'staging refused a tampered image');
        return { ok: false, reason: 'tampered', message: err.message };
      }
      // an I/O failure keeps the part and its journal: a later attempt (or start) reopens them
      await this.close();
      this.log.error({ err: (err as Error).message }, 'staging failed (I/O)');
      return { ok: false, reason: 'io', message: (err as Error).message };
    }
  }

  /** Copies the plaintext of each chunk the part lacks from another image that holds its digest. */
  private async copyMissing(fh: FileHandle, sourceOf: SourceOf): Promise<void> {
    const missing = this.manifest.chunks.filter((c) => !this.landedDigests.has(c.digest));
    if (missing.length === 0) return;
    const buf = Buffer.allocUnsafe(Math.max(...missing.map((c) => c.plainSize)));
    const files = new Map<string, FileHandle>();
    try {
      for (const c of missing) {
        if (this.landedDigests.has(c.digest)) continue; // copied at an earlier index of the same digest
        const from = sourceOf(c.digest);
        if (!from || from.size !== c.plainSize) throw new TamperedError(`chunk ${c.index} is held nowhere on this node`);
        let src = files.get(from.path);
        if (!src) {
          src = await open(from.path, 'r');
          files.set(from.path, src);
        }
        const { bytesRead } = await src.read(buf, 0, from.size, from.offset);
        if (bytesRead !== from.size) throw new TamperedError(`chunk ${c.index}: ${from.path} is shorter than its manifest`);
        for (const position of this.positionsOf.get(c.digest)!) await fh.write(buf, 0, from.size, this.offsets[position]);
        this.landedDigests.add(c.digest);
      }
    } finally {
      for (const f of files.values()) await f.close().catch(() => undefined);
    }
  }

  /** Closes the part, keeping it and its journal (the resume store of a later round or start). */
  async close(): Promise<void> {
    const fh = this.fh;
    const dio = this.dio;
    this.fh = null;
    this.dio = null;
    if (dio) await (await dio.catch(() => null))?.close().catch(() => undefined);
    if (fh) await (await fh.catch(() => null))?.close().catch(() => undefined);
  }

  /** Closes and deletes the part and its journal (a failed or abandoned attempt). */
  async discard(): Promise<void> {
    await this.close();
    this.landedDigests.clear();
    this.unjournaled = [];
    await unlink(this.part).catch(() => undefined);
    await unlink(this.journal).catch(() => undefined);
  }
}
