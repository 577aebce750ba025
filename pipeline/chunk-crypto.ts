// Per-chunk authenticated encryption: AES-256-GCM under keys derived from the image's data key.
//
// Chunk blob layout (what is stored, transferred and addressed): nonce(12) ‖ ciphertext ‖ tag(16).
// Its address is the SHA-256 of the whole blob.
//
// Nonces are CONVERGENT: nonce = first 96 bits of HMAC-SHA256(nonceKey, plaintext chunk).
// Why: versions of one image lineage share a data key, and an unchanged chunk must encrypt to the
// same blob so a node can reuse it (delta transfer, dedup). A GCM nonce is then reused only with
// the same plaintext, which yields the identical ciphertext and leaks nothing new: the catastrophic
// GCM nonce-reuse case (two different plaintexts under one key and nonce) needs an HMAC collision.
// Trade-off, accepted and documented in docs/image-format.md: anyone who sees the blobs learns
// which chunks are equal within a lineage (and across its versions); nothing about their content.
//
// The AAD binds the lineage (image id), not the version: a shared blob must be valid in every
// version. Chunk order and membership in a version are protected by the signed manifest, which
// lists the blob digests in order.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { InputError } from '../common/index.js';
import { TamperedError } from './errors.js';

export const DATA_KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const CHUNK_OVERHEAD = NONCE_BYTES + TAG_BYTES;
export const CIPHER_PARAMS = {
  algorithm: 'AES-256-GCM',
  kdf: 'HKDF-SHA256',
  nonce: 'HMAC-SHA256-96-convergent',
  nonceBytes: NONCE_BYTES,
  tagBytes: TAG_BYTES,
  aad: 'edgeplane-chunk-v1\\0<imageId>',
} as const;

/**
 * Every cipher.update() allocates its output. Slices under glibc's 128 KiB mmap threshold reuse
 * heap memory; larger ones are fresh mmaps whose page faults cost more than AES-GCM itself.
 */
const SLICE = 120 * 1024;

export interface ChunkKeys {
  encKey: Buffer;
  nonceKey: Buffer;
  /** public check value, stored in the manifest, so a wrong data key gets a clear error */
  keyCheck: string;
}

function hkdf(dataKey: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), info, 32));
}

export function deriveChunkKeys(dataKey: Buffer): ChunkKeys {
  if (dataKey.length !== DATA_KEY_BYTES) throw new InputError(`data key must be ${DATA_KEY_BYTES} bytes, got ${dataKey.length}`);
  return {
    encKey: hkdf(dataKey, 'edgeplane/v1/chunk-encryption'),
    nonceKey: hkdf(dataKey, 'edgeplane/v1/chunk-nonce'),
    keyCheck: hkdf(dataKey, 'edgeplane/v1/key-check').subarray(0, 16).toString('hex'),
  };
}

export function chunkAad(imageId: string): Buffer {
  return Buffer.from(`edgeplane-chunk-v1\0${imageId}`, 'utf8');
}

export function sha256Hex(data: Uint8Array | readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const part of data instanceof Uint8Array ? [data] : data) hash.update(part);
  return hash.digest('hex');
}

/** Encrypts one plaintext chunk into a blob (nonce ‖ ciphertext ‖ tag). */
export function encryptChunk(keys: ChunkKeys, imageId: string, plaintext: Buffer): Buffer {
  return Buffer.concat(encryptChunkParts(keys, imageId, plaintext), plaintext.length + CHUNK_OVERHEAD);
}

/** The blob of `encryptChunk` as consecutive slices (no copy into one buffer). */
export function encryptChunkParts(keys: ChunkKeys, imageId: string, plaintext: Buffer): Buffer[] {
  const nonce = createHmac('sha256', keys.nonceKey).update(plaintext).digest().subarray(0, NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.encKey, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(chunkAad(imageId));
  const parts: Buffer[] = [nonce];
  for (let off = 0; off < plaintext.length; off += SLICE) parts.push(cipher.update(plaintext.subarray(off, off + SLICE)));
  parts.push(cipher.final(), cipher.getAuthTag());
  return parts;
}

/**
 * Decrypts a blob; throws TamperedError if the tag does not verify (modified or truncated blob,
 * a blob of another lineage, or a wrong key). Returns the plaintext in slices (no extra copy).
 */
export function decryptChunkParts(keys: ChunkKeys, imageId: string, blob: Buffer, what = 'chunk'): Buffer[] {
  if (blob.length < CHUNK_OVERHEAD) throw new TamperedError(`${what}: ${blob.length} bytes is shorter than nonce and tag (truncated)`);
  const nonce = blob.subarray(0, NONCE_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keys.encKey, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(chunkAad(imageId));
  decipher.setAuthTag(tag);
  const end = blob.length - TAG_BYTES;
  const parts: Buffer[] = [];
  for (let off = NONCE_BYTES; off < end; off += SLICE) parts.push(decipher.update(blob.subarray(off, Math.min(off + SLICE, end))));
  try {
    parts.push(decipher.final());
  } catch {
    throw new TamperedError(`${what}: authentication failed (modified ciphertext or wrong data key)`);
  }
  return parts;
}

export function keyCheckMatches(keys: ChunkKeys, expected: string): boolean {
  const a = Buffer.from(keys.keyCheck, 'hex');
  const b = Buffer.from(expected, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
