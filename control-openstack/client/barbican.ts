// Barbican v1 calls (keys): store an opaque secret, read its payload, per-user read ACLs.
import type { Transport } from '../../adapters/transport/index.js';
import { AclRefSchema, AclSchema, SecretMetaSchema, SecretRefSchema, secretIdFromRef, type Acl } from './schemas.js';

export class BarbicanApi {
  /** `baseUrl` is the catalog's key-manager endpoint (without `/v1`) */
  constructor(
    private readonly transport: Transport,
    readonly baseUrl: string,
  ) {}

  private h(token: string): Record<string, string> {
    return { 'X-Auth-Token': token };
  }

  /** Store bytes as an opaque secret; returns the secret id. */
  async storeSecret(token: string, s: { name: string; payload: Buffer }): Promise<string> {
    const r = await this.transport.json(
      this.baseUrl,
      {
        op: 'barbican.secret.store',
        method: 'POST',
        path: '/v1/secrets',
        headers: this.h(token),
        body: {
          json: {
            name: s.name,
            secret_type: 'opaque',
            payload: s.payload.toString('base64'),
            payload_content_type: 'application/octet-stream',
            payload_content_encoding: 'base64',
          },
        },
        expect: [201],
      },
      (d) => SecretRefSchema.parse(d),
    );
    return secretIdFromRef(r.secret_ref);
  }

  async showSecret(token: string, secretId: string): Promise<{ name?: string | null; status: string }> {
    return this.transport.json(this.baseUrl, { op: 'barbican.secret.show', method: 'GET', path: '/v1/secrets/{secret_id}', params: { secret_id: secretId }, headers: this.h(token) }, (d) => SecretMetaSchema.parse(d));
  }

  async payload(token: string, secretId: string): Promise<Buffer> {
    const res = await this.transport.request(this.baseUrl, {
      op: 'barbican.secret.payload',
      method: 'GET',
      path: '/v1/secrets/{secret_id}/payload',
      params: { secret_id: secretId },
      headers: { ...this.h(token), Accept: 'application/octet-stream' },
      expect: [200],
    });
    return res.body;
  }

  async getAcl(token: string, secretId: string): Promise<Acl> {
    return this.transport.json(this.baseUrl, { op: 'barbican.secret.acl_show', method: 'GET', path: '/v1/secrets/{secret_id}/acl', params: { secret_id: secretId }, headers: this.h(token) }, (d) => AclSchema.parse(d));
  }

  /** Replace the read ACL: exactly these users, and (by default) not the whole owning project. */
  async setReadAcl(token: string, secretId: string, users: string[], projectAccess = false): Promise<void> {
    await this.transport.json(
      this.baseUrl,
      {
        op: 'barbican.secret.acl_set',
        method: 'PUT',
        path: '/v1/secrets/{secret_id}/acl',
        params: { secret_id: secretId },
        headers: this.h(token),
        body: { json: { read: { users: [...users].sort(), 'project-access': projectAccess } } },
      },
      (d) => AclRefSchema.parse(d),
    );
  }

  async deleteSecret(token: string, secretId: string): Promise<void> {
    await this.transport.request(this.baseUrl, { op: 'barbican.secret.delete', method: 'DELETE', path: '/v1/secrets/{secret_id}', params: { secret_id: secretId }, headers: this.h(token), expect: [204] });
  }
}
