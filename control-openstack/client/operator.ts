// The operator's side: enroll nodes (project + user + report credential), publish an image with its
// manifest and data key, pin/unpin a node, revoke a node. Runs as the cloud admin.
import { randomBytes } from 'node:crypto';
import { type CallRecorder, HttpError, Transport, type RetryPolicy } from '../../adapters/transport/index.js';
import type { Assignment } from '../../agent/machine/index.js';
import { decodePin, decodeReport, encodeReport, IMAGE_PROPS, NODE_TAG, nodeProjectName, nodeUserName, REPORT_CREDENTIAL_TYPE, tagsWithPin, type NodeReport } from '../placement.js';
import { BarbicanApi } from './barbican.js';
import { GlanceApi, imageProperty, imageReadiness } from './glance.js';
import type { NodeConfig } from './node.js';
import { KeystoneSession } from './session.js';
import type { KeystoneCredentials } from './keystone.js';

export interface OperatorConfig {
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  domain?: string;
  /** other credentials than username/password in `domain` (a clouds.yaml or openrc cloud) */
  credentials?: KeystoneCredentials;
  /** catalog interface of Glance and Barbican (default public) */
  interface?: 'public' | 'internal' | 'admin';
  transport?: Transport;
  recorder?: CallRecorder;
  retry?: RetryPolicy;
}

export interface EnrolledNode {
  nodeId: string;
  projectId: string;
  userId: string;
  password: string;
  reportCredentialId: string;
  /** ready to hand to OpenStackNodeClient */
  config: NodeConfig;
}

export interface PublishedImage extends Assignment {
  manifestImageId: string;
  keySecretId: string;
}

/** Roles a node user holds on its own project: `member` (Glance reads of shared images). */
export const NODE_ROLES = ['member'] as const;

export class OpenStackOperator {
  readonly session: KeystoneSession;
  readonly transport: Transport;
  private glanceApi: GlanceApi | null = null;
  private barbicanApi: BarbicanApi | null = null;
  private readonly nodes = new Map<string, { projectId: string; userId: string }>();

  constructor(readonly config: OperatorConfig) {
    this.transport = config.transport ?? new Transport({ plane: 'openstack', recorder: config.recorder, retry: config.retry });
    const domain = config.domain ?? 'Default';
    this.session = new KeystoneSession(
      this.transport,
      config.authUrl,
      config.credentials ?? {
        kind: 'password',
        username: config.username,
        userDomain: domain,
        password: config.password,
        scope: { projectName: config.projectName, projectDomain: domain },
      },
    );
  }

  /**
   * What edgeplane needs of an operator, checked before any change: its credentials work, its
   * token holds the operator role (Keystone projects/users, Glance writes under the policy
   * edgeplane expects), the catalog has Glance and Barbican, and Keystone has the node role.
   * Returns the problems found (empty: ready).
   */
  async prerequisiteProblems(operatorRole: string): Promise<string[]> {
    let token: Awaited<ReturnType<KeystoneSession['login']>>;
    try {
      token = await this.session.login();
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) return [`Keystone at ${this.config.authUrl} refused the operator's credentials (401)`];
      throw err;
    }
    const problems: string[] = [];
    const roles = (token.body.roles ?? []).map((r) => r.name);
    if (!roles.includes(operatorRole))
      problems.push(`the operator's token lacks the "${operatorRole}" role on its project (it has: ${roles.join(', ') || 'none'}): it creates node projects and users and publishes images`);
    if (!token.body.project) problems.push('the operator must be scoped to a project (project_name or project_id)');
    for (const type of ['image', 'key-manager']) {
      try {
        await this.session.endpoint(type, this.config.interface ?? 'public');
      } catch {
        problems.push(`the catalog has no ${this.config.interface ?? 'public'} ${type} endpoint (${type === 'image' ? 'Glance' : 'Barbican'})`);
      }
    }
    if (problems.length === 0) {
      const all = await this.session.authed((t) => this.ks.listRoles(t));
      for (const name of NODE_ROLES) if (!all.some((r) => r.name === name)) problems.push(`Keystone has no "${name}" role (every node gets it on its own project)`);
    }
    return problems;
  }

  private get ks() {
    return this.session.keystone;
  }

  /** Create (or find) the node's project, user, role and report credential. Idempotent except for the
   *  password: an existing user gets the new password so the returned config works. */
  async enrollNode(nodeId: string, password: string = randomBytes(18).toString('base64url')): Promise<EnrolledNode> {
    const projectName = nodeProjectName(nodeId);
    const userName = nodeUserName(nodeId);
    const project = await this.session.authed(async (t) => (await this.ks.findProjects(t, projectName))[0] ?? this.ks.createProject(t, { name: projectName, description: `edge node ${nodeId}`, tags: [NODE_TAG] }));
    let user = await this.session.authed(async (t) => (await this.ks.findUsers(t, userName))[0]);
    if (user) user = await this.session.authed((t) => this.ks.updateUser(t, user!.id, { password, enabled: true }));
    else user = await this.session.authed((t) => this.ks.createUser(t, { name: userName, password, defaultProjectId: project.id }));
    const roles = await this.session.authed((t) => this.ks.listRoles(t));
    for (const name of NODE_ROLES) {
      const role = roles.find((r) => r.name === name);
      if (!role) throw new Error(`keystone has no ${name} role`);
      await this.session.authed((t) => this.ks.assignProjectRole(t, project.id, user!.id, role.id));
    }
    const existing = await this.session.authed((t) => this.ks.listCredentials(t, { userId: user!.id, type: REPORT_CREDENTIAL_TYPE }));
    const credential =
      existing[0] ?? (await this.session.authed((t) => this.ks.createCredential(t, { userId: user!.id, type: REPORT_CREDENTIAL_TYPE, blob: encodeReport({ status: 'INIT', image: null, failure: null, seq: 0 }) })));
    this.nodes.set(nodeId, { projectId: project.id, userId: user.id });
    return {
      nodeId,
      projectId: project.id,
      userId: user.id,
      password,
      reportCredentialId: credential.id,
      config: {
        authUrl: this.config.authUrl,
        projectId: project.id,
        credentials: { kind: 'password', userId: user.id, password, projectId: project.id },
        reportCredentialId: credential.id,
      },
    };
  }

  /** An application credential for the node, created by the node user itself (Keystone lets only
   *  the owner create one); the node then authenticates without its password. */
  async createNodeApplicationCredential(node: EnrolledNode, name = `edgeplane-${node.nodeId}`): Promise<NodeConfig> {
    const asNode = new KeystoneSession(this.transport, this.config.authUrl, { kind: 'password', userId: node.userId, password: node.password, scope: { projectId: node.projectId } });
    const ac = await asNode.authed((t) => asNode.keystone.createApplicationCredential(t, node.userId, `${name}-${randomBytes(4).toString('hex')}`));
    return { ...node.config, credentials: { kind: 'applicationCredential', id: ac.id, secret: ac.secret } };
  }

  /** Upload an image, its signed manifest (as a small separate image) and store its data key. */
  async publishImage(p: { name: string; version: string; image: Buffer | { file: string }; manifest: Buffer; key: Buffer }): Promise<PublishedImage> {
    const glance = await this.glance();
    const barbican = await this.barbican();
    const keySecretId = await this.session.authed((t) => barbican.storeSecret(t, { name: `edgeplane-key-${p.name}-${p.version}`, payload: p.key }));
    await this.session.authed((t) => barbican.setReadAcl(t, keySecretId, []));
    const manifestImage = await this.session.authed((t) =>
      glance.createImage(t, { name: `${p.name}-${p.version}.manifest`, diskFormat: 'raw', properties: { [IMAGE_PROPS.role]: 'manifest', [IMAGE_PROPS.version]: p.version } }),
    );
    await this.session.authed((t) => glance.upload(t, manifestImage.id, p.manifest));
    const image = await this.session.authed((t) =>
      glance.createImage(t, {
        name: `${p.name}-${p.version}`,
        diskFormat: 'raw',
        properties: { [IMAGE_PROPS.role]: 'image', [IMAGE_PROPS.version]: p.version, [IMAGE_PROPS.manifestImage]: manifestImage.id, [IMAGE_PROPS.keySecret]: keySecretId },
      }),
    );
    await this.session.authed((t) => glance.upload(t, image.id, p.image));
    for (const id of [manifestImage.id, image.id]) {
      const shown = await this.session.authed((t) => glance.showImage(t, id));
      const notReady = imageReadiness(shown);
      if (notReady) throw notReady;
    }
    return { imageId: image.id, version: p.version, manifestImageId: manifestImage.id, keySecretId };
  }

  /** Pin `assignment` on the node: share image and manifest with its project (accepted), add its
   *  user to the key's read ACL, and set the pin tag (replacing any previous pin). */
  async pin(nodeId: string, assignment: Assignment): Promise<void> {
    const node = await this.resolveNode(nodeId);
    const glance = await this.glance();
    const barbican = await this.barbican();
    const target = await this.imageRefs(assignment);
    const previous = await this.assignmentOf(nodeId);
    if (previous && (previous.imageId !== assignment.imageId || previous.version !== assignment.version)) await this.unpin(nodeId);
    for (const imageId of [target.imageId, target.manifestImageId]) {
      const members = await this.session.authed((t) => glance.listMembers(t, imageId));
      if (!members.some((m) => m.member_id === node.projectId)) await this.session.authed((t) => glance.addMember(t, imageId, node.projectId));
      // the owner's admin may set the member status; otherwise the node would have to accept
      await this.session.authed((t) => glance.setMemberStatus(t, imageId, node.projectId, 'accepted'));
    }
    const acl = await this.session.authed((t) => barbican.getAcl(t, target.keySecretId));
    const users = new Set(acl.read?.users ?? []);
    if (!users.has(node.userId)) {
      users.add(node.userId);
      await this.session.authed((t) => barbican.setReadAcl(t, target.keySecretId, [...users]));
    }
    const project = await this.session.authed((t) => this.ks.showProject(t, node.projectId));
    await this.session.authed((t) => this.ks.replaceProjectTags(t, node.projectId, tagsWithPin(project.tags, assignment)));
  }

  /** Remove the pin and withdraw the node's access to that image, manifest and key. */
  async unpin(nodeId: string): Promise<void> {
    const node = await this.resolveNode(nodeId);
    const project = await this.session.authed((t) => this.ks.showProject(t, node.projectId));
    const current = decodePin(project.tags);
    await this.session.authed((t) => this.ks.replaceProjectTags(t, node.projectId, tagsWithPin(project.tags, null)));
    if (!current) return;
    const glance = await this.glance();
    const barbican = await this.barbican();
    const refs = await this.imageRefs(current);
    for (const imageId of [refs.imageId, refs.manifestImageId]) {
      const members = await this.session.authed((t) => glance.listMembers(t, imageId));
      if (members.some((m) => m.member_id === node.projectId)) await this.session.authed((t) => glance.removeMember(t, imageId, node.projectId));
    }
    const acl = await this.session.authed((t) => barbican.getAcl(t, refs.keySecretId));
    const users = (acl.read?.users ?? []).filter((u) => u !== node.userId);
    await this.session.authed((t) => barbican.setReadAcl(t, refs.keySecretId, users));
  }

  /** The public Glance and Barbican endpoints of the catalog: the ones a node's client uses. */
  async nodeEndpoints(): Promise<{ image: string; keyManager: string }> {
    return { image: await this.session.endpoint('image', 'public'), keyManager: await this.session.endpoint('key-manager', 'public') };
  }

  /** Disable the node's user: its tokens are revoked and it cannot log in (nor start a deployment). */
  async revokeNode(nodeId: string): Promise<void> {
    const node = await this.resolveNode(nodeId);
    await this.session.authed((t) => this.ks.updateUser(t, node.userId, { enabled: false }));
  }

  /** False when the node's user is disabled (revoked) or gone; throws when the node was never enrolled. */
  async nodeEnabled(nodeId: string): Promise<boolean> {
    await this.resolveNode(nodeId);
    const user = await this.session.authed(async (t) => (await this.ks.findUsers(t, nodeUserName(nodeId)))[0]);
    return user?.enabled ?? false;
  }

  async assignmentOf(nodeId: string): Promise<Assignment | null> {
    const node = await this.resolveNode(nodeId);
    const project = await this.session.authed((t) => this.ks.showProject(t, node.projectId));
    return decodePin(project.tags);
  }

  async readReport(nodeId: string): Promise<NodeReport | null> {
    const node = await this.resolveNode(nodeId);
    const creds = await this.session.authed((t) => this.ks.listCredentials(t, { userId: node.userId, type: REPORT_CREDENTIAL_TYPE }));
    return creds[0] ? decodeReport(creds[0].blob) : null;
  }

  private async imageRefs(a: Assignment): Promise<PublishedImage> {
    const glance = await this.glance();
    const image = await this.session.authed((t) => glance.showImage(t, a.imageId));
    const version = imageProperty(image, IMAGE_PROPS.version);
    const manifestImageId = imageProperty(image, IMAGE_PROPS.manifestImage);
    const keySecretId = imageProperty(image, IMAGE_PROPS.keySecret);
    if (version !== a.version || !manifestImageId || !keySecretId) {
      throw new Error(`image ${a.imageId} is not an edgeplane image of version ${a.version}`);
    }
    return { imageId: a.imageId, version, manifestImageId, keySecretId };
  }

  private async resolveNode(nodeId: string): Promise<{ projectId: string; userId: string }> {
    const known = this.nodes.get(nodeId);
    if (known) return known;
    const project = await this.session.authed(async (t) => (await this.ks.findProjects(t, nodeProjectName(nodeId)))[0]);
    const user = await this.session.authed(async (t) => (await this.ks.findUsers(t, nodeUserName(nodeId)))[0]);
    if (!project || !user) throw new Error(`node ${nodeId} is not enrolled`);
    const node = { projectId: project.id, userId: user.id };
    this.nodes.set(nodeId, node);
    return node;
  }

  private async glance(): Promise<GlanceApi> {
    this.glanceApi ??= new GlanceApi(this.transport, await this.session.endpoint('image', this.config.interface ?? 'public'));
    return this.glanceApi;
  }

  private async barbican(): Promise<BarbicanApi> {
    this.barbicanApi ??= new BarbicanApi(this.transport, await this.session.endpoint('key-manager', this.config.interface ?? 'public'));
    return this.barbicanApi;
  }
}
