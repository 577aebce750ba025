// Operator workflows for agent mode on a running front-end (`run --env real --plane opennebula`
// with mode agent, `edgeplane fleet ...`): publish a sealed image (ONE image whose template carries
// the signed manifest; the blob for the byte server and the data key for the key service under the
// state folder's edge/), enroll nodes as ONE users in the fleet group, pin image@version as
// attributes of each node's user template, revoke, and read back the nodes' reports.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FleetNodeStatus, FleetOperator, PublishRequest, PublishedFleetImage } from '../adapters/index.js';
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
      // owner use+manage, group use: the fleet's nodes may read it (one.image.info), nobody else
      await this.admin.imageChmod(id, [1, 1, 0, 1, 0, 0, 0, 0, 0]);
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

  async enroll(nodeIds: readonly string[]): Promise<{ nodeId: string; agentPlane: Record<string, unknown>; configFile: null; details: Record<string, string> }[]> {
    const gid = await this.groupId();
    const users = new Map((await this.admin.userPool()).map((u) => [u.NAME, u.ID]));
    const out = [];
    for (const nodeId of [...new Set(nodeIds)].sort()) {
      if (!NODE_NAME.test(nodeId)) throw new InputError(`node id ${JSON.stringify(nodeId)}: lower-case letters, digits and "-"`);
      const password = randomBytes(16).toString('hex');
      let id = users.get(nodeId);
      if (id === undefined) id = await this.admin.userAllocate(nodeId, password, []);
      else await this.admin.userPasswd(id, password);
      await this.admin.call('one.user.chgrp', [id, gid]);
      out.push({ nodeId, agentPlane: { kind: 'opennebula', endpoint: this.endpoint, edgeUrl: this.edgeUrl, username: nodeId, password }, configFile: null, details: { user: String(id), group: FLEET_GROUP } });
    }
    return out;
  }

  private async userIds(nodeIds: readonly string[]): Promise<Map<string, number>> {
    const users = new Map((await this.admin.userPool()).map((u) => [u.NAME, u.ID]));
    for (const n of nodeIds) if (!users.has(n)) throw new InputError(`node ${n} is not enrolled`);
    return users;
  }

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
    const text = `${pin.imageId}@${pin.version}`;
    for (const n of sorted) await this.admin.userUpdate(users.get(n)!, `${EDGE_ATTRS.pin} = ${templateValue(text)}\n${EDGE_ATTRS.pinImage} = "${image}"`, true);
    return sorted.map((nodeId) => ({ nodeId, pin: text }));
  }

  async revoke(nodeIds: readonly string[]): Promise<string[]> {
    const users = await this.userIds(nodeIds);
    const sorted = [...new Set(nodeIds)].sort();
    for (const n of sorted) await this.admin.userUpdate(users.get(n)!, `${EDGE_ATTRS.pin} = ""\n${EDGE_ATTRS.pinImage} = ""`, true);
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
