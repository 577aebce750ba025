// An edge node on OpenNebula (agent mode): the node is a ONE user. Its pin is an attribute of its
// user template (EDGE_PIN = "<lineage>@<version>", EDGE_PIN_IMAGE = the ONE image id), the signed
// manifest an attribute of that image's template (EDGE_MANIFEST, base64; EDGE_KEY_REF), its status
// report attributes it writes into its own user template (EDGE_STATUS, EDGE_IMAGE, EDGE_SEQ,
// EDGE_FAILURE). The bytes and the data key come from what edgeplane adds on the front-end: the
// byte server and the key service (server/edge-services.ts), which check the node's ONE session.
import type { NodePlane, NodeReport, PlaneManifest } from '../../adapters/index.js';
import { NO_RETRY, Transport, type CallRecorder } from '../../adapters/transport/index.js';
import type { Assignment } from '../../agent/machine/index.js';
import { OneClient } from './api.js';
import { templateText } from './schemas.js';

export interface OneNodeConfig {
  /** oned XML-RPC, http://host:port/RPC2 */
  endpoint: string;
  /** the edge services (byte server + key service), http://host:port */
  edgeUrl: string;
  username: string;
  password: string;
}

/** A pin or manifest attribute that is missing or malformed: the node cannot use it. */
class PinError extends Error {
  readonly controlErrorKind = 'notFound';
}

export const EDGE_ATTRS = {
  pin: 'EDGE_PIN',
  pinImage: 'EDGE_PIN_IMAGE',
  manifest: 'EDGE_MANIFEST',
  keyRef: 'EDGE_KEY_REF',
  lineage: 'EDGE_IMAGE',
  version: 'EDGE_VERSION',
  status: 'EDGE_STATUS',
  reportImage: 'EDGE_REPORT_IMAGE',
  seq: 'EDGE_SEQ',
  failure: 'EDGE_FAILURE',
} as const;

export function parsePin(text: string | undefined): Assignment | null {
  if (!text) return null;
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) return null;
  return { imageId: text.slice(0, at), version: text.slice(at + 1) };
}

export class OneNodePlane implements NodePlane {
  readonly plane = 'opennebula';
  readonly client: OneClient;
  private readonly data: Transport;
  private userId: number | null = null;
  /** the agent's assignment (lineage@version) -> the ONE image id it was pinned with */
  private readonly images = new Map<string, number>();

  constructor(
    readonly config: OneNodeConfig,
    o: { recorder?: CallRecorder; timeoutMs?: number } = {},
  ) {
    this.client = new OneClient({ endpoint: config.endpoint, username: config.username, password: config.password, recorder: o.recorder, timeoutMs: o.timeoutMs });
    // no retries here: the agent machine retries (a retry behind its back hides failures from it)
    this.data = new Transport({ plane: 'opennebula', recorder: this.client.recorder, retry: NO_RETRY, timeoutMs: o.timeoutMs ?? 60_000 });
  }

  get recorder(): CallRecorder {
    return this.client.recorder;
  }

  /** a fresh login token (the previous one revoked: within oned's 10 per user) */
  async login(): Promise<void> {
    await this.client.login();
  }

  async getAssignment(): Promise<Assignment | null> {
    const me = await this.client.userInfo(-1);
    this.userId = me.ID;
    const pin = parsePin(templateText(me.TEMPLATE, EDGE_ATTRS.pin));
    if (!pin) return null;
    const image = Number(templateText(me.TEMPLATE, EDGE_ATTRS.pinImage));
    if (!Number.isInteger(image) || image < 0) throw new PinError(`${EDGE_ATTRS.pinImage} of user ${me.NAME} is not an image id`);
    this.images.set(`${pin.imageId}@${pin.version}`, image);
    return pin;
  }

  async getManifest(a: Assignment): Promise<PlaneManifest> {
    const id = this.images.get(`${a.imageId}@${a.version}`);
    if (id === undefined) throw new PinError(`${a.imageId}@${a.version} is not this node's pin`);
    const image = await this.client.imageInfo(id);
    const t = image.TEMPLATE;
    if (templateText(t, EDGE_ATTRS.lineage) !== a.imageId || templateText(t, EDGE_ATTRS.version) !== a.version) {
      throw new PinError(`OpenNebula image ${id} is not ${a.imageId}@${a.version}`);
    }
    const b64 = templateText(t, EDGE_ATTRS.manifest);
    const keyRef = templateText(t, EDGE_ATTRS.keyRef);
    if (!b64 || !keyRef) throw new PinError(`OpenNebula image ${id} carries no ${EDGE_ATTRS.manifest}/${EDGE_ATTRS.keyRef}`);
    return { bytes: Buffer.from(b64, 'base64'), keyRef, blobRef: String(id) };
  }

  private authHeader(): Record<string, string> {
    return { 'X-Auth-Token': this.client.session };
  }

  async getKey(keyRef: string): Promise<Buffer> {
    const res = await this.data.request(this.config.edgeUrl, {
      op: 'kms.secret.payload',
      method: 'GET',
      path: '/v1/secrets/{secret_id}/payload',
      params: { secret_id: keyRef },
      headers: { ...this.authHeader(), Accept: 'application/octet-stream' },
    });
    return res.body;
  }

  downloadRange(blobRef: string, offset: number, length: number): Promise<Buffer> {
    return this.data.range(this.config.edgeUrl, { op: 'http.image.download_range', path: '/images/{image_id}/sealed', params: { image_id: blobRef }, headers: this.authHeader() }, offset, length);
  }

  async report(r: NodeReport): Promise<void> {
    if (this.userId === null) this.userId = (await this.client.userInfo(-1)).ID;
    const attrs: Record<string, string> = {
      [EDGE_ATTRS.status]: r.status,
      [EDGE_ATTRS.reportImage]: r.image ? `${r.image.imageId}@${r.image.version}` : '',
      [EDGE_ATTRS.seq]: String(Date.now()),
      [EDGE_ATTRS.failure]: r.failure ?? '',
    };
    const body = Object.entries(attrs)
      .map(([k, v]) => `${k} = "${v.replace(/["\\\n]/g, ' ')}"`)
      .join('\n');
    await this.client.userUpdate(this.userId, body, true);
  }

  close(): void {
    this.data.close();
    this.client.rpc.transport.close();
  }
}
