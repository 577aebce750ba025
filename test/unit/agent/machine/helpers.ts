import { DEFAULT_AGENT_CONFIG, initialState, step, type Action, type AgentConfig, type AgentState, type Assignment, type ChunkRef, type Event, type ManifestInfo, type PersistedState } from '../../../../agent/index.js';

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

export const A: Assignment = { imageId: 'img-a', version: '1' };
export const A2: Assignment = { imageId: 'img-a', version: '2' };

/** A manifest whose chunk `i` has digest `${prefix[i]}` (digests decide what a delta reuses). */
export function manifest(image: Assignment, digests: string[]): ManifestInfo {
  const chunks: ChunkRef[] = digests.map((digest, index) => ({ index, digest, size: 1024 }));
  return { imageId: image.imageId, version: image.version, size: 1024 * digests.length, chunks, keyRef: `key/${image.imageId}` };
}

/** Short, readable names for actions: `control:login`, `fetch:0,2`, `mark:auth:start`, ... */
export function label(action: Action): string {
  switch (action.type) {
    case 'control':
      return action.op === 'report' ? `control:report:${action.status}${action.failure ? `:${action.failure}` : ''}` : `control:${action.op}`;
    case 'fetchChunks':
      return `fetch:${action.chunks.map((c) => c.index).join(',')}`;
    case 'stage':
      return `stage:${action.manifest.version}`;
    case 'startVm':
      return `startVm:${action.image.imageId}@${action.image.version}`;
    case 'stopVm':
      return 'stopVm';
    case 'setTimer':
      return `timer:${action.purpose}`;
    case 'persist':
      return 'persist';
    case 'mark':
      return `mark:${action.phase}:${action.edge}`;
    case 'done':
      return `done:${action.outcome}${action.reason ? `:${action.reason}` : ''}`;
  }
}

/** Drives the machine by hand; freezes every state and event it passes to `step`. */
/** A poll interval so short that a stalled deployment re-reads its assignment before every retry. */
export const RECHECK_EACH_RETRY: AgentConfig = { ...DEFAULT_AGENT_CONFIG, pollIntervalUs: 1 };

export class Driver {
  state: AgentState;
  log: Action[] = [];
  last: Action[] = [];

  constructor(config: AgentConfig = DEFAULT_AGENT_CONFIG, persisted: PersistedState | null = null, seed = 7) {
    this.state = initialState(config, persisted, seed);
  }

  send(event: Event): string[] {
    const result = step(deepFreeze(this.state), deepFreeze(event));
    this.state = result.state;
    this.last = result.actions;
    this.log.push(...result.actions);
    return result.actions.map(label);
  }

  /** The id of the action the machine awaits (a request or a timer). */
  get id(): number {
    const id = this.state.awaiting;
    if (id === null) throw new Error('nothing awaited');
    return id;
  }

  lastOf<T extends Action['type']>(type: T): Extract<Action, { type: T }> {
    for (let i = this.log.length - 1; i >= 0; i--) if (this.log[i].type === type) return this.log[i] as Extract<Action, { type: T }>;
    throw new Error(`no ${type} action`);
  }

  get persisted(): PersistedState {
    return this.lastOf('persist').state;
  }

  start(): string[] {
    return this.send({ type: 'start' });
  }
  login(): string[] {
    return this.send({ type: 'controlResult', id: this.id, result: { op: 'login', ok: true } });
  }
  assignment(assignment: Assignment | null): string[] {
    return this.send({ type: 'controlResult', id: this.id, result: { op: 'getAssignment', ok: true, assignment } });
  }
  manifest(m: ManifestInfo): string[] {
    return this.send({ type: 'controlResult', id: this.id, result: { op: 'getManifest', ok: true, manifest: m } });
  }
  key(): string[] {
    return this.send({ type: 'controlResult', id: this.id, result: { op: 'getKey', ok: true } });
  }
  report(): string[] {
    return this.send({ type: 'controlResult', id: this.id, result: { op: 'report', ok: true } });
  }
  error(op: 'login' | 'getAssignment' | 'getManifest' | 'getKey' | 'report', kind: 'unavailable' | 'unauthorized' | 'forbidden' | 'notFound' | 'invalid'): string[] {
    return this.send({ type: 'controlResult', id: this.id, result: { op, ok: false, error: { kind, message: kind } } });
  }
  chunks(stored: number[], opts: { corrupt?: number[]; unavailable?: number[]; final?: boolean } = {}): string[] {
    return this.send({ type: 'chunks', id: this.id, stored, corrupt: opts.corrupt ?? [], unavailable: opts.unavailable ?? [], final: opts.final ?? true });
  }
  staged(): string[] {
    return this.send({ type: 'staged', id: this.id, ok: true });
  }
  vmStarted(ok = true): string[] {
    return this.send({ type: 'vmStarted', id: this.id, ok });
  }
  vmStopped(): string[] {
    return this.send({ type: 'vmStopped', id: this.id });
  }
  timer(): string[] {
    return this.send({ type: 'timer', id: this.id });
  }

  /** From a fresh start to RUNNING `image` with manifest `m` (all chunks fetched). */
  deploy(image: Assignment, m: ManifestInfo): void {
    this.start();
    this.login();
    this.assignment(image);
    this.manifest(m);
    this.key();
    this.chunks(m.chunks.map((c) => c.index));
    this.staged();
    this.vmStarted();
    this.report();
  }
}
