// Splitting an image file into chunks, streamed from disk (at most ~2 chunks in memory).
// Fixed-size chunking is the default; content-defined chunking (FastCDC, Xia et al. 2016, with
// normalized chunking) lets a new image version share most chunks with the previous one even when
// bytes were inserted or removed.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { InputError } from '../common/index.js';

export const MiB = 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 4 * MiB;

export type ChunkingSpec = { algorithm: 'fixed'; size: number } | { algorithm: 'fastcdc'; min: number; avg: number; max: number };

export const DEFAULT_CHUNKING: ChunkingSpec = { algorithm: 'fixed', size: DEFAULT_CHUNK_SIZE };

/** FastCDC bounds from an average size: min = avg/4, max = avg*4 (avg must be a power of two). */
export function fastcdcSpec(avg: number): ChunkingSpec {
  return { algorithm: 'fastcdc', min: avg / 4, avg, max: avg * 4 };
}

const MAX_CHUNK = 256 * MiB;

export function validateChunking(spec: ChunkingSpec): ChunkingSpec {
  const bad = (why: string): never => {
    throw new InputError(`invalid chunking: ${why}`);
  };
  if (spec.algorithm === 'fixed') {
    if (!Number.isInteger(spec.size) || spec.size < 4096 || spec.size > MAX_CHUNK) bad(`chunk size ${spec.size} must be an integer from 4 KiB to 256 MiB`);
  } else {
    const { min, avg, max } = spec;
    if (![min, avg, max].every(Number.isInteger)) bad('min/avg/max must be integers');
    if (!(min >= 1024 && min < avg && avg < max && max <= MAX_CHUNK)) bad(`need 1 KiB <= min < avg < max <= 256 MiB (got ${min}/${avg}/${max})`);
    if ((avg & (avg - 1)) !== 0) bad(`avg ${avg} must be a power of two`);
  }
  return spec;
}

/**
 * Yields the file's chunks in order. A yielded Buffer is valid only until the next iteration
 * (fixed chunking reuses two buffers: fresh 4 MiB allocations cost page faults); copy to keep.
 */
export async function* chunkFile(path: string, spec: ChunkingSpec = DEFAULT_CHUNKING): AsyncGenerator<Buffer> {
  validateChunking(spec);
  const fh = await open(path, 'r');
  try {
    if (spec.algorithm === 'fixed') yield* fixedChunks(fh, spec.size);
    else yield* cdcChunks(fh, spec);
  } finally {
    await fh.close();
  }
}

type FileHandle = Awaited<ReturnType<typeof open>>;

async function readAt(fh: FileHandle, position: number, length: number, into?: Buffer): Promise<Buffer> {
  const buf = into ?? Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buf : buf.subarray(0, filled);
}

async function* fixedChunks(fh: FileHandle, size: number): AsyncGenerator<Buffer> {
  let position = 0;
  const ring = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  let turn = 0;
  // read the next chunk into the other buffer while the caller processes this one
  let next = readAt(fh, position, size, ring[turn]);
  for (;;) {
    const chunk = await next;
    if (chunk.length === 0) return;
    position += chunk.length;
    turn ^= 1;
    next = readAt(fh, position, size, ring[turn]);
    yield chunk;
  }
}

async function* cdcChunks(fh: FileHandle, spec: Extract<ChunkingSpec, { algorithm: 'fastcdc' }>): AsyncGenerator<Buffer> {
  const cutter = fastcdcCutter(spec);
  let pending: Buffer = Buffer.alloc(0);
  let position = 0;
  let eof = false;
  for (;;) {
    while (!eof && pending.length < spec.max) {
      const more = await readAt(fh, position, spec.max);
      position += more.length;
      if (more.length === 0) eof = true;
      else pending = pending.length === 0 ? more : Buffer.concat([pending, more]);
    }
    if (pending.length === 0) return;
    const cut = cutter(pending, 0, pending.length);
    yield pending.subarray(0, cut);
    pending = pending.subarray(cut);
  }
}

/** 256 pseudo-random 32-bit gear values; fixed forever because chunk boundaries depend on them. */
const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) table[i] = createHash('sha256').update(`edgeplane-fastcdc-gear-v1/${i}`).digest().readInt32BE(0);
  return table;
})();

/** A mask with `bits` one-bits at the top of the 32-bit gear hash (the top bits see the widest window). */
function topMask(bits: number): number {
  return (~0 << (32 - bits)) | 0;
}

/**
 * FastCDC cut-point search with normalized chunking (level 2): a stricter mask before the
 * average size and a looser one after, so chunk sizes cluster around `avg`.
 * Returns the length of the next chunk starting at `start`.
 */
export function fastcdcCutter(spec: { min: number; avg: number; max: number }): (buf: Uint8Array, start: number, end: number) => number {
  const bits = Math.round(Math.log2(spec.avg));
  const maskS = topMask(bits + 2);
  const maskL = topMask(bits - 2);
  const { min, avg, max } = spec;
  return (buf, start, end) => {
    let n = end - start;
    if (n <= min) return n;
    if (n > max) n = max;
    const normal = Math.min(n, avg);
    let h = 0;
    let i = min;
    for (; i < normal; i++) {
      h = ((h << 1) + GEAR[buf[start + i]]) | 0;
      if ((h & maskS) === 0) return i + 1;
    }
    for (; i < n; i++) {
      h = ((h << 1) + GEAR[buf[start + i]]) | 0;
      if ((h & maskL) === 0) return i + 1;
    }
    return n;
  };
}
