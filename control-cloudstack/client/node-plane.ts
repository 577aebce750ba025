// Agent mode's node client: edgeplane's agent pulling through CloudStack. The node is a CloudStack
// user account with its own API keys; its pin and status are resource tags on its account; the
// image is a direct-download template shared with it, whose sealed blob and signed manifest sit on
// the HTTP origin the template is registered from; its data key is in the KMS edgeplane adds
// (CloudStack has none). Every call is signed with the node's secret (origin and KMS requests too:
// apiKey, expires, signatureVersion=3 and the path, signed the CloudStack way), and recorded.
import type { Assignment } from '../../agent/machine/index.js';
import type { NodePlane, NodeReport, PlaneManifest } from '../../adapters/index.js';
import { buildUrl, type CallRecorder, NO_RETRY, type RangeSpec, type RequestSpec } from '../../adapters/transport/index.js';
import type { Logger } from '../../common/index.js';
import { formatExpires, sign } from '../api/signing.js';
import { CloudStackClient } from './api.js';

export const PIN_TAG = 'edgeplane.pin';
export const STATUS_TAG = 'edgeplane.status';
/** wall-clock ms of the report, so the operator can tell a report from before a run from a fresh one */
export const SEQ_TAG = 'edgeplane.seq';
export const SECRET_DETAIL = 'edgeplanesecret';

export interface CloudStackNodeOptions {
  /** the API endpoint, e.g. http://127.0.0.1:48080/client/api */
  url: string;
  /** the origin and KMS base URLs (default: the API's origin + /origin and /kms) */
  originUrl?: string;
  kmsUrl?: string;
  accountId: string;
  apiKey: string;
  secretKey: string;
  recorder?: CallRecorder;
  timeoutMs?: number;
  logger?: Logger;
}

/** A NodePlane error that names its kind for the agent's machine. */
class NodePlaneError extends Error {
  constructor(
    readonly controlErrorKind: 'notFound' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

export function imageRefOf(a: Assignment): string {
  return `${a.imageId}@${a.version}`;
}

export class CloudStackNodePlane implements NodePlane {
  readonly plane = 'cloudstack';
  readonly api: CloudStackClient;
  private readonly origin: string;
  private readonly kms: string;

  constructor(private readonly o: CloudStackNodeOptions) {
    // NO_RETRY: the agent's machine owns retries (one call per machine attempt)
    this.api = new CloudStackClient({ url: o.url, apiKey: o.apiKey, secretKey: o.secretKey, recorder: o.recorder, retry: NO_RETRY, timeoutMs: o.timeoutMs, logger: o.logger });
    const base = new URL(o.url).origin;
    this.origin = o.originUrl ?? `${base}/origin`;
    this.kms = o.kmsUrl ?? `${base}/kms`;
  }

  get recorder(): CallRecorder {
    return this.api.recorder;
  }

  async login(): Promise<void> {
    await this.api.call('listCapabilities');
  }

  async getAssignment(): Promise<Assignment | null> {
    const tags = await this.api.list('listTags', 'tag', { resourcetype: 'Account', resourceid: this.o.accountId, key: PIN_TAG });
    const value = tags[0]?.value;
    if (typeof value !== 'string') return null;
    const at = value.indexOf('@');
    if (at <= 0) throw new NodePlaneError('invalid', `pin tag ${PIN_TAG}=${value} is not <image>@<version>`);
    return { imageId: value.slice(0, at), version: value.slice(at + 1) };
  }

  async getManifest(a: Assignment): Promise<PlaneManifest> {
    const ref = imageRefOf(a);
    const [t] = await this.api.list('listTemplates', 'template', { templatefilter: 'sharedexecutable', name: ref });
    if (!t) throw new NodePlaneError('notFound', `no ready template ${ref} is shared with this node`);
    const secret = (t.details as Record<string, unknown> | undefined)?.[SECRET_DETAIL];
    if (typeof secret !== 'string') throw new NodePlaneError('invalid', `template ${ref} has no ${SECRET_DETAIL} detail (not published by edgeplane)`);
    const res = await this.api.transport.request(
      this.origin,
      this.signedSpec(this.origin, { op: 'http.manifest.download', method: 'GET', path: '/manifests/{image_id}/{version}', params: { image_id: a.imageId, version: a.version } }),
    );
    return { bytes: res.body, keyRef: secret, blobRef: `${a.imageId}/${a.version}` };
  }

  async getKey(keyRef: string): Promise<Buffer> {
    const res = await this.api.transport.request(this.kms, this.signedSpec(this.kms, { op: 'kms.secret.payload', method: 'GET', path: '/v1/secrets/{secret_id}/payload', params: { secret_id: keyRef } }));
    return res.body;
  }

  async downloadRange(blobRef: string, offset: number, length: number): Promise<Buffer> {
    const slash = blobRef.indexOf('/');
    const spec: RangeSpec = this.signedSpec(this.origin, {
      op: 'http.image.download_range',
      method: 'GET',
      path: '/templates/{image_id}/{version}/sealed',
      params: { image_id: blobRef.slice(0, slash), version: blobRef.slice(slash + 1) },
    });
    return this.api.transport.range(this.origin, spec, offset, length);
  }

  /** createTags is async: the agent does not wait for the job (the next report replaces the value). */
  async report(r: NodeReport): Promise<void> {
    const value = [r.status, r.image ? imageRefOf(r.image) : '-', r.failure ?? ''].join(' ').trim();
    await this.api.submit('createTags', {
      resourcetype: 'Account',
      resourceids: this.o.accountId,
      'tags[0].key': STATUS_TAG,
      'tags[0].value': value,
      'tags[1].key': SEQ_TAG,
      'tags[1].value': String(Date.now()),
    });
  }

  close(): void {
    this.api.close();
  }

  /** A request to the origin or the KMS, signed over its path like an API call. */
  private signedSpec<S extends Omit<RequestSpec, 'query'>>(base: string, spec: S): S & { query: Record<string, string> } {
    const path = new URL(buildUrl(base, spec)).pathname;
    const p: Record<string, string> = { apiKey: this.o.apiKey, expires: formatExpires(Date.now() + 10 * 60_000), signatureVersion: '3', path };
    const signature = sign(p, this.o.secretKey);
    return { ...spec, query: { apiKey: p.apiKey!, expires: p.expires!, signatureVersion: '3', signature } };
  }
}
