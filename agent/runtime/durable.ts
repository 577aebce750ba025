// Crash-safe file writes: temp file, fsync, rename, then fsync of the directory so the rename
// itself survives a power loss (a SIGKILL alone would not need the fsyncs).
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

let tmpCounter = 0;

export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${++tmpCounter}`;
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * `data` in a fresh temp file beside `path`, still open (not yet synced or renamed); a failed
 * write leaves no temp file behind.
 */
export async function writeTemp(path: string, data: Uint8Array | string, mode?: number): Promise<{ fh: FileHandle; tmp: string }> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return { fh, tmp };
}

/** Writes `data` to `path` atomically; `syncDir: false` leaves the directory fsync to the caller (batching). */
export async function writeDurable(path: string, data: Uint8Array | string, opts: { syncDir?: boolean; mode?: number } = {}): Promise<void> {
  const { fh, tmp } = await writeTemp(path, data, opts.mode);
  try {
    await fh.sync();
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    await fh.close().catch(() => undefined);
  }
  await rename(tmp, path);
  if (opts.syncDir !== false) await fsyncDir(dirname(path));
}

export const isTempName = (name: string): boolean => /\.tmp-\d+-\d+$/.test(name);
