// Simulation model of Apache CloudStack (4.18+) with KVM. Native mode: the management server runs
// an async deployVirtualMachine job; the KVM agent (connected to the management server on 8250)
// copies the template onto primary storage (from secondary storage, or by direct download on edge
// zones) and starts the VM; the client polls queryAsyncJobResult. Agent mode: edgeplane's agent
// uses CloudStack as identity/registry through signed API calls, plus an HTTP origin and a KMS.
import type { ControlOp } from '../agent/machine/index.js';
import type { ApiOp, DataPath, ModelAssumption, NativeStep, PlacementSpec, PlaneModel, PlaneOptions, ServiceTime, Station, TokenValidation } from '../adapters/index.js';
import { agentDeploySequence, validChunkCount } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { cloudstackProfile } from './profile.js';

const DOCS = 'https://docs.cloudstack.apache.org/en/latest';
const DEV_GUIDE = `${DOCS}/developersguide/dev.html`;
const ALLOCATORS = `${DOCS}/adminguide/vm_volume_allocators.html`;
const DEPLOY_API = 'https://cloudstack.apache.org/api/apidocs-4.19/apis/deployVirtualMachine.html';
const DIRECT_DOWNLOAD = 'https://cwiki.apache.org/confluence/display/CLOUDSTACK/Bypass+Secondary+Storage+%28Direct+Download%29+on+KVM';
const CALIBRATE = 'no published figure';

/** Default size of one chunk in agent mode (the simulator substitutes the manifest's sizes). */
export const CLOUDSTACK_DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;
/** how often a client polls queryAsyncJobResult (assumed). */
export const CS_CLIENT_POLL_US = 2 * 1_000_000;

function lognormalMs(medianMs: number, p95Ms: number): ServiceTime {
  return { kind: 'lognormal', medianUs: Math.round(medianMs * 1000), p95Us: Math.round(p95Ms * 1000) };
}
function fixedMs(ms: number): ServiceTime {
  return { kind: 'fixed', us: Math.round(ms * 1000) };
}

interface OpDefault {
  time: ServiceTime;
  source: string;
}

const OP_TIMES: Record<string, OpDefault> = {
  'cs.deployVirtualMachine': { time: lognormalMs(100, 300), source: `assumed: synchronous part (HMAC-SHA1 check, validation, job insert) before the jobid returns; ${CALIBRATE}` },
  'cs.queryAsyncJobResult': { time: lognormalMs(20, 60), source: `assumed: one job row read; ${CALIBRATE}` },
  'cs.listTags': { time: lognormalMs(30, 80), source: `assumed: one filtered list query; ${CALIBRATE}` },
  'cs.listTemplates': { time: lognormalMs(60, 150), source: `assumed: template list with permission joins; ${CALIBRATE}` },
  'cs.createTags': { time: lognormalMs(50, 150), source: `assumed: async job insert (the agent does not wait for it); ${CALIBRATE}` },
  'cs.getUserKeys': { time: lognormalMs(30, 80), source: `assumed: one user row read by the added KMS; ${CALIBRATE}` },
  'cs.listCapabilities': { time: lognormalMs(20, 60), source: `assumed: one signed read of configuration values (the node checks its keys at start); ${CALIBRATE}` },
  'cs.agent.copyTemplateToPrimary': { time: fixedMs(2000), source: 'assumed: KVM agent mounts secondary storage (NFS) and starts the copy (bytes at network speed)' },
  'cs.agent.cloneVolumeFromBaseTemplate': { time: fixedMs(500), source: "assumed: KVM agent creates the root volume from the pool's template copy (qemu-img; bytes at LAN speed)" },
  'cs.agent.directDownload': { time: fixedMs(2000), source: `assumed: KVM agent download set-up and checksum check (bytes at network speed); ${DIRECT_DOWNLOAD}` },
  'http.manifest.download': { time: lognormalMs(5, 20), source: 'assumed: static-file server per-request overhead' },
  'http.image.download_range': { time: lognormalMs(5, 20), source: 'assumed: static-file server per-request overhead (bytes at network speed)' },
  'kms.secret.payload': { time: lognormalMs(20, 60), source: 'assumed: added key service, one ACL check and key read (caller check modelled separately)' },
};

function op(name: string, station: string, method: string, path: string, bytesOut: number, bytesIn: number): ApiOp {
  const known = OP_TIMES[name];
  if (!known) throw new Error(`cloudstack model: no service time for ${name}`);
  return { op: name, station, method, path, bytesOut, bytesIn, serviceTime: known.time };
}

// Every API call is a signed GET: command and parameters, apikey, signature = HMAC-SHA1 of the
// sorted, lower-cased query with the secret key.
const api = (command: string) => `/client/api?command=${command}`;
const OPS = {
  assignment: op('cs.listTags', 'cs-management', 'GET', api('listTags'), 400, 800),
  templateShow: op('cs.listTemplates', 'cs-management', 'GET', api('listTemplates'), 400, 2500),
  manifest: op('http.manifest.download', 'template-http', 'GET', '/manifests/{image_id}/{version}', 0, 16 * 1024),
  key: op('kms.secret.payload', 'kms', 'GET', '/v1/secrets/{secret_id}/payload', 0, 32),
  report: op('cs.createTags', 'cs-management', 'GET', api('createTags'), 500, 300),
  chunk: op('http.image.download_range', 'template-http', 'GET', '/templates/{image_id}/{version}/sealed', 0, CLOUDSTACK_DEFAULT_CHUNK_BYTES),
  deploy: op('cs.deployVirtualMachine', 'cs-management', 'GET', api('deployVirtualMachine'), 600, 300),
  jobResult: op('cs.queryAsyncJobResult', 'cs-management', 'GET', api('queryAsyncJobResult'), 350, 4000),
  // image bytes are counted by the simulator from the raw image size (payload 'raw')
  copyToPrimary: op('cs.agent.copyTemplateToPrimary', 'secondary-storage', 'NFS', 'secondary:/template/tmpl/{account}/{template_id} -> primary:{pool}/{uuid}', 0, 0),
  poolClone: op('cs.agent.cloneVolumeFromBaseTemplate', 'cs-management', 'LAN', 'primary:{pool}/{template_uuid} -> {host}:{root_volume}', 0, 0),
  directDownload: op('cs.agent.directDownload', 'template-http', 'GET', '{template_url}', 0, 0),
  validate: op('cs.getUserKeys', 'cs-management', 'GET', api('getUserKeys'), 400, 400),
  login: op('cs.listCapabilities', 'cs-management', 'GET', api('listCapabilities'), 400, 700),
};

const AGENT_OPS: Record<ControlOp, ApiOp[]> = {
  // signed requests carry identity on every call: no session to open, but the node checks its
  // keys (and the API version) with one signed call, so a revoked key fails at login
  login: [OPS.login],
  getAssignment: [OPS.assignment],
  getManifest: [OPS.templateShow, OPS.manifest],
  getKey: [OPS.key],
  report: [OPS.report],
};

const MANAGEMENT: Station = {
  name: 'cs-management',
  workers: 50,
  serviceTime: OP_TIMES['cs.queryAsyncJobResult']!.time,
  source: 'assumed: API request threads of the management server (Java); no published figure',
};
const SECONDARY: Station = {
  name: 'secondary-storage',
  workers: 8,
  serviceTime: OP_TIMES['cs.agent.copyTemplateToPrimary']!.time,
  source: 'assumed: one NFS secondary storage server (Debian nfs-kernel-server default 8 nfsd threads)',
};
const TEMPLATE_HTTP: Station = {
  name: 'template-http',
  workers: 768,
  serviceTime: OP_TIMES['http.image.download_range']!.time,
  source: 'assumed: static HTTP server the templates are registered from (nginx, Debian default worker_connections 768)',
};
const KMS: Station = {
  name: 'kms',
  workers: 8,
  serviceTime: OP_TIMES['kms.secret.payload']!.time,
  source: 'assumed: added key service (CloudStack has none), 8 workers',
};

// The added KMS checks a node's signed request with the node's keys, fetched once and cached.
const KMS_SIGNATURE_CHECK: TokenValidation = {
  op: OPS.validate,
  validatingStations: ['kms'],
  cacheTtlUs: 300 * 1_000_000,
  cacheScope: 'shared',
  source: 'assumed: design of the added key service (getUserKeys as admin, keys cached 300 s)',
};

function checkOptions(mode: 'agent' | 'native', opts: PlaneOptions): void {
  if (mode === 'agent') {
    if (opts.placement === 'scheduler') {
      throw new InputError('cloudstack agent mode: the node reads its own pin, so placement must be "pinned" (the allocator applies to native mode)');
    }
    if (opts.flags.directDownload) throw new InputError('cloudstack agent mode: directDownload applies to native mode (the KVM agent) only');
  }
}

/**
 * `siteCache`: the site's hosts share one primary storage pool, so the template lands there once per
 * site; otherwise (host-local primary storage) every deployment copies it.
 */
function nativeSteps(opts: PlaneOptions, siteCache: boolean, firstOnSite: boolean): NativeStep[] {
  // direct download holds a connection of the template server while the bytes move; an NFS copy
  // is the host's own work (its KVM agent mounts secondary storage), the NFS server only serves it
  const fromOrigin: NativeStep = opts.flags.directDownload ? { kind: 'transfer', from: 'origin', op: OPS.directDownload, worker: 'copy' } : { kind: 'transfer', from: 'origin', op: OPS.copyToPrimary, worker: 'none' };
  // a site's shared primary pool gets the template once; each host then waits for that copy and
  // clones its root volume from the pool over the site LAN
  const copy: NativeStep[] = !siteCache ? [fromOrigin] : [...(firstOnSite ? [fromOrigin] : []), { kind: 'transfer', from: 'siteReplica', op: OPS.poolClone, worker: 'none' }];
  return [
    // with placement pinned the call carries hostid (root admin only); otherwise the allocator picks
    { kind: 'api', op: OPS.deploy },
    ...copy,
    { kind: 'boot' },
    // fault-free: the job is done (jobstatus 1) at the first poll after the VM started
    { kind: 'poll', op: OPS.jobResult, intervalUs: CS_CLIENT_POLL_US, polls: 1 },
  ];
}

/** direct.download.connect.timeout (global setting, default 5000 ms): the host's connection to the template server */
const DIRECT_DOWNLOAD_CONNECT_TIMEOUT_US = 5_000_000;

function placement(mode: 'agent' | 'native', opts: PlaneOptions): PlacementSpec {
  if (mode === 'agent') return { kind: 'exact', how: 'the node account reads its pin (a resource tag) and runs that template itself' };
  if (opts.placement === 'pinned') {
    return { kind: 'exact', how: 'deployVirtualMachine with hostid (root admin only): the named host' };
  }
  return {
    kind: 'scheduler',
    how: 'FirstFitPlanner then the host allocator with vm.allocation.algorithm = random (default): any suitable host of the cluster',
    pinnedWhen: 'placement "pinned": deployVirtualMachine passes hostid',
    unpinnedHitProbability: (candidates) => 1 / Math.max(1, candidates),
  };
}

function dataPath(mode: 'agent' | 'native', opts: PlaneOptions): DataPath {
  if (mode === 'agent') return { payload: 'sealed', op: OPS.chunk, pull: true, unit: 'chunk' };
  // either way the KVM agent on the host fetches the whole template onto primary storage
  return { payload: 'raw', op: opts.flags.directDownload ? OPS.directDownload : OPS.copyToPrimary, pull: true, unit: 'image' };
}

function stations(mode: 'agent' | 'native', opts: PlaneOptions): Station[] {
  if (mode === 'agent') return [MANAGEMENT, TEMPLATE_HTTP, KMS];
  return opts.flags.directDownload ? [MANAGEMENT, TEMPLATE_HTTP] : [MANAGEMENT, SECONDARY];
}

function assumptions(mode: 'agent' | 'native', opts: PlaneOptions): ModelAssumption[] {
  // the NFS server's threads serve the hosts' reads and are not held per copy: their count shapes nothing simulated
  const list: ModelAssumption[] = stations(mode, opts)
    .filter((s) => s !== SECONDARY)
    .map((s) => ({ name: `workers of ${s.name}`, value: String(s.workers), source: s.source }));
  const used = new Set<string>();
  if (mode === 'agent') {
    for (const ops of Object.values(AGENT_OPS)) for (const o of ops) used.add(o.op);
    used.add(OPS.chunk.op);
    used.add(OPS.validate.op);
  } else {
    for (const s of [...nativeSteps(opts, false, true), ...nativeSteps(opts, true, true)]) if ('op' in s) used.add(s.op.op);
  }
  for (const name of [...used].sort()) {
    const d = OP_TIMES[name]!;
    list.push({ name: `service time of ${name}`, value: describe(d.time), source: d.source });
  }
  list.push({ name: 'request signing', value: 'HMAC-SHA1 over the sorted, lower-cased query (apikey + signature)', source: `${DEV_GUIDE} (signing API requests)` });
  if (mode === 'native') {
    list.push(
      { name: 'async job completion', value: 'jobstatus 0 pending, 1 succeeded, 2 failed', source: `${DEV_GUIDE} (asynchronous commands)` },
      { name: 'client poll interval of queryAsyncJobResult', value: `${CS_CLIENT_POLL_US / 1e6} s`, source: 'assumed: typical client poll; the fault-free sequence sees jobstatus 1 at its first poll after boot' },
      { name: 'host pinning', value: 'deployVirtualMachine hostid, root admin only', source: DEPLOY_API },
      ...(opts.flags.directDownload
        ? [
            {
              name: 'direct.download.connect.timeout',
              value: `${DIRECT_DOWNLOAD_CONNECT_TIMEOUT_US / 1e6} s`,
              source: `${DIRECT_DOWNLOAD} (global setting, default 5000 ms): a download begun while the site's WAN is cut waits for its connection this long`,
            },
          ]
        : []),
      { name: 'vm.allocation.algorithm', value: 'random (default)', source: ALLOCATORS },
      {
        name: 'template path',
        value: opts.flags.directDownload ? 'direct download by the KVM host, checksum verified' : 'secondary -> primary storage, once per primary pool',
        source: opts.flags.directDownload ? DIRECT_DOWNLOAD : `${DOCS}/adminguide/templates.html`,
      },
    );
  } else {
    list.push(
      { name: 'default chunk size', value: `${CLOUDSTACK_DEFAULT_CHUNK_BYTES} bytes`, source: 'assumed: placeholder; the simulator uses the manifest chunk sizes' },
      {
        name: 'login',
        value: 'one signed listCapabilities (keys checked; signed requests need no session)',
        source: `${DEV_GUIDE} (signing API requests); the call is the node client's choice (control-cloudstack/client/node-plane.ts)`,
      },
      { name: 'signature check by the added KMS', value: `${KMS_SIGNATURE_CHECK.cacheTtlUs / 1e6} s cache, ${KMS_SIGNATURE_CHECK.cacheScope}`, source: KMS_SIGNATURE_CHECK.source },
    );
  }
  list.push({ name: 'request/response sizes', value: 'signed query ~0.4-0.6 KB; JSON responses 0.3-4 KB', source: 'assumed: the real transport records actual bytes' });
  return list;
}

function describe(t: ServiceTime): string {
  return t.kind === 'fixed' ? `${t.us / 1000} ms` : `median ${t.medianUs / 1000} ms, p95 ${t.p95Us / 1000} ms`;
}

/** The CloudStack plane model in agent or native mode. */
export function cloudstackModel(mode: 'agent' | 'native', opts: PlaneOptions): PlaneModel {
  checkOptions(mode, opts);
  const model: PlaneModel = {
    plane: 'cloudstack',
    mode,
    stations: stations(mode, opts),
    assumptions: assumptions(mode, opts),
    agentOps: (control) => {
      if (mode !== 'agent') throw new InputError(`cloudstack native mode has no agent operations (asked for ${control})`);
      return AGENT_OPS[control];
    },
    dataPath: dataPath(mode, opts),
    placement: placement(mode, opts),
    profile: cloudstackProfile(mode, opts),
    deploySequence: ({ chunks }) => {
      if (mode === 'agent') return agentDeploySequence(AGENT_OPS, OPS.chunk, chunks);
      validChunkCount(chunks);
      return nativeSteps(opts, false, true).flatMap(stepOps);
    },
  };
  if (mode === 'agent') model.tokenValidation = KMS_SIGNATURE_CHECK;
  else {
    model.nativeSteps = ({ siteCache, firstOnSite }) => nativeSteps(opts, siteCache, firstOnSite);
    if (opts.flags.directDownload) model.nativeConnectTimeoutUs = DIRECT_DOWNLOAD_CONNECT_TIMEOUT_US;
  }
  return model;
}

function stepOps(step: NativeStep): string[] {
  switch (step.kind) {
    case 'api':
    case 'transfer':
      return [step.op.op];
    case 'poll':
      return Array.from({ length: step.polls }, () => step.op.op);
    case 'cycle':
    case 'boot':
      return [];
  }
}
