// The API commands the emulator implements: name, sync/async, who may call it, its parameters
// (what listApis reports) and the handler. Everything else is answered as CloudStack answers a
// command it does not have: 432, `errorresponse`, "The given command does not exist...".
import { randomUUID } from 'node:crypto';
import { API_ERROR, CS_ERROR } from '../api/errors.js';
import { ApiError, type Cloud, paramError, type Caller } from './cloud.js';
import { CLOUDSTACK_VERSION, listBody, type Json } from './render.js';
import type { AccountRec, ClusterRec, HostRec, JobRec, OfferingRec, OsTypeRec, PodRec, TagRec, TemplateRec, UserRec, VmRec, ZoneRec } from './types.js';

export type Params = Readonly<Record<string, string>>;

export interface CommandResult {
  /** the object under `<command>response` */
  body: Record<string, Json>;
}

interface ParamSpec {
  name: string;
  type: 'string' | 'uuid' | 'boolean' | 'integer' | 'map' | 'list';
  required?: boolean;
  description: string;
}

export interface CommandSpec {
  name: string;
  description: string;
  isasync: boolean;
  /** root admin only */
  admin?: boolean;
  params: ParamSpec[];
  run(cloud: Cloud, caller: Caller, p: Params): CommandResult;
}

const s = (name: string, description: string, required = false): ParamSpec => ({ name, type: 'string', description, required });
const u = (name: string, description: string, required = false): ParamSpec => ({ name, type: 'uuid', description, required });
const b = (name: string, description: string): ParamSpec => ({ name, type: 'boolean', description });
const PAGING = [s('keyword', 'List by keyword'), { name: 'page', type: 'integer', description: 'page number' } as ParamSpec, { name: 'pagesize', type: 'integer', description: 'page size' } as ParamSpec];

function bool(p: Params, name: string, dflt: boolean): boolean {
  const v = p[name];
  if (v === undefined || v === '') return dflt;
  if (/^true$/i.test(v)) return true;
  if (/^false$/i.test(v)) return false;
  throw paramError(`Unable to execute API command due to invalid value. Invalid parameter ${name} value=${v} due to incorrect boolean value format`);
}

/** Paging as ListCmd does it: page from 1, pagesize up to default.page.size (500). */
function page<T>(items: T[], p: Params): T[] {
  if (p.page === undefined && p.pagesize === undefined) return items;
  const pagesize = Number(p.pagesize ?? 500);
  const pg = Number(p.page ?? 1);
  if (!Number.isInteger(pagesize) || pagesize < 1 || !Number.isInteger(pg) || pg < 1) throw paramError('Unable to execute API command due to invalid value. page and pagesize must be positive integers');
  return items.slice((pg - 1) * pagesize, pg * pagesize);
}

function list(name: string, items: Record<string, Json>[], p: Params): CommandResult {
  const kw = p.keyword?.toLowerCase();
  const hits = kw
    ? items.filter((i) =>
        String(i.name ?? i.description ?? '')
          .toLowerCase()
          .includes(kw),
      )
    : items;
  return { body: listBody(name, page(hits, p), hits.length) };
}

/** `name[0].key=k&name[0].value=v` maps, as clients send them. */
function mapParam(p: Params, name: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  const re = new RegExp(`^${name}\\[(\\d+)\\]\\.(\\w+)$`, 'i');
  for (const [k, v] of Object.entries(p)) {
    const m = re.exec(k);
    if (!m) continue;
    const i = Number(m[1]);
    out[i] ??= {};
    out[i]![m[2]!.toLowerCase()] = v;
  }
  return out.filter(Boolean);
}

function requireOwnerOrAdmin(caller: Caller, accountid: string, what: string): void {
  if (!caller.admin && caller.account.id !== accountid) throw new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.PERMISSION_DENIED, `Account ${caller.account.name} does not have permission to operate on ${what}`);
}

function vmOf(cloud: Cloud, caller: Caller, id: string): VmRec {
  const vm = cloud.must<VmRec>('vms', id, 'id');
  requireOwnerOrAdmin(caller, vm.accountid, `vm ${id}`);
  return vm;
}

const TEMPLATE_FILTERS = ['featured', 'self', 'selfexecutable', 'sharedexecutable', 'executable', 'community', 'all'] as const;

export const COMMANDS: CommandSpec[] = [
  {
    name: 'listCapabilities',
    description: 'Lists capabilities',
    isasync: false,
    params: [],
    run: () => ({
      body: {
        capability: {
          cloudstackversion: CLOUDSTACK_VERSION,
          userpublictemplateenabled: true,
          supportELB: 'false',
          projectinviterequired: false,
          allowusercreateprojects: true,
          customdiskofftmaxsize: 1024,
          regionsecondaryenabled: false,
          apilimitinterval: 1,
          apilimitmax: 0,
          allowuserviewdestroyedvm: false,
          allowuserexpungerecovervm: false,
          kvmsnapshotenabled: false,
          dynamicrolesenabled: true,
          defaultuipagesize: 20,
        },
      },
    }),
  },
  {
    name: 'listApis',
    description: 'lists all available apis on the server, provided by the Api Discovery plugin',
    isasync: false,
    params: [s('name', 'API name')],
    run: (_cloud, caller, p) => {
      const visible = COMMANDS.filter((c) => (caller.admin || !c.admin) && (p.name === undefined || c.name === p.name));
      const apis = visible.map((c) => ({
        name: c.name,
        description: c.description,
        isasync: c.isasync,
        since: undefined,
        params: c.params.map((x) => ({ name: x.name, description: x.description, type: x.type, length: 255, required: x.required ?? false })),
        response: [],
      }));
      return { body: listBody('api', apis) };
    },
  },
  {
    name: 'listZones',
    description: 'Lists zones',
    isasync: false,
    params: [u('id', 'the ID of the zone'), s('name', 'the name of the zone'), b('available', 'true: zones the caller can deploy to'), s('networktype', 'Basic or Advanced'), ...PAGING],
    run: (cloud, _c, p) => {
      const zones = cloud
        .list<ZoneRec>('zones')
        .filter((z) => (p.id === undefined || z.id === p.id) && (p.name === undefined || z.name === p.name) && (p.networktype === undefined || z.networktype.toLowerCase() === p.networktype.toLowerCase()));
      return list(
        'zone',
        zones.map((z) => cloud.zoneView(z)),
        p,
      );
    },
  },
  {
    name: 'listPods',
    description: 'Lists all Pods.',
    isasync: false,
    admin: true,
    params: [u('id', 'the ID of the Pod'), u('zoneid', 'the Zone ID'), ...PAGING],
    run: (cloud, _c, p) =>
      list(
        'pod',
        cloud
          .list<PodRec>('pods')
          .filter((x) => (p.id === undefined || x.id === p.id) && (p.zoneid === undefined || x.zoneid === p.zoneid))
          .map((x) => ({ id: x.id, name: x.name, zoneid: x.zoneid, zonename: cloud.db.get<ZoneRec>('zones', x.zoneid)?.data.name, allocationstate: 'Enabled' })),
        p,
      ),
  },
  {
    name: 'listClusters',
    description: 'Lists clusters.',
    isasync: false,
    admin: true,
    params: [u('id', 'the ID of the cluster'), u('zoneid', 'the Zone ID'), u('podid', 'the Pod ID'), ...PAGING],
    run: (cloud, _c, p) =>
      list(
        'cluster',
        cloud
          .list<ClusterRec>('clusters')
          .filter((x) => (p.id === undefined || x.id === p.id) && (p.zoneid === undefined || x.zoneid === p.zoneid) && (p.podid === undefined || x.podid === p.podid))
          .map((x) => ({ id: x.id, name: x.name, podid: x.podid, zoneid: x.zoneid, hypervisortype: 'KVM', clustertype: 'CloudManaged', allocationstate: 'Enabled', managedstate: 'Managed' })),
        p,
      ),
  },
  {
    name: 'listHosts',
    description: 'Lists hosts.',
    isasync: false,
    admin: true,
    params: [
      u('id', 'the id of the host'),
      s('name', 'the name of the host'),
      s('type', 'the host type (Routing)'),
      u('zoneid', 'the Zone ID'),
      u('podid', 'the Pod ID'),
      u('clusterid', 'the cluster ID'),
      s('state', 'the state of the host'),
      s('hypervisor', 'hypervisor type'),
      s('resourcestate', 'the resource state'),
      ...PAGING,
    ],
    run: (cloud, _c, p) => {
      const hosts = cloud
        .list<HostRec>('hosts')
        .map((h) => cloud.hostView(h))
        .filter(
          (h) =>
            (p.id === undefined || h.id === p.id) &&
            (p.name === undefined || h.name === p.name) &&
            (p.type === undefined || String(h.type).toLowerCase() === p.type.toLowerCase()) &&
            (p.zoneid === undefined || h.zoneid === p.zoneid) &&
            (p.podid === undefined || h.podid === p.podid) &&
            (p.clusterid === undefined || h.clusterid === p.clusterid) &&
            (p.state === undefined || String(h.state).toLowerCase() === p.state.toLowerCase()) &&
            (p.hypervisor === undefined || p.hypervisor.toLowerCase() === 'kvm') &&
            (p.resourcestate === undefined || p.resourcestate.toLowerCase() === 'enabled'),
        );
      return list('host', hosts, p);
    },
  },
  {
    name: 'listServiceOfferings',
    description: 'Lists all available service offerings.',
    isasync: false,
    params: [u('id', 'ID of the service offering'), s('name', 'name of the service offering'), u('zoneid', 'the ID of the zone'), b('issystem', 'is this a system vm offering'), ...PAGING],
    run: (cloud, _c, p) => {
      if (bool(p, 'issystem', false)) return { body: {} };
      const items = cloud
        .list<OfferingRec>('offerings')
        .filter((o) => (p.id === undefined || o.id === p.id) && (p.name === undefined || o.name === p.name))
        .map((o) => ({
          id: o.id,
          name: o.name,
          displaytext: o.displaytext,
          cpunumber: o.cpunumber,
          cpuspeed: o.cpuspeed,
          memory: o.memory,
          created: undefined,
          storagetype: 'local',
          offerha: false,
          limitcpuuse: false,
          isvolatile: false,
          issystem: false,
          defaultuse: false,
          iscustomized: false,
        }));
      return list('serviceoffering', items, p);
    },
  },
  {
    name: 'listOsTypes',
    description: 'Lists all supported OS types for this cloud.',
    isasync: false,
    params: [u('id', 'list by Os type Id'), u('oscategoryid', 'list by Os Category id'), s('description', 'list os by description'), ...PAGING],
    run: (cloud, _c, p) =>
      list(
        'ostype',
        cloud
          .list<OsTypeRec>('ostypes')
          .filter((t) => (p.id === undefined || t.id === p.id) && (p.oscategoryid === undefined || t.oscategoryid === p.oscategoryid) && (p.description === undefined || t.description === p.description))
          .map((t) => ({ id: t.id, description: t.description, oscategoryid: t.oscategoryid, isuserdefined: false })),
        p,
      ),
  },
  {
    name: 'registerTemplate',
    description: 'Registers an existing template into the CloudStack cloud.',
    isasync: false,
    params: [
      s('name', 'the name of the template', true),
      s('displaytext', 'The display text of the template, defaults to the name'),
      s('format', 'the format for the template (QCOW2, RAW, VHD, OVA)', true),
      s('hypervisor', 'the target hypervisor for the template', true),
      s('url', 'the URL of where the template is hosted', true),
      u('zoneid', 'the ID of the zone the template is to be hosted on'),
      { name: 'zoneids', type: 'list', description: 'A list of zone ids where the template will be hosted. -1: all zones' },
      u('ostypeid', 'the ID of the OS Type that best represents the OS of this template'),
      s('checksum', 'the checksum value of this template: MD5 hex, or {SHA-256}hex'),
      b('directdownload', 'true: the template is downloaded by the KVM host at deployment, bypassing secondary storage (KVM only)'),
      b('ispublic', 'true if the template is available to all accounts'),
      b('isfeatured', 'true if this template is a featured template'),
      b('isextractable', 'true if the template or its derivatives are extractable'),
      b('passwordenabled', 'true if the template supports the password reset feature'),
      { name: 'details', type: 'map', description: 'Template details in key/value pairs' },
    ],
    run: (cloud, caller, p) => {
      for (const k of ['name', 'format', 'hypervisor', 'url']) if (!p[k]) throw paramError(`Unable to execute API command registertemplate due to missing parameter ${k}`);
      if (!p.ostypeid) throw paramError('Please provide a guest OS type (ostypeid) for the template');
      let zoneids: string[];
      if (p.zoneids !== undefined) zoneids = p.zoneids === '-1' ? cloud.list<ZoneRec>('zones').map((z) => z.id) : p.zoneids.split(',');
      else if (p.zoneid !== undefined) zoneids = p.zoneid === '-1' ? cloud.list<ZoneRec>('zones').map((z) => z.id) : [p.zoneid];
      else throw paramError('Either zoneid or zoneids parameters have to be specified');
      const details: Record<string, string> = {};
      for (const d of mapParam(p, 'details')) for (const [k, v] of Object.entries(d)) details[k] = v;
      const t = cloud.registerTemplate(caller, {
        name: p.name!,
        displaytext: p.displaytext ?? p.name!,
        url: p.url!,
        format: p.format!,
        hypervisor: p.hypervisor!,
        ostypeid: p.ostypeid,
        zoneids,
        checksum: p.checksum || undefined,
        directdownload: bool(p, 'directdownload', false),
        ispublic: bool(p, 'ispublic', false),
        isfeatured: bool(p, 'isfeatured', false),
        isextractable: bool(p, 'isextractable', false),
        passwordenabled: bool(p, 'passwordenabled', false),
        details,
      });
      return { body: listBody('template', cloud.templateViews(caller, t)) };
    },
  },
  {
    name: 'listTemplates',
    description: 'List all public, private, and privileged templates.',
    isasync: false,
    params: [
      s('templatefilter', 'featured, self, selfexecutable, sharedexecutable, executable, community, all (admin)', true),
      u('id', 'the template ID'),
      { name: 'ids', type: 'list', description: 'the IDs of the templates' },
      s('name', 'the template name'),
      u('zoneid', 'list templates by zoneId'),
      s('hypervisor', 'the hypervisor for which to restrict the search'),
      b('isready', 'true: only templates that are ready to be deployed'),
      ...PAGING,
    ],
    run: (cloud, caller, p) => {
      const filter = p.templatefilter;
      if (!filter) throw paramError('Unable to execute API command listtemplates due to missing parameter templatefilter');
      if (!(TEMPLATE_FILTERS as readonly string[]).includes(filter))
        throw paramError(`Unable to execute API command listtemplates due to invalid value. Invalid parameter templatefilter value=${filter}: use ${TEMPLATE_FILTERS.join(', ')}`);
      if (filter === 'all' && !caller.admin) throw new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.PERMISSION_DENIED, 'templatefilter all is for root admins only');
      const own = (t: TemplateRec) => t.accountid === caller.account.id;
      const include: Record<string, (t: TemplateRec) => boolean> = {
        featured: (t) => t.isfeatured && t.ispublic,
        self: own,
        selfexecutable: own,
        sharedexecutable: (t) => !own(t) && t.sharedWith.includes(caller.account.id),
        executable: (t) => own(t) || t.ispublic || t.sharedWith.includes(caller.account.id),
        community: (t) => t.ispublic && !t.isfeatured,
        all: () => true,
      };
      // listInReadyState: only `self` and `all` show templates still downloading
      const readyOnly = filter !== 'self' && filter !== 'all';
      const ids = p.ids?.split(',') ?? (p.id ? [p.id] : null);
      const views = cloud
        .list<TemplateRec>('templates')
        .filter((t) => include[filter]!(t) && (ids === null || ids.includes(t.id)) && (p.name === undefined || t.name === p.name) && (p.hypervisor === undefined || p.hypervisor.toLowerCase() === 'kvm'))
        .flatMap((t) => cloud.templateViews(caller, t, p.zoneid))
        .filter((v) => (!readyOnly || v.isready === true) && (p.isready === undefined || v.isready === bool(p, 'isready', false)));
      return list('template', views, p);
    },
  },
  {
    name: 'deleteTemplate',
    description: 'Deletes a template from the system.',
    isasync: false,
    params: [u('id', 'the ID of the template', true), u('zoneid', 'the ID of zone of the template')],
    run: (cloud, caller, p) => {
      if (!p.id) throw paramError('Unable to execute API command deletetemplate due to missing parameter id');
      cloud.deleteTemplate(caller, p.id);
      return { body: { success: true } };
    },
  },
  {
    name: 'updateTemplatePermissions',
    description: 'Updates a template visibility permissions.',
    isasync: false,
    params: [u('id', 'the template ID', true), s('accounts', 'a comma delimited list of accounts'), s('op', 'permission operator (add, remove, reset)'), b('ispublic', 'true for public template')],
    run: (cloud, caller, p) => {
      const t = cloud.must<TemplateRec>('templates', p.id ?? '', 'id');
      requireOwnerOrAdmin(caller, t.accountid, `template ${t.id}`);
      const names = (p.accounts ?? '').split(',').filter(Boolean);
      const ids = names.map((n) => {
        const a = cloud.list<AccountRec>('accounts').find((x) => x.name === n);
        if (!a) throw paramError(`Unable to find account ${n} in domain ROOT`);
        return a.id;
      });
      const op = p.op ?? 'add';
      if (op === 'add') t.sharedWith = [...new Set([...t.sharedWith, ...ids])];
      else if (op === 'remove') t.sharedWith = t.sharedWith.filter((x) => !ids.includes(x));
      else if (op === 'reset') t.sharedWith = [];
      else throw paramError(`Invalid op ${op}: use add, remove or reset`);
      if (p.ispublic !== undefined) t.ispublic = bool(p, 'ispublic', t.ispublic);
      cloud.db.put('templates', t.id, t);
      return { body: { success: true } };
    },
  },
  {
    name: 'deployVirtualMachine',
    description: 'Creates and automatically starts a virtual machine based on a service offering, disk offering, and template.',
    isasync: true,
    params: [
      u('zoneid', 'availability zone for the virtual machine', true),
      u('serviceofferingid', 'the ID of the service offering for the virtual machine', true),
      u('templateid', 'the ID of the template for the virtual machine', true),
      s('name', 'host name for the virtual machine'),
      s('displayname', 'an optional user generated name for the virtual machine'),
      b('startvm', 'true by default: start the VM after creating it'),
      u('hostid', 'destination Host ID to deploy the VM to (root admin only)'),
      { name: 'networkids', type: 'list', description: 'list of network ids used by virtual machine (shared guest network here)' },
      s('userdata', 'base64 user data'),
      s('keypair', 'name of the ssh key pair'),
    ],
    run: (cloud, caller, p) => {
      for (const k of ['zoneid', 'serviceofferingid', 'templateid']) if (!p[k]) throw paramError(`Unable to execute API command deployvirtualmachine due to missing parameter ${k}`);
      // hostid is a parameter of DeployVMCmdByAdmin only: a user's request carries it to no effect
      const hostid = caller.admin ? p.hostid || undefined : undefined;
      if (hostid !== undefined) cloud.must<HostRec>('hosts', hostid, 'hostid');
      const vm = cloud.createVm(caller, { zoneid: p.zoneid!, serviceofferingid: p.serviceofferingid!, templateid: p.templateid!, name: p.name, displayname: p.displayname });
      const job = cloud.deployJob(caller, vm, { hostid, startvm: bool(p, 'startvm', true) });
      return { body: { id: vm.id, jobid: job.jobid } };
    },
  },
  {
    name: 'startVirtualMachine',
    description: 'Starts a virtual machine.',
    isasync: true,
    params: [u('id', 'The ID of the virtual machine', true), u('hostid', 'destination Host ID (root admin only)')],
    run: (cloud, caller, p) => {
      const vm = vmOf(cloud, caller, p.id ?? '');
      return { body: { jobid: cloud.startJob2(caller, vm, caller.admin ? p.hostid || undefined : undefined).jobid } };
    },
  },
  {
    name: 'stopVirtualMachine',
    description: 'Stops a virtual machine.',
    isasync: true,
    params: [u('id', 'The ID of the virtual machine', true), b('forced', 'Force stop the VM')],
    run: (cloud, caller, p) => ({ body: { jobid: cloud.stopJob(caller, vmOf(cloud, caller, p.id ?? '')).jobid } }),
  },
  {
    name: 'destroyVirtualMachine',
    description: 'Destroys a virtual machine.',
    isasync: true,
    params: [u('id', 'The ID of the virtual machine', true), b('expunge', 'If true, expunge at once (root admin, or allow.user.expunge.recover.vm)')],
    run: (cloud, caller, p) => {
      const vm = vmOf(cloud, caller, p.id ?? '');
      const expunge = bool(p, 'expunge', false);
      if (expunge && !caller.admin) throw new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.PERMISSION_DENIED, 'Parameter expunge can be passed by Admin only. Or when the allow.user.expunge.recover.vm key is set.');
      return { body: { jobid: cloud.destroyJob(caller, vm, expunge).jobid } };
    },
  },
  {
    name: 'listVirtualMachines',
    description: 'List the virtual machines owned by the account.',
    isasync: false,
    params: [
      u('id', 'the ID of the virtual machine'),
      { name: 'ids', type: 'list', description: 'the IDs of the virtual machines' },
      s('state', 'state of the virtual machine'),
      u('zoneid', 'the availability zone ID'),
      u('hostid', 'the host ID'),
      u('templateid', 'list vms by template'),
      s('name', 'name of the virtual machine'),
      b('listall', 'all resources the caller may see'),
      ...PAGING,
    ],
    run: (cloud, caller, p) => {
      const ids = p.ids?.split(',') ?? (p.id ? [p.id] : null);
      const vms = cloud
        .list<VmRec>('vms')
        .filter(
          (v) =>
            (caller.admin ? bool(p, 'listall', false) || v.accountid === caller.account.id || ids !== null : v.accountid === caller.account.id) &&
            v.state !== 'Expunging' &&
            (ids === null || ids.includes(v.id)) &&
            (p.state === undefined || v.state.toLowerCase() === p.state.toLowerCase()) &&
            (p.zoneid === undefined || v.zoneid === p.zoneid) &&
            (p.hostid === undefined || v.hostid === p.hostid) &&
            (p.templateid === undefined || v.templateid === p.templateid) &&
            (p.name === undefined || v.name === p.name),
        )
        .map((v) => cloud.vmView(v, cloud.pendingJobOf(v.id)));
      return list('virtualmachine', vms, p);
    },
  },
  {
    name: 'queryAsyncJobResult',
    description: 'Retrieves the current status of asynchronous job.',
    isasync: false,
    params: [u('jobid', 'the ID of the asynchronous job', true)],
    run: (cloud, caller, p) => {
      if (!p.jobid) throw paramError('Unable to execute API command queryasyncjobresult due to missing parameter jobid');
      const job = cloud.must<JobRec>('jobs', p.jobid, 'jobid');
      requireOwnerOrAdmin(caller, job.accountid, `job ${job.jobid}`);
      return { body: cloud.jobView(job) };
    },
  },
  {
    name: 'listAsyncJobs',
    description: 'Lists all pending asynchronous jobs for the account.',
    isasync: false,
    params: [s('startdate', 'the start date of the async job (yyyy-MM-dd)'), b('listall', 'all jobs the caller may see'), ...PAGING],
    run: (cloud, caller, p) => {
      const since = p.startdate ? Date.parse(p.startdate) : Number.NaN;
      const jobs = cloud
        .list<JobRec>('jobs')
        .filter((j) => (caller.admin && bool(p, 'listall', false)) || j.accountid === caller.account.id)
        .filter((j) => Number.isNaN(since) || j.created >= since)
        .map((j) => cloud.jobView(j));
      return { body: listBody('asyncjobs', page(jobs, p), jobs.length) };
    },
  },
  {
    name: 'listPublicIpAddresses',
    description: 'Lists all public IP addresses (none: the emulated zones have shared guest networks only).',
    isasync: false,
    params: [u('zoneid', 'lists all public IP addresses by zone ID'), ...PAGING],
    run: () => ({ body: {} }),
  },
  {
    name: 'listPortForwardingRules',
    description: 'Lists all port forwarding rules (none: no isolated networks are emulated).',
    isasync: false,
    params: [...PAGING],
    run: () => ({ body: {} }),
  },
  {
    name: 'listIpForwardingRules',
    description: 'List the IP forwarding rules (none: no isolated networks are emulated).',
    isasync: false,
    params: [...PAGING],
    run: () => ({ body: {} }),
  },
  {
    name: 'createTags',
    description: 'Creates resource tag(s)',
    isasync: true,
    params: [
      s('resourcetype', 'type of the resource (UserVm, Template, Account)', true),
      { name: 'resourceids', type: 'list', description: 'list of resources to create the tags for', required: true },
      { name: 'tags', type: 'map', description: 'Map of tags (key/value pairs)', required: true },
    ],
    run: (cloud, caller, p) => {
      const { type, ids } = tagTarget(cloud, caller, p);
      const tags = mapParam(p, 'tags');
      if (tags.length === 0 || tags.some((t) => !t.key)) throw paramError('Unable to execute API command createtags due to missing parameter tags');
      const add: TagRec[] = ids.flatMap((resourceid) => tags.map((t) => ({ id: randomUUID(), key: t.key!, value: t.value ?? '', resourcetype: type, resourceid, accountid: caller.account.id })));
      return { body: { jobid: cloud.tagsJob(caller, add, []).jobid } };
    },
  },
  {
    name: 'deleteTags',
    description: 'Deleting resource tag(s)',
    isasync: true,
    params: [
      s('resourcetype', 'Delete tag by resource type', true),
      { name: 'resourceids', type: 'list', description: 'Delete tags for resource id(s)', required: true },
      { name: 'tags', type: 'map', description: 'Delete tags matching key/value pairs' },
    ],
    run: (cloud, caller, p) => {
      const { type, ids } = tagTarget(cloud, caller, p);
      const keys = mapParam(p, 'tags').map((t) => t.key);
      const remove = ids.flatMap((resourceid) => (keys.length === 0 ? [{ resourcetype: type, resourceid }] : keys.map((key) => ({ resourcetype: type, resourceid, key }))));
      return { body: { jobid: cloud.tagsJob(caller, [], remove).jobid } };
    },
  },
  {
    name: 'listTags',
    description: 'List resource tag(s)',
    isasync: false,
    params: [s('resourcetype', 'list by resource type'), u('resourceid', 'list by resource id'), s('key', 'list by key'), s('value', 'list by value'), b('listall', 'all tags the caller may see'), ...PAGING],
    run: (cloud, caller, p) => {
      const tags = cloud
        .list<TagRec>('tags')
        .filter((t) => caller.admin || t.accountid === caller.account.id || (t.resourcetype === 'Account' && t.resourceid === caller.account.id))
        .filter(
          (t) =>
            (p.resourcetype === undefined || t.resourcetype.toLowerCase() === p.resourcetype.toLowerCase()) &&
            (p.resourceid === undefined || t.resourceid === p.resourceid) &&
            (p.key === undefined || t.key === p.key) &&
            (p.value === undefined || t.value === p.value),
        )
        .map((t) => cloud.tagView(t));
      return { body: listBody('tag', page(tags, p), tags.length) };
    },
  },
  {
    name: 'createAccount',
    description: 'Creates an account',
    isasync: false,
    admin: true,
    params: [
      s('username', 'Unique username', true),
      s('password', 'Clear text password', true),
      s('email', 'email', true),
      s('firstname', 'firstname', true),
      s('lastname', 'lastname', true),
      s('account', 'Name of the account (default: the username)'),
      { name: 'accounttype', type: 'integer', description: '0 user, 1 root admin' },
    ],
    run: (cloud, _caller, p) => {
      for (const k of ['username', 'password', 'email', 'firstname', 'lastname']) if (!p[k]) throw paramError(`Unable to execute API command createaccount due to missing parameter ${k}`);
      const { account } = cloud.createAccount({ name: p.account ?? p.username!, username: p.username!, password: p.password!, admin: p.accounttype === '1' });
      return { body: { account: cloud.accountView(account) } };
    },
  },
  {
    name: 'listAccounts',
    description: 'Lists accounts and provides detailed account information for listed accounts',
    isasync: false,
    params: [u('id', 'list account by account ID'), s('name', 'list account by account name'), b('listall', 'all accounts the caller may see'), ...PAGING],
    run: (cloud, caller, p) => {
      const accounts = cloud
        .list<AccountRec>('accounts')
        .filter((a) => (caller.admin || a.id === caller.account.id) && (p.id === undefined || a.id === p.id) && (p.name === undefined || a.name === p.name))
        .map((a) => cloud.accountView(a));
      return list('account', accounts, p);
    },
  },
  {
    name: 'disableAccount',
    description: 'Disables an account',
    isasync: true,
    admin: true,
    params: [
      u('id', 'Account id'),
      s('account', 'Disables specified account.'),
      u('domainid', 'Disables specified account in this domain.'),
      { name: 'lock', type: 'boolean', description: 'If true, only lock the account; else disable the account', required: true },
    ],
    run: (cloud, caller, p) => {
      if (p.lock === undefined) throw paramError('Unable to execute API command disableaccount due to missing parameter lock');
      const a = cloud.accountOf(p);
      return { body: { jobid: cloud.disableAccountJob(caller, a, bool(p, 'lock', false)).jobid } };
    },
  },
  {
    name: 'enableAccount',
    description: 'Enables an account',
    isasync: false,
    admin: true,
    params: [u('id', 'Account id'), s('account', 'Enables specified account.'), u('domainid', 'Enables specified account in this domain.')],
    run: (cloud, _caller, p) => ({ body: { account: cloud.accountView(cloud.setAccountState(cloud.accountOf(p).id, 'enabled')) } }),
  },
  {
    name: 'listUsers',
    description: 'Lists user accounts',
    isasync: false,
    params: [u('id', 'List user by ID.'), s('username', 'List user by the username'), u('accountid', 'list users by account'), ...PAGING],
    run: (cloud, caller, p) => {
      const users = cloud
        .list<UserRec>('users')
        .filter(
          (x) =>
            (caller.admin || x.accountid === caller.account.id) &&
            (p.id === undefined || x.id === p.id) &&
            (p.username === undefined || x.username === p.username) &&
            (p.accountid === undefined || x.accountid === p.accountid),
        )
        .map((x) => cloud.userView(x, cloud.db.get<AccountRec>('accounts', x.accountid)!.data));
      return list('user', users, p);
    },
  },
  {
    name: 'registerUserKeys',
    description: 'This command allows a user to register for the developer API, returning a secret key and an API key.',
    isasync: false,
    params: [u('id', 'User id', true)],
    run: (cloud, caller, p) => {
      const user = cloud.must<UserRec>('users', p.id ?? '', 'id');
      if (!caller.admin && user.id !== caller.user.id) throw new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.PERMISSION_DENIED, 'Only the user itself or an admin may register its keys');
      const keys = cloud.registerUserKeys(user.id);
      return { body: { userkeys: { apikey: keys.apikey, secretkey: keys.secretkey } } };
    },
  },
  {
    name: 'getUserKeys',
    description: 'This command allows the user to query the secret and API keys for the account',
    isasync: false,
    params: [u('id', 'ID of the user whose keys are required', true)],
    run: (cloud, caller, p) => {
      const user = cloud.must<UserRec>('users', p.id ?? '', 'id');
      if (!caller.admin && user.id !== caller.user.id) throw new ApiError(API_ERROR.ACCOUNT_ERROR, CS_ERROR.PERMISSION_DENIED, 'Only the user itself or an admin may read its keys');
      return { body: { userkeys: { apikey: user.apikey, secretkey: user.secretkey } } };
    },
  },
];

const TAGGABLE = new Map([
  ['uservm', 'UserVm'],
  ['template', 'Template'],
  ['account', 'Account'],
]);

function tagTarget(cloud: Cloud, caller: Caller, p: Params): { type: string; ids: string[] } {
  const type = TAGGABLE.get((p.resourcetype ?? '').toLowerCase());
  if (!type) throw paramError(`Unable to execute API command due to invalid value. Invalid parameter resourcetype value=${p.resourcetype ?? ''}: this emulator tags UserVm, Template and Account`);
  const ids = (p.resourceids ?? '').split(',').filter(Boolean);
  if (ids.length === 0) throw paramError('Unable to execute API command due to missing parameter resourceids');
  for (const id of ids) {
    if (type === 'UserVm') requireOwnerOrAdmin(caller, cloud.must<VmRec>('vms', id, 'resourceids').accountid, `vm ${id}`);
    else if (type === 'Template') requireOwnerOrAdmin(caller, cloud.must<TemplateRec>('templates', id, 'resourceids').accountid, `template ${id}`);
    else requireOwnerOrAdmin(caller, cloud.must<AccountRec>('accounts', id, 'resourceids').id, `account ${id}`);
  }
  return { type, ids };
}

/** exact names, as ApiServer's s_apiNameCmdClassMap holds them (`listzones` is unknown) */
export const COMMAND_MAP = new Map(COMMANDS.map((c) => [c.name, c]));
