// Incompressible test data for the benchmarks, written in 4 MiB steps (never held in memory whole).
import { createCipheriv, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';

const STEP = 4 * 1024 * 1024;

export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const ctr = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  const zeros = Buffer.alloc(STEP);
  const fh = await open(path, 'w');
  try {
    for (let pos = 0; pos < bytes; pos += zeros.length) await fh.write(ctr.update(zeros.subarray(0, Math.min(zeros.length, bytes - pos))));
  } finally {
    await fh.close();
  }
}
