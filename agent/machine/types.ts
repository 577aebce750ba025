// The edge agent's sans-I/O contract: `step(state, event) -> { state, actions }`.
// The pure machine never reads a clock, a socket or a disk. A runtime (the simulator in
// virtual time, or the real agent with real I/O) executes the actions and feeds results back
// as events. Everything here is plain data so it can be persisted, logged and compared.

/** Deploy phases, in the order a node goes through them (names are part of the results format). */
export const PHASES = ['auth', 'assignment', 'manifest', 'key', 'transfer', 'verify', 'decrypt', 'boot'] as const;
export type Phase = (typeof PHASES)[number];

/** One chunk of a sealed image as listed in its manifest. */
export interface ChunkRef {
  index: number;
  /** hex SHA-256 of the ciphertext: the chunk's address */
  digest: string;
  /** ciphertext size in bytes */
  size: number;
}

/** What the control plane says this node must run. */
export interface Assignment {
  imageId: string;
  version: string;
}

/** The part of a manifest the machine needs (the pipeline owns the full, signed format). */
export interface ManifestInfo {
  imageId: string;
  version: string;
  /** plaintext image size in bytes */
  size: number;
  chunks: ChunkRef[];
  /** where the data key lives in the KMS (opaque to the machine) */
  keyRef: string;
}

/** Control-plane requests the agent makes; a plane adapter maps each to its own API calls. */
export type ControlOp = 'login' | 'getAssignment' | 'getManifest' | 'getKey' | 'report';

export type ControlErrorKind =
  | 'unavailable' // connection refused/reset, timeout, 5xx: retry with backoff
  | 'unauthorized' // 401 after a re-login: credentials revoked
  | 'forbidden' // 403
  | 'notFound' // 404
  | 'invalid'; // malformed response, bad signature on the manifest: not retryable

export interface ControlError {
  kind: ControlErrorKind;
  message: string;
}

export type ControlResult =
  | { op: 'login'; ok: true }
  | { op: 'getAssignment'; ok: true; assignment: Assignment | null }
  | { op: 'getManifest'; ok: true; manifest: ManifestInfo }
  | { op: 'getKey'; ok: true }
  | { op: 'report'; ok: true }
  | { op: ControlOp; ok: false; error: ControlError };

/** Why an image could not be run (reported to the plane, recorded in results). */
export type FailureReason = 'forbidden' | 'notFound' | 'invalid' | 'tampered' | 'bootFailed' | 'retriesExhausted' | 'unauthorized';

export type AgentStatus = 'INIT' | 'AUTHENTICATING' | 'POLLING' | 'FETCHING_MANIFEST' | 'FETCHING_KEY' | 'FETCHING_CHUNKS' | 'STAGING' | 'BOOTING' | 'RUNNING' | 'FAILED';

/** What survives a crash or reboot (written by the `persist` action, atomically). */
export interface PersistedState {
  /** the assignment the node last accepted */
  assignment: Assignment | null;
  /** manifest of that assignment, once fetched and its signature checked */
  manifest: ManifestInfo | null;
  /** indices of chunks stored and verified on local disk for `manifest` */
  verifiedChunks: number[];
  /** image (id@version) fully verified, decrypted and staged locally, bootable offline */
  staged: Assignment | null;
  /**
   * digests of the chunks the content-addressed chunk store holds verified, for the current and
   * the last staged manifest: a new version's chunks with these digests are not fetched (delta).
   * A runtime must not garbage-collect chunks listed here. Absent means none.
   */
  heldDigests?: string[];
  /**
   * how many times the agent has started; request ids are drawn from a range per start so that
   * a result of a request made before a crash can never be mistaken for a current one. Absent: 0.
   */
  boots?: number;
  /**
   * true from staging an image until it first starts: a restart then completes that deployment
   * (timed, ending with `done`) rather than silently restoring a VM that already ran. Absent: false.
   */
  pendingBoot?: boolean;
}

export interface AgentConfig {
  /** retry backoff: base and cap in microseconds; jitter is drawn from `rngState` */
  backoffBaseUs: number;
  backoffCapUs: number;
  /** attempts per operation before the deployment is reported failed (0 = retry forever) */
  maxAttempts: number;
  /** how long to wait between assignment polls when nothing is assigned / while running */
  pollIntervalUs: number;
  /** how many times a chunk may fail verification before the image is declared tampered */
  maxChunkRetries: number;
  /**
   * consecutive logins refused (401) after which the agent gives up (`gaveUp`): it stops talking to
   * the plane and the runtime exits. 0 or absent: never (keep polling, as the simulator does).
   */
  maxAuthFailures?: number;
}

export interface AgentState {
  status: AgentStatus;
  config: AgentConfig;
  persisted: PersistedState;
  /** the VM the hypervisor runs right now (id@version), null when none */
  running: Assignment | null;
  /** attempt counter of the operation in progress (for backoff) */
  attempt: number;
  /** backoff waited since the assignment was last read: a stalled deployment re-reads it once this reaches the poll interval */
  backoffSinceReadUs: number;
  /** per-chunk verification failures for the current manifest */
  chunkFailures: Record<number, number>;
  /** correlates actions and their result events; the runtime echoes it */
  nextRequestId: number;
  /** id of the request/timer the machine is waiting for (stale results are ignored) */
  awaiting: number | null;
  /** seeded PRNG state for backoff jitter (a 32-bit integer; the machine advances it) */
  rngState: number;
  lastFailure: FailureReason | null;
  /** the operation in progress: its result is awaited, or it is retried when the backoff timer fires */
  op: AgentOp | null;
  /** what `awaiting` is when it is a timer rather than the result of `op` */
  timer: 'backoff' | 'poll' | null;
  /** a login succeeded and no 401 came since */
  authenticated: boolean;
  /** the op to redo after the one re-login a 401 earns; a second 401 for it is final */
  reloginFor: ControlOp | null;
  /** the deployment attempt in progress (it ends with a `done` action), null when none */
  deploy: Deployment | null;
  /**
   * a VM was started (deployed, or restored offline after a start) and the control plane has not
   * yet acknowledged a RUNNING report for it: it is sent after the next successful poll (or at
   * once when the VM comes up while the node idles online), and again after each poll until a
   * RUNNING report succeeds
   */
  reportRunning: boolean;
  /** the report in flight is that RUNNING report (its success clears `reportRunning`) */
  reportingRunning: boolean;
  /**
   * a retry of this stalled operation (after an `unavailable` backoff) waits for the assignment to
   * be re-read first: the old image may have become unreadable because the plane assigned another
   * one. Set while that `getAssignment` (or the re-login a 401 on it earns) is in flight.
   */
  recheck: RecheckOp | null;
  /**
   * the offline boot of the staged image after a start, awaited beside the control-plane work;
   * `thenBoot` when a deployment waits for it to end before its own stop/start
   */
  restore: { id: number; image: Assignment; thenBoot: boolean } | null;
  /** outcomes counted over the `chunks` events of the fetch request in progress */
  fetchTally: { corrupt: number; unavailable: number };
  /** logins refused (401) in a row since the last successful one */
  authFailures: number;
  /** set once the machine has given up (see `AgentConfig.maxAuthFailures`): it issues nothing more */
  gaveUp: FailureReason | null;
}

/** Deployment operations whose retry first re-reads the assignment. */
export type RecheckOp = 'getManifest' | 'getKey' | 'fetchChunks';

/** Operations whose result the machine awaits. */
export type AgentOp = ControlOp | 'fetchChunks' | 'stage' | 'stopVm' | 'startVm';

export interface Deployment {
  /** the image being deployed; null until the first assignment is known */
  target: Assignment | null;
  /** phases marked `start` and not yet `end` in this attempt (closed before `done`) */
  openPhases: Phase[];
}

export type Action =
  | { type: 'control'; id: number; op: ControlOp; assignment?: Assignment; manifest?: ManifestInfo; status?: AgentStatus; failure?: FailureReason }
  /** fetch (and verify against `digest`) these chunks; the runtime bounds requests in flight */
  | { type: 'fetchChunks'; id: number; imageId: string; version: string; chunks: ChunkRef[] }
  /** verify the whole image, decrypt it and stage it where the hypervisor can boot it */
  | { type: 'stage'; id: number; manifest: ManifestInfo }
  /** start the one VM from the staged image (stopping any other first) */
  | { type: 'startVm'; id: number; image: Assignment }
  | { type: 'stopVm'; id: number }
  | { type: 'setTimer'; id: number; afterUs: number; purpose: 'backoff' | 'poll' }
  | { type: 'persist'; state: PersistedState }
  /** phase boundaries, for the runtime to timestamp (the machine has no clock) */
  | { type: 'mark'; phase: Phase; edge: 'start' | 'end' }
  /**
   * the deployment of `image` ended: RUNNING, or failed with a reason. `image` is
   * `{ imageId: '', version: '' }` when the attempt failed before any assignment was known.
   */
  | { type: 'done'; image: Assignment; outcome: 'running' | 'failed'; reason?: FailureReason };

export type Event =
  /** the agent process starts (first boot, after a crash, after a reboot) */
  | { type: 'start' }
  | { type: 'controlResult'; id: number; result: ControlResult }
  /** some chunks were stored and verified, some failed; `final` when the fetch request is over */
  | { type: 'chunks'; id: number; stored: number[]; corrupt: number[]; unavailable: number[]; final: boolean }
  | { type: 'staged'; id: number; ok: true }
  | { type: 'staged'; id: number; ok: false; reason: 'tampered' | 'io' }
  | { type: 'vmStarted'; id: number; ok: boolean }
  | { type: 'vmStopped'; id: number }
  | { type: 'timer'; id: number };

export interface StepResult {
  state: AgentState;
  actions: Action[];
}
