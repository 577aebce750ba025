// The content-addressed chunk store: <stateDir>/chunks/<sha256 of the blob>. A file appears under
// its digest only after its bytes were verified, written to a temp file, fsynced and renamed, so
// a name in the store is a verified chunk (reads re-verify before use anyway).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileInto } from '../../pipeline/index.js';
import { fsyncDir, isTempName, writeTemp } from './durable.js';

const DIGEST_RE = /^[0-9a-f]{64}$/;

export class ChunkStore {
  private unsynced: { fh: FileHandle; tmp: string; path: string }[] = [];

  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) if (isTempName(name)) await unlink(join(this.dir, name)).catch(() => undefined);
  }

  pathOf(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw new Error(`not a chunk digest: ${digest}`);
    return join(this.dir, digest);
  }

  /**
   * Writes a verified blob to a temp file; it gets its name at the next `sync()`, which makes a
   * batch durable at once (their fdatasyncs in parallel, renames, one directory fsync) instead of
   * one fsync per chunk on the fetch path. A crash before the sync leaves temp files (removed at
   * `init`): those chunks are fetched again.
   */
  async put(digest: string, blob: Uint8Array): Promise<void> {
    const path = this.pathOf(digest);
    const { fh, tmp } = await writeTemp(path, blob);
    this.unsynced.push({ fh, tmp, path });
  }

  /** Makes every blob `put` since the last sync durable under its digest. */
  async sync(): Promise<void> {
    const batch = this.unsynced;
    this.unsynced = [];
    try {
      await Promise.all(batch.map((b) => b.fh.datasync()));
    } finally {
      await Promise.all(batch.map((b) => b.fh.close().catch(() => undefined)));
    }
    for (const b of batch) await rename(b.tmp, b.path);
    await fsyncDir(this.dir);
  }

  async digests(): Promise<string[]> {
    return (await readdir(this.dir)).filter((name) => DIGEST_RE.test(name));
  }

  /** Re-hashes a stored blob: true when it still has its digest and `size`. */
  async verify(digest: string, size: number): Promise<boolean> {
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      for await (const part of createReadStream(this.pathOf(digest), { highWaterMark: 1024 * 1024 })) {
        bytes += (part as Buffer).length;
        hash.update(part as Buffer);
      }
    } catch {
      return false;
    }
    return bytes === size && hash.digest('hex') === digest;
  }

  /** Reads a blob into `into` (which must hold size + 1 bytes so a longer file shows); returns the bytes read. */
  async readInto(digest: string, into: Buffer): Promise<Buffer> {
    return readFileInto(await open(this.pathOf(digest), 'r'), into);
  }

  async remove(digest: string): Promise<void> {
    await unlink(this.pathOf(digest)).catch(() => undefined);
  }
}
