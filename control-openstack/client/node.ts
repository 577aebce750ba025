// The edge node's side of the OpenStack plane: its own credentials, a token scoped to its own
// project, and only reads of what the operator shared with it. Report goes to a Keystone
// credential the node's user owns (the pin tag itself is admin-only: see docs/placement-openstack.md).
// No retries in the transport by default (NO_RETRY): the agent's machine owns them.
import type { Readable } from 'node:stream';
import type { BlobStream } from '../../adapters/index.js';
import { type CallRecorder, NO_RETRY, Transport, type RetryPolicy } from '../../adapters/transport/index.js';
import type { Assignment } from '../../agent/machine/index.js';
import type { Logger } from '../../common/index.js';
import { decodePin, encodeReport, IMAGE_PROPS, type NodeReport } from '../placement.js';
import { BarbicanApi } from './barbican.js';
import { GlanceApi, imageProperty, imageReadiness } from './glance.js';
import { KeystoneSession, type SessionOptions } from './session.js';
import type { Image } from './schemas.js';

export type NodeCredentials = { kind: 'password'; userId: string; password: string; projectId: string } | { kind: 'applicationCredential'; id: string; secret: string };

/** What the operator hands a node at enrollment (everything it needs, nothing about others). */
export interface NodeConfig {
  authUrl: string;
  projectId: string;
  credentials: NodeCredentials;
  /** the Keystone credential the node writes its status into */
  reportCredentialId: string;
}

export interface NodeClientOptions extends SessionOptions {
  /** a transport of the caller's (then `recorder`, `retry`, `timeoutMs` and `logger` are not used) */
  transport?: Transport;
  recorder?: CallRecorder;
  /** default NO_RETRY: the agent's machine backs off and retries, one call per machine attempt */
  retry?: RetryPolicy;
  /** per attempt (the transport's default when unset) */
  timeoutMs?: number;
  logger?: Logger;
}

export interface FetchedManifest {
  /** the signed manifest, opaque here (the pipeline parses and verifies it) */
  bytes: Buffer;
  image: Image;
  manifestImageId: string;
  /** Barbican secret id of the image's data key */
  keyRef: string;
}

/** The image's record says something other than what the pin promised. */
export class AssignmentMismatchError extends Error {
  readonly controlErrorKind = 'invalid';
}

export class OpenStackNodeClient {
  readonly session: KeystoneSession;
  readonly transport: Transport;
  private glanceApi: GlanceApi | null = null;
  private barbicanApi: BarbicanApi | null = null;

  constructor(
    readonly config: NodeConfig,
    opts: NodeClientOptions = {},
  ) {
    this.transport = opts.transport ?? new Transport({ plane: 'openstack', recorder: opts.recorder, retry: opts.retry ?? NO_RETRY, timeoutMs: opts.timeoutMs, logger: opts.logger });
    const c = config.credentials;
    this.session = new KeystoneSession(this.transport, config.authUrl, c.kind === 'password' ? { kind: 'password', userId: c.userId, password: c.password, scope: { projectId: c.projectId } } : c, opts);
  }

  get recorder(): CallRecorder {
    return this.transport.recorder;
  }

  /** `keystone.token.issue`: a new token scoped to the node's project, with the catalog. */
  async login(): Promise<void> {
    await this.session.login();
  }

  /** `keystone.project.show`: the pin in the node's own project tags (null: nothing assigned). */
  async getAssignment(): Promise<Assignment | null> {
    const project = await this.session.authed((t) => this.session.keystone.showProject(t, this.config.projectId));
    return decodePin(project.tags);
  }

  /**
   * `glance.image.show` then `glance.image.download` of the manifest image the image points at;
   * `shown`: the image record the caller read just before (its show is not made twice).
   */
  async getManifest(assignment: Assignment, shown?: Image): Promise<FetchedManifest> {
    const glance = await this.glance();
    const image = shown && shown.id === assignment.imageId ? shown : await this.session.authed((t) => glance.showImage(t, assignment.imageId));
    const notReady = imageReadiness(image);
    if (notReady) throw notReady;
    const version = imageProperty(image, IMAGE_PROPS.version);
    const manifestImageId = imageProperty(image, IMAGE_PROPS.manifestImage);
    const keyRef = imageProperty(image, IMAGE_PROPS.keySecret);
    if (version !== assignment.version) {
      throw new AssignmentMismatchError(`image ${assignment.imageId} is version ${version ?? '(none)'}, pinned ${assignment.version}`);
    }
    if (!manifestImageId || !keyRef) throw new AssignmentMismatchError(`image ${assignment.imageId} has no manifest or key reference`);
    const bytes = await this.session.authed((t) => glance.downloadManifest(t, manifestImageId));
    return { bytes, image, manifestImageId, keyRef };
  }

  /** `barbican.secret.payload`: the image's data key (readable through its per-user ACL only). */
  async getKey(keyRef: string): Promise<Buffer> {
    const barbican = await this.barbican();
    return this.session.authed((t) => barbican.payload(t, keyRef));
  }

  /** `glance.image.download_range`: one chunk of the image file. */
  async downloadRange(imageId: string, offset: number, length: number): Promise<Buffer> {
    const glance = await this.glance();
    return this.session.authed((t) => glance.downloadRange(t, imageId, offset, length));
  }

  /** `glance.image.download`: the whole image file as a stream. */
  async downloadImage(imageId: string): Promise<Readable> {
    const glance = await this.glance();
    return (await this.session.authed((t) => glance.downloadStream(t, imageId))).stream;
  }

  /**
   * `glance.image.download_whole` (the same GET, recorded as a data op): the image file as the
   * agent's blob stream, and `stop()` to leave the rest unread (recorded as stopped, not failed).
   */
  async downloadBlob(imageId: string): Promise<BlobStream> {
    const glance = await this.glance();
    const res = await this.session.authed((t) => glance.downloadStream(t, imageId, 'glance.image.download_whole'));
    return {
      get stream() {
        return res.stream;
      },
      stop: res.stop,
      ...(res.readInto ? { readInto: res.readInto } : {}),
    };
  }

  /** `keystone.credential.update`: the node's status, into the credential it owns. */
  async report(report: NodeReport): Promise<void> {
    await this.session.authed((t) => this.session.keystone.updateCredential(t, this.config.reportCredentialId, encodeReport(report)));
  }

  private async glance(): Promise<GlanceApi> {
    this.glanceApi ??= new GlanceApi(this.transport, await this.session.endpoint('image'));
    return this.glanceApi;
  }

  private async barbican(): Promise<BarbicanApi> {
    this.barbicanApi ??= new BarbicanApi(this.transport, await this.session.endpoint('key-manager'));
    return this.barbicanApi;
  }
}
