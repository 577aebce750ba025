// Key material: the per-lineage data key (32 raw bytes) and the publisher's Ed25519 key pair (PEM).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INPUT_LIMITS, InputError, readInputFile } from '../common/index.js';
import { DATA_KEY_BYTES } from './chunk-crypto.js';

export type PublicKeyInput = KeyObject | string | Buffer;

export function generateDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

export function generatePublisherKeys(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Key id: hex SHA-256 of the public key's SPKI DER encoding. */
export function publicKeyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new InputError(`${what} is a ${key.asymmetricKeyType} key; an Ed25519 key is required`);
  return key;
}

export function toPublicKey(input: PublicKeyInput): KeyObject {
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) return requireEd25519(input.type === 'private' ? createPublicKey(input) : input, 'trusted key');
  try {
    return requireEd25519(createPublicKey(input), 'trusted key');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`not a PEM public key: ${(err as Error).message}`);
  }
}

export async function readDataKey(path: string): Promise<Buffer> {
  const key = await readInputFile(path, { what: 'data key', maxBytes: INPUT_LIMITS.key });
  if (key.length !== DATA_KEY_BYTES) throw new InputError(`data key ${path} has ${key.length} bytes; expected ${DATA_KEY_BYTES} raw bytes`);
  return key;
}

export async function readSigningKey(path: string): Promise<KeyObject> {
  const pem = await readInputFile(path, { what: 'signing key', maxBytes: INPUT_LIMITS.key });
  try {
    return requireEd25519(createPrivateKey(pem), `signing key ${path}`);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`signing key ${path} is not a PEM private key: ${(err as Error).message}`);
  }
}

export async function readPublicKey(path: string): Promise<KeyObject> {
  const pem = await readInputFile(path, { what: 'public key', maxBytes: INPUT_LIMITS.key });
  try {
    return toPublicKey(pem);
  } catch (err) {
    throw new InputError(`${path}: ${(err as Error).message}`);
  }
}

export const KEY_FILES = { signingKey: 'publisher.key', publicKey: 'publisher.pub', dataKey: 'data.key' } as const;

/** Writes publisher.key (0600), publisher.pub and data.key (0600) into `dir`; refuses to overwrite. */
export async function writeKeyFiles(dir: string): Promise<{ signingKey: string; publicKey: string; dataKey: string; keyId: string }> {
  await mkdir(dir, { recursive: true });
  const { privateKeyPem, publicKeyPem } = generatePublisherKeys();
  const paths = { signingKey: join(dir, KEY_FILES.signingKey), publicKey: join(dir, KEY_FILES.publicKey), dataKey: join(dir, KEY_FILES.dataKey) };
  try {
    await writeFile(paths.signingKey, privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(paths.publicKey, publicKeyPem, { flag: 'wx' });
    await writeFile(paths.dataKey, generateDataKey(), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InputError(`key files already exist in ${dir}; refusing to overwrite`);
    throw err;
  }
  return { ...paths, keyId: publicKeyId(createPublicKey(publicKeyPem)) };
}
