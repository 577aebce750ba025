// Simulation model of OpenNebula (6.10). Native mode: the front-end drives the host (oned XML-RPC,
// mm_sched, ssh transfer and VMM drivers, monitord). Agent mode: edgeplane's agent pulls through
// OpenNebula's own API (XML-RPC) plus what OpenNebula lacks and edgeplane adds: an HTTP server for
// image bytes on the front-end and a key service.
import type { ControlOp } from '../agent/machine/index.js';
import type { ApiOp, DataPath, ModelAssumption, NativeStep, PlacementSpec, PlaneModel, PlaneOptions, ServiceTime, Station, TokenValidation } from '../adapters/index.js';
import { agentDeploySequence, validChunkCount } from '../adapters/index.js';
import { InputError } from '../common/index.js';
import { opennebulaProfile } from './profile.js';

const DOCS = 'https://docs.opennebula.io/6.10';
const SCALABILITY = `${DOCS}/installation_and_configuration/large-scale_deployment/scalability.html`;
const ONED_CONF = `${DOCS}/installation_and_configuration/opennebula_services/oned.html`;
const SCHEDULER = `${DOCS}/installation_and_configuration/opennebula_services/scheduler.html`;
const MONITORING = `${DOCS}/installation_and_configuration/opennebula_services/monitoring.html`;
const REPLICA = 'https://docs.opennebula.io/6.8/open_cluster_deployment/storage_setup/onestor_ds.html';
const XMLRPC = `${DOCS}/integration_and_development/system_interfaces/api.html`;
const CALIBRATE =
  'measured here: edgeplane calibrate opennebula on the live front-end (OpenNebula 6.10.5 built from source, SQLite, dummy drivers, loopback, 2 CPUs, load average 13.7-12.9; 30 samples per op after 3 warm-up rounds; 2026-12-02)';
/** where the scheduler placement rate was measured (an earlier session on the same front-end) */
const PLACEMENT_RUN = 'measured here: OpenNebula 6.10.5 built from source, SQLite, dummy drivers, loopback, 2 CPUs, load average 26.2-26.5 and 19.5-22.1, 2026-12-02';

/** Default size of one chunk in agent mode (the simulator substitutes the manifest's sizes). */
export const OPENNEBULA_DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

/** mm_sched defaults (sched.conf). */
export const ONE_SCHED_INTERVAL_US = 15 * 1_000_000;
export const ONE_MAX_DISPATCH = 30;
export const ONE_MAX_HOST = 1;
/** monitord PROBES_PERIOD STATE_VM: how often a host pushes its VMs' states. */
export const ONE_STATE_VM_PERIOD_US = 5 * 1_000_000;
/**
 * Intended-host rate of mm_sched measured on the real scheduler (VM i meant for host i of 4 equal
 * hosts, one VM per host per round, rounds of 4): 10 of 32 in one session, 3 of 32 in the next
 * (the first rounds land in reverse host order: with equal hosts the order is mm_sched's, not the VMs').
 */
export const ONE_MEASURED_PLACEMENT = { hosts: 4, deployments: 64, intended: 13 } as const;
export const ONE_MEASURED_PLACEMENT_SOURCE = `${PLACEMENT_RUN}, 64 scheduled VMs in three runs: mm_sched (SCHED_INTERVAL 2, MAX_HOST 1, striping POLICY 1) placed ${ONE_MEASURED_PLACEMENT.intended} of ${ONE_MEASURED_PLACEMENT.deployments} VMs on the intended one of ${ONE_MEASURED_PLACEMENT.hosts} equal hosts (control-opennebula/placement.ts); other pool sizes: scaled as rate x ${ONE_MEASURED_PLACEMENT.hosts} / candidates (assumed)`;

/** how often a client polls one.vm.info for RUNNING (assumed). */
export const ONE_CLIENT_POLL_US = 2 * 1_000_000;

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
  'one.vm.info': { time: lognormalMs(20.8, 92.6), source: `${CALIBRATE}; published: ${SCALABILITY} (vm.info 10-60 ms at 10-30 req/s, 1,250 hosts / 20k VMs)` },
  'one.user.info': { time: lognormalMs(12.2, 30.7), source: `${CALIBRATE}` },
  'one.image.info': { time: lognormalMs(14.4, 27.9), source: `${CALIBRATE}` },
  'one.user.login': { time: lognormalMs(60.3, 102.5), source: `${CALIBRATE} (a new token, the previous one revoked)` },
  'one.user.update': { time: lognormalMs(29.7, 57.7), source: `${CALIBRATE}` },
  'one.vm.allocate': { time: lognormalMs(173.2, 312.9), source: `${CALIBRATE} (on hold)` },
  'one.vm.deploy': { time: lognormalMs(115.2, 275.8), source: `${CALIBRATE} (enforce)` },
  'one.tm.clone': {
    time: fixedMs(1000),
    source: `assumed: ssh session and driver start-up per copy (the bytes move at network speed); the dummy TM driver's PROLOG measured 444 ms p50 (no ssh, no bytes: ${CALIBRATE})`,
  },
  'one.tm.replica_copy': { time: fixedMs(1000), source: 'assumed: ssh session and driver start-up per copy (the bytes move at network speed)' },
  'one.vmm.deploy': {
    time: fixedMs(1500),
    source: `assumed: ssh to the host, write domain XML, virsh create (guest boot modelled separately); the dummy VMM driver's BOOT measured 163 ms p50 (no ssh, no guest: ${CALIBRATE})`,
  },
  'http.image.download_range': {
    time: lognormalMs(5, 20),
    source: `assumed: static-file server per-request overhead (bytes at network speed); the added byte server measured 84 ms p50 / 261 ms p95 per 4 MiB range on loopback, bytes included (${CALIBRATE})`,
  },
  'kms.secret.payload': { time: lognormalMs(8.3, 76.4), source: `${CALIBRATE} (the key service edgeplane adds: session check cached)` },
};

function op(name: string, station: string, method: string, path: string, bytesOut: number, bytesIn: number): ApiOp {
  const known = OP_TIMES[name];
  if (!known) throw new Error(`opennebula model: no service time for ${name}`);
  return { op: name, station, method, path, bytesOut, bytesIn, serviceTime: known.time };
}

const RPC = '/RPC2';
// XML-RPC bodies: a call envelope of ~0.3-0.5 KB; info responses are the object's XML document.
const OPS = {
  login: op('one.user.login', 'oned', 'POST', RPC, 450, 350),
  // the pin image@version is an attribute (EDGE_PIN) of the node user's template; -1 = myself
  assignment: op('one.user.info', 'oned', 'POST', RPC, 350, 3000),
  // the signed manifest is an attribute (EDGE_MANIFEST, base64) of the image's template
  manifest: op('one.image.info', 'oned', 'POST', RPC, 350, 24 * 1024),
  key: op('kms.secret.payload', 'kms', 'GET', '/v1/secrets/{secret_id}/payload', 0, 32),
  report: op('one.user.update', 'oned', 'POST', RPC, 500, 300),
  chunk: op('http.image.download_range', 'frontend-http', 'GET', '/images/{image_id}/{version}/sealed', 0, OPENNEBULA_DEFAULT_CHUNK_BYTES),
  allocate: op('one.vm.allocate', 'oned', 'POST', RPC, 1500, 300),
  deploy: op('one.vm.deploy', 'oned', 'POST', RPC, 450, 300),
  vmInfo: op('one.vm.info', 'oned', 'POST', RPC, 350, 8000),
  // image bytes are counted by the simulator from the raw image size (payload 'raw')
  clone: op('one.tm.clone', 'tm-ssh', 'SSH', '{source}:/var/lib/one/datastores/{image_ds}/{image} -> {host}:/var/lib/one/datastores/{system_ds}/{vm_id}/disk.0', 0, 0),
  replicaCopy: op('one.tm.replica_copy', 'tm-ssh', 'SSH', 'frontend:/var/lib/one/datastores/{image_ds}/{image} -> {replica_host}:/var/lib/one/datastores/cache/{image}', 0, 0),
  vmmDeploy: op('one.vmm.deploy', 'vmm-kvm', 'SSH', '{host}: deploy (virsh create)', 4000, 200),
  validate: op('one.user.info', 'oned', 'POST', RPC, 350, 3000),
};

const AGENT_OPS: Record<ControlOp, ApiOp[]> = {
  login: [OPS.login],
  getAssignment: [OPS.assignment],
  getManifest: [OPS.manifest],
  getKey: [OPS.key],
  report: [OPS.report],
};

const ONED: Station = {
  name: 'oned',
  workers: 15,
  // MAX_CONN_BACKLOG = 15 (oned.conf default): connections beyond it are refused by the OS
  queueLimit: 15,
  serviceTime: OP_TIMES['one.vm.info']!.time,
  source: `${ONED_CONF} (XML-RPC MAX_CONN = 15); default time: one.vm.info, ${CALIBRATE}`,
};
const TM_SSH: Station = {
  name: 'tm-ssh',
  workers: 15,
  serviceTime: OP_TIMES['one.tm.clone']!.time,
  source: `${ONED_CONF} (TM_MAD one_tm ARGUMENTS "-t 15": 15 transfer actions at once)`,
};
const VMM_KVM: Station = {
  name: 'vmm-kvm',
  workers: 15,
  serviceTime: OP_TIMES['one.vmm.deploy']!.time,
  source: `${ONED_CONF} (VM_MAD kvm ARGUMENTS "-t 15": 15 driver actions at once)`,
};
const FRONTEND_HTTP: Station = {
  name: 'frontend-http',
  workers: 768,
  serviceTime: OP_TIMES['http.image.download_range']!.time,
  source: 'assumed: added static HTTP server (nginx, Debian default worker_connections 768) over the image datastore',
};
const KMS: Station = {
  name: 'kms',
  workers: 8,
  serviceTime: OP_TIMES['kms.secret.payload']!.time,
  source: 'assumed: added key service (OpenNebula has none), 8 workers',
};

// The added KMS checks a node's ONE token by calling oned as that user; it caches the answer.
const KMS_TOKEN_CHECK: TokenValidation = {
  op: OPS.validate,
  validatingStations: ['kms'],
  cacheTtlUs: 300 * 1_000_000,
  cacheScope: 'shared',
  source: 'assumed: design of the added key service (one.user.info as the caller, answer cached 300 s)',
};

function checkOptions(mode: 'agent' | 'native', opts: PlaneOptions): void {
  if (mode === 'agent') {
    if (opts.placement === 'scheduler') {
      throw new InputError('opennebula agent mode: the node reads its own pin, so placement must be "pinned" (the scheduler applies to native mode)');
    }
    if (opts.flags.replicaCache) throw new InputError('opennebula agent mode: replicaCache applies to native mode (the ssh transfer driver) only');
  }
}

/** Prolog transfers: every deployment copies front-end -> host, unless a site replica serves it. */
function prolog(cacheOn: boolean, firstOnSite: boolean): NativeStep[] {
  if (!cacheOn) return [{ kind: 'transfer', from: 'origin', op: OPS.clone, worker: 'copy' }];
  const fill: NativeStep[] = firstOnSite ? [{ kind: 'transfer', from: 'origin', op: OPS.replicaCopy, worker: 'copy' }] : [];
  return [...fill, { kind: 'transfer', from: 'siteReplica', op: OPS.clone, worker: 'copy' }];
}

/**
 * `replicaCache` alone decides the prolog path: without OpenNebula's replica datastore there is no
 * site cache to use, so the simulator's `siteCache` flag does not change OpenNebula's steps.
 */
function nativeSteps(opts: PlaneOptions, firstOnSite: boolean): NativeStep[] {
  const place: NativeStep[] =
    opts.placement === 'pinned'
      ? // allocated on hold so mm_sched never picks it, then deployed on the named host
        [{ kind: 'api', op: OPS.deploy }]
      : [{ kind: 'cycle', name: 'mm_sched', periodUs: ONE_SCHED_INTERVAL_US, perCycleLimit: ONE_MAX_DISPATCH }];
  return [
    { kind: 'api', op: OPS.allocate },
    ...place,
    ...prolog(opts.flags.replicaCache, firstOnSite),
    { kind: 'api', op: OPS.vmmDeploy },
    { kind: 'boot' },
    // RUNNING becomes visible when the host's next STATE_VM message reaches monitord (no limit)
    { kind: 'cycle', name: 'monitord STATE_VM', periodUs: ONE_STATE_VM_PERIOD_US, perCycleLimit: 0 },
    // fault-free: the client's first poll after that sees RUNNING
    { kind: 'poll', op: OPS.vmInfo, intervalUs: ONE_CLIENT_POLL_US, polls: 1 },
  ];
}

function placement(mode: 'agent' | 'native', opts: PlaneOptions): PlacementSpec {
  if (mode === 'agent') return { kind: 'exact', how: 'the node user reads its pin (EDGE_PIN in its user template) and runs that image itself' };
  if (opts.placement === 'pinned') {
    return { kind: 'exact', how: 'one.vm.allocate on hold, then one.vm.deploy(vm, host, enforce=true): the named host, never the scheduler' };
  }
  return {
    kind: 'scheduler',
    how: 'mm_sched ranks matching hosts each SCHED_INTERVAL; equal-rank hosts come out of a non-stable sort, so any of them may win',
    pinnedWhen: 'placement "pinned": one.vm.deploy(vm, host, enforce=true) names the host',
    // measured on the real mm_sched (ONE_MEASURED_PLACEMENT_SOURCE), not 1/candidates
    unpinnedHitProbability: measuredHitProbability,
  };
}

/** The measured intended-host rate at the measured pool size, scaled as rate x measured hosts / candidates elsewhere. */
export function measuredHitProbability(candidates: number): number {
  const { hosts, deployments, intended } = ONE_MEASURED_PLACEMENT;
  const rate = intended / deployments;
  return Math.min(1, (rate * hosts) / Math.max(1, candidates));
}

function dataPath(mode: 'agent' | 'native'): DataPath {
  if (mode === 'agent') return { payload: 'sealed', op: OPS.chunk, pull: true, unit: 'chunk' };
  // the front-end's transfer driver pushes the raw image to the host over ssh
  return { payload: 'raw', op: OPS.clone, pull: false, unit: 'image' };
}

function stations(mode: 'agent' | 'native'): Station[] {
  return mode === 'agent' ? [ONED, FRONTEND_HTTP, KMS] : [ONED, TM_SSH, VMM_KVM];
}

function assumptions(mode: 'agent' | 'native', opts: PlaneOptions): ModelAssumption[] {
  const list: ModelAssumption[] = stations(mode).map((s) => ({ name: `workers of ${s.name}`, value: String(s.workers), source: s.source }));
  list.push({ name: 'listen backlog of oned', value: `${ONED.queueLimit} connections (MAX_CONN_BACKLOG), then refused`, source: ONED_CONF });
  const used = new Set<string>();
  if (mode === 'agent') {
    for (const ops of Object.values(AGENT_OPS)) for (const o of ops) used.add(o.op);
    used.add(OPS.chunk.op);
  } else {
    for (const s of nativeSteps(opts, true)) if ('op' in s) used.add(s.op.op);
    used.add(OPS.clone.op);
  }
  for (const name of [...used].sort()) {
    const d = OP_TIMES[name]!;
    list.push({ name: `service time of ${name}`, value: describe(d.time), source: d.source });
  }
  list.push({ name: 'oned advised API load', value: '<= 30 req/s', source: SCALABILITY });
  if (mode === 'native') {
    list.push(
      { name: 'SCHED_INTERVAL', value: `${ONE_SCHED_INTERVAL_US / 1e6} s`, source: `${SCHEDULER}; src/scheduler/etc/sched.conf of 6.10.5 (stock SCHED_INTERVAL = 15)` },
      { name: 'MAX_DISPATCH', value: `${ONE_MAX_DISPATCH} VMs per scheduling cycle`, source: `${SCHEDULER} (sched.conf default)` },
      { name: 'MAX_HOST', value: `${ONE_MAX_HOST} VM per host per cycle`, source: `${SCHEDULER} (sched.conf default)` },
      { name: 'monitord STATE_VM period', value: `${ONE_STATE_VM_PERIOD_US / 1e6} s`, source: `${MONITORING} (monitord.conf PROBES_PERIOD STATE_VM = 5)` },
      { name: 'client poll interval of one.vm.info', value: `${ONE_CLIENT_POLL_US / 1e6} s`, source: 'assumed: typical client poll; the fault-free sequence sees RUNNING at its first poll' },
      { name: 'scheduler intended-host rate', value: `${ONE_MEASURED_PLACEMENT.intended}/${ONE_MEASURED_PLACEMENT.deployments} with ${ONE_MEASURED_PLACEMENT.hosts} equal hosts`, source: ONE_MEASURED_PLACEMENT_SOURCE },
      { name: 'replica cache', value: opts.flags.replicaCache ? 'on: one copy per site to REPLICA_HOST, then LAN' : 'off: ssh copy from the front-end for every deployment', source: REPLICA },
      { name: 'pinned deploy', value: 'one.vm.deploy(vm, host, enforce)', source: XMLRPC },
    );
  } else {
    list.push(
      { name: 'default chunk size', value: `${OPENNEBULA_DEFAULT_CHUNK_BYTES} bytes`, source: 'assumed: placeholder; the simulator uses the manifest chunk sizes' },
      { name: 'token check by the added KMS', value: `${KMS_TOKEN_CHECK.cacheTtlUs / 1e6} s cache, ${KMS_TOKEN_CHECK.cacheScope}`, source: KMS_TOKEN_CHECK.source },
    );
  }
  list.push({ name: 'request/response sizes', value: 'XML-RPC envelopes ~0.3-0.5 KB; info documents 3-24 KB', source: 'assumed: the real transport records actual bytes' });
  return list;
}

function describe(t: ServiceTime): string {
  return t.kind === 'fixed' ? `${t.us / 1000} ms` : `median ${t.medianUs / 1000} ms, p95 ${t.p95Us / 1000} ms`;
}

/** The OpenNebula plane model in agent or native mode. */
export function opennebulaModel(mode: 'agent' | 'native', opts: PlaneOptions): PlaneModel {
  checkOptions(mode, opts);
  const model: PlaneModel = {
    plane: 'opennebula',
    mode,
    stations: stations(mode),
    assumptions: assumptions(mode, opts),
    agentOps: (control) => {
      if (mode !== 'agent') throw new InputError(`opennebula native mode has no agent operations (asked for ${control})`);
      return AGENT_OPS[control];
    },
    dataPath: dataPath(mode),
    sitesShareCopy: mode === 'native' && opts.flags.replicaCache,
    placement: placement(mode, opts),
    profile: opennebulaProfile(mode, opts),
    deploySequence: ({ chunks }) => {
      if (mode === 'agent') return agentDeploySequence(AGENT_OPS, OPS.chunk, chunks);
      validChunkCount(chunks);
      return nativeSteps(opts, true).flatMap(stepOps);
    },
  };
  if (mode === 'agent') model.tokenValidation = KMS_TOKEN_CHECK;
  else model.nativeSteps = ({ firstOnSite }) => nativeSteps(opts, firstOnSite);
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
