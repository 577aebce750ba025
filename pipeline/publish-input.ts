// What every plane's `publish` does before it talks to its plane: take a raw image (sealed here,
// with keys generated when the keys folder has none) or a sealed directory, check that it is the
// image asked for, and lay out the plane blob (the sealed chunks concatenated in manifest order).
import { createPrivateKey, type Hash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../common/index.js';
import type { ChunkingSpec } from './chunking.js';
import { KEY_FILES, writeKeyFiles } from './keys.js';
import { readSealed, readSealedChunkInto, MANIFEST_FILE } from './layout.js';
import type { ImageManifest } from './manifest.js';
import { sealImage } from './seal.js';

export interface PublishInputOptions {
  /** a raw image file (sealed first) or a sealed directory */
  source: string;
  imageId: string;
  version: string;
  keysDir: string;
  /** where a raw image is sealed to (default: `<workDir>/sealed`) */
  sealedDir?: string;
  chunking?: ChunkingSpec;
  /** the KMS reference of the data key written into the manifest (sealImage's default otherwise) */
  keyRef?: string;
  /** a scratch folder the caller owns and removes */
  workDir: string;
}

export interface PublishInput {
  sealedDir: string;
  manifest: ImageManifest;
  envelope: Buffer;
  dataKey: Buffer;
  publicKey: Buffer;
  /** true when the source was a raw image, sealed here */
  sealed: boolean;
  keysGenerated: boolean;
  keysDir: string;
}

export function isSealedDir(path: string): boolean {
  return statSync(path).isDirectory() && existsSync(join(path, MANIFEST_FILE));
}

/** A key reference built from an image's id and version, in the characters every KMS here accepts. */
export function keyRefSlug(prefix: string, imageId: string, version: string): string {
  return `${prefix}-${imageId}-${version}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128);
}

export async function preparePublishInput(o: PublishInputOptions): Promise<PublishInput> {
  if (!existsSync(o.source)) throw new InputError(`${o.source} does not exist`);
  const keysDir = resolve(o.keysDir);
  const sealedInput = isSealedDir(o.source);
  let keysGenerated = false;
  if (!Object.values(KEY_FILES).every((f) => existsSync(join(keysDir, f)))) {
    if (sealedInput) throw new InputError(`${o.source} is sealed: --keys must hold its ${KEY_FILES.dataKey} and ${KEY_FILES.publicKey} (${keysDir} does not)`);
    await writeKeyFiles(keysDir);
    keysGenerated = true;
  }
  const dataKey = readFileSync(join(keysDir, KEY_FILES.dataKey));
  const publicKey = readFileSync(join(keysDir, KEY_FILES.publicKey));
  let sealedDir = o.source;
  if (!sealedInput) {
    sealedDir = o.sealedDir ? resolve(o.sealedDir) : join(o.workDir, 'sealed');
    mkdirSync(sealedDir, { recursive: true });
    await sealImage({
      imagePath: o.source,
      outDir: sealedDir,
      imageId: o.imageId,
      version: o.version,
      dataKey,
      signingKey: createPrivateKey(readFileSync(join(keysDir, KEY_FILES.signingKey))),
      ...(o.keyRef ? { keyRef: o.keyRef } : {}),
      ...(o.chunking ? { chunking: o.chunking } : {}),
    });
  }
  const { manifest, envelope } = await readSealed(sealedDir, [publicKey]);
  if (manifest.imageId !== o.imageId || manifest.version !== o.version) throw new InputError(`${o.source} is ${manifest.imageId}@${manifest.version}, not ${o.imageId}@${o.version}`);
  return { sealedDir, manifest, envelope, dataKey, publicKey, sealed: !sealedInput, keysGenerated, keysDir };
}

/**
 * Writes the plane blob of a sealed image: its chunks concatenated in manifest order (chunk i at
 * the sum of the sizes before it), through one reused buffer, to a temporary name renamed at the end;
 * `hash` (when given) is fed the blob's bytes on the way.
 */
export async function writeSealedBlob(sealedDir: string, manifest: ImageManifest, out: string, o: { hash?: Hash } = {}): Promise<number> {
  const tmp = `${out}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  let total = 0;
  try {
    const buf = Buffer.allocUnsafe(Math.max(1, ...manifest.chunks.map((c) => c.size)) + 1);
    for (const chunk of manifest.chunks) {
      const blob = await readSealedChunkInto(sealedDir, chunk, buf);
      if (blob.length !== chunk.size) throw new InputError(`${sealedDir}: chunk ${chunk.index} has ${blob.length} bytes, the manifest says ${chunk.size}`);
      await fh.write(blob, 0, blob.length, total);
      o.hash?.update(blob);
      total += blob.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, out);
  return total;
}
