// Operator side of agent mode, with the root admin's keys: enrol a node (a CloudStack user account
// with its own API keys), publish a sealed image (its blob and manifest onto the HTTP origin, its
// data key into the added KMS, a direct-download template registered from the origin URL with the
// blob's SHA-256), and assign it (the node's pin tag, the template shared with its account).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkKeysFor, type ImageManifest, type PublicKeyInput, readSealed, writeSealedBlob } from '../../pipeline/index.js';
import { formatExpires, sign } from '../api/signing.js';
import type { CloudStackClient } from './api.js';
import { PIN_TAG, SECRET_DETAIL } from './node-plane.js';

export interface EnrolledCloudStackNode {
  name: string;
  accountId: string;
  userId: string;
  apiKey: string;
  secretKey: string;
}

export interface PublishedCloudStackImage {
  ref: string;
  manifest: ImageManifest;
  templateId: string;
  secretId: string;
  blobBytes: number;
}

export async function enrollNode(admin: CloudStackClient, name: string): Promise<EnrolledCloudStackNode> {
  const created = await admin.call('createAccount', {
    username: name,
    account: name,
    password: randomBytes(18).toString('base64url'),
    email: `${name}@edge.invalid`,
    firstname: name,
    lastname: 'edge node',
    accounttype: 0,
  });
  const account = created.account as { id: string; user: { id: string }[] };
  const keys = (await admin.call('registerUserKeys', { id: account.user[0]!.id })).userkeys as { apikey: string; secretkey: string };
  return { name, accountId: account.id, userId: account.user[0]!.id, apiKey: keys.apikey, secretKey: keys.secretkey };
}

/** An admin-signed request to the origin or KMS (same scheme as the node client's). */
function signedQuery(admin: CloudStackClient, url: string): string {
  const path = new URL(url).pathname;
  const p = { apiKey: admin.o.apiKey, expires: formatExpires(Date.now() + 10 * 60_000), signatureVersion: '3', path };
  return `${url}?${new URLSearchParams({ apiKey: p.apiKey, expires: p.expires, signatureVersion: '3', signature: sign(p, admin.o.secretKey) })}`;
}

export async function publishImage(
  admin: CloudStackClient,
  o: { stateDir: string; sealedDir: string; dataKey: Buffer; trusted: readonly PublicKeyInput[]; zoneid: string; ostypeid: string; readers: readonly string[] },
): Promise<PublishedCloudStackImage> {
  const { manifest, envelope } = await readSealed(o.sealedDir, o.trusted);
  chunkKeysFor(manifest, o.dataKey); // refuses a key that is not this image's
  const dir = join(o.stateDir, 'origin', manifest.imageId, manifest.version);
  await mkdir(dir, { recursive: true });
  const hash = createHash('sha256');
  const total = await writeSealedBlob(o.sealedDir, manifest, join(dir, 'sealed'), { hash });
  await writeFile(join(dir, 'manifest'), envelope);
  const base = new URL(admin.o.url).origin;
  const res = await fetch(signedQuery(admin, `${base}/kms/v1/secrets`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload: o.dataKey.toString('base64'), readers: o.readers }),
  });
  if (res.status !== 201) throw new Error(`KMS refused the data key: HTTP ${res.status} ${await res.text()}`);
  const secretId = ((await res.json()) as { id: string }).id;
  const ref = `${manifest.imageId}@${manifest.version}`;
  const [t] = (
    await admin.call('registerTemplate', {
      name: ref,
      displaytext: `edgeplane sealed image ${ref}`,
      format: 'RAW',
      hypervisor: 'KVM',
      url: `${base}/origin/templates/${manifest.imageId}/${manifest.version}/sealed`,
      zoneid: o.zoneid,
      ostypeid: o.ostypeid,
      directdownload: true,
      checksum: `{SHA-256}${hash.digest('hex')}`,
      [`details[0].${SECRET_DETAIL}`]: secretId,
    })
  ).template as { id: string }[];
  return { ref, manifest, templateId: t!.id, secretId, blobBytes: total };
}

export async function assignNode(admin: CloudStackClient, node: Pick<EnrolledCloudStackNode, 'accountId' | 'name'>, image: Pick<PublishedCloudStackImage, 'ref' | 'templateId'>): Promise<void> {
  await admin.call('updateTemplatePermissions', { id: image.templateId, accounts: node.name, op: 'add' });
  await admin.run('createTags', { resourcetype: 'Account', resourceids: node.accountId, 'tags[0].key': PIN_TAG, 'tags[0].value': image.ref });
}
