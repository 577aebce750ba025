// The management server's logic over its database: accounts and keys, zones/pods/clusters/hosts,
// templates (secondary-storage download or direct download), the VM state machine and its async
// jobs, the host allocator, resource tags, and the two services edgeplane adds for agent mode (a
// KMS and an HTTP origin for sealed images). The HTTP layer (emulator.ts) calls into this.
import { createHash, randomBytes, randomInt, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { silentLogger, type Logger } from '../../common/index.js';
import { API_ERROR, CS_ERROR } from '../api/errors.js';
import { AgentHub, type AgentAnswer } from './agents.js';
import type { StateDb } from './db.js';
import { csDate, type Json } from './render.js';
import type { AccountRec, AccountState, ClusterRec, HostRec, JobRec, OfferingRec, OsTypeRec, PodRec, PoolRec, TagRec, TemplateRec, TemplateZoneRec, UserRec, VmRec, VmState, ZoneRec } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly errorcode: number,
    readonly cserrorcode: number,
    message: string,
  ) {
    super(message);
  }
}

export const paramError = (text: string) => new ApiError(API_ERROR.PARAM_ERROR, CS_ERROR.INVALID_PARAMETER_VALUE, text);

export interface Caller {
  user: UserRec;
  account: AccountRec;
  admin: boolean;
}

export interface CloudOptions {
  db: StateDb;
  stateDir: string;
  /** base URL agents reach the management server at (for secondary storage copies) */
  publicUrl?: string;
  logger?: Logger;
  /** how long a start waits for the agent's answer */
  agentTimeoutMs?: number;
  pingTimeoutMs?: number;
}

const DOMAIN_ID = 'a3c7a5e0-0000-4000-8000-000000000001';
const JAVA = {
  deploy: (admin: boolean) => (admin ? 'org.apache.cloudstack.api.command.admin.vm.DeployVMCmdByAdmin' : 'org.apache.cloudstack.api.command.user.vm.DeployVMCmd'),
  start: (admin: boolean) => (admin ? 'org.apache.cloudstack.api.command.admin.vm.StartVMCmdByAdmin' : 'org.apache.cloudstack.api.command.user.vm.StartVMCmd'),
  stop: (admin: boolean) => (admin ? 'org.apache.cloudstack.api.command.admin.vm.StopVMCmdByAdmin' : 'org.apache.cloudstack.api.command.user.vm.StopVMCmd'),
  destroy: (admin: boolean) => (admin ? 'org.apache.cloudstack.api.command.admin.vm.DestroyVMCmdByAdmin' : 'org.apache.cloudstack.api.command.user.vm.DestroyVMCmd'),
  createTags: 'org.apache.cloudstack.api.command.user.tag.CreateTagsCmd',
  disableAccount: 'org.apache.cloudstack.api.command.admin.account.DisableAccountCmd',
  deleteTags: 'org.apache.cloudstack.api.command.user.tag.DeleteTagsCmd',
};

export function hashPassword(password: string, salt = randomBytes(16).toString('hex')): { hash: string; salt: string } {
  return { hash: scryptSync(password, salt, 32).toString('hex'), salt };
}

/** `{SHA-256}hex`, `{MD5}hex` or bare hex (MD5), as KVMStorageProcessor / DirectDownloadHelper read it. */
export function parseChecksum(text: string): { algorithm: 'md5' | 'sha1' | 'sha256' | 'sha512'; hex: string } | null {
  const m = /^(?:\{(MD5|SHA-1|SHA-256|SHA-512)\})?([0-9a-fA-F]+)$/.exec(text.trim());
  if (!m) return null;
  const algorithm = ({ MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-512': 'sha512' } as const)[(m[1] ?? 'MD5') as 'MD5'];
  const lengths = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };
  return m[2]!.length === lengths[algorithm] ? { algorithm, hex: m[2]!.toLowerCase() } : null;
}

export class Cloud {
  readonly db: StateDb;
  readonly hub: AgentHub;
  readonly log: Logger;
  private readonly running = new Set<Promise<unknown>>();
  private readonly agentTimeoutMs: number;
  publicUrl: string;

  constructor(private readonly o: CloudOptions) {
    this.db = o.db;
    this.log = o.logger ?? silentLogger;
    this.publicUrl = o.publicUrl ?? '';
    this.agentTimeoutMs = o.agentTimeoutMs ?? 600_000;
    this.hub = new AgentHub(o.pingTimeoutMs ?? 30_000, (hostid, up) => this.log.info({ hostid, up }, up ? 'agent connected' : 'agent disconnected'));
  }

  get secondaryDir(): string {
    return join(this.o.stateDir, 'secondary');
  }
  get originDir(): string {
    return join(this.o.stateDir, 'origin');
  }

  /** Jobs and downloads still running (tests and shutdown wait for them). */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p)).catch(() => undefined);
    return p;
  }

  // ---- lookups ----

  zone(id: string, param = 'zoneid'): ZoneRec {
    return this.must<ZoneRec>('zones', id, param);
  }

  must<T>(kind: Parameters<StateDb['get']>[0], id: string, param: string): T {
    const row = this.db.get<T>(kind, id);
    if (!row)
      throw paramError(
        `Unable to execute API command due to invalid value. Invalid parameter ${param} value=${id} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`,
      );
    return row.data;
  }

  list<T>(kind: Parameters<StateDb['get']>[0]): T[] {
    return this.db.all<T>(kind).map((r) => r.data);
  }

  seqOf(kind: Parameters<StateDb['get']>[0], id: string): number {
    return this.db.get(kind, id)?.seq ?? 0;
  }

  userByApiKey(apikey: string): { user: UserRec; account: AccountRec } | null {
    const user = this.list<UserRec>('users').find((u) => u.apikey === apikey);
    if (!user) return null;
    const account = this.db.get<AccountRec>('accounts', user.accountid)?.data;
    return account ? { user, account } : null;
  }

  userByName(username: string): { user: UserRec; account: AccountRec } | null {
    const user = this.list<UserRec>('users').find((u) => u.username === username);
    const account = user && this.db.get<AccountRec>('accounts', user.accountid)?.data;
    return user && account ? { user, account } : null;
  }

  checkPassword(user: UserRec, password: string): boolean {
    const want = Buffer.from(user._password, 'hex');
    const got = Buffer.from(hashPassword(password, user._salt).hash, 'hex');
    return want.length === got.length && timingSafeEqual(want, got);
  }

  // ---- accounts ----

  createAccount(o: { name: string; username: string; password: string; admin: boolean }): { account: AccountRec; user: UserRec } {
    if (this.userByName(o.username)) throw paramError(`The user ${o.username} already exists in domain ROOT`);
    const account: AccountRec = { id: randomUUID(), name: o.name, accounttype: o.admin ? 1 : 0, domainid: DOMAIN_ID, created: Date.now() };
    const pw = hashPassword(o.password);
    const user: UserRec = { id: randomUUID(), username: o.username, accountid: account.id, apikey: '', secretkey: '', _password: pw.hash, _salt: pw.salt, created: Date.now() };
    this.db.put('accounts', account.id, account);
    this.db.put('users', user.id, user);
    return { account, user };
  }

  registerUserKeys(userid: string): UserRec {
    const user = this.must<UserRec>('users', userid, 'id');
    user.apikey = randomBytes(64).toString('base64url');
    user.secretkey = randomBytes(64).toString('base64url');
    this.db.put('users', user.id, user);
    return user;
  }

  /** The account an `id` or an `account` name (domain ROOT) names, as DisableAccountCmd/EnableAccountCmd find it. */
  accountOf(p: { id?: string; account?: string }): AccountRec {
    if (p.id !== undefined) return this.must<AccountRec>('accounts', p.id, 'id');
    const a = p.account === undefined ? undefined : this.list<AccountRec>('accounts').find((x) => x.name === p.account);
    if (!a) throw paramError(p.account === undefined ? 'Either id or account name and domain id must be specified' : `Unable to find account ${p.account} in domain ROOT`);
    return a;
  }

  setAccountState(id: string, state: AccountState): AccountRec {
    const a = { ...this.must<AccountRec>('accounts', id, 'id'), state };
    this.db.put('accounts', id, a);
    this.db.flush();
    return a;
  }

  /** disableAccount: async as DisableAccountCmd is; once its job has run the account's keys stop authenticating. */
  disableAccountJob(caller: Caller, a: AccountRec, lock: boolean): JobRec {
    if (a.id === caller.account.id) throw paramError('Unable to disable the account of the caller');
    if (a.accounttype === 1) throw paramError(`Account ${a.name} is a root admin account and cannot be disabled`);
    return this.startJob(caller, JAVA.disableAccount, { type: 'Account', id: a.id }, async () => ({ account: this.accountView(this.setAccountState(a.id, lock ? 'locked' : 'disabled')) }));
  }

  accountView(a: AccountRec): Record<string, Json> {
    const users = this.list<UserRec>('users').filter((u) => u.accountid === a.id);
    return {
      id: a.id,
      name: a.name,
      accounttype: a.accounttype,
      roletype: a.accounttype === 1 ? 'Admin' : 'User',
      rolename: a.accounttype === 1 ? 'Root Admin' : 'User',
      domainid: a.domainid,
      domain: 'ROOT',
      state: a.state ?? 'enabled',
      created: csDate(a.created),
      user: users.map((u) => this.userView(u, a)),
    };
  }

  userView(u: UserRec, a: AccountRec): Record<string, Json> {
    return {
      id: u.id,
      username: u.username,
      account: a.name,
      accountid: a.id,
      accounttype: a.accounttype,
      roletype: a.accounttype === 1 ? 'Admin' : 'User',
      domainid: a.domainid,
      domain: 'ROOT',
      state: a.state ?? 'enabled',
      apikey: u.apikey || undefined,
      created: csDate(u.created),
    };
  }

  // ---- infrastructure ----

  addZone(name: string, type: 'Core' | 'Edge'): ZoneRec {
    const z: ZoneRec = { id: randomUUID(), name, type, networktype: 'Advanced', allocationstate: 'Enabled', localstorageenabled: true, created: Date.now() };
    this.db.put('zones', z.id, z);
    const pod: PodRec = { id: randomUUID(), name: `${name}-pod`, zoneid: z.id };
    this.db.put('pods', pod.id, pod);
    const cluster: ClusterRec = { id: randomUUID(), name: `${name}-cluster`, podid: pod.id, zoneid: z.id };
    this.db.put('clusters', cluster.id, cluster);
    return z;
  }

  addHost(zoneid: string, name: string, o: { cpunumber?: number; memoryMiB?: number } = {}): HostRec {
    const cluster = this.list<ClusterRec>('clusters').find((c) => c.zoneid === zoneid)!;
    const n = this.db.count('hosts') + 1;
    const host: HostRec = {
      id: randomUUID(),
      name,
      zoneid,
      podid: cluster.podid,
      clusterid: cluster.id,
      poolid: randomUUID(),
      cpunumber: o.cpunumber ?? 8,
      cpuspeed: 2000,
      memorytotal: (o.memoryMiB ?? 16384) * 1024 * 1024,
      ipaddress: `192.168.${Math.floor(n / 250)}.${(n % 250) + 2}`,
      created: Date.now(),
      _agentToken: randomBytes(24).toString('base64url'),
    };
    this.db.put('hosts', host.id, host);
    const pool: PoolRec = { id: host.poolid, name: `${name}-local`, zoneid, clusterid: cluster.id, hostid: host.id, scope: 'HOST' };
    this.db.put('pools', pool.id, pool);
    return host;
  }

  addOffering(name: string, cpunumber: number, memory: number): OfferingRec {
    const o: OfferingRec = { id: randomUUID(), name, displaytext: `${name}: ${cpunumber} vCPU, ${memory} MiB`, cpunumber, cpuspeed: 1000, memory, created: Date.now() };
    this.db.put('offerings', o.id, o);
    return o;
  }

  addOsType(description: string): OsTypeRec {
    const t: OsTypeRec = { id: randomUUID(), description, oscategoryid: 'b4a6d4a0-0000-4000-8000-00000000000a' };
    this.db.put('ostypes', t.id, t);
    return t;
  }

  hostState(h: HostRec): 'Up' | 'Disconnected' {
    return this.hub.isUp(h.id) ? 'Up' : 'Disconnected';
  }

  private allocated(hostid: string): { cpu: number; memory: number } {
    let cpu = 0;
    let memory = 0;
    for (const vm of this.list<VmRec>('vms')) {
      if (vm.hostid !== hostid || !['Starting', 'Running', 'Stopping'].includes(vm.state)) continue;
      const off = this.db.get<OfferingRec>('offerings', vm.serviceofferingid)?.data;
      cpu += off?.cpunumber ?? 0;
      memory += (off?.memory ?? 0) * 1024 * 1024;
    }
    return { cpu, memory };
  }

  hostView(h: HostRec): Record<string, Json> {
    const zone = this.db.get<ZoneRec>('zones', h.zoneid)?.data;
    const used = this.allocated(h.id);
    return {
      id: h.id,
      name: h.name,
      state: this.hostState(h),
      resourcestate: 'Enabled',
      type: 'Routing',
      hypervisor: 'KVM',
      ipaddress: h.ipaddress,
      zoneid: h.zoneid,
      zonename: zone?.name,
      podid: h.podid,
      clusterid: h.clusterid,
      clustertype: 'CloudManaged',
      cpunumber: h.cpunumber,
      cpuspeed: h.cpuspeed,
      cpuallocated: `${Math.round((100 * used.cpu) / h.cpunumber)}%`,
      memorytotal: h.memorytotal,
      memoryallocated: used.memory,
      islocalstorageactive: true,
      created: csDate(h.created),
    };
  }

  zoneView(z: ZoneRec): Record<string, Json> {
    return {
      id: z.id,
      name: z.name,
      type: z.type,
      networktype: z.networktype,
      allocationstate: z.allocationstate,
      localstorageenabled: z.localstorageenabled,
      securitygroupsenabled: false,
      dhcpprovider: 'VirtualRouter',
      tags: [],
    };
  }

  // ---- templates ----

  registerTemplate(
    caller: Caller,
    p: {
      name: string;
      displaytext: string;
      url: string;
      format: string;
      hypervisor: string;
      ostypeid: string;
      zoneids: string[];
      checksum?: string;
      directdownload: boolean;
      ispublic: boolean;
      isfeatured: boolean;
      isextractable: boolean;
      passwordenabled: boolean;
      details: Record<string, string>;
    },
  ): TemplateRec {
    if (p.directdownload && p.hypervisor.toLowerCase() !== 'kvm') throw paramError('Parameter directdownload is only allowed for KVM templates');
    if (p.checksum !== undefined && parseChecksum(p.checksum) === null) throw paramError(`Checksum ${p.checksum} is not a valid MD5 or {ALGORITHM}-prefixed hex digest`);
    this.must<OsTypeRec>('ostypes', p.ostypeid, 'ostypeid');
    const zones = p.zoneids.map((id) => this.zone(id));
    for (const z of zones) {
      if (z.type === 'Edge' && !p.directdownload) throw paramError(`Edge zone ${z.name} has no secondary storage: only direct download templates can be registered for it`);
    }
    let parsed: URL;
    try {
      parsed = new URL(p.url);
    } catch {
      throw paramError(`Invalid URL: ${p.url}`);
    }
    if (!['http:', 'https:'].includes(parsed.protocol)) throw paramError(`URL ${p.url}: only http and https URLs are supported by this emulator`);
    const t: TemplateRec = {
      id: randomUUID(),
      name: p.name,
      displaytext: p.displaytext,
      url: p.url,
      format: p.format.toUpperCase(),
      hypervisor: 'KVM',
      ostypeid: p.ostypeid,
      checksum: p.checksum,
      directdownload: p.directdownload,
      ispublic: p.ispublic,
      isfeatured: p.isfeatured,
      isextractable: p.isextractable && !p.directdownload,
      passwordenabled: p.passwordenabled,
      accountid: caller.account.id,
      sharedWith: [],
      details: p.details,
      // direct download: template_store_ref with store NULL, BYPASSED, Ready at once
      zones: zones.map((z) => ({ zoneid: z.id, state: p.directdownload ? 'BYPASSED' : 'NOT_DOWNLOADED', percent: 0 })),
      created: Date.now(),
    };
    this.db.put('templates', t.id, t);
    if (!p.directdownload) this.track(this.downloadToSecondary(t.id));
    return t;
  }

  /** The secondary storage VM's download of a registered template (once, shared by its zones). */
  private async downloadToSecondary(id: string): Promise<void> {
    const update = (f: (z: TemplateZoneRec) => void, size?: number) => {
      const t = this.db.get<TemplateRec>('templates', id)?.data;
      if (!t) return;
      for (const z of t.zones) f(z);
      if (size !== undefined) t.size = size;
      this.db.put('templates', id, t);
      this.db.flush();
    };
    const t = this.db.get<TemplateRec>('templates', id)!.data;
    await mkdir(this.secondaryDir, { recursive: true });
    const file = join(this.secondaryDir, id);
    const tmp = `${file}.part`;
    try {
      update((z) => {
        z.state = 'DOWNLOAD_IN_PROGRESS';
        z.percent = 0;
      });
      const res = await fetch(t.url, { signal: AbortSignal.timeout(600_000) });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} from ${t.url}`);
      const total = Number(res.headers.get('content-length') ?? 0);
      const want = t.checksum ? parseChecksum(t.checksum) : null;
      const hash = createHash(want?.algorithm ?? 'md5');
      let got = 0;
      let lastPct = -1;
      const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
      body.on('data', (chunk: Buffer) => {
        got += chunk.length;
        hash.update(chunk);
        const pct = total > 0 ? Math.min(99, Math.floor((100 * got) / total)) : 0;
        if (pct >= lastPct + 10) {
          lastPct = pct;
          update((z) => {
            z.percent = pct;
          });
        }
      });
      await pipeline(body, createWriteStream(tmp));
      const digest = hash.digest('hex');
      if (want && digest !== want.hex) throw new Error(`Checksum validation failed: expected ${want.hex}, got ${digest}`);
      await rename(tmp, file);
      update(
        (z) => {
          z.state = 'DOWNLOADED';
          z.percent = 100;
        },
        (await stat(file)).size,
      );
    } catch (err) {
      await rm(tmp, { force: true });
      const message = (err as Error).message;
      this.log.warn({ template: id, err: message }, 'template download failed');
      update((z) => {
        z.state = 'DOWNLOAD_ERROR';
        z.error = message;
      });
    }
  }

  templateReady(t: TemplateRec, zoneid?: string): boolean {
    return t.zones.some((z) => (zoneid === undefined || z.zoneid === zoneid) && (z.state === 'BYPASSED' || z.state === 'DOWNLOADED'));
  }

  canUse(caller: Caller, t: TemplateRec): boolean {
    return caller.admin || t.accountid === caller.account.id || t.ispublic || t.sharedWith.includes(caller.account.id);
  }

  /** TemplateJoinDaoImpl.getTemplateStatus */
  static status(z: TemplateZoneRec): string {
    switch (z.state) {
      case 'DOWNLOADED':
        return 'Download Complete';
      case 'DOWNLOAD_IN_PROGRESS':
        return z.percent >= 100 ? 'Installing Template' : `${z.percent}% Downloaded`;
      case 'BYPASSED':
        return 'Bypassed Secondary Storage';
      case 'DOWNLOAD_ERROR':
        return z.error ?? 'Download Error';
      default:
        return 'Active';
    }
  }

  templateViews(caller: Caller, t: TemplateRec, zoneFilter?: string): Record<string, Json>[] {
    const owner = this.db.get<AccountRec>('accounts', t.accountid)?.data;
    const os = this.db.get<OsTypeRec>('ostypes', t.ostypeid)?.data;
    const privileged = caller.admin || t.accountid === caller.account.id;
    return t.zones
      .filter((z) => zoneFilter === undefined || z.zoneid === zoneFilter)
      .map((z) => ({
        id: t.id,
        name: t.name,
        displaytext: t.displaytext,
        ispublic: t.ispublic,
        isfeatured: t.isfeatured,
        isextractable: t.isextractable,
        isready: z.state === 'BYPASSED' || z.state === 'DOWNLOADED',
        passwordenabled: t.passwordenabled,
        format: t.format,
        hypervisor: t.hypervisor,
        ostypeid: t.ostypeid,
        ostypename: os?.description,
        account: owner?.name,
        accountid: t.accountid,
        domain: 'ROOT',
        domainid: DOMAIN_ID,
        zoneid: z.zoneid,
        zonename: this.db.get<ZoneRec>('zones', z.zoneid)?.data.name,
        templatetype: 'USER',
        crossZones: false,
        bootable: true,
        directdownload: t.directdownload,
        checksum: t.checksum,
        size: t.size,
        created: csDate(t.created),
        status: privileged ? Cloud.status(z) : undefined,
        url: privileged ? t.url : undefined,
        details: Object.keys(t.details).length > 0 ? t.details : undefined,
        downloaddetails: privileged && !t.directdownload ? [{ datastore: 'secondary', downloadPercent: String(z.percent), downloadState: z.state === 'DOWNLOADED' ? 'DOWNLOADED' : z.state }] : undefined,
        tags: this.tagsOf('Template', t.id),
      }));
  }

  deleteTemplate(caller: Caller, id: string): void {
    const t = this.must<TemplateRec>('templates', id, 'id');
    if (!caller.admin && t.accountid !== caller.account.id) throw new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.PERMISSION_DENIED, `Account ${caller.account.name} does not have permission to operate on template ${id}`);
    const inUse = this.list<VmRec>('vms').some((v) => v.templateid === id && v.state !== 'Destroyed' && v.state !== 'Expunging');
    if (inUse) this.log.info({ template: id }, 'template deleted while VMs use it (CloudStack allows it)');
    this.db.delete('templates', id);
    void rm(join(this.secondaryDir, id), { force: true });
  }

  // ---- tags ----

  tagsOf(resourcetype: string, resourceid: string): Record<string, Json>[] {
    return this.list<TagRec>('tags')
      .filter((t) => t.resourcetype === resourcetype && t.resourceid === resourceid)
      .map((t) => this.tagView(t));
  }

  tagView(t: TagRec): Record<string, Json> {
    const a = this.db.get<AccountRec>('accounts', t.accountid)?.data;
    return { key: t.key, value: t.value, resourcetype: t.resourcetype, resourceid: t.resourceid, account: a?.name, domainid: DOMAIN_ID, domain: 'ROOT' };
  }

  // ---- VMs and jobs ----

  vmView(vm: VmRec, job?: JobRec): Record<string, Json> {
    const zone = this.db.get<ZoneRec>('zones', vm.zoneid)?.data;
    const host = vm.hostid ? this.db.get<HostRec>('hosts', vm.hostid)?.data : undefined;
    const t = this.db.get<TemplateRec>('templates', vm.templateid)?.data;
    const off = this.db.get<OfferingRec>('offerings', vm.serviceofferingid)?.data;
    const a = this.db.get<AccountRec>('accounts', vm.accountid)?.data;
    const os = t ? this.db.get<OsTypeRec>('ostypes', t.ostypeid)?.data : undefined;
    return {
      id: vm.id,
      name: vm.name,
      displayname: vm.displayname,
      instancename: vm.instancename,
      account: a?.name,
      domainid: DOMAIN_ID,
      domain: 'ROOT',
      created: csDate(vm.created),
      state: vm.state,
      haenable: false,
      zoneid: vm.zoneid,
      zonename: zone?.name,
      hostid: vm.state === 'Running' || vm.state === 'Starting' || vm.state === 'Stopping' ? vm.hostid : undefined,
      hostname: vm.state === 'Running' || vm.state === 'Starting' || vm.state === 'Stopping' ? host?.name : undefined,
      templateid: vm.templateid,
      templatename: t?.name,
      templatedisplaytext: t?.displaytext,
      passwordenabled: t?.passwordenabled ?? false,
      serviceofferingid: vm.serviceofferingid,
      serviceofferingname: off?.name,
      cpunumber: off?.cpunumber,
      cpuspeed: off?.cpuspeed,
      memory: off?.memory,
      guestosid: t?.ostypeid,
      osdisplayname: os?.description,
      rootdeviceid: 0,
      rootdevicetype: 'ROOT',
      hypervisor: 'KVM',
      nic: [
        {
          id: `${vm.id.slice(0, 24)}00000000`,
          networkid: `${vm.zoneid.slice(0, 24)}00000000`,
          networkname: `${zone?.name ?? 'zone'}-shared`,
          ipaddress: vm.ipaddress,
          netmask: '255.255.0.0',
          gateway: '10.1.0.1',
          macaddress: vm.macaddress,
          isdefault: true,
          type: 'Shared',
          traffictype: 'Guest',
          broadcasturi: 'vlan://untagged',
        },
      ],
      tags: this.tagsOf('UserVm', vm.id),
      jobid: job && job.jobstatus === 0 ? job.jobid : undefined,
      jobstatus: job && job.jobstatus === 0 ? 0 : undefined,
    };
  }

  pendingJobOf(instanceid: string): JobRec | undefined {
    return this.list<JobRec>('jobs').find((j) => j.jobinstanceid === instanceid && j.jobstatus === 0);
  }

  jobView(j: JobRec): Record<string, Json> {
    return {
      accountid: j.accountid,
      userid: j.userid,
      cmd: j.cmd,
      jobstatus: j.jobstatus,
      jobprocstatus: 0,
      jobresultcode: j.jobresultcode,
      jobresulttype: 'object',
      jobresult: j.jobstatus === 0 ? undefined : (j.jobresult as Json),
      jobinstancetype: j.jobinstancetype,
      jobinstanceid: j.jobinstanceid,
      created: csDate(j.created),
      completed: j.completed ? csDate(j.completed) : undefined,
      jobid: j.jobid,
    };
  }

  /** Queues an async job (ApiServer.queueCommand): the work runs after the answer goes out. */
  startJob(caller: Caller, cmd: string, instance: { type: string; id: string } | null, work: () => Promise<Record<string, unknown>>): JobRec {
    const job: JobRec = {
      jobid: randomUUID(),
      accountid: caller.account.id,
      userid: caller.user.id,
      cmd,
      jobstatus: 0,
      jobresultcode: 0,
      jobinstancetype: instance?.type,
      jobinstanceid: instance?.id,
      created: Date.now(),
    };
    this.db.put('jobs', job.jobid, job);
    const run = async () => {
      await new Promise((r) => setImmediate(r));
      let result: Record<string, unknown>;
      let status: 1 | 2 = 1;
      let code = 0;
      try {
        result = await work();
      } catch (err) {
        status = 2;
        code = err instanceof ApiError ? err.errorcode : API_ERROR.INTERNAL_ERROR;
        result = { errorcode: code, errortext: (err as Error).message };
        this.log.info({ jobid: job.jobid, cmd, code, err: (err as Error).message }, 'job failed');
      }
      const done = { ...this.db.get<JobRec>('jobs', job.jobid)!.data, jobstatus: status, jobresultcode: code, jobresult: result, completed: Date.now() };
      this.db.put('jobs', job.jobid, done);
      this.db.flush();
    };
    this.track(run());
    return job;
  }

  setVmState(id: string, state: VmState, patch: Partial<VmRec> = {}): VmRec {
    const vm = { ...this.db.get<VmRec>('vms', id)!.data, ...patch, state };
    this.db.put('vms', id, vm);
    this.db.flush();
    return vm;
  }

  createVm(caller: Caller, p: { zoneid: string; serviceofferingid: string; templateid: string; name?: string; displayname?: string }): VmRec {
    const zone = this.zone(p.zoneid);
    const off = this.must<OfferingRec>('offerings', p.serviceofferingid, 'serviceofferingid');
    const t = this.must<TemplateRec>('templates', p.templateid, 'templateid');
    if (!this.canUse(caller, t)) throw new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.PERMISSION_DENIED, `Account ${caller.account.name} does not have permission to use template ${t.id}`);
    if (!this.templateReady(t, zone.id)) throw paramError(`Template ${t.id} has not been completely downloaded to zone ${zone.id}`);
    const id = randomUUID();
    const n = this.db.count('vms') + 1;
    const vm: VmRec = {
      id,
      name: p.name ?? `VM-${id}`,
      displayname: p.displayname ?? p.name ?? `VM-${id}`,
      instancename: `i-${this.seqOf('accounts', caller.account.id)}-${n}-VM`,
      state: 'Stopped',
      zoneid: zone.id,
      templateid: t.id,
      serviceofferingid: off.id,
      accountid: caller.account.id,
      ipaddress: `10.1.${Math.floor(n / 250)}.${(n % 250) + 2}`,
      macaddress: `02:00:${[n >> 24, n >> 16, n >> 8, n].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`,
      created: Date.now(),
    };
    if (this.list<VmRec>('vms').some((v) => v.name === vm.name && v.zoneid === zone.id && v.state !== 'Expunging')) throw paramError(`The vm with hostName ${vm.name} already exists in the network domain`);
    this.db.put('vms', id, vm);
    return vm;
  }

  /**
   * The deployment planner and host allocator: with `hostid` (root admin) exactly that host, or
   * the job fails (allow.deploy.vm.if.deploy.on.given.host.fails = false); otherwise the suitable
   * hosts of the zone (agent Up, capacity left) in random order (vm.allocation.algorithm = random).
   */
  chooseHost(vm: VmRec, hostid: string | undefined): HostRec {
    const off = this.db.get<OfferingRec>('offerings', vm.serviceofferingid)!.data;
    const fits = (h: HostRec) => {
      const used = this.allocated(h.id);
      return this.hostState(h) === 'Up' && used.cpu + off.cpunumber <= h.cpunumber && used.memory + off.memory * 1024 * 1024 <= h.memorytotal;
    };
    const fail = () =>
      new ApiError(
        API_ERROR.INSUFFICIENT_CAPACITY_ERROR,
        CS_ERROR.INSUFFICIENT_CAPACITY,
        `Unable to create a deployment for VM instance {"id":${this.seqOf('vms', vm.id)},"instanceName":"${vm.instancename}","uuid":"${vm.id}","type":"User"}`,
      );
    if (hostid !== undefined) {
      const h = this.db.get<HostRec>('hosts', hostid)?.data;
      if (!h || h.zoneid !== vm.zoneid || !fits(h)) throw fail();
      return h;
    }
    const candidates = this.list<HostRec>('hosts').filter((h) => h.zoneid === vm.zoneid && fits(h));
    if (candidates.length === 0) throw fail();
    return candidates[randomInt(candidates.length)]!;
  }

  /** Starting → Running on the chosen host through its agent; a failure leaves `onFailure`. */
  async startOnHost(vm: VmRec, host: HostRec, onFailure: VmState): Promise<VmRec> {
    this.setVmState(vm.id, 'Starting', { hostid: host.id });
    const t = this.db.get<TemplateRec>('templates', vm.templateid)!.data;
    const off = this.db.get<OfferingRec>('offerings', vm.serviceofferingid)!.data;
    const cached = this.list<{ templateid: string; poolid: string }>('template_pools').some((r) => r.templateid === t.id && r.poolid === host.poolid);
    const answer: AgentAnswer = await this.hub.send(
      host.id,
      'StartCommand',
      {
        vm: { id: vm.id, name: vm.instancename, cpus: off.cpunumber, memoryMiB: off.memory },
        template: {
          id: t.id,
          name: t.name,
          format: t.format,
          url: t.url,
          checksum: t.checksum,
          directDownload: t.directdownload,
          secondaryUrl: t.directdownload ? undefined : `${this.publicUrl}/secondary/${t.id}`,
          size: t.size,
        },
        pool: { id: host.poolid, cached },
      },
      this.agentTimeoutMs,
    );
    if (answer.copied && answer.copied.how !== 'cached') {
      const rec = { id: `${answer.copied.templateid}/${answer.copied.poolid}`, templateid: answer.copied.templateid, poolid: answer.copied.poolid, bytes: answer.copied.bytes, created: Date.now() };
      this.db.put('template_pools', rec.id, rec);
    }
    if (!answer.result) {
      this.setVmState(vm.id, onFailure, onFailure === 'Error' ? { hostid: undefined, lasthostid: host.id } : { hostid: undefined });
      throw new ApiError(API_ERROR.INTERNAL_ERROR, CS_ERROR.CLOUD_RUNTIME, `Unable to start VM instance ${vm.instancename} on host ${host.name}: ${answer.details ?? 'the agent reported a failure'}`);
    }
    return this.setVmState(vm.id, 'Running', { hostid: host.id, lasthostid: host.id });
  }

  deployJob(caller: Caller, vm: VmRec, o: { hostid?: string; startvm: boolean }): JobRec {
    return this.startJob(caller, JAVA.deploy(caller.admin), { type: 'VirtualMachine', id: vm.id }, async () => {
      if (!o.startvm) return { virtualmachine: this.vmView(this.db.get<VmRec>('vms', vm.id)!.data) };
      let host: HostRec;
      try {
        host = this.chooseHost(vm, o.hostid);
      } catch (err) {
        this.setVmState(vm.id, 'Error');
        throw err;
      }
      // a failed creation is the one case Stopped → Error (OperationFailedToError)
      const running = await this.startOnHost(vm, host, 'Error');
      return { virtualmachine: this.vmView(running) };
    });
  }

  startJob2(caller: Caller, vm: VmRec, hostid?: string): JobRec {
    return this.startJob(caller, JAVA.start(caller.admin), { type: 'VirtualMachine', id: vm.id }, async () => {
      const current = this.db.get<VmRec>('vms', vm.id)!.data;
      if (current.state === 'Running') return { virtualmachine: this.vmView(current) };
      if (current.state !== 'Stopped') throw paramError(`VM ${vm.id} is in state ${current.state}: it can be started only when Stopped`);
      // considerlasthost (default true): the last host first when it still fits
      const last = current.lasthostid;
      let host: HostRec;
      try {
        host = this.chooseHost(current, hostid ?? last);
      } catch (err) {
        if (hostid !== undefined || last === undefined) throw err;
        host = this.chooseHost(current, undefined);
      }
      return { virtualmachine: this.vmView(await this.startOnHost(current, host, 'Stopped')) };
    });
  }

  stopJob(caller: Caller, vm: VmRec): JobRec {
    return this.startJob(caller, JAVA.stop(caller.admin), { type: 'VirtualMachine', id: vm.id }, async () => {
      const current = this.db.get<VmRec>('vms', vm.id)!.data;
      if (current.state === 'Stopped') return { virtualmachine: this.vmView(current) };
      if (current.state !== 'Running') throw paramError(`VM ${vm.id} is in state ${current.state}: it can be stopped only when Running`);
      this.setVmState(vm.id, 'Stopping');
      if (current.hostid) await this.hub.send(current.hostid, 'StopCommand', { vm: { id: vm.id, name: current.instancename } }, this.agentTimeoutMs);
      return { virtualmachine: this.vmView(this.setVmState(vm.id, 'Stopped', { hostid: undefined })) };
    });
  }

  destroyJob(caller: Caller, vm: VmRec, expunge: boolean): JobRec {
    return this.startJob(caller, JAVA.destroy(caller.admin), { type: 'VirtualMachine', id: vm.id }, async () => {
      const current = this.db.get<VmRec>('vms', vm.id)!.data;
      if (current.state === 'Destroyed' || current.state === 'Expunging') throw paramError(`VM ${vm.id} is already destroyed`);
      if (current.state === 'Running' && current.hostid) {
        this.setVmState(vm.id, 'Stopping');
        await this.hub.send(current.hostid, 'StopCommand', { vm: { id: vm.id, name: current.instancename } }, this.agentTimeoutMs);
      }
      const done = this.setVmState(vm.id, expunge ? 'Expunging' : 'Destroyed', { hostid: undefined });
      return { virtualmachine: this.vmView(done) };
    });
  }

  tagsJob(caller: Caller, add: TagRec[], remove: { resourcetype: string; resourceid: string; key?: string }[]): JobRec {
    return this.startJob(caller, add.length > 0 ? JAVA.createTags : JAVA.deleteTags, null, async () => {
      for (const r of remove) {
        for (const t of this.list<TagRec>('tags')) if (t.resourcetype === r.resourcetype && t.resourceid === r.resourceid && (r.key === undefined || t.key === r.key)) this.db.delete('tags', t.id);
      }
      for (const t of add) {
        for (const old of this.list<TagRec>('tags')) if (old.resourcetype === t.resourcetype && old.resourceid === t.resourceid && old.key === t.key) this.db.delete('tags', old.id);
        this.db.put('tags', t.id, t);
      }
      return { success: true };
    });
  }

  close(): void {
    this.hub.close();
  }
}
