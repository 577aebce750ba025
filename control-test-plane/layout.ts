// The TEST PLANE's directory: a stand-in for a control plane, for tests and local runs only.
//   <dir>/images/<id>@<version>/blob       sealed chunks concatenated in manifest order
//   <dir>/images/<id>@<version>/manifest   the signed manifest envelope
//   <dir>/images/<id>@<version>/key        the 32-byte data key
//   <dir>/nodes/<node>.json                { token, pin } (the node's credential and assignment)
//   <dir>/reports/<node>.ndjson            what the node reported, one JSON line per report
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Assignment } from '../agent/machine/index.js';
import { InputError } from '../common/index.js';
import { chunkKeysFor, readSealed, writeSealedBlob, type ImageManifest, type PublicKeyInput } from '../pipeline/index.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const assignmentSchema = z.strictObject({ imageId: z.string().regex(NAME_RE), version: z.string().regex(NAME_RE) });

export const nodeRecordSchema = z.strictObject({
  token: z.string().min(16),
  pin: assignmentSchema.nullable(),
});
export type NodeRecord = z.infer<typeof nodeRecordSchema>;

export function checkNodeName(node: string): string {
  if (!NAME_RE.test(node)) throw new InputError(`invalid node name "${node}": use letters, digits, ".", "_" and "-"`);
  return node;
}

/** `<id>@<version>`: the test plane's ref for an image's blob, manifest and key alike. */
export function imageRef(a: Assignment): string {
  return `${a.imageId}@${a.version}`;
}

export function parseImageRef(ref: string): Assignment | null {
  const at = ref.indexOf('@');
  if (at < 0) return null;
  const a = { imageId: ref.slice(0, at), version: ref.slice(at + 1) };
  return assignmentSchema.safeParse(a).success ? a : null;
}

export const testPlanePaths = {
  image: (dir: string, ref: string) => join(dir, 'images', ref),
  blob: (dir: string, ref: string) => join(dir, 'images', ref, 'blob'),
  manifest: (dir: string, ref: string) => join(dir, 'images', ref, 'manifest'),
  key: (dir: string, ref: string) => join(dir, 'images', ref, 'key'),
  node: (dir: string, node: string) => join(dir, 'nodes', `${checkNodeName(node)}.json`),
  reports: (dir: string, node: string) => join(dir, 'reports', `${checkNodeName(node)}.ndjson`),
};

async function writeAtomic(path: string, data: string | Buffer, mode?: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, mode === undefined ? undefined : { mode });
  await rename(tmp, path);
}

/** Publishes a sealed image (verified against `trusted`) with its data key into the test plane. */
export async function publishToTestPlane(opts: { dir: string; sealedDir: string; dataKey: Buffer; trusted: readonly PublicKeyInput[] }): Promise<{ ref: string; manifest: ImageManifest; blobBytes: number }> {
  const { manifest, envelope } = await readSealed(opts.sealedDir, opts.trusted);
  chunkKeysFor(manifest, opts.dataKey); // refuses a key that is not this image's
  const ref = imageRef(manifest);
  await mkdir(testPlanePaths.image(opts.dir, ref), { recursive: true });
  const blobBytes = await writeSealedBlob(opts.sealedDir, manifest, testPlanePaths.blob(opts.dir, ref));
  await writeAtomic(testPlanePaths.manifest(opts.dir, ref), envelope);
  await writeAtomic(testPlanePaths.key(opts.dir, ref), opts.dataKey, 0o600);
  return { ref, manifest, blobBytes };
}

export async function readNodeRecord(dir: string, node: string): Promise<NodeRecord | null> {
  let text: string;
  try {
    text = await readFile(testPlanePaths.node(dir, node), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = nodeRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new InputError(`test plane node record ${node} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Enrolls a node (a fresh token unless one is given) and/or sets its pin; returns its record.
 * `pin: undefined` keeps the current pin, `null` clears it.
 */
export async function assignInTestPlane(opts: { dir: string; node: string; pin?: Assignment | null; token?: string }): Promise<NodeRecord> {
  const current = await readNodeRecord(opts.dir, opts.node);
  const record = nodeRecordSchema.parse({
    token: opts.token ?? current?.token ?? randomBytes(24).toString('hex'),
    pin: opts.pin === undefined ? (current?.pin ?? null) : opts.pin,
  });
  await mkdir(join(opts.dir, 'nodes'), { recursive: true });
  await writeAtomic(testPlanePaths.node(opts.dir, opts.node), `${JSON.stringify(record)}\n`, 0o600);
  return record;
}
