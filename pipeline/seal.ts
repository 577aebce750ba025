// Sealing (chunk, encrypt, sign) and opening (verify, decrypt) whole images, streamed from disk:
// memory holds a couple of chunks, never the image.
import { createHash, type KeyObject } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import type { ChunkRef } from '../agent/machine/index.js';
import { InputError } from '../common/index.js';
import { chunkFile, DEFAULT_CHUNKING, validateChunking, type ChunkingSpec } from './chunking.js';
import { CHUNK_OVERHEAD, CIPHER_PARAMS, decryptChunkParts, deriveChunkKeys, keyCheckMatches, sha256Hex, type ChunkKeys } from './chunk-crypto.js';
import { type CryptoPool, type Lease, type SealedChunk, sharedCryptoPool } from './crypto-pool.js';
import { TamperedError } from './errors.js';
import { prepareSealedDir, readSealed, readSealedChunkInto, writeSealedChunk, writeSealedManifest } from './layout.js';
import { IMAGE_ID_RE, keyRefProblem, MANIFEST_LIMITS, signManifest, type ImageManifest, type ManifestChunk } from './manifest.js';
import type { PublicKeyInput } from './keys.js';

export interface SealOptions {
  imagePath: string;
  outDir: string;
  imageId: string;
  version: string;
  /** 32-byte data key, shared by all versions of the lineage so unchanged chunks are shared */
  dataKey: Buffer;
  signingKey: KeyObject;
  /** KMS reference of the data key; defaults to `file:<imageId>.key` */
  keyRef?: string;
  chunking?: ChunkingSpec;
  /** worker threads for the chunk crypto (default: the process's shared pool) */
  pool?: CryptoPool;
}

export interface SealResult {
  manifest: ImageManifest;
  /** the signed manifest envelope as written to <outDir>/manifest.json */
  envelope: Buffer;
  /** chunk blobs written now (not already present in outDir) */
  chunksWritten: number;
}

function checkName(value: string, what: string): void {
  if (!IMAGE_ID_RE.test(value)) throw new InputError(`invalid ${what} "${value}": use letters, digits, ".", "_" and "-"`);
}

/** Throws InputError if the key reference cannot go into a manifest. */
export function checkKeyRef(ref: string): void {
  const problem = keyRefProblem(ref);
  if (problem) throw new InputError(`invalid key reference "${ref.length > 40 ? `${ref.slice(0, 30)}…` : ref}": it ${problem}`);
}

/** Throws InputError if sealing an image of `bytes` with these parameters would break a manifest limit. */
export function checkSealable(bytes: number, chunking: ChunkingSpec, what: string): void {
  if (bytes > MANIFEST_LIMITS.imageBytes) throw new InputError(`${what} is ${bytes} bytes; sealed images are at most 1 TiB`);
  const smallest = chunking.algorithm === 'fixed' ? chunking.size : chunking.min;
  const most = Math.ceil(bytes / smallest);
  if (most > MANIFEST_LIMITS.chunks) {
    throw new InputError(`${what} (${bytes} bytes) may make up to ${most} chunks of ${smallest} bytes; a manifest holds at most ${MANIFEST_LIMITS.chunks}: use a larger chunk size`);
  }
}

export async function sealImage(opts: SealOptions): Promise<SealResult> {
  // every parameter is checked before the first chunk is written
  checkName(opts.imageId, 'image id');
  checkName(opts.version, 'version');
  const keyRef = opts.keyRef ?? `file:${opts.imageId}.key`;
  checkKeyRef(keyRef);
  const chunking = validateChunking(opts.chunking ?? DEFAULT_CHUNKING);
  const keys = deriveChunkKeys(opts.dataKey);
  const image = await stat(opts.imagePath).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read image ${opts.imagePath}: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`);
  });
  if (!image.isFile()) throw new InputError(`image ${opts.imagePath} is not a regular file`);
  checkSealable(image.size, chunking, `image ${opts.imagePath}`);
  await prepareSealedDir(opts.outDir);

  const imageHash = createHash('sha256');
  const chunks: ManifestChunk[] = [];
  let size = 0;
  let chunksWritten = 0;
  // chunks are encrypted and hashed on the worker threads, in order of submission; the main
  // thread reads, hashes the image and writes. The pool's leases bound the chunks in flight.
  const pool = opts.pool ?? sharedCryptoPool();
  const inFlight: { plainSize: number; lease: Lease; sealed: Promise<SealedChunk> }[] = [];
  const writes = new Set<Promise<void>>();
  let failed: unknown = null;
  const seen = new Set<string>(); // an image repeats chunks (zeros): each blob is written once
  const land = async (): Promise<void> => {
    const next = inFlight.shift()!;
    const { blob, digest } = await next.sealed;
    chunks.push({ index: chunks.length, digest, size: next.plainSize + CHUNK_OVERHEAD, plainSize: next.plainSize });
    if (seen.has(digest)) {
      next.lease.release();
      return;
    }
    seen.add(digest);
    const w: Promise<void> = writeSealedChunk(opts.outDir, digest, blob)
      .then((written) => {
        if (written) chunksWritten++;
      })
      .catch((err) => {
        failed ??= err;
      })
      .finally(() => {
        writes.delete(w);
        next.lease.release();
      });
    writes.add(w);
  };
  try {
    for await (const plain of chunkFile(opts.imagePath, chunking)) {
      imageHash.update(plain);
      size += plain.length;
      // land sealed chunks to free a lease; wait for one only when nothing of ours is in flight
      if (inFlight.length >= pool.size * 2) await land();
      let lease = pool.tryLease(plain.length);
      while (!lease && inFlight.length > 0) {
        await land();
        lease = pool.tryLease(plain.length);
      }
      lease ??= await pool.lease(plain.length);
      plain.copy(lease.input); // the reader reuses its buffer
      const sealed = pool.seal(keys, opts.imageId, lease, plain.length);
      sealed.catch(() => undefined); // awaited in order by land()
      inFlight.push({ plainSize: plain.length, lease, sealed });
      if (failed) throw failed;
    }
    while (inFlight.length > 0) await land();
    await Promise.all(writes);
    if (failed) throw failed;
  } finally {
    await Promise.allSettled(inFlight.map((f) => f.sealed));
    for (const f of inFlight) f.lease.release();
    await Promise.allSettled(writes);
  }

  const manifest: ImageManifest = {
    format: 'edgeplane-image-manifest',
    formatVersion: 1,
    imageId: opts.imageId,
    version: opts.version,
    plaintext: { size, sha256: imageHash.digest('hex') },
    chunking,
    cipher: { ...CIPHER_PARAMS, keyCheck: keys.keyCheck },
    keyRef,
    chunks,
  };
  const envelope = signManifest(manifest, opts.signingKey);
  await writeSealedManifest(opts.outDir, envelope);
  return { manifest, envelope, chunksWritten };
}

/** True if `ciphertext` is the chunk blob `ref` names (size and SHA-256). */
export function verifyChunk(ref: Pick<ChunkRef, 'digest' | 'size'>, ciphertext: Uint8Array): boolean {
  return ciphertext.length === ref.size && sha256Hex(ciphertext) === ref.digest;
}

/** Derives the chunk keys from the data key and checks it is the manifest's key (TamperedError if not). */
export function chunkKeysFor(manifest: ImageManifest, dataKey: Buffer): ChunkKeys {
  const keys = deriveChunkKeys(dataKey);
  if (!keyCheckMatches(keys, manifest.cipher.keyCheck)) {
    throw new TamperedError(`wrong data key for ${manifest.imageId}@${manifest.version} (key check mismatch; key ref ${manifest.keyRef})`);
  }
  return keys;
}

function chunkOf(manifest: ImageManifest, ref: Pick<ChunkRef, 'index'>): ManifestChunk {
  const entry = manifest.chunks[ref.index];
  if (!entry) throw new InputError(`chunk index ${ref.index} is not in ${manifest.imageId}@${manifest.version}`);
  return entry;
}

function assertChunk(entry: ManifestChunk, blob: Uint8Array): void {
  if (blob.length !== entry.size) {
    throw new TamperedError(`chunk ${entry.index}: ${blob.length} bytes, manifest says ${entry.size} (${blob.length < entry.size ? 'truncated' : 'extended'})`);
  }
  if (sha256Hex(blob) !== entry.digest) throw new TamperedError(`chunk ${entry.index}: ciphertext digest does not match the manifest`);
}

/**
 * Verifies one chunk blob against the signed manifest and decrypts it. `key` is the 32-byte data
 * key or keys from `chunkKeysFor` (derive once per image when decrypting many chunks).
 * Throws TamperedError on any mismatch.
 */
export function decryptChunk(manifest: ImageManifest, key: Buffer | ChunkKeys, ref: Pick<ChunkRef, 'index'>, ciphertext: Buffer): Buffer {
  const entry = chunkOf(manifest, ref);
  assertChunk(entry, ciphertext);
  const keys = Buffer.isBuffer(key) ? chunkKeysFor(manifest, key) : key;
  const parts = decryptChunkParts(keys, manifest.imageId, ciphertext, `chunk ${entry.index}`);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, entry.plainSize);
}

export interface OpenOptions {
  sealedDir: string;
  dataKey: Buffer;
  trustedPublicKeys: readonly PublicKeyInput[];
  /** where the decrypted image goes (written to <outPath>.partial, renamed when verified) */
  outPath: string;
  /**
   * Also check the whole image's SHA-256 (default true). Redundant given the signed blob digests
   * and GCM tags, so the agent may skip it on its hot path.
   */
  verifyPlaintextDigest?: boolean;
  /** worker threads for the chunk crypto (default: the process's shared pool) */
  pool?: CryptoPool;
}

export async function openImage(opts: OpenOptions): Promise<ImageManifest> {
  const { manifest } = await readSealed(opts.sealedDir, opts.trustedPublicKeys);
  const keys = chunkKeysFor(manifest, opts.dataKey);
  const verifyPlain = opts.verifyPlaintextDigest ?? true;
  const partial = `${opts.outPath}.partial`;
  const out = await open(partial, 'w');
  const imageHash = createHash('sha256');
  const pool = opts.pool ?? sharedCryptoPool();
  // blobs are read ahead straight into the pool's shared memory and verified + decrypted on the
  // worker threads; the plaintext is hashed and written in order here (leases bound the memory)
  const inFlight: { lease: Lease; plain: Promise<Buffer> }[] = [];
  let nextRead = 0;
  /** Reads the next blob ahead if a lease is free (or, with `wait`, once one is); false if none was. */
  const submit = async (wait: boolean): Promise<boolean> => {
    const entry = manifest.chunks[nextRead];
    // bounded: the manifest's chunk sizes were checked against its chunking parameters (manifest.ts)
    const lease = wait ? await pool.lease(entry.size + 1) : pool.tryLease(entry.size + 1);
    if (!lease) return false;
    nextRead++;
    const plain = readSealedChunkInto(opts.sealedDir, entry, lease.input).then((blob) => {
      if (blob.length !== entry.size) assertChunk(entry, blob);
      return pool.open(keys, manifest.imageId, entry, lease, blob.length);
    });
    plain.catch(() => undefined); // awaited in order below
    inFlight.push({ lease, plain });
    return true;
  };
  const readAhead = async (): Promise<void> => {
    while (nextRead < manifest.chunks.length && inFlight.length < pool.size * 2 && (await submit(false)));
  };
  try {
    let position = 0;
    let pendingWrite: Promise<unknown> = Promise.resolve();
    let written: Lease | null = null;
    for (const entry of manifest.chunks) {
      await readAhead();
      if (inFlight.length === 0) {
        // nothing of ours in flight: free the lease of the last write, then wait for one
        await pendingWrite;
        written?.release();
        written = null;
        await submit(true);
      }
      const next = inFlight.shift()!;
      const plain = await next.plain;
      if (verifyPlain) imageHash.update(plain);
      await pendingWrite;
      written?.release();
      pendingWrite = out.write(plain, 0, plain.length, position);
      written = next.lease;
      position += entry.plainSize;
    }
    await pendingWrite;
    written?.release();
    if (verifyPlain && imageHash.digest('hex') !== manifest.plaintext.sha256) {
      throw new TamperedError(`decrypted image SHA-256 does not match the manifest`);
    }
    await out.close();
    await rename(partial, opts.outPath);
    return manifest;
  } catch (err) {
    await Promise.allSettled(inFlight.map((f) => f.plain));
    for (const f of inFlight) f.lease.release();
    await out.close().catch(() => undefined);
    await unlink(partial).catch(() => undefined);
    throw err;
  }
}
