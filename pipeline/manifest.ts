// The signed image manifest, format version 1.
//
// Encoding: the manifest is JSON canonicalized per RFC 8785 (JCS), wrapped in a DSSE envelope
// (in-toto's Dead Simple Signing Envelope): the Ed25519 signature covers
// PAE(payloadType, payload) = "DSSEv1 <len> <type> <len> <payload bytes>", so the bytes that are
// verified are exactly the bytes that are parsed. `formatVersion` and `payloadType` version it.
import { createRequire } from 'node:module';
import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { ManifestInfo } from '../agent/machine/index.js';
import { InputError } from '../common/index.js';
import { type ChunkingSpec, validateChunking } from './chunking.js';
import { CHUNK_OVERHEAD, CIPHER_PARAMS } from './chunk-crypto.js';
import { TamperedError } from './errors.js';
import { publicKeyId, toPublicKey, type PublicKeyInput } from './keys.js';

const canonicalize = createRequire(import.meta.url)('canonicalize') as (value: unknown) => string | undefined;

export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.edgeplane.image-manifest.v1+json';

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `expected ${bytes * 2} lowercase hex digits`);
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Image ids and versions end up in file names, AADs and boot markers: keep them plain. */
export const IMAGE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const imageName = z.string().regex(IMAGE_ID_RE, 'letters, digits, ".", "_" and "-", starting with a letter or digit');

/** Limits every manifest is checked against (signed or not) before anything is allocated from it. */
export const MANIFEST_LIMITS = {
  /** the largest image: 1 TiB (the scenario format's limit too) */
  imageBytes: 2 ** 40,
  /** chunks per image: 1 TiB in 1 MiB chunks */
  chunks: 2 ** 20,
  /** manifest.json: 2^20 chunk entries of ~150 bytes each, with room */
  envelopeBytes: 256 * 2 ** 20,
  /** the key reference: printable ASCII, no spaces (a Barbican secret href, "file:app.key") */
  keyRefChars: 1024,
} as const;
export const KEY_REF_RE = new RegExp(`^[\\x21-\\x7e]{1,${MANIFEST_LIMITS.keyRefChars}}$`);

/** Why a key reference is not usable, or undefined if it is. */
export function keyRefProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'is empty';
  if (ref.length > MANIFEST_LIMITS.keyRefChars) return `is ${ref.length} characters; at most ${MANIFEST_LIMITS.keyRefChars}`;
  if (!KEY_REF_RE.test(ref)) return 'may hold printable ASCII characters only, no spaces or control characters';
  return undefined;
}

const chunkEntry = z.strictObject({
  index: size,
  /** hex SHA-256 of the chunk blob (nonce ‖ ciphertext ‖ tag) */
  digest: hex(32),
  /** blob size */
  size: size.positive(),
  plainSize: size,
});

const chunkingSchema = z.discriminatedUnion('algorithm', [
  z.strictObject({ algorithm: z.literal('fixed'), size: size.positive() }),
  z.strictObject({ algorithm: z.literal('fastcdc'), min: size.positive(), avg: size.positive(), max: size.positive() }),
]);

export const manifestSchema = z
  .strictObject({
    format: z.literal('edgeplane-image-manifest'),
    formatVersion: z.literal(1),
    imageId: imageName,
    version: imageName,
    plaintext: z.strictObject({ size, sha256: hex(32) }),
    chunking: chunkingSchema,
    cipher: z.strictObject({
      algorithm: z.literal(CIPHER_PARAMS.algorithm),
      kdf: z.literal(CIPHER_PARAMS.kdf),
      nonce: z.literal(CIPHER_PARAMS.nonce),
      nonceBytes: z.literal(CIPHER_PARAMS.nonceBytes),
      tagBytes: z.literal(CIPHER_PARAMS.tagBytes),
      aad: z.literal(CIPHER_PARAMS.aad),
      /** HKDF(dataKey, "edgeplane/v1/key-check"), first 16 bytes: tells a wrong key from a bad chunk */
      keyCheck: hex(16),
    }),
    /** where the data key lives in the KMS (e.g. a Barbican secret href); opaque here */
    keyRef: z.string().superRefine((ref, ctx) => {
      const problem = keyRefProblem(ref);
      if (problem) ctx.addIssue({ code: 'custom', message: `key reference ${problem}` });
    }),
    chunks: z.array(chunkEntry).max(MANIFEST_LIMITS.chunks, `at most ${MANIFEST_LIMITS.chunks} chunks`),
  })
  .superRefine((m, ctx) => {
    let issues = 0;
    const issue = (path: PropertyKey[], message: string) => {
      issues++;
      ctx.addIssue({ code: 'custom', path, message });
    };
    if (m.plaintext.size > MANIFEST_LIMITS.imageBytes) issue(['plaintext', 'size'], `${m.plaintext.size} bytes; images are at most ${MANIFEST_LIMITS.imageBytes} bytes (1 TiB)`);
    let spec: ChunkingSpec;
    try {
      spec = validateChunking(m.chunking);
    } catch (err) {
      issue(['chunking'], (err as Error).message);
      return;
    }
    // what each chunk's plaintext may hold under these chunking parameters (the last may be shorter)
    const [least, most] = spec.algorithm === 'fixed' ? [spec.size, spec.size] : [spec.min, spec.max];
    let total = 0;
    const last = m.chunks.length - 1;
    for (let i = 0; i < m.chunks.length; i++) {
      const c = m.chunks[i];
      if (c.index !== i) issue(['chunks', i, 'index'], `chunk ${i} has index ${c.index}`);
      if (c.size !== c.plainSize + CHUNK_OVERHEAD) issue(['chunks', i, 'size'], `chunk ${i}: size must be plainSize + ${CHUNK_OVERHEAD}`);
      if (c.plainSize > most || c.plainSize === 0 || (i < last && c.plainSize < least)) {
        issue(['chunks', i, 'plainSize'], `chunk ${i}: ${c.plainSize} bytes; ${spec.algorithm} chunking makes chunks of ${least === most ? `${most} bytes` : `${least} to ${most} bytes`} (the last may be shorter)`);
      }
      total += c.plainSize;
      if (issues >= 10) return;
    }
    if (total !== m.plaintext.size) issue(['plaintext', 'size'], `chunks add up to ${total} bytes, not ${m.plaintext.size}`);
  });

export type ImageManifest = z.infer<typeof manifestSchema>;
export type ManifestChunk = ImageManifest['chunks'][number];

const envelopeSchema = z.strictObject({
  payloadType: z.string(),
  payload: z.string(),
  signatures: z.array(z.strictObject({ keyid: z.string(), sig: z.string() })).min(1),
});

/** Canonical (RFC 8785) bytes of a manifest. */
export function encodeManifest(m: ImageManifest): Buffer {
  return Buffer.from(canonicalize(manifestSchema.parse(m))!, 'utf8');
}

/** DSSE pre-authentication encoding. */
function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** Signs a manifest; returns the envelope bytes (canonical JSON) to store and serve. */
export function signManifest(m: ImageManifest, signingKey: KeyObject): Buffer {
  const payload = encodeManifest(m);
  const sig = sign(null, pae(MANIFEST_PAYLOAD_TYPE, payload), signingKey);
  const envelope = { payloadType: MANIFEST_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: publicKeyId(signingKey), sig: sig.toString('base64') }] };
  return Buffer.from(canonicalize(envelope)!, 'utf8');
}

/** Strict base64: Node's decoder silently skips invalid characters, which would hide tampering. */
function decodeBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw new TamperedError(`manifest envelope: ${what} is not canonical base64`);
  return bytes;
}

/**
 * Verifies a signed manifest envelope against the configured publisher keys and returns the
 * manifest. Throws TamperedError (exit 2) if it is malformed, signed by no trusted key, or the
 * signature does not verify.
 */
export function verifyManifest(bytes: Buffer | string, trustedPublicKeys: readonly PublicKeyInput[]): ImageManifest {
  if (trustedPublicKeys.length === 0) throw new InputError('no trusted publisher keys configured');
  const trusted = new Map(trustedPublicKeys.map((k) => toPublicKey(k)).map((k) => [publicKeyId(k), k] as const));
  let parsedEnvelope: unknown;
  try {
    parsedEnvelope = JSON.parse(Buffer.isBuffer(bytes) ? bytes.toString('utf8') : bytes);
  } catch (err) {
    throw new TamperedError(`manifest envelope is not valid JSON: ${(err as Error).message}`);
  }
  const env = envelopeSchema.safeParse(parsedEnvelope);
  if (!env.success) throw new TamperedError(`manifest envelope is malformed: ${z.prettifyError(env.error)}`);
  if (env.data.payloadType !== MANIFEST_PAYLOAD_TYPE) throw new TamperedError(`manifest payload type "${env.data.payloadType}" is not ${MANIFEST_PAYLOAD_TYPE}`);
  const payload = decodeBase64(env.data.payload, 'payload');
  const signed = pae(env.data.payloadType, payload);

  const known = env.data.signatures.filter((s) => trusted.has(s.keyid));
  if (known.length === 0) {
    throw new TamperedError(`manifest is signed by an untrusted key (key id ${env.data.signatures.map((s) => s.keyid.slice(0, 16)).join(', ')}); trusted: ${[...trusted.keys()].map((k) => k.slice(0, 16)).join(', ')}`);
  }
  const ok = known.some((s) => verify(null, signed, trusted.get(s.keyid)!, decodeBase64(s.sig, 'signature')));
  if (!ok) throw new TamperedError('manifest signature does not verify: the manifest or its signature was modified');

  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new TamperedError(`signed manifest is not valid JSON: ${(err as Error).message}`);
  }
  const m = manifestSchema.safeParse(parsed);
  if (!m.success) throw new TamperedError(`tampered or invalid manifest: ${describeIssues(m.error)}`);
  return m.data;
}

/** At most a few issues, one line: `chunks.3.plainSize: chunk 3: ...; keyRef: ...` */
function describeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message));
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/** The part of the manifest the agent's state machine needs. */
export function toManifestInfo(m: ImageManifest): ManifestInfo {
  return {
    imageId: m.imageId,
    version: m.version,
    size: m.plaintext.size,
    chunks: m.chunks.map(({ index, digest, size }) => ({ index, digest, size })),
    keyRef: m.keyRef,
  };
}
