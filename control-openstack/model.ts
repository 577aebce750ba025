// Simulation model of the minimal OpenStack plane (Keystone + Glance + Barbican, no Nova), agent
// mode only: every edge node is a Keystone project with one user; its image (and the signed
// manifest, stored as a second small image) is shared to that project in Glance, its data key is
// ACL'd to that user in Barbican, and the pin `image@version` is a Keystone project tag.
import type { ControlOp } from '../agent/machine/index.js';
import type { ApiOp, DataPath, ModelAssumption, PlaneModel, PlaneOptions, ServiceTime, Station, TokenValidation } from '../adapters/index.js';
import { agentDeploySequence } from '../adapters/index.js';
import { NotSupportedError } from '../common/index.js';
import { openstackProfile } from './profile.js';

const ENV_MD = 'ENVIRONMENT.md (Debian 12, Keystone 22, Glance 25, Barbican 15, 2 cores)';
const DEBIAN_UWSGI = 'measured here: Debian 12 package defaults';
/** uwsgi's default socket listen queue (`listen`, 100): requests beyond it are refused */
const UWSGI_LISTEN = 100;
const UWSGI_DOCS = 'https://uwsgi-docs.readthedocs.io/en/latest/Options.html#listen (default 100)';
const KEYSTONEMIDDLEWARE = 'https://docs.openstack.org/keystonemiddleware/latest/middlewarearchitecture.html';
const CALIBRATE = 'replace with `edgeplane calibrate` on the live stack';

/** Default size of one chunk (the simulator substitutes the manifest's real chunk sizes). */
export const OPENSTACK_DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

function lognormalMs(medianMs: number, p95Ms: number): ServiceTime {
  return { kind: 'lognormal', medianUs: Math.round(medianMs * 1000), p95Us: Math.round(p95Ms * 1000) };
}

interface OpDefault {
  time: ServiceTime;
  source: string;
}

/** Service time of each operation on an idle stack, with where the figure comes from. */
const OP_TIMES: Record<string, OpDefault> = {
  // Keystone's default password hashing is bcrypt with 12 rounds; the model assumes that
  // production default. Test stacks set password_hash_rounds = 4, which is much cheaper: calibrate.
  'keystone.token.issue': {
    time: lognormalMs(300, 450),
    source: `measured here: ~0.3 s per password login with bcrypt rounds 12, ${ENV_MD}; p95 assumed 1.5x median; test stacks use rounds 4 (much lower): ${CALIBRATE}`,
  },
  'keystone.token.validate': {
    time: lognormalMs(60, 120),
    source: `measured here: token validation ~0.06 s, ${ENV_MD}; p95 assumed 2x median`,
  },
  'keystone.project.show': {
    time: lognormalMs(40, 100),
    source: `assumed: one row read plus in-process token check, below the measured 0.06 s validation; ${CALIBRATE}`,
  },
  'keystone.credential.update': {
    time: lognormalMs(50, 120),
    source: `assumed: one credential row read and write (blob encrypted with the credential key) plus in-process token check; ${CALIBRATE}`,
  },
  'glance.image.show': {
    time: lognormalMs(40, 100),
    source: `assumed: one image record read (token check modelled separately); ${CALIBRATE}`,
  },
  'glance.image.download': {
    time: lognormalMs(50, 120),
    source: `assumed: record read plus a small file read from the file store; ${CALIBRATE}`,
  },
  'glance.image.download_range': {
    time: lognormalMs(30, 80),
    source: `assumed: per-request overhead of a ranged GET; the bytes move at originThroughput; ${CALIBRATE}`,
  },
  'glance.image.download_whole': {
    time: lognormalMs(30, 80),
    source: `assumed: per-request overhead of one GET of the whole blob, as a ranged GET's; the bytes move at originThroughput; ${CALIBRATE}`,
  },
  'barbican.secret.payload': {
    time: lognormalMs(50, 120),
    source: `assumed: secret and ACL read plus simple_crypto decrypt (token check modelled separately); ${CALIBRATE}`,
  },
};

function op(name: string, station: string, method: string, path: string, bytesOut: number, bytesIn: number): ApiOp {
  const known = OP_TIMES[name];
  if (!known) throw new Error(`openstack model: no service time for ${name}`);
  return { op: name, station, method, path, bytesOut, bytesIn, serviceTime: known.time };
}

// Request/response sizes are typical JSON bodies; the real transport records the actual bytes.
const OPS = {
  login: op('keystone.token.issue', 'keystone', 'POST', '/v3/auth/tokens', 300, 1500),
  assignment: op('keystone.project.show', 'keystone', 'GET', '/v3/projects/{project_id}', 0, 600),
  imageShow: op('glance.image.show', 'glance-api', 'GET', '/v2/images/{image_id}', 0, 1500),
  manifest: op('glance.image.download', 'glance-api', 'GET', '/v2/images/{manifest_image_id}/file', 0, 16 * 1024),
  key: op('barbican.secret.payload', 'barbican', 'GET', '/v1/secrets/{secret_id}/payload', 0, 32),
  // The node writes its status into the blob of a Keystone credential its user owns (Keystone's
  // default policy lets the owner update it; a node cannot tag its own project, which is what
  // protects the pin: see docs/placement-openstack.md).
  report: op('keystone.credential.update', 'keystone', 'PATCH', '/v3/credentials/{credential_id}', 200, 400),
  chunk: op('glance.image.download_range', 'glance-api', 'GET', '/v2/images/{image_id}/file', 0, OPENSTACK_DEFAULT_CHUNK_BYTES),
  whole: op('glance.image.download_whole', 'glance-api', 'GET', '/v2/images/{image_id}/file', 0, OPENSTACK_DEFAULT_CHUNK_BYTES),
  validate: op('keystone.token.validate', 'keystone', 'GET', '/v3/auth/tokens', 0, 1500),
};

const AGENT_OPS: Record<ControlOp, ApiOp[]> = {
  login: [OPS.login],
  getAssignment: [OPS.assignment],
  getManifest: [OPS.imageShow, OPS.manifest],
  getKey: [OPS.key],
  report: [OPS.report],
};

const STATIONS: Station[] = [
  {
    name: 'keystone',
    // bcrypt and token work are CPU-bound Python: one request at a time per uwsgi process.
    workers: 8,
    processes: 8,
    queueLimit: UWSGI_LISTEN,
    serviceTime: OP_TIMES['keystone.token.validate']!.time,
    source: `${DEBIAN_UWSGI}: /etc/keystone/keystone-uwsgi.ini processes = 8 (threads = 32, GIL-bound); default time: measured token validation`,
  },
  {
    name: 'glance-api',
    // image streaming is I/O-bound: every uwsgi thread can hold a download
    workers: 256,
    processes: 8,
    queueLimit: UWSGI_LISTEN,
    serviceTime: OP_TIMES['glance.image.show']!.time,
    source: `${DEBIAN_UWSGI}: /etc/glance/glance-api-uwsgi.ini processes = 8 x threads = 32 (I/O-bound streams)`,
  },
  {
    name: 'barbican',
    workers: 8,
    processes: 8,
    queueLimit: UWSGI_LISTEN,
    serviceTime: OP_TIMES['barbican.secret.payload']!.time,
    source: `${DEBIAN_UWSGI}: /etc/barbican/barbican-api-uwsgi.ini processes = 8 (threads = 32, GIL-bound)`,
  },
];

const TOKEN_VALIDATION: TokenValidation = {
  op: OPS.validate,
  // Keystone checks tokens for its own API in-process (inside the ops' service times).
  validatingStations: ['glance-api', 'barbican'],
  cacheTtlUs: 300 * 1_000_000,
  // Without memcached_servers, keystonemiddleware caches validated tokens in each worker process.
  cacheScope: 'per-worker-process',
  source: `${KEYSTONEMIDDLEWARE} (token_cache_time = 300 s; memcached_servers unset: in-process cache per worker)`,
};

const GLANCE_THROUGHPUT_BPS = 450_000_000;

const DATA_PATH: DataPath = {
  payload: 'sealed',
  op: OPS.chunk,
  pull: true,
  unit: 'chunk',
  wholeOp: OPS.whole,
  originThroughput: {
    bytesPerSecond: GLANCE_THROUGHPUT_BPS,
    source: `measured here: Glance file store download 450-800 MB/s on loopback (lower end taken), ${ENV_MD}`,
  },
};

function assumptions(): ModelAssumption[] {
  const list: ModelAssumption[] = [];
  for (const s of STATIONS) list.push({ name: `workers of ${s.name}`, value: String(s.workers), source: s.source });
  for (const s of STATIONS) if (s.queueLimit) list.push({ name: `listen backlog of ${s.name}`, value: `${s.queueLimit} requests, then refused`, source: UWSGI_DOCS });
  // where the token cache per process matters: the data service, which gets many requests per node
  for (const s of STATIONS) if (s.processes && s.name === DATA_PATH.op.station) list.push({ name: `worker processes of ${s.name}`, value: `${s.processes} (each with its own token cache)`, source: s.source });
  for (const [name, d] of Object.entries(OP_TIMES)) list.push({ name: `service time of ${name}`, value: describe(d.time), source: d.source });
  list.push(
    { name: 'password hashing', value: 'bcrypt, 12 rounds (Keystone default)', source: OP_TIMES['keystone.token.issue']!.source },
    { name: 'token cache', value: `${TOKEN_VALIDATION.cacheTtlUs / 1e6} s, ${TOKEN_VALIDATION.cacheScope}`, source: TOKEN_VALIDATION.source },
    { name: 'origin throughput per stream', value: `${GLANCE_THROUGHPUT_BPS / 1e6} MB/s`, source: DATA_PATH.originThroughput!.source },
    { name: 'default chunk size', value: `${OPENSTACK_DEFAULT_CHUNK_BYTES} bytes`, source: 'assumed: placeholder; the simulator uses the manifest chunk sizes' },
    { name: 'request/response sizes', value: 'typical JSON bodies (login 300/1500 B, show ~0.6-1.5 KB, manifest 16 KiB, key 32 B)', source: 'assumed: the real transport records actual bytes' },
  );
  return list;
}

function describe(t: ServiceTime): string {
  return t.kind === 'fixed' ? `${t.us / 1000} ms` : `median ${t.medianUs / 1000} ms, p95 ${t.p95Us / 1000} ms`;
}

function checkOptions(mode: string, opts: PlaneOptions): void {
  if (mode === 'native') {
    throw new NotSupportedError('openstack native mode (the minimal stack has no Nova to drive hosts; use agent mode)');
  }
  if (opts.placement === 'scheduler') {
    throw new NotSupportedError('openstack placement "scheduler" (no Nova scheduler in the minimal stack; nodes are pinned)');
  }
}

/** The OpenStack plane model (agent mode; native mode throws NotSupportedError). */
export function openstackModel(mode: 'agent' | 'native', opts: PlaneOptions): PlaneModel {
  checkOptions(mode, opts);
  return {
    plane: 'openstack',
    mode: 'agent',
    stations: STATIONS,
    tokenValidation: TOKEN_VALIDATION,
    assumptions: assumptions(),
    agentOps: (control) => AGENT_OPS[control],
    dataPath: DATA_PATH,
    placement: {
      kind: 'exact',
      how: "pin image@version kept as tags on the node's own Keystone project; image shared to that project (Glance member), key ACL'd to its user (Barbican)",
    },
    profile: openstackProfile(),
    deploySequence: ({ chunks }) => {
      return agentDeploySequence(AGENT_OPS, DATA_PATH.op, chunks);
    },
  };
}
