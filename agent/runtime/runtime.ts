// The real edge agent: one async event loop that feeds events to the pure machine (`step`) and
// executes the actions it answers with real I/O. Long actions (control calls, chunk fetches,
// staging, the hypervisor, timers) run concurrently and post their results back as events, in
// the order they complete; persist, mark and done are executed in line, in order, before the
// next event is looked at, so the state on disk is never behind what the machine acted on.
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { blobOffsets, type NodePlane } from '../../adapters/index.js';
import { toControlError } from '../../adapters/transport/index.js';
import { silentLogger, type Logger } from '../../common/index.js';
import { chunkKeysFor, sharedCryptoPool, toManifestInfo, verifyManifest, type CryptoPool, type PublicKeyInput } from '../../pipeline/index.js';
import type { Hypervisor } from '../hypervisor/index.js';
import { initialState, step, type Action, type AgentConfig, type AgentState, type AgentStatus, type Assignment, type ControlResult, type Event } from '../machine/index.js';
import { EventsLog } from './events-log.js';
import { fetchChunks, type FetchSummary } from './fetcher.js';
import { reconcile, stagedFileName, type ReconcileReport } from './reconcile.js';
import { DirectStage, plainOffsets, type PlainSource, type SourceOf } from './direct-stage.js';
import { refOf, StateStore, type AcceptedManifest } from './state-store.js';
import { VmController } from './vm.js';

type ChunkKeys = ReturnType<typeof chunkKeysFor>;
type ActionOf<T extends Action['type']> = Extract<Action, { type: T }>;

export interface AgentRuntimeOptions {
  stateDir: string;
  plane: NodePlane;
  hypervisor: Hypervisor;
  /** publisher keys whose manifests this node accepts */
  trusted: readonly PublicKeyInput[];
  machine: AgentConfig;
  /** seed of the machine's backoff jitter */
  seed: number;
  rangesInFlight?: number;
  /** see the agent config's `fetch.wholeStreamAt` (default 0.5) */
  wholeStreamAt?: number | 'never';
  batchMs?: number;
  /** a whole-blob stream (a store refusing ranges) that brings no byte for this long is dropped (default 60 s) */
  streamIdleMs?: number;
  /** worker threads that verify and decrypt chunks (default: the process's shared pool) */
  cryptoPool?: CryptoPool;
  bootTimeoutMs?: number;
  logger?: Logger;
}

/** Why the machine gave up (see AgentConfig.maxAuthFailures). */
export interface AgentHalt {
  reason: string;
  authFailures: number;
  message: string;
}

export interface AgentSnapshot {
  status: AgentStatus;
  running: Assignment | null;
  state: AgentState;
}

export class AgentRuntime {
  readonly stateDir: string;
  readonly states: StateStore;
  readonly events: EventsLog;
  private readonly stagedDir: string;
  private readonly vm: VmController;
  private readonly log: Logger;
  private machineState: AgentState | null = null;
  private readonly queue: Event[] = [];
  private wake: (() => void) | null = null;
  private stopped = false;
  private loopDone: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly manifests = new Map<string, AcceptedManifest>();
  /** derived chunk keys by image ref: in memory only, never written */
  private readonly keys = new Map<string, ChunkKeys>();
  private readonly listeners = new Set<(s: AgentSnapshot) => void>();
  /** partial staged images (written as chunks arrive, kept for resume and deltas), by image ref */
  private readonly direct = new Map<string, DirectStage>();
  private readonly pool: CryptoPool;
  private halt: { promise: Promise<AgentHalt>; resolve: (h: AgentHalt) => void };
  reconciled: ReconcileReport | null = null;

  constructor(private readonly opts: AgentRuntimeOptions) {
    let resolveHalt: (h: AgentHalt) => void = () => {};
    this.halt = { promise: new Promise<AgentHalt>((r) => (resolveHalt = r)), resolve: resolveHalt };
    this.stateDir = opts.stateDir;
    this.log = opts.logger ?? silentLogger;
    this.pool = opts.cryptoPool ?? sharedCryptoPool();
    this.states = new StateStore(opts.stateDir, opts.trusted);
    this.stagedDir = join(opts.stateDir, 'staged');
    this.events = new EventsLog(join(opts.stateDir, 'events.ndjson'), () => this.machineState?.persisted.boots ?? 0);
    this.vm = new VmController(opts.hypervisor, opts.stateDir, opts.bootTimeoutMs ?? 180_000, this.log);
    const previous = opts.plane.recorder.onRecord;
    opts.plane.recorder.onRecord = (r) => {
      previous?.(r);
      if (!this.stopped) this.events.append({ type: 'call', ...r });
    };
  }

  /** the plane client (its recorder holds every call made) */
  get plane(): NodePlane {
    return this.opts.plane;
  }

  get state(): AgentState {
    if (!this.machineState) throw new Error('the agent runtime has not started');
    return this.machineState;
  }

  /** Resolves when the machine gives up (it then asks for nothing more): the caller ends the process. */
  gaveUp(): Promise<AgentHalt> {
    return this.halt.promise;
  }

  /** Calls `fn` after every step that changed the status or the running VM. */
  subscribe(fn: (s: AgentSnapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves when `predicate` holds after a step (or already holds); rejects after `timeoutMs`. */
  until(predicate: (s: AgentSnapshot) => boolean, timeoutMs: number): Promise<AgentSnapshot> {
    const now = this.machineState && this.snapshot();
    if (now && predicate(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`agent did not reach the expected state within ${timeoutMs} ms (status ${this.machineState?.status})`));
      }, timeoutMs);
      const off = this.subscribe((s) => {
        if (!predicate(s)) return;
        clearTimeout(timer);
        off();
        resolve(s);
      });
    });
  }

  /** Prepares the state directory, reconciles it, and starts the event loop. */
  async start(): Promise<void> {
    await mkdir(this.stagedDir, { recursive: true });
    // the ciphertext chunk store of earlier versions: the partial staged image replaced it
    await rm(join(this.stateDir, 'chunks'), { recursive: true, force: true });
    await this.states.init();
    const loaded = await this.states.load((why) => this.log.error({ why }, 'state.json is damaged: starting afresh'));
    await this.vm.reapOrphan();
    let persisted = loaded;
    if (loaded !== null) {
      const r = await reconcile(loaded, this.stagedDir, { checkStaged: (staged, path) => this.checkStaged(staged, path) });
      persisted = r.state;
      this.reconciled = r.report;
      this.log.info({ ...r.report }, 'reconciled the state directory');
      await this.states.pruneManifests([loaded.assignment, loaded.staged].filter((a): a is Assignment => a !== null));
    }
    this.machineState = initialState(this.opts.machine, persisted, this.opts.seed);
    this.events.append({ type: 'start', pid: process.pid });
    this.queue.push({ type: 'start' });
    this.loopDone = this.loop();
  }

  /**
   * The staged image is what boots without the plane: it is hashed again against its signed
   * manifest before anything runs it. A file changed on disk is refused (reconcile deletes it and
   * the state forgets it and its chunks), so the machine stages it again (fetching what it lacks).
   * Returns the manifest's blob digests when the file matches.
   */
  private async checkStaged(staged: Assignment, path: string): Promise<string[] | null> {
    const accepted = await this.states.loadManifest(staged).catch(() => null);
    const expected = accepted?.manifest.plaintext;
    if (expected !== undefined && (await fileMatches(path, expected.size, expected.sha256))) return accepted!.manifest.chunks.map((c) => c.digest);
    this.log.error({ image: refOf(staged), path, manifest: accepted ? 'verified' : 'missing' }, 'staged image does not match its signed manifest: refused, staging again');
    return null;
  }

  /** Resolves when the loop ends after `stop()`; rejects if it died (e.g. state.json cannot be written). */
  wait(): Promise<void> {
    return this.loopDone ?? Promise.resolve();
  }

  /** Stops the loop, abandons work in flight (waiting up to `graceMs` for it), and stops the VM unless told not to. */
  async stop(opts: { stopVm?: boolean; graceMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.wake?.();
    await this.loopDone?.catch(() => undefined);
    await Promise.race([Promise.allSettled([...this.tasks]), new Promise((r) => setTimeout(r, opts.graceMs ?? 5_000).unref())]);
    // partial staged images stay on disk with their journals: the next start resumes from them
    for (const d of this.direct.values()) await d.close();
    this.direct.clear();
    if (opts.stopVm ?? true) await this.vm.stop().catch((err: Error) => this.log.error({ err: err.message }, 'cannot stop the VM'));
    this.events.append({ type: 'stop' });
  }

  private snapshot(): AgentSnapshot {
    const s = this.state;
    return { status: s.status, running: s.running, state: s };
  }

  private post(event: Event): void {
    if (this.stopped) return;
    this.queue.push(event);
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const event = this.queue.shift();
      if (event === undefined) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      const before = this.state;
      const { state, actions } = step(before, event);
      this.machineState = state;
      for (const action of actions) {
        if (this.stopped) return;
        await this.execute(action);
      }
      if (state.gaveUp && !before.gaveUp) {
        const h: AgentHalt = {
          reason: state.gaveUp,
          authFailures: state.authFailures ?? 0,
          message: `the plane refused this node's credentials ${state.authFailures ?? 0} times in a row (revoked, or wrong credentials in the agent configuration): giving up`,
        };
        this.events.append({ type: 'halt', ...h });
        this.log.error(h, 'agent gave up');
        this.halt.resolve(h);
      }
      if (state.status !== before.status || state.running !== before.running) {
        this.events.append({ type: 'status', status: state.status, running: state.running });
        this.log.info({ status: state.status, running: state.running }, 'agent status');
        const snap = this.snapshot();
        for (const fn of this.listeners) fn(snap);
      }
    }
  }

  private async execute(action: Action): Promise<void> {
    switch (action.type) {
      case 'persist':
        await this.states.save(action.state);
        return;
      case 'mark':
      case 'done':
        this.events.append(action);
        if (action.type === 'done') {
          // a failed deployment keeps its partial image: its chunks are held (heldDigests) until the next boot collects them
          this.log.info({ image: action.image, outcome: action.outcome, reason: action.reason }, 'deployment ended');
        }
        return;
      case 'setTimer': {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.post({ type: 'timer', id: action.id });
        }, action.afterUs / 1000);
        this.timers.add(timer);
        return;
      }
      case 'control':
        this.spawn(async () => this.post({ type: 'controlResult', id: action.id, result: await this.control(action) }));
        return;
      case 'fetchChunks':
        this.spawn(() => this.fetch(action));
        return;
      case 'stage':
        this.spawn(() => this.stage(action));
        return;
      case 'startVm':
        this.spawn(() => this.startVm(action));
        return;
      case 'stopVm':
        this.spawn(async () => {
          await this.vm.stop().catch((err: Error) => this.log.error({ err: err.message }, 'stopping the VM failed'));
          this.post({ type: 'vmStopped', id: action.id });
        });
        return;
    }
  }

  private spawn(work: () => Promise<void>): void {
    const task = work().catch((err: Error) => this.log.error({ err: err.message, stack: err.stack }, 'agent task failed unexpectedly'));
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
  }

  private async control(action: ActionOf<'control'>): Promise<ControlResult> {
    const plane = this.opts.plane;
    const op = action.op;
    try {
      switch (op) {
        case 'login':
          await plane.login();
          return { op, ok: true };
        case 'getAssignment':
          return { op, ok: true, assignment: await plane.getAssignment() };
        case 'getManifest': {
          const accepted = await this.fetchManifest(action.assignment!);
          return { op, ok: true, manifest: toManifestInfo(accepted.manifest) };
        }
        case 'getKey': {
          const accepted = await this.acceptedManifest(action.manifest!);
          const key = await plane.getKey(accepted.keyRef);
          // a key that is not this image's is refused here, before any chunk is fetched
          this.keys.set(refOf(accepted.manifest), chunkKeysFor(accepted.manifest, key));
          return { op, ok: true };
        }
        case 'report':
          await plane.report({ status: action.status ?? 'UNKNOWN', image: action.assignment ?? null, ...(action.failure ? { failure: action.failure } : {}) });
          return { op, ok: true };
      }
    } catch (err) {
      const error = toControlError(err);
      this.log.warn({ op, kind: error.kind, err: error.message }, 'control-plane call failed');
      return { op, ok: false, error };
    }
  }

  /** getManifest on the plane, verified against the trusted keys, kept in memory and on disk. */
  private async fetchManifest(a: Assignment): Promise<AcceptedManifest> {
    const got = await this.opts.plane.getManifest(a);
    const manifest = verifyManifest(got.bytes, this.opts.trusted);
    const accepted: AcceptedManifest = { manifest, envelope: got.bytes, keyRef: got.keyRef, blobRef: got.blobRef };
    // a manifest of another image is refused by the machine: keep it nowhere
    if (manifest.imageId === a.imageId && manifest.version === a.version) {
      await this.states.saveManifest(accepted);
      this.manifests.set(refOf(a), accepted);
    }
    return accepted;
  }

  /** The accepted manifest of `a`: from memory, from disk (re-verified), or from the plane again. */
  private async acceptedManifest(a: Assignment): Promise<AcceptedManifest> {
    const ref = refOf(a);
    const known = this.manifests.get(ref) ?? (await this.states.loadManifest(a));
    if (known) {
      this.manifests.set(ref, known);
      return known;
    }
    this.log.warn({ image: ref }, 'stored manifest missing or invalid: fetching it again');
    return this.fetchManifest(a);
  }

  private async fetch(action: ActionOf<'fetchChunks'>): Promise<void> {
    const all = action.chunks.map((c) => c.index);
    let accepted: AcceptedManifest;
    try {
      accepted = await this.acceptedManifest(action);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'no manifest to fetch chunks with');
      this.post({ type: 'chunks', id: action.id, stored: [], corrupt: [], unavailable: all, final: true });
      return;
    }
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    let stored = 0;
    const storedIndices: number[] = [];
    const reported = new Set<number>();
    let final = false;
    const ref = refOf(action);
    let direct: DirectStage;
    try {
      direct = await this.directStage(accepted);
    } catch (err) {
      this.log.warn({ image: ref, err: (err as Error).message }, 'cannot open the partial staged image');
      this.post({ type: 'chunks', id: action.id, stored: [], corrupt: [], unavailable: all, final: true });
      return;
    }
    let how: FetchSummary | null = null;
    try {
      how = await fetchChunks({
        direct,
        plane: this.opts.plane,
        blobRef: accepted.blobRef,
        offsets: blobOffsets(accepted.manifest.chunks),
        blobBytes: accepted.manifest.chunks.reduce((n, c) => n + c.size, 0),
        streamIdleMs: this.opts.streamIdleMs,
        chunks: action.chunks,
        rangesInFlight: this.opts.rangesInFlight ?? 4,
        wholeStreamAt: this.opts.wholeStreamAt,
        batchMs: this.opts.batchMs ?? 200,
        signal: this.abort.signal,
        log: this.log,
        onBatch: (b) => {
          stored += b.stored.length;
          storedIndices.push(...b.stored);
          for (const i of [...b.stored, ...b.corrupt, ...b.unavailable]) reported.add(i);
          final = b.final;
          this.post({ type: 'chunks', id: action.id, ...b });
        },
      });
    } catch (err) {
      // e.g. the store's directory fsync failed: the machine must still hear the fetch is over
      this.log.error({ err: (err as Error).message }, 'chunk fetch failed');
      if (!final) this.post({ type: 'chunks', id: action.id, stored: [], corrupt: [], unavailable: all.filter((i) => !reported.has(i)), final: true });
    }
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpu0);
    const storedSet = new Set(storedIndices);
    const bytes = action.chunks.filter((c) => storedSet.has(c.index)).reduce((n, c) => n + c.size, 0);
    this.log.info({ image: ref, requested: all.length, stored, ms: Math.round(ms) }, 'chunk fetch ended');
    this.events.append({
      type: 'fetch',
      image: ref,
      chunks: stored,
      bytes,
      ms: Number(ms.toFixed(1)),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      peakRssMiB: peakRssMiB(),
      direct: true,
      // streamed whole (most of the blob missing, or the store refused ranges): held chunks read past, not verified or stored again
      ...(how?.mode === 'whole' ? { mode: 'whole', why: how.why, streamedBytes: how.streamedBytes, skippedBytes: how.skippedBytes, stoppedEarly: how.stoppedEarly } : {}),
    });
  }

  private async stage(action: ActionOf<'stage'>): Promise<void> {
    const ref = refOf(action.manifest);
    let accepted: AcceptedManifest | null = null;
    try {
      accepted = await this.acceptedManifest(action.manifest);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'no manifest to stage with');
    }
    if (!this.keys.has(ref) || !accepted) {
      this.log.error({ image: ref }, 'cannot stage: data key or manifest not at hand');
      this.post({ type: 'staged', id: action.id, ok: false, reason: 'io' });
      return;
    }
    // what arrived is in the partial image already; unchanged chunks are copied from the staged image (or another partial one)
    let outcome: Awaited<ReturnType<DirectStage['finish']>>;
    try {
      const direct = await this.directStage(accepted);
      const sources = await this.sourcesBesides(ref);
      this.direct.delete(ref);
      outcome = await direct.finish(sources);
    } catch (err) {
      this.log.error({ image: ref, err: (err as Error).message }, 'staging failed (I/O)');
      outcome = { ok: false, reason: 'io', message: (err as Error).message };
    }
    this.post(outcome.ok ? { type: 'staged', id: action.id, ok: true } : { type: 'staged', id: action.id, ok: false, reason: outcome.reason });
  }

  /** The partial staged image of `accepted` (opened once per process, resuming from its journal). */
  private async directStage(accepted: AcceptedManifest): Promise<DirectStage> {
    const ref = refOf(accepted.manifest);
    const keys = this.keys.get(ref);
    if (!keys) throw new Error(`no data key at hand for ${ref}`);
    let direct = this.direct.get(ref);
    if (!direct) {
      direct = await DirectStage.open(accepted.manifest, join(this.stagedDir, stagedFileName(accepted.manifest)), this.pool, keys, this.log);
      this.direct.set(ref, direct);
    }
    return direct;
  }

  /** Where plaintext of a held chunk can be copied from, for the image `ref`: the staged image, or another partial one. */
  private async sourcesBesides(ref: string): Promise<SourceOf> {
    const found = new Map<string, PlainSource>();
    const staged = this.state.persisted.staged;
    if (staged && refOf(staged) !== ref) {
      const m = (await this.states.loadManifest(staged).catch(() => null))?.manifest;
      if (m) {
        const path = join(this.stagedDir, stagedFileName(staged));
        const offsets = plainOffsets(m);
        m.chunks.forEach((c, position) => {
          if (!found.has(c.digest)) found.set(c.digest, { path, offset: offsets[position], size: c.plainSize });
        });
      }
    }
    for (const [other, d] of this.direct) {
      if (other === ref) continue;
      for (const digest of d.held) if (!found.has(digest)) found.set(digest, d.sourceOf(digest)!);
    }
    return (digest) => found.get(digest);
  }

  private async startVm(action: ActionOf<'startVm'>): Promise<void> {
    const ok = await this.vm.start(action.image, join(this.stagedDir, stagedFileName(action.image)));
    // collected before the machine hears of the boot: until then it starts no fetch
    if (ok) await this.collectGarbage(action.image);
    this.post({ type: 'vmStarted', id: action.id, ok });
  }

  /**
   * Once a VM runs from `image`: older staged images, partial images of other deployments, and
   * their manifests are of no further use (the machine's held digests are the staged manifest's now).
   */
  private async collectGarbage(image: Assignment): Promise<void> {
    const keep = stagedFileName(image);
    const p = this.state.persisted;
    // staged files of abandoned deployments (another image was assigned meanwhile)
    const building = p.assignment && refOf(p.assignment) !== refOf(image) ? stagedFileName(p.assignment) : null;
    for (const [ref, d] of this.direct) {
      if (p.assignment && ref === refOf(p.assignment)) continue;
      this.direct.delete(ref);
      await d.discard();
    }
    try {
      for (const name of await readdir(this.stagedDir)) {
        const ofBuilding = building !== null && name.startsWith(`${building}.`);
        if ((name.endsWith('.img') && name !== keep) || ((name.endsWith('.img.part') || name.endsWith('.img.journal')) && !ofBuilding)) await unlink(join(this.stagedDir, name));
      }
      await this.states.pruneManifests(p.assignment ? [image, p.assignment] : [image]);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot collect old staged images and chunks');
    }
  }
}

/** True when the file at `path` has `size` bytes and this SHA-256 (false when it cannot be read). */
async function fileMatches(path: string, size: number, sha256: string): Promise<boolean> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const part of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      bytes += (part as Buffer).length;
      hash.update(part as Buffer);
    }
  } catch {
    return false;
  }
  return bytes === size && hash.digest('hex') === sha256;
}

/** The process's peak resident set (VmHWM) in MiB; 0 where /proc is not there. */
function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}
