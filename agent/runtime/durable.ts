// Crash-safe file writes: temp file, fsync, rename, then fsync of the directory so the rename
// itself survives a power loss (a SIGKILL alone would not need the fsyncs).
import { open, rename, unlink } from 'node:fs/promises';
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

/** Writes `data` to `path` atomically; `syncDir: false` leaves the directory fsync to the caller (batching). */
export async function writeDurable(path: string, data: Uint8Array | string, opts: { syncDir?: boolean; mode?: number } = {}): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w', opts.mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    await fh.close().catch(() => undefined);
  }
  await rename(tmp, path);
  if (opts.syncDir !== false) await fsyncDir(dirname(path));
}

export const isTempName = (name: string): boolean => /\.tmp-\d+-\d+$/.test(name);
