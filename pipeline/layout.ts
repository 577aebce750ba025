// Directory layout of a sealed image (also what a plane's object store or web server serves):
//   <dir>/manifest.json        the signed manifest: a DSSE envelope (see manifest.ts)
//   <dir>/chunks/<digest>      chunk blobs, nonce ‖ ciphertext ‖ tag, named by their hex SHA-256
// Sealing a new version into the same <dir> stores only the blobs not already there (identical
// chunks of a lineage are stored once) and replaces manifest.json.
import { access, mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkRef } from '../agent/machine/index.js';
import { InputError, InputFileError, readInputFile } from '../common/index.js';
import { MANIFEST_LIMITS, verifyManifest, type ImageManifest } from './manifest.js';
import type { PublicKeyInput } from './keys.js';

export const MANIFEST_FILE = 'manifest.json';
export const CHUNKS_DIR = 'chunks';

export function chunkPath(dir: string, digest: string): string {
  if (!/^[0-9a-f]{64}$/.test(digest)) throw new InputError(`invalid chunk digest "${digest}"`);
  return join(dir, CHUNKS_DIR, digest);
}

async function writeAtomic(path: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  if (data instanceof Uint8Array) await writeFile(tmp, data);
  else {
    const fh = await open(tmp, 'w');
    try {
      await fh.writev(data as Uint8Array[]);
    } finally {
      await fh.close();
    }
  }
  await rename(tmp, path);
}

export async function prepareSealedDir(dir: string): Promise<void> {
  await mkdir(join(dir, CHUNKS_DIR), { recursive: true });
}

/** Stores a chunk blob (or its consecutive parts) under its digest; a blob already present is not rewritten. Returns true if written. */
export async function writeSealedChunk(dir: string, digest: string, blob: Uint8Array | readonly Uint8Array[]): Promise<boolean> {
  const path = chunkPath(dir, digest);
  try {
    await access(path);
    return false;
  } catch {
    await writeAtomic(path, blob);
    return true;
  }
}

export async function readSealedChunk(dir: string, ref: Pick<ChunkRef, 'digest'>): Promise<Buffer> {
  try {
    return await readFile(chunkPath(dir, ref.digest));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`sealed image ${dir} lacks chunk ${ref.digest}`);
    throw err;
  }
}

/**
 * Reads the blob `ref` names into `into` (which must hold ref.size + 1 bytes, so that an
 * extended file shows) and returns the bytes read; saves an allocation per chunk.
 */
export async function readSealedChunkInto(dir: string, ref: Pick<ChunkRef, 'digest'>, into: Buffer): Promise<Buffer> {
  let fh;
  try {
    fh = await open(chunkPath(dir, ref.digest), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`sealed image ${dir} lacks chunk ${ref.digest}`);
    throw err;
  }
  return readFileInto(fh, into);
}

/** Reads an open file from its start into `into` until it is full or the file ends, then closes it. */
export async function readFileInto(fh: FileHandle, into: Buffer): Promise<Buffer> {
  try {
    let filled = 0;
    while (filled < into.length) {
      const { bytesRead } = await fh.read(into, filled, into.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return into.subarray(0, filled);
  } finally {
    await fh.close();
  }
}

export async function writeSealedManifest(dir: string, envelope: Uint8Array): Promise<void> {
  await writeAtomic(join(dir, MANIFEST_FILE), envelope);
}

export async function readSealedManifest(dir: string): Promise<Buffer> {
  try {
    return await readInputFile(join(dir, MANIFEST_FILE), { what: 'manifest', maxBytes: MANIFEST_LIMITS.envelopeBytes });
  } catch (err) {
    if (err instanceof InputFileError && err.problem === 'missing') throw new InputError(`${dir} is not a sealed image: no ${MANIFEST_FILE}`);
    throw err;
  }
}

/** Reads and verifies the manifest of a sealed directory. */
export async function readSealed(dir: string, trustedPublicKeys: readonly PublicKeyInput[]): Promise<{ manifest: ImageManifest; envelope: Buffer }> {
  const envelope = await readSealedManifest(dir);
  return { manifest: verifyManifest(envelope, trustedPublicKeys), envelope };
}
