// A file of random bytes (no two chunks share a digest), for images made up for a run.
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

/** Writes `bytes` random bytes to `path`; returns their SHA-256 (hex). */
export function writeRandomFile(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (let done = 0; done < bytes; ) {
      const n = Math.min(buf.length, bytes - done);
      randomFillSync(buf, 0, n);
      writeSync(fd, buf, 0, n);
      hash.update(buf.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
