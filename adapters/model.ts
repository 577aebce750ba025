// The contract between a control plane's simulation model (control-*/model) and the simulator
// (edge-sim/). A model describes, in data, what one deployment costs on that plane: which API
// operations, on which services (queueing stations), moving how many bytes, and how placement
// behaves. The simulator executes it in virtual time; a test holds a model's operation sequence
// equal to the real client's recorded calls.
import type { ControlOp } from '../agent/machine/index.js';
import { InputError } from '../common/index.js';

/** a plane's name, as its descriptor gives it (planes/index.ts lists them) */
export type PlaneName = string;
export type PlaneMode = 'agent' | 'native';

/** A service time distribution in microseconds, lognormal by median and p95 (or fixed). */
export type ServiceTime = { kind: 'fixed'; us: number } | { kind: 'lognormal'; medianUs: number; p95Us: number };

/** A queueing station: a service with `workers` parallel servers and FIFO queueing. */
export interface Station {
  name: string;
  workers: number;
  /** default service time; an operation may override it */
  serviceTime: ServiceTime;
  /** requests that may wait for a worker (listen backlog); more are refused at once (absent: no limit) */
  queueLimit?: number;
  /** worker processes the workers run in, each with its own in-process caches (absent: one per worker) */
  processes?: number;
  /** where the figures come from: a documentation URL or a measurement */
  source: string;
}

/** One API call as the wire would see it (also the shape recorded by the real transport). */
export interface ApiOp {
  /** stable operation name shared by model and real client, e.g. `keystone.token.issue` */
  op: string;
  station: string;
  method: string;
  /** path template, e.g. `/v2/images/{image_id}` */
  path: string;
  bytesOut: number;
  bytesIn: number;
  serviceTime?: ServiceTime;
}

/** Data path of the image bytes for one deployment. */
export interface DataPath {
  /** bytes of the image actually moved: `sealed` (chunked ciphertext) or the raw image */
  payload: 'sealed' | 'raw';
  /** the API op used per chunk (agent mode: ranged GETs) or per copy (native: ssh/scp) */
  op: ApiOp;
  /** agent pulls ranges itself (false: the centre pushes/copies to the host) */
  pull: boolean;
  /** copy granularity: per chunk range, or the whole image in one stream */
  unit: 'chunk' | 'image';
  /**
   * agent mode: one GET of the whole blob, which the agent makes instead of ranges when enough of
   * the blob is missing (its `fetch.wholeStreamAt`); absent: the plane serves ranges only
   */
  wholeOp?: ApiOp;
  /** sustained throughput of the serving side per stream, when known (else only the network limits) */
  originThroughput?: { bytesPerSecond: number; source: string };
}

export type PlacementSpec =
  /** the node is named by the operator and the plane cannot place it elsewhere */
  | { kind: 'exact'; how: string }
  /** a scheduler/allocator chooses among `candidates` equal-rank hosts; the intended one wins
   *  with probability 1/candidates unless the request pins the host */
  | { kind: 'scheduler'; how: string; pinnedWhen: string; unpinnedHitProbability: (candidates: number) => number };

/** A fixed step of a native (centre-driven) deployment, executed in order by the simulator. */
export type NativeStep =
  | { kind: 'api'; op: ApiOp }
  /** poll an async job / VM state until done: `polls` calls of `op`, `intervalUs` apart */
  | { kind: 'poll'; op: ApiOp; intervalUs: number; polls: number }
  /** wait for a periodic centre cycle (scheduler, monitoring) of this period; at most
   *  `perCycleLimit` deployments pass per cycle (0: no limit) */
  | { kind: 'cycle'; name: string; periodUs: number; perCycleLimit: number }
  /**
   * image copy onto the host, from the origin or (cached) from the site's replica. `worker`:
   * `copy` when the op's station worker is held for the set-up and while the bytes move (a
   * centre driver thread that blocks on scp, an HTTP server connection); `none` when the centre
   * only dispatches the copy to the host (its set-up and bytes run there; the station must be up)
   */
  | { kind: 'transfer'; from: 'origin' | 'siteReplica'; op: ApiOp; worker: 'copy' | 'none' }
  | { kind: 'boot' };

export interface ComplexityProfile {
  plane: PlaneName;
  services: { name: string; processes: number; memoryMiB: number; ports: number[]; configLines: number; source: string }[];
  /** must the centre open connections to the edge node (push) or does the node pull? */
  coupling: 'push' | 'pull';
  /** what the plane lacks natively for this use and edgeplane had to add */
  lacks: string[];
  notes: string[];
}

/**
 * Services that check a caller's token with the identity service (OpenStack's keystonemiddleware).
 * On a cache miss the validating station makes `op` (a job at `op.station`) before serving.
 */
export interface TokenValidation {
  op: ApiOp;
  /** stations whose requests carry a token they must validate */
  validatingStations: string[];
  /** how long a validated token stays cached */
  cacheTtlUs: number;
  /** `per-worker-process`: each worker of a validating station has its own cache (a miss per worker) */
  cacheScope: 'per-worker-process' | 'shared';
  source: string;
}

/** A default figure of a model, with where it comes from (URL, `measured here: ...` or `assumed: ...`). */
export interface ModelAssumption {
  name: string;
  value: string;
  source: string;
}

/** Service times measured on a live stack (`edgeplane calibrate`), per operation name. */
export interface Calibration {
  plane: PlaneName;
  /** where and how it was measured, e.g. a results file and stack description */
  source: string;
  ops: Record<string, { medianUs: number; p95Us: number; samples: number }>;
}

export interface PlaneOptions {
  /** `pinned`: the request names the host; `scheduler`: the plane's scheduler/allocator chooses */
  placement: 'pinned' | 'scheduler';
  /** the plane's own options (its descriptor's `options`), every one set */
  flags: Readonly<Record<string, boolean>>;
  calibration?: Calibration;
}

export interface PlaneModel {
  plane: PlaneName;
  mode: PlaneMode;
  stations: Station[];
  /** token checks the services make with the identity service (absent: none modelled) */
  tokenValidation?: TokenValidation;
  /** every default figure the model uses, with its source (reports list them) */
  assumptions?: ModelAssumption[];
  /** agent mode: the API calls a single agent control request turns into on this plane */
  agentOps(op: ControlOp): ApiOp[];
  /** native mode: the centre-driven steps of one deployment (undefined in agent mode) */
  nativeSteps?(opts: { siteCache: boolean; firstOnSite: boolean }): NativeStep[];
  /** native mode: how long the centre's (or host's) copy connection waits through a cut link before it fails (default: the simulator's connect timeout, 3 s) */
  nativeConnectTimeoutUs?: number;
  dataPath: DataPath;
  /** the origin sends each site one copy, which its nodes then share (a site replica) */
  sitesShareCopy?: boolean;
  placement: PlacementSpec;
  profile: ComplexityProfile;
  /** `op` names of one complete, fault-free deployment, in order (compared with the real client) */
  deploySequence(opts: { chunks: number }): string[];
}

/**
 * The op names of one fault-free agent-mode deployment on any plane: login, assignment, manifest,
 * key, one `chunkOp` per chunk, report — in the order the agent machine issues them.
 */
export function agentDeploySequence(agentOps: Record<ControlOp, readonly ApiOp[]>, chunkOp: ApiOp, chunks: number): string[] {
  const n = validChunkCount(chunks);
  const names = (c: ControlOp): string[] => agentOps[c].map((o) => o.op);
  return [...names('login'), ...names('getAssignment'), ...names('getManifest'), ...names('getKey'), ...Array.from({ length: n }, () => chunkOp.op), ...names('report')];
}

export function validChunkCount(chunks: number): number {
  if (!Number.isInteger(chunks) || chunks < 0) throw new InputError(`chunks must be a non-negative integer, got ${chunks}`);
  return chunks;
}
