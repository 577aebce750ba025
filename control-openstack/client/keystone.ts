// Keystone v3 calls (identity). Stateless: each call takes the token it runs with; the session
// (session.ts) owns token reuse and re-authentication.
import type { Transport } from '../../adapters/transport/index.js';
import {
  ApplicationCredentialBodySchema,
  CredentialBodySchema,
  CredentialListSchema,
  EndpointBodySchema,
  EndpointListSchema,
  ProjectBodySchema,
  ProjectListSchema,
  RoleBodySchema,
  RoleListSchema,
  ServiceBodySchema,
  ServiceListSchema,
  TagsBodySchema,
  TokenBodySchema,
  UserBodySchema,
  UserListSchema,
  type Credential,
  type Project,
  type TokenBody,
  type User,
} from './schemas.js';

export type Scope = { projectId: string } | { projectName: string; projectDomain: string } | { system: true };

export type KeystoneCredentials =
  | { kind: 'password'; userId: string; password: string; scope?: Scope }
  | { kind: 'password'; username: string; userDomain: string; password: string; scope?: Scope }
  /** an application credential carries its own project scope */
  | { kind: 'applicationCredential'; id: string; secret: string };

export interface IssuedToken {
  token: string;
  expiresAt: Date;
  body: TokenBody['token'];
}

const json = { 'Content-Type': 'application/json' };
const parse =
  <T>(schema: { parse(d: unknown): T }) =>
  (d: unknown) =>
    schema.parse(d);

/** The JSON body of POST /v3/auth/tokens for these credentials. */
export function authRequestBody(c: KeystoneCredentials): unknown {
  if (c.kind === 'applicationCredential') {
    return { auth: { identity: { methods: ['application_credential'], application_credential: { id: c.id, secret: c.secret } } } };
  }
  const user = 'userId' in c ? { id: c.userId, password: c.password } : { name: c.username, domain: { name: c.userDomain }, password: c.password };
  const auth: Record<string, unknown> = { identity: { methods: ['password'], password: { user } } };
  if (c.scope) {
    if ('system' in c.scope) auth.scope = { system: { all: true } };
    else if ('projectId' in c.scope) auth.scope = { project: { id: c.scope.projectId } };
    else auth.scope = { project: { name: c.scope.projectName, domain: { name: c.scope.projectDomain } } };
  }
  return { auth };
}

export class KeystoneApi {
  /** the service root: recorded paths carry the version (`/v3/...`), like Glance's and Barbican's */
  private readonly root: string;

  /** `authUrl` ends with `/v3` */
  constructor(
    private readonly transport: Transport,
    readonly authUrl: string,
  ) {
    this.root = authUrl.replace(/\/+$/, '').replace(/\/v3$/, '');
  }

  private h(token: string): Record<string, string> {
    return { 'X-Auth-Token': token };
  }

  async issueToken(credentials: KeystoneCredentials): Promise<IssuedToken> {
    const res = await this.transport.request(this.root, {
      op: 'keystone.token.issue',
      method: 'POST',
      path: '/v3/auth/tokens',
      body: { json: authRequestBody(credentials) },
      headers: { Accept: 'application/json' },
      expect: [201],
    });
    const token = res.headers.get('x-subject-token');
    if (!token) throw new Error('keystone.token.issue: no X-Subject-Token header');
    const body = TokenBodySchema.parse(JSON.parse(res.body.toString('utf8')));
    return { token, expiresAt: new Date(body.token.expires_at), body: body.token };
  }

  async revokeToken(adminToken: string, subjectToken: string): Promise<void> {
    await this.transport.request(this.root, {
      op: 'keystone.token.revoke',
      method: 'DELETE',
      path: '/v3/auth/tokens',
      headers: { ...this.h(adminToken), 'X-Subject-Token': subjectToken },
    });
  }

  // ---- projects and their tags ----
  async showProject(token: string, projectId: string): Promise<Project> {
    const r = await this.transport.json(this.root, { op: 'keystone.project.show', method: 'GET', path: '/v3/projects/{project_id}', params: { project_id: projectId }, headers: this.h(token) }, parse(ProjectBodySchema));
    return r.project;
  }

  async findProjects(token: string, name: string): Promise<Project[]> {
    const r = await this.transport.json(this.root, { op: 'keystone.project.list', method: 'GET', path: '/v3/projects', query: { name }, headers: this.h(token) }, parse(ProjectListSchema));
    return r.projects;
  }

  async createProject(token: string, p: { name: string; domainId?: string; description?: string; tags?: string[] }): Promise<Project> {
    const r = await this.transport.json(
      this.root,
      {
        op: 'keystone.project.create',
        method: 'POST',
        path: '/v3/projects',
        headers: this.h(token),
        body: { json: { project: { name: p.name, domain_id: p.domainId ?? 'default', description: p.description ?? '', enabled: true, tags: p.tags ?? [] } } },
      },
      parse(ProjectBodySchema),
    );
    return r.project;
  }

  async addProjectTag(token: string, projectId: string, tag: string): Promise<void> {
    await this.transport.request(this.root, { op: 'keystone.project.tag_add', method: 'PUT', path: '/v3/projects/{project_id}/tags/{tag}', params: { project_id: projectId, tag }, headers: this.h(token) });
  }

  async deleteProjectTag(token: string, projectId: string, tag: string): Promise<void> {
    await this.transport.request(this.root, { op: 'keystone.project.tag_delete', method: 'DELETE', path: '/v3/projects/{project_id}/tags/{tag}', params: { project_id: projectId, tag }, headers: this.h(token) });
  }

  /** Replace the whole tag list in one call (atomic pin change). */
  async replaceProjectTags(token: string, projectId: string, tags: string[]): Promise<string[]> {
    const r = await this.transport.json(
      this.root,
      { op: 'keystone.project.tags_replace', method: 'PUT', path: '/v3/projects/{project_id}/tags', params: { project_id: projectId }, headers: { ...this.h(token), ...json }, body: { json: { tags } } },
      parse(TagsBodySchema),
    );
    return r.tags;
  }

  // ---- users, roles ----
  async findUsers(token: string, name: string): Promise<User[]> {
    const r = await this.transport.json(this.root, { op: 'keystone.user.list', method: 'GET', path: '/v3/users', query: { name }, headers: this.h(token) }, parse(UserListSchema));
    return r.users;
  }

  async createUser(token: string, u: { name: string; password: string; defaultProjectId?: string; domainId?: string }): Promise<User> {
    const user: Record<string, unknown> = { name: u.name, password: u.password, domain_id: u.domainId ?? 'default', enabled: true };
    if (u.defaultProjectId) user.default_project_id = u.defaultProjectId;
    const r = await this.transport.json(this.root, { op: 'keystone.user.create', method: 'POST', path: '/v3/users', headers: this.h(token), body: { json: { user } } }, parse(UserBodySchema));
    return r.user;
  }

  async updateUser(token: string, userId: string, patch: { enabled?: boolean; password?: string }): Promise<User> {
    const r = await this.transport.json(
      this.root,
      { op: 'keystone.user.update', method: 'PATCH', path: '/v3/users/{user_id}', params: { user_id: userId }, headers: this.h(token), body: { json: { user: patch } } },
      parse(UserBodySchema),
    );
    return r.user;
  }

  async listRoles(token: string): Promise<{ id: string; name: string }[]> {
    const r = await this.transport.json(this.root, { op: 'keystone.role.list', method: 'GET', path: '/v3/roles', headers: this.h(token) }, parse(RoleListSchema));
    return r.roles;
  }

  async createRole(token: string, name: string): Promise<{ id: string; name: string }> {
    const r = await this.transport.json(this.root, { op: 'keystone.role.create', method: 'POST', path: '/v3/roles', headers: this.h(token), body: { json: { role: { name } } } }, parse(RoleBodySchema));
    return r.role;
  }

  async assignProjectRole(token: string, projectId: string, userId: string, roleId: string): Promise<void> {
    await this.transport.request(this.root, {
      op: 'keystone.role.assign',
      method: 'PUT',
      path: '/v3/projects/{project_id}/users/{user_id}/roles/{role_id}',
      params: { project_id: projectId, user_id: userId, role_id: roleId },
      headers: this.h(token),
    });
  }

  // ---- application credentials (created by the user itself) ----
  async createApplicationCredential(token: string, userId: string, name: string): Promise<{ id: string; secret: string; projectId: string }> {
    const r = await this.transport.json(
      this.root,
      {
        op: 'keystone.application_credential.create',
        method: 'POST',
        path: '/v3/users/{user_id}/application_credentials',
        params: { user_id: userId },
        headers: this.h(token),
        body: { json: { application_credential: { name, unrestricted: false } } },
        expect: [201],
      },
      parse(ApplicationCredentialBodySchema),
    );
    const ac = r.application_credential;
    if (!ac.secret) throw new Error('keystone.application_credential.create: no secret returned');
    return { id: ac.id, secret: ac.secret, projectId: ac.project_id };
  }

  async deleteApplicationCredential(token: string, userId: string, id: string): Promise<void> {
    await this.transport.request(this.root, {
      op: 'keystone.application_credential.delete',
      method: 'DELETE',
      path: '/v3/users/{user_id}/application_credentials/{application_credential_id}',
      params: { user_id: userId, application_credential_id: id },
      headers: this.h(token),
    });
  }

  // ---- credentials (the node's report channel, see docs/placement-openstack.md) ----
  async createCredential(token: string, c: { userId: string; type: string; blob: string; projectId?: string }): Promise<Credential> {
    const credential: Record<string, unknown> = { user_id: c.userId, type: c.type, blob: c.blob };
    if (c.projectId) credential.project_id = c.projectId;
    const r = await this.transport.json(
      this.root,
      { op: 'keystone.credential.create', method: 'POST', path: '/v3/credentials', headers: this.h(token), body: { json: { credential } }, expect: [201] },
      parse(CredentialBodySchema),
    );
    return r.credential;
  }

  async updateCredential(token: string, credentialId: string, blob: string): Promise<Credential> {
    const r = await this.transport.json(
      this.root,
      { op: 'keystone.credential.update', method: 'PATCH', path: '/v3/credentials/{credential_id}', params: { credential_id: credentialId }, headers: this.h(token), body: { json: { credential: { blob } } } },
      parse(CredentialBodySchema),
    );
    return r.credential;
  }

  async showCredential(token: string, credentialId: string): Promise<Credential> {
    const r = await this.transport.json(
      this.root,
      { op: 'keystone.credential.show', method: 'GET', path: '/v3/credentials/{credential_id}', params: { credential_id: credentialId }, headers: this.h(token) },
      parse(CredentialBodySchema),
    );
    return r.credential;
  }

  async listCredentials(token: string, filter: { userId?: string; type?: string }): Promise<Credential[]> {
    const r = await this.transport.json(
      this.root,
      { op: 'keystone.credential.list', method: 'GET', path: '/v3/credentials', query: { user_id: filter.userId, type: filter.type }, headers: this.h(token) },
      parse(CredentialListSchema),
    );
    return r.credentials;
  }

  // ---- catalog bootstrap ----
  async listServices(token: string): Promise<{ id: string; type: string; name?: string }[]> {
    const r = await this.transport.json(this.root, { op: 'keystone.service.list', method: 'GET', path: '/v3/services', headers: this.h(token) }, parse(ServiceListSchema));
    return r.services;
  }

  async createService(token: string, s: { type: string; name: string }): Promise<{ id: string }> {
    const r = await this.transport.json(
      this.root,
      { op: 'keystone.service.create', method: 'POST', path: '/v3/services', headers: this.h(token), body: { json: { service: { ...s, enabled: true } } } },
      parse(ServiceBodySchema),
    );
    return r.service;
  }

  async listEndpoints(token: string): Promise<{ id: string; service_id: string; interface: string; url: string }[]> {
    const r = await this.transport.json(this.root, { op: 'keystone.endpoint.list', method: 'GET', path: '/v3/endpoints', headers: this.h(token) }, parse(EndpointListSchema));
    return r.endpoints;
  }

  async createEndpoint(token: string, e: { serviceId: string; interface: string; url: string; region: string }): Promise<void> {
    await this.transport.json(
      this.root,
      {
        op: 'keystone.endpoint.create',
        method: 'POST',
        path: '/v3/endpoints',
        headers: this.h(token),
        body: { json: { endpoint: { service_id: e.serviceId, interface: e.interface, url: e.url, region_id: e.region, enabled: true } } },
      },
      parse(EndpointBodySchema),
    );
  }
}
