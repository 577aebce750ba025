import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function tempDir(prefix = 'ep-pipeline-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Deterministic pseudo-random bytes (so failures reproduce). */
export function bytes(n: number, seed = 'seed'): Buffer {
  const out = Buffer.alloc(n);
  let counter = 0;
  for (let off = 0; off < n; off += 32) createHash('sha256').update(`${seed}/${counter++}`).digest().copy(out, off);
  return out;
}

export async function writeTemp(dir: string, name: string, data: Uint8Array = randomBytes(1024)): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}
