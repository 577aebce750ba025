// Operator workflows for agent mode on a running front-end (`run --env real --plane opennebula`
// with mode agent, `edgeplane fleet ...`): publish a sealed image (ONE image whose template carries
// the signed manifest; the blob for the byte server and the data key for the key service under the
// state folder's edge/), enroll nodes as ONE users in the fleet group, pin image@version as
// attributes of each node's user template, revoke, and read back the nodes' reports.
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { EnrolledFleetNode, FleetNodeStatus, FleetOperator, PublishRequest, PublishedFleetImage } from '../adapters/index.js';
import type { Assignment } from '../agent/machine/index.js';
import { EnvironmentError, InputError } from '../common/index.js';
import { keyRefSlug, preparePublishInput, writeSealedBlob } from '../pipeline/index.js';
import { OneClient, templateValue } from './client/api.js';
import { OneError } from './client/errors.js';
import { EDGE_ATTRS, parsePin } from './client/node-plane.js';
import { GroupPoolSchema, IMAGE_STATE, parseOneXml, templateText } from './client/schemas.js';
import { blobFile, loadFrontEnd, portsFrom, readKey, writeKey } from './server/index.js';

export const FLEET_GROUP = 'edgeplane-nodes';
const NODE_NAME = /^[a-z0-9][a-z0-9-]{0,127}$/;

/** ONE user names of nodes: `site-000/node-0000` -> `site-000-node-0000`. */
export function oneNodeName(id: string): string {
  return id.replace(/\//g, '-').toLowerCase();
}

export function parseAssignment(text: string): Assignment {
  const a = parsePin(text);
  if (!a) throw new InputError(`expected <image>@<version>, got ${JSON.stringify(text)}`);
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ACL rule components (include/AclRule.h, PoolObjectSQL.h, AuthRequest.h): `#<id>` is
// INDIVIDUAL_ID | id; the resource is the object type's bit | INDIVIDUAL_ID | id; USE = 0x1
const ACL_INDIVIDUAL = 0x1_0000_0000;
const ACL_IMAGE = 0x80_0000_0000;
const ACL_USE = 0x1;

/** `#uid IMAGE/#imageId USE` as one.acl.addrule takes it (hex strings) */
export function imageRule(uid: number, imageId: number): { user: string; resource: string; rights: string } {
  return { user: (ACL_INDIVIDUAL + uid).toString(16), resource: (ACL_IMAGE + ACL_INDIVIDUAL + imageId).toString(16), rights: ACL_USE.toString(16) };
}

/** the user and image of a `#uid IMAGE/#id USE` rule as one.acl.info lists it; null for any other rule */
export function parseImageRule(user: string, resource: string, rights: string): { uid: number; imageId: number } | null {
  const u = Number.parseInt(user, 16);
  const r = Number.parseInt(resource, 16);
  if (!Number.isSafeInteger(u) || !Number.isSafeInteger(r) || Number.parseInt(rights, 16) !== ACL_USE) return null;
  if (u < ACL_INDIVIDUAL || u >= 2 * ACL_INDIVIDUAL) return null;
  if (r < ACL_IMAGE + ACL_INDIVIDUAL || r >= ACL_IMAGE + 2 * ACL_INDIVIDUAL) return null;
  return { uid: u - ACL_INDIVIDUAL, imageId: r - ACL_IMAGE - ACL_INDIVIDUAL };
}

/** `<dir>/<node>.agent.yaml` (plane section with `passwordFile`) and `<dir>/<node>.password`, both 0600; the config's path. */
export function writeAgentFiles(dir: string, nodeId: string, plane: { kind: string; endpoint: string; edgeUrl: string; username: string; password: string }, trust: readonly string[]): string {
  const passwordFile = `${nodeId}.password`;
  writeFileSync(join(dir, passwordFile), `${plane.password}\n`, { mode: 0o600 });
  chmodSync(join(dir, passwordFile), 0o600);
  const { password: _, ...rest } = plane;
  const file = join(dir, `${nodeId}.agent.yaml`);
  const header = `# edgeplane agent configuration written by \`edgeplane fleet enroll --plane opennebula\` (the node's ONE password is in ${passwordFile})\n`;
  writeFileSync(file, header + toYaml({ node: nodeId, stateDir: `/var/lib/edgeplane/${nodeId}`, plane: { ...rest, passwordFile }, trust: [...trust] }), { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export class OneFleet {
  readonly admin: OneClient;
  readonly edgeDir: string;
  readonly edgeUrl: string;
  readonly endpoint: string;

  constructor(readonly stateDir: string) {
    const { layout, state, credentials } = loadFrontEnd(stateDir);
    if (state.mode === 'endpoint') throw new EnvironmentError(`${stateDir}: agent mode needs the edge services of a local front-end (\`up opennebula\` without --endpoint)`);
    this.admin = new OneClient({ endpoint: credentials.endpoint, username: credentials.username, password: credentials.password, timeoutMs: 30_000 });
    this.edgeDir = layout.edgeData;
    this.edgeUrl = `http://127.0.0.1:${portsFrom(state.portBase ?? 0).edge}`;
    this.endpoint = credentials.endpoint;
  }

  async groupId(): Promise<number> {
    const find = async () => {
      const pool = parseOneXml('one.grouppool.info', String(await this.admin.call('one.grouppool.info')), 'GROUP_POOL', GroupPoolSchema);
      return pool.GROUP_POOL.GROUP.find((g) => g.NAME === FLEET_GROUP)?.ID;
    };
    const known = await find();
    if (known !== undefined) return known;
    try {
      return Number(await this.admin.call('one.group.allocate', [FLEET_GROUP]));
    } catch (err) {
      // another operator created it meanwhile
      const again = await find();
      if (again === undefined) throw err;
      return again;
    }
  }

  async publish(o: PublishRequest): Promise<PublishedFleetImage> {
    const work = mkdtempSync(join(tmpdir(), 'edgeplane-one-publish-'));
    try {
      const { sealedDir, manifest, envelope, dataKey, sealed, keysGenerated, keysDir } = await preparePublishInput({ ...o, keyRef: keyRefSlug('edgeplane-key', o.imageId, o.version), workDir: work });
      const blobTmp = join(work, 'blob');
      const blobBytes = await writeSealedBlob(sealedDir, manifest, blobTmp);
      const attrs = [
        `NAME = ${templateValue(`${o.imageId}-${o.version}`)}`,
        `PATH = ${templateValue(blobTmp)}`,
        'TYPE = "OS"',
        `${EDGE_ATTRS.lineage} = ${templateValue(o.imageId)}`,
        `${EDGE_ATTRS.version} = ${templateValue(o.version)}`,
        `${EDGE_ATTRS.keyRef} = ${templateValue(manifest.keyRef)}`,
        `${EDGE_ATTRS.manifest} = ${templateValue(envelope.toString('base64'))}`,
      ].join('\n');
      const id = await this.admin.imageAllocate(attrs, 1);
      await this.waitReady(id);
      const gid = await this.groupId();
      await this.admin.call('one.image.chown', [id, -1, gid]);
      // owner use+manage only: a node reads it (one.image.info, and so the byte server) through an
      // ACL rule of its own that `assign` adds; a group permission would let every node read every image
      await this.admin.imageChmod(id, [1, 1, 0, 0, 0, 0, 0, 0, 0]);
      mkdirSync(join(this.edgeDir, 'blobs'), { recursive: true });
      copyFileSync(blobTmp, blobFile(this.edgeDir, String(id)));
      writeKey(this.edgeDir, manifest.keyRef, { key: dataKey.toString('base64'), users: readKey(this.edgeDir, manifest.keyRef)?.users ?? [] });
      return {
        pin: { imageId: o.imageId, version: o.version },
        chunks: manifest.chunks.length,
        blobBytes,
        sealed,
        keysGenerated,
        keysDir,
        details: { 'OpenNebula image': String(id), 'key secret': manifest.keyRef },
        json: { oneImageId: id, imageId: o.imageId, version: o.version, keyRef: manifest.keyRef, chunks: manifest.chunks.length, blobBytes },
      };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  private async waitReady(id: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const img = await this.admin.imageInfo(id);
      if (img.STATE === IMAGE_STATE.READY) return;
      if (img.STATE === IMAGE_STATE.ERROR) throw new EnvironmentError(`OpenNebula image ${id} went to ERROR`);
      if (Date.now() > deadline) throw new EnvironmentError(`OpenNebula image ${id} not READY after 60 s (state ${img.STATE})`);
      await sleep(200);
    }
  }

  /** the ONE image published as lineage@version */
  async imageOf(pin: Assignment): Promise<number> {
    const img = (await this.admin.imagePool()).find((i) => i.NAME === `${pin.imageId}-${pin.version}` && templateText(i.TEMPLATE, EDGE_ATTRS.lineage) === pin.imageId);
    if (!img) throw new InputError(`no published image ${pin.imageId}@${pin.version} on ${this.endpoint}`);
    return img.ID;
  }

  /**
   * A ONE user per node in the fleet group (an enrolled node gets a fresh password: its old one stops
   * working). With `outDir`: `<node>.agent.yaml` and the password it names (`<node>.password`, the
   * agent reads `passwordFile` relative to its config), both mode 0600.
   */
  async enroll(nodeIds: readonly string[], o: { outDir?: string; trust?: string[] } = {}): Promise<EnrolledFleetNode[]> {
    const names = [...new Set(nodeIds)].sort();
    for (const n of names) if (!NODE_NAME.test(n)) throw new InputError(`node id ${JSON.stringify(n)}: lower-case letters, digits and "-"`);
    const pool = await this.admin.userPool();
    for (const n of names) {
      const u = pool.find((x) => x.NAME === n);
      if (u && (u.ID === 0 || u.GID === 0 || n === this.admin.username)) throw new InputError(`${n} is an OpenNebula admin user (oneadmin group), not a node`);
    }
    const gid = await this.groupId();
    const users = new Map(pool.map((u) => [u.NAME, u.ID]));
    if (o.outDir) mkdirSync(o.outDir, { recursive: true });
    const out: EnrolledFleetNode[] = [];
    for (const nodeId of names) {
      const password = randomBytes(16).toString('hex');
      let id = users.get(nodeId);
      const existing = id !== undefined;
      if (id === undefined) id = await this.admin.userAllocate(nodeId, password, []);
      else await this.admin.userPasswd(id, password);
      await this.admin.call('one.user.chgrp', [id, gid]);
      const agentPlane = { kind: 'opennebula', endpoint: this.endpoint, edgeUrl: this.edgeUrl, username: nodeId, password };
      let configFile: string | null = null;
      if (o.outDir) configFile = writeAgentFiles(resolve(o.outDir), nodeId, agentPlane, o.trust ?? ['publisher.pub']);
      out.push({ nodeId, agentPlane, configFile, details: { user: String(id), group: FLEET_GROUP, ...(existing ? { 're-enrolled': 'new password' } : {}) } });
    }
    return out;
  }

  private async userIds(nodeIds: readonly string[]): Promise<Map<string, number>> {
    const users = new Map((await this.admin.userPool()).map((u) => [u.NAME, u.ID]));
    for (const n of nodeIds) if (!users.has(n)) throw new InputError(`node ${n} is not enrolled`);
    return users;
  }

  /** The node's own image rules (`#uid IMAGE/#id USE`), by image id. */
  private async imageRules(): Promise<Map<number, Map<number, number>>> {
    const byUser = new Map<number, Map<number, number>>();
    for (const r of await this.admin.aclPool()) {
      const rule = parseImageRule(r.USER, r.RESOURCE, r.RIGHTS);
      if (!rule) continue;
      const m = byUser.get(rule.uid) ?? new Map<number, number>();
      m.set(rule.imageId, r.ID);
      byUser.set(rule.uid, m);
    }
    return byUser;
  }

  /** the image's key service record without `nodes` */
  private async dropKeyUsers(imageId: number, nodes: readonly string[]): Promise<void> {
    const keyRef = await this.admin
      .imageInfo(imageId)
      .then((i) => templateText(i.TEMPLATE, EDGE_ATTRS.keyRef))
      .catch(() => undefined);
    const rec = keyRef ? readKey(this.edgeDir, keyRef) : null;
    if (keyRef && rec) writeKey(this.edgeDir, keyRef, { ...rec, users: rec.users.filter((u) => !nodes.includes(u)) });
  }

  /**
   * Pin image@version on each node: an ACL rule lets the node's user USE that ONE image (read it,
   * and so its bytes from the byte server), the key service lists the node for its key, and the pin
   * goes into the node's user template. The node's rules on other images go (one pin per node).
   */
  async assign(pin: Assignment, nodeIds: readonly string[]): Promise<{ nodeId: string; pin: string }[]> {
    const image = await this.imageOf(pin);
    const keyRef = templateText((await this.admin.imageInfo(image)).TEMPLATE, EDGE_ATTRS.keyRef);
    const users = await this.userIds(nodeIds);
    const sorted = [...new Set(nodeIds)].sort();
    if (keyRef) {
      const rec = readKey(this.edgeDir, keyRef);
      if (!rec) throw new EnvironmentError(`the key service has no key ${keyRef}`);
      writeKey(this.edgeDir, keyRef, { ...rec, users: [...new Set([...rec.users, ...sorted])].sort() });
    }
    const rules = await this.imageRules();
    const text = `${pin.imageId}@${pin.version}`;
    for (const n of sorted) {
      const uid = users.get(n)!;
      const mine = rules.get(uid) ?? new Map<number, number>();
      if (!mine.has(image)) {
        const r = imageRule(uid, image);
        await this.admin.aclAddRule(r.user, r.resource, r.rights);
      }
      await this.admin.userUpdate(uid, `${EDGE_ATTRS.pin} = ${templateValue(text)}\n${EDGE_ATTRS.pinImage} = "${image}"`, true);
      for (const [other, ruleId] of mine) {
        if (other === image) continue;
        await this.admin.aclDelRule(ruleId);
        await this.dropKeyUsers(other, [n]);
      }
    }
    return sorted.map((nodeId) => ({ nodeId, pin: text }));
  }

  /** The pin cleared, the node's image rules deleted and its name taken off their keys. */
  async revoke(nodeIds: readonly string[]): Promise<string[]> {
    const users = await this.userIds(nodeIds);
    const sorted = [...new Set(nodeIds)].sort();
    const rules = await this.imageRules();
    for (const n of sorted) {
      const uid = users.get(n)!;
      await this.admin.userUpdate(uid, `${EDGE_ATTRS.pin} = ""\n${EDGE_ATTRS.pinImage} = ""`, true);
      for (const [imageId, ruleId] of rules.get(uid) ?? []) {
        await this.admin.aclDelRule(ruleId);
        await this.dropKeyUsers(imageId, [n]);
      }
    }
    return sorted;
  }

  async status(nodeIds: readonly string[] = []): Promise<FleetNodeStatus[]> {
    const pool = await this.admin.userPool();
    const wanted = nodeIds.length ? new Set(nodeIds) : null;
    return pool
      .filter((u) => (wanted ? wanted.has(u.NAME) : templateText(u.TEMPLATE, EDGE_ATTRS.pin) !== undefined))
      .map((u) => {
        const t = u.TEMPLATE;
        const status = templateText(t, EDGE_ATTRS.status);
        const seq = Number(templateText(t, EDGE_ATTRS.seq));
        const failure = templateText(t, EDGE_ATTRS.failure);
        return {
          nodeId: u.NAME,
          enabled: u.ENABLED !== 0,
          pin: parsePin(templateText(t, EDGE_ATTRS.pin)),
          report: status ? { status, seq: Number.isFinite(seq) ? seq : 0, image: parsePin(templateText(t, EDGE_ATTRS.reportImage)), ...(failure ? { failure } : {}) } : null,
        };
      });
  }

  async close(): Promise<void> {
    await this.admin.close();
  }
}

export async function openOneFleet(stateDir: string): Promise<FleetOperator> {
  const f = new OneFleet(stateDir);
  try {
    await f.admin.version();
  } catch (err) {
    if (err instanceof OneError) throw new EnvironmentError(`${f.endpoint}: ${err.message}`);
    throw new EnvironmentError(`no OpenNebula answering at ${f.endpoint} (\`edgeplane up opennebula --state ${stateDir}\`): ${(err as Error).message}`);
  }
  return f;
}
