import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { CloudSelection, EnrolledFleetNode, FleetNodeStatus, FleetOperator, PlaneOperator, PublishedFleetImage, PublishRequest } from '../adapters/index.js';
import type { Assignment } from '../agent/machine/index.js';
import { EnvironmentError, InputError, NotSupportedError } from '../common/index.js';
import { keyRefSlug, preparePublishInput } from '../pipeline/index.js';
import { formatExpires, sign } from './api/signing.js';
import { CloudStackApiError, CloudStackClient, type Answer } from './client/api.js';
import { assignNode, enrollNode, publishImage } from './client/fleet.js';
import { PIN_TAG, SECRET_DETAIL, SEQ_TAG, STATUS_TAG } from './client/node-plane.js';
import { openCloudStackNativeRun } from './native-run.js';
import { readCredentials, type Credentials } from './server/stack.js';

/** the account tag that marks an account as an edgeplane node (enrolled by `fleet enroll`) */
export const NODE_TAG = 'edgeplane.node';
const NODE_NAME = /^[a-z0-9][a-z0-9-]{0,47}$/;

/** Account names of nodes: `site-000/node-0000` -> `site-000-node-0000`. */
export function cloudstackNodeName(scenarioNodeId: string): string {
  return scenarioNodeId.replace(/\//g, '-').toLowerCase();
}

export function parseCloudStackPin(text: string): Assignment {
  const at = text.indexOf('@');
  if (at <= 0 || at === text.length - 1 || text.indexOf('@', at + 1) !== -1) throw new InputError(`expected <image-id>@<version>, got ${JSON.stringify(text)}`);
  return { imageId: text.slice(0, at), version: text.slice(at + 1) };
}

/** The status tag's value `<STATUS> <image@version|-> [failure]` (node-plane.ts writes it). */
function parseReport(value: string, seq: string | undefined): FleetNodeStatus['report'] {
  const [status, image, ...failure] = value.split(' ');
  if (!status) return null;
  let pin: Assignment | null = null;
  if (image && image !== '-') {
    try {
      pin = parseCloudStackPin(image);
    } catch {
      pin = null;
    }
  }
  const n = Number(seq);
  return { status, seq: Number.isFinite(n) ? n : 0, image: pin, ...(failure.length ? { failure: failure.join(' ') } : {}) };
}

const admin = (c: Credentials) => new CloudStackClient({ url: c.apiUrl, apiKey: c.apiKey, secretKey: c.secretKey, firstPollMs: 50, maxPollMs: 1_000, timeoutMs: 30_000 });

export class CloudStackFleet implements FleetOperator {
  readonly admin: CloudStackClient;

  constructor(
    readonly stateDir: string,
    readonly credentials: Credentials,
  ) {
    this.admin = admin(credentials);
  }

  private async edgeZone(): Promise<string> {
    const zones = await this.admin.list('listZones', 'zone');
    const z = zones.find((x) => x.type === 'Edge') ?? zones[0];
    if (!z) throw new EnvironmentError(`${this.credentials.url}: no zone`);
    return String(z.id);
  }

  /** node accounts by name (only the names asked for, or every account tagged as a node) */
  private async accounts(): Promise<Map<string, Answer>> {
    return new Map((await this.admin.list('listAccounts', 'account', { listall: true })).map((a) => [String(a.name), a]));
  }

  private async enrolled(nodeIds: readonly string[]): Promise<Map<string, Answer>> {
    const all = await this.accounts();
    const tagged = new Set((await this.admin.list('listTags', 'tag', { resourcetype: 'Account', key: NODE_TAG })).map((t) => String(t.resourceid)));
    for (const n of nodeIds) {
      const a = all.get(n);
      if (!a || !tagged.has(String(a.id))) throw new InputError(`node ${n} is not enrolled on ${this.credentials.url} (\`edgeplane fleet enroll ${n} --plane cloudstack\`)`);
    }
    return all;
  }

  private async template(pin: Assignment): Promise<Answer> {
    const ref = `${pin.imageId}@${pin.version}`;
    const [t] = await this.admin.list('listTemplates', 'template', { templatefilter: 'self', name: ref });
    if (!t) throw new InputError(`no published image ${ref} on ${this.credentials.url} (\`edgeplane fleet publish --plane cloudstack\`)`);
    return t;
  }

  /** The key's readers = the enabled node accounts pinned to this image (the KMS ACL is replaced whole). */
  private async syncReaders(template: Answer): Promise<void> {
    const secret = (template.details as Record<string, unknown> | undefined)?.[SECRET_DETAIL];
    if (typeof secret !== 'string') throw new EnvironmentError(`template ${String(template.name)} has no ${SECRET_DETAIL} detail (not published by edgeplane)`);
    const pinned = new Set((await this.admin.list('listTags', 'tag', { resourcetype: 'Account', key: PIN_TAG, value: String(template.name) })).map((t) => String(t.resourceid)));
    const readers = [...(await this.accounts()).values()].filter((a) => pinned.has(String(a.id)) && a.state === 'enabled').map((a) => String(a.id));
    const url = `${new URL(this.credentials.apiUrl).origin}/kms/v1/secrets/${secret}/acl`;
    const path = new URL(url).pathname;
    const p = { apiKey: this.credentials.apiKey, expires: formatExpires(Date.now() + 10 * 60_000), signatureVersion: '3', path };
    const q = new URLSearchParams({ apiKey: p.apiKey, expires: p.expires, signatureVersion: '3', signature: sign(p, this.credentials.secretKey) });
    const res = await fetch(`${url}?${q}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ readers: readers.sort() }) });
    if (res.status !== 204) throw new EnvironmentError(`the KMS refused the ACL of ${secret}: HTTP ${res.status} ${await res.text()}`);
  }

  async publish(o: PublishRequest): Promise<PublishedFleetImage> {
    const ref = `${o.imageId}@${o.version}`;
    if ((await this.admin.list('listTemplates', 'template', { templatefilter: 'self', name: ref })).length > 0) throw new InputError(`${ref} is already published on ${this.credentials.url}: publish a new version`);
    const work = mkdtempSync(join(tmpdir(), 'edgeplane-cs-publish-'));
    try {
      const { sealedDir, dataKey, publicKey, sealed, keysGenerated, keysDir } = await preparePublishInput({ ...o, keyRef: keyRefSlug('cloudstack-kms', o.imageId, o.version), workDir: work });
      const ostypes = await this.admin.list('listOsTypes', 'ostype');
      const ostype = ostypes.find((t) => /Other Linux/.test(String(t.description))) ?? ostypes[0];
      if (!ostype) throw new EnvironmentError(`${this.credentials.url}: no OS types`);
      const image = await publishImage(this.admin, { stateDir: this.stateDir, sealedDir, dataKey, trusted: [publicKey], zoneid: await this.edgeZone(), ostypeid: String(ostype.id), readers: [] });
      return {
        pin: { imageId: o.imageId, version: o.version },
        chunks: image.manifest.chunks.length,
        blobBytes: image.blobBytes,
        sealed,
        keysGenerated,
        keysDir,
        details: { 'CloudStack template': image.templateId, 'KMS secret': image.secretId },
        json: { templateId: image.templateId, secretId: image.secretId, imageId: o.imageId, version: o.version, chunks: image.manifest.chunks.length, blobBytes: image.blobBytes },
      };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /** New accounts, or an existing node account enabled again with fresh keys (its old keys stop working). */
  async enroll(nodeIds: readonly string[], o: { outDir?: string; trust?: string[] } = {}): Promise<EnrolledFleetNode[]> {
    const names = [...new Set(nodeIds)].sort();
    for (const n of names) if (!NODE_NAME.test(n)) throw new InputError(`node id ${JSON.stringify(n)}: lower-case letters, digits and "-", up to 48 characters`);
    const accounts = await this.accounts();
    for (const n of names) {
      const a = accounts.get(n);
      if (a && (a.accounttype === 1 || n === this.credentials.username)) throw new InputError(`${n} is an admin account, not a node`);
    }
    if (o.outDir) mkdirSync(o.outDir, { recursive: true });
    const out: EnrolledFleetNode[] = [];
    for (const n of names) {
      const existing = accounts.get(n);
      let node: { accountId: string; userId: string; apiKey: string; secretKey: string };
      if (!existing) node = await enrollNode(this.admin, n);
      else {
        if (existing.state !== 'enabled') await this.admin.call('enableAccount', { id: String(existing.id) });
        const userId = String((existing.user as Answer[])[0]!.id);
        const keys = (await this.admin.call('registerUserKeys', { id: userId })).userkeys as { apikey: string; secretkey: string };
        node = { accountId: String(existing.id), userId, apiKey: keys.apikey, secretKey: keys.secretkey };
      }
      const tagged = (await this.admin.list('listTags', 'tag', { resourcetype: 'Account', resourceid: node.accountId, key: NODE_TAG })).length > 0;
      if (!tagged) await this.admin.run('createTags', { resourcetype: 'Account', resourceids: node.accountId, 'tags[0].key': NODE_TAG, 'tags[0].value': n });
      const agentPlane = { kind: 'cloudstack', url: this.credentials.apiUrl, accountId: node.accountId, apiKey: node.apiKey, secretKey: node.secretKey };
      let configFile: string | null = null;
      if (o.outDir) {
        configFile = join(resolve(o.outDir), `${n}.agent.yaml`);
        const header = '# edgeplane agent configuration written by `edgeplane fleet enroll --plane cloudstack` (holds the node API secret key)\n';
        writeFileSync(configFile, header + toYaml({ node: n, stateDir: `/var/lib/edgeplane/${n}`, plane: agentPlane, trust: o.trust ?? ['publisher.pub'] }), { mode: 0o600 });
      }
      out.push({ nodeId: n, agentPlane, configFile, details: { account: node.accountId, user: node.userId, ...(existing ? { 're-enrolled': 'new API keys' } : {}) } });
    }
    return out;
  }

  async assign(pin: Assignment, nodeIds: readonly string[]): Promise<{ nodeId: string; pin: string }[]> {
    const names = [...new Set(nodeIds)].sort();
    const accounts = await this.enrolled(names);
    const revoked = names.filter((n) => accounts.get(n)!.state !== 'enabled');
    if (revoked.length) throw new InputError(`revoked node(s) ${revoked.join(', ')}: enroll again before assigning (their accounts are ${revoked.map((n) => accounts.get(n)!.state).join(', ')})`);
    const t = await this.template(pin);
    const ref = `${pin.imageId}@${pin.version}`;
    for (const n of names) {
      const accountId = String(accounts.get(n)!.id);
      // createTags on a key the resource already has is refused by CloudStack: the old pin goes first
      await this.admin.run('deleteTags', { resourcetype: 'Account', resourceids: accountId, 'tags[0].key': PIN_TAG });
      await assignNode(this.admin, { accountId, name: n }, { ref, templateId: String(t.id) });
    }
    await this.syncReaders(t);
    return names.map((nodeId) => ({ nodeId, pin: ref }));
  }

  async revoke(nodeIds: readonly string[]): Promise<string[]> {
    const names = [...new Set(nodeIds)].sort();
    const accounts = await this.enrolled(names);
    const pins = new Map((await this.admin.list('listTags', 'tag', { resourcetype: 'Account', key: PIN_TAG })).map((x) => [String(x.resourceid), String(x.value)]));
    const touched = new Set<string>();
    for (const n of names) {
      const a = accounts.get(n)!;
      const accountId = String(a.id);
      if (a.state === 'enabled') await this.admin.run('disableAccount', { id: accountId, lock: false });
      const pinned = pins.get(accountId);
      if (pinned) {
        await this.admin.run('deleteTags', { resourcetype: 'Account', resourceids: accountId, 'tags[0].key': PIN_TAG });
        const [t] = await this.admin.list('listTemplates', 'template', { templatefilter: 'self', name: pinned });
        if (t) {
          await this.admin.call('updateTemplatePermissions', { id: String(t.id), accounts: n, op: 'remove' });
          touched.add(pinned);
        }
      }
    }
    for (const ref of touched) await this.syncReaders(await this.template(parseCloudStackPin(ref)));
    return names;
  }

  async status(nodeIds: readonly string[] = []): Promise<FleetNodeStatus[]> {
    const accounts = await this.accounts();
    const tags = await this.admin.list('listTags', 'tag', { resourcetype: 'Account' });
    const byAccount = new Map<string, Map<string, string>>();
    for (const t of tags) {
      const m = byAccount.get(String(t.resourceid)) ?? new Map<string, string>();
      m.set(String(t.key), String(t.value));
      byAccount.set(String(t.resourceid), m);
    }
    const nodes = [...accounts.values()].filter((a) => byAccount.get(String(a.id))?.has(NODE_TAG));
    const wanted = nodeIds.length ? new Set(nodeIds) : null;
    if (wanted) for (const n of wanted) if (!nodes.some((a) => a.name === n)) throw new InputError(`node ${n} is not enrolled on ${this.credentials.url}`);
    return nodes
      .filter((a) => !wanted || wanted.has(String(a.name)))
      .map((a) => {
        const t = byAccount.get(String(a.id))!;
        const pin = t.get(PIN_TAG);
        const status = t.get(STATUS_TAG);
        return { nodeId: String(a.name), enabled: a.state === 'enabled', pin: pin ? parseCloudStackPin(pin) : null, report: status ? parseReport(status, t.get(SEQ_TAG)) : null };
      })
      .sort((x, y) => (x.nodeId < y.nodeId ? -1 : 1));
  }

  async close(): Promise<void> {
    this.admin.close();
  }
}

/** The emulator of `stateDir`, answering with the admin's keys (EnvironmentError when it is not). */
export async function openCloudStackFleet(stateDir: string, target?: CloudSelection): Promise<CloudStackFleet> {
  if (target?.cloud || target?.openrc) throw new NotSupportedError('--cloud/--openrc name an OpenStack cloud: the cloudstack plane works on the emulator of --state');
  const credentials = readCredentials(stateDir);
  const fleet = new CloudStackFleet(stateDir, credentials);
  try {
    await fleet.admin.call('listCapabilities');
  } catch (err) {
    fleet.admin.close();
    if (err instanceof CloudStackApiError && err.errorcode === 401) throw new EnvironmentError(`${credentials.apiUrl} refused the admin keys of ${stateDir}/credentials.json (401)`);
    throw new EnvironmentError(`no CloudStack emulator answering at ${credentials.apiUrl}: ${(err as Error).message}`, [`edgeplane up cloudstack --state ${stateDir}`]);
  }
  return fleet;
}

export const cloudstackOperator: PlaneOperator = {
  nodeName: cloudstackNodeName,
  parsePin: parseCloudStackPin,
  open: openCloudStackFleet,
  native: openCloudStackNativeRun,
  nativeEmulated: 'node-processes',
};
