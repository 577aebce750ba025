// What edgeplane adds beside OpenNebula for agent mode, on disk under the state folder's edge/:
// sealed image blobs (served by the byte server) and data keys with the ONE users allowed to read
// each (served by the key service). The operator writes here; the edge services only read.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const KeyRecordSchema = z.object({ key: z.string().regex(/^[A-Za-z0-9+/]+=*$/), users: z.array(z.string().min(1)) });
export type KeyRecord = z.infer<typeof KeyRecordSchema>;

const ID = /^[A-Za-z0-9._-]{1,128}$/;

export function blobFile(edgeDir: string, imageId: string): string {
  if (!ID.test(imageId)) throw new RangeError(`bad image id ${JSON.stringify(imageId)}`);
  return join(edgeDir, 'blobs', `${imageId}.sealed`);
}

export function keyFile(edgeDir: string, keyId: string): string {
  if (!ID.test(keyId)) throw new RangeError(`bad key id ${JSON.stringify(keyId)}`);
  return join(edgeDir, 'keys', `${keyId}.json`);
}

export function writeKey(edgeDir: string, keyId: string, rec: KeyRecord): void {
  const f = keyFile(edgeDir, keyId);
  mkdirSync(join(edgeDir, 'keys'), { recursive: true, mode: 0o700 });
  writeFileSync(`${f}.tmp`, JSON.stringify(rec), { mode: 0o600 });
  renameSync(`${f}.tmp`, f);
}

export function readKey(edgeDir: string, keyId: string): KeyRecord | null {
  let f: string;
  try {
    f = keyFile(edgeDir, keyId);
  } catch {
    return null;
  }
  if (!existsSync(f)) return null;
  const parsed = KeyRecordSchema.safeParse(JSON.parse(readFileSync(f, 'utf8')));
  return parsed.success ? parsed.data : null;
}
