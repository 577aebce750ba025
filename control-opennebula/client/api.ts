// A typed OpenNebula API client: the calls edgeplane makes (src/rm/xml-rpc signatures, 6.10), each
// on OneRpc (instrumented transport). Sessions: `user:password`, or after `login()` a login token
// `user:token`. oned keeps at most 10 live tokens per user (LoginToken.cc MAX_TOKENS): a session
// revokes the token it holds before asking for another, and `close()` revokes it; when the limit is
// reached anyway (tokens left by a crashed client), it resets the user's tokens once and retries.
import { NO_RETRY, Transport, type CallRecorder, type RetryPolicy } from '../../adapters/transport/index.js';
import { OneError } from './errors.js';
import { asInt, asString, OneRpc } from './rpc.js';
import {
  AclPoolSchema,
  DatastorePoolSchema,
  DatastoreSchema,
  HostPoolSchema,
  HostSchema,
  ImagePoolSchema,
  ImageSchema,
  parseOneXml,
  UserPoolSchema,
  UserSchema,
  VmPoolSchema,
  VmSchema,
  type OneAcl,
  type OneDatastore,
  type OneHost,
  type OneImage,
  type OneUser,
  type OneVm,
} from './schemas.js';

export const MAX_LOGIN_TOKENS = 10;
/** the op name of a token revocation (one.user.login with valid = 0) */
export const REVOKE_OP = 'one.user.login.revoke';
/** a login token lives this long (seconds) unless revoked */
export const TOKEN_VALID_S = 3600;

export interface OneClientOptions {
  endpoint: string;
  username: string;
  password: string;
  recorder?: CallRecorder;
  /** default NO_RETRY: XML-RPC writes are not idempotent (a retried one.vm.allocate makes a second VM) */
  retry?: RetryPolicy;
  timeoutMs?: number;
  /** log in (token) on first use instead of sending the password with every call */
  useToken?: boolean;
}

export class OneClient {
  readonly rpc: OneRpc;
  readonly username: string;
  private readonly password: string;
  private token: string | null = null;
  private readonly useToken: boolean;

  constructor(o: OneClientOptions) {
    const transport = new Transport({ plane: 'opennebula', recorder: o.recorder, retry: o.retry ?? NO_RETRY, timeoutMs: o.timeoutMs ?? 30_000 });
    this.rpc = new OneRpc(o.endpoint, transport);
    this.username = o.username;
    this.password = o.password;
    this.useToken = o.useToken ?? false;
  }

  get recorder(): CallRecorder {
    return this.rpc.transport.recorder;
  }

  /** the session string of the next call */
  get session(): string {
    return `${this.username}:${this.token ?? this.password}`;
  }

  get hasToken(): boolean {
    return this.token !== null;
  }

  private passwordSession(): string {
    return `${this.username}:${this.password}`;
  }

  /** A fresh login token (the previous one of this client is revoked first). */
  async login(validSeconds = TOKEN_VALID_S): Promise<string> {
    await this.revokeToken();
    let token: string;
    try {
      token = asString('one.user.login', await this.rpc.call('one.user.login', this.passwordSession(), [this.username, '', validSeconds, -1]));
    } catch (err) {
      if (!(err instanceof OneError && /Max number of tokens/i.test(err.oneMessage))) throw err;
      // tokens left behind by an earlier client of this user: reset them all, once
      await this.rpc.call('one.user.login', this.passwordSession(), [this.username, '', 0, -1]);
      token = asString('one.user.login', await this.rpc.call('one.user.login', this.passwordSession(), [this.username, '', validSeconds, -1]));
    }
    this.token = token;
    return token;
  }

  /** Revoke this client's token (valid = 0 with the token). */
  async revokeToken(): Promise<void> {
    const t = this.token;
    if (t === null) return;
    this.token = null;
    try {
      // recorded as its own op: a revocation is not a login (calibration and call counts tell them apart)
      await this.rpc.call('one.user.login', this.passwordSession(), [this.username, t, 0, -1], REVOKE_OP);
    } catch (err) {
      // already expired or reset: nothing to revoke
      if (!(err instanceof OneError && /Could not find token/i.test(err.oneMessage))) throw err;
    }
  }

  async close(): Promise<void> {
    try {
      await this.revokeToken();
    } finally {
      this.rpc.transport.close();
    }
  }

  /** A call with this client's session; with useToken, logs in first and once more on AUTHENTICATION. */
  async call(method: string, params: Parameters<OneRpc['call']>[2] = []): Promise<ReturnType<OneRpc['call']> extends Promise<infer V> ? V : never> {
    if (this.useToken && this.token === null) await this.login();
    try {
      return await this.rpc.call(method, this.session, params);
    } catch (err) {
      if (this.useToken && err instanceof OneError && err.errorName === 'AUTHENTICATION' && this.token !== null) {
        this.token = null;
        await this.login();
        return await this.rpc.call(method, this.session, params);
      }
      throw err;
    }
  }

  // ---- system ----
  async version(): Promise<string> {
    return asString('one.system.version', await this.call('one.system.version'));
  }

  // ---- users ----
  async userAllocate(name: string, password: string, groups: number[] = []): Promise<number> {
    const id = asInt('one.user.allocate', await this.call('one.user.allocate', [name, password, 'core']));
    for (const g of groups) await this.call('one.user.chgrp', [id, g]);
    return id;
  }
  async userInfo(id = -1): Promise<OneUser> {
    return parseOneXml('one.user.info', asString('one.user.info', await this.call('one.user.info', [id, false])), 'USER', UserSchema);
  }
  async userPool(): Promise<OneUser[]> {
    return parseOneXml('one.userpool.info', asString('one.userpool.info', await this.call('one.userpool.info')), 'USER_POOL', UserPoolSchema).USER_POOL.USER;
  }
  /** mode 1 = merge the attributes into the template, 0 = replace it */
  async userUpdate(id: number, template: string, merge = true): Promise<void> {
    await this.call('one.user.update', [id, template, merge ? 1 : 0]);
  }
  async userPasswd(id: number, password: string): Promise<void> {
    await this.call('one.user.passwd', [id, password]);
  }
  async userDelete(id: number): Promise<void> {
    await this.call('one.user.delete', [id]);
  }

  // ---- hosts ----
  async hostAllocate(name: string, imMad = 'dummy', vmMad = 'dummy', clusterId = -1): Promise<number> {
    return asInt('one.host.allocate', await this.call('one.host.allocate', [name, imMad, vmMad, clusterId]));
  }
  async hostInfo(id: number): Promise<OneHost> {
    return parseOneXml('one.host.info', asString('one.host.info', await this.call('one.host.info', [id, false])), 'HOST', HostSchema);
  }
  async hostPool(): Promise<OneHost[]> {
    return parseOneXml('one.hostpool.info', asString('one.hostpool.info', await this.call('one.hostpool.info')), 'HOST_POOL', HostPoolSchema).HOST_POOL.HOST;
  }

  // ---- datastores ----
  async datastoreUpdate(id: number, template: string, merge = true): Promise<void> {
    await this.call('one.datastore.update', [id, template, merge ? 1 : 0]);
  }
  async datastoreAllocate(template: string, clusterId = -1): Promise<number> {
    return asInt('one.datastore.allocate', await this.call('one.datastore.allocate', [template, clusterId]));
  }
  async datastoreInfo(id: number): Promise<OneDatastore> {
    return parseOneXml('one.datastore.info', asString('one.datastore.info', await this.call('one.datastore.info', [id, false])), 'DATASTORE', DatastoreSchema);
  }
  async datastoreDelete(id: number): Promise<void> {
    await this.call('one.datastore.delete', [id]);
  }
  async datastorePool(): Promise<OneDatastore[]> {
    return parseOneXml('one.datastorepool.info', asString('one.datastorepool.info', await this.call('one.datastorepool.info')), 'DATASTORE_POOL', DatastorePoolSchema).DATASTORE_POOL.DATASTORE;
  }

  // ---- images ----
  async imageAllocate(template: string, datastoreId: number, skipCapacityCheck = false): Promise<number> {
    return asInt('one.image.allocate', await this.call('one.image.allocate', [template, datastoreId, skipCapacityCheck]));
  }
  async imageInfo(id: number): Promise<OneImage> {
    return parseOneXml('one.image.info', asString('one.image.info', await this.call('one.image.info', [id, false])), 'IMAGE', ImageSchema);
  }
  async imagePool(): Promise<OneImage[]> {
    return parseOneXml('one.imagepool.info', asString('one.imagepool.info', await this.call('one.imagepool.info', [-2, -1, -1])), 'IMAGE_POOL', ImagePoolSchema).IMAGE_POOL.IMAGE;
  }
  async imageDelete(id: number, force = false): Promise<void> {
    await this.call('one.image.delete', [id, force]);
  }
  async imageUpdate(id: number, template: string, merge = true): Promise<void> {
    await this.call('one.image.update', [id, template, merge ? 1 : 0]);
  }
  /** octal-digit permissions as one.image.chmod takes them (-1 keeps a bit) */
  async imageChmod(id: number, perms: readonly number[]): Promise<void> {
    await this.call('one.image.chmod', [id, ...perms]);
  }

  // ---- templates ----
  async templateAllocate(template: string): Promise<number> {
    return asInt('one.template.allocate', await this.call('one.template.allocate', [template]));
  }
  async templateInstantiate(templateId: number, name: string, onHold = false, extra = ''): Promise<number> {
    return asInt('one.template.instantiate', await this.call('one.template.instantiate', [templateId, name, onHold, extra, false]));
  }

  // ---- ACL rules (one.acl.*: the components as hex strings, include/AclRule.h) ----
  async aclAddRule(user: string, resource: string, rights: string): Promise<number> {
    return asInt('one.acl.addrule', await this.call('one.acl.addrule', [user, resource, rights]));
  }
  async aclDelRule(id: number): Promise<void> {
    await this.call('one.acl.delrule', [id]);
  }
  async aclPool(): Promise<OneAcl[]> {
    return parseOneXml('one.acl.info', asString('one.acl.info', await this.call('one.acl.info')), 'ACL_POOL', AclPoolSchema).ACL_POOL.ACL;
  }

  // ---- VMs ----
  async vmAllocate(template: string, onHold = false): Promise<number> {
    return asInt('one.vm.allocate', await this.call('one.vm.allocate', [template, onHold]));
  }
  /** deploy on `hostId`; enforce: refuse to overcommit the host; ds -1: the cluster's default system DS */
  async vmDeploy(vmId: number, hostId: number, enforce = true, datastoreId = -1): Promise<void> {
    await this.call('one.vm.deploy', [vmId, hostId, enforce, datastoreId]);
  }
  /** `terminate-hard`, `hold`, `release`, ... (action before the id) */
  async vmAction(action: string, vmId: number): Promise<void> {
    await this.call('one.vm.action', [action, vmId]);
  }
  /** one.vm.recover: 0 failure, 1 success, 2 retry, 3 delete, 4 delete-recreate, 5 delete-db */
  async vmRecover(vmId: number, operation: 0 | 1 | 2 | 3 | 4 | 5): Promise<void> {
    await this.call('one.vm.recover', [vmId, operation]);
  }
  async vmInfo(vmId: number): Promise<OneVm> {
    return parseOneXml('one.vm.info', asString('one.vm.info', await this.call('one.vm.info', [vmId, false])), 'VM', VmSchema);
  }
  /** filter -2 = all users; state -1 = any but DONE */
  async vmPool(state = -1): Promise<OneVm[]> {
    return parseOneXml('one.vmpool.info', asString('one.vmpool.info', await this.call('one.vmpool.info', [-2, -1, -1, state])), 'VM_POOL', VmPoolSchema).VM_POOL.VM;
  }
}

/** A template attribute value in OpenNebula's template syntax (quotes and backslashes escaped). */
export function templateValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `KEY = "value"` lines. */
export function templateText(attrs: Record<string, string | number>): string {
  return Object.entries(attrs)
    .map(([k, v]) => `${k} = ${typeof v === 'number' ? String(v) : templateValue(v)}`)
    .join('\n');
}
