// The working copy one `step` builds: a shallow copy of the input state that handlers edit in
// place, plus the actions emitted so far. Nested objects of the input (persisted, deploy,
// chunkFailures, ...) are shared and must be replaced, never edited, so `step` stays pure.

import { backoffDelayUs, nextRandom } from './backoff.js';
import { PHASES, type Action, type AgentOp, type AgentState, type AgentStatus, type Assignment, type ChunkRef, type FailureReason, type PersistedState, type Phase, type RecheckOp } from './types.js';

export interface Draft {
  s: AgentState;
  out: Action[];
}

export const UNKNOWN_IMAGE: Assignment = Object.freeze({ imageId: '', version: '' });

export function sameImage(a: Assignment | null, b: Assignment | null): boolean {
  return a !== null && b !== null && a.imageId === b.imageId && a.version === b.version;
}

/** A fresh request id, not (yet) the awaited one. */
export function allocateId(d: Draft): number {
  const id = d.s.nextRequestId;
  d.s.nextRequestId = id + 1;
  return id;
}

function newId(d: Draft): number {
  const id = allocateId(d);
  d.s.awaiting = id;
  return id;
}

export function setPersisted(d: Draft, persisted: PersistedState): void {
  d.s.persisted = persisted;
  d.out.push({ type: 'persist', state: persisted });
}

// Marks belong to a deployment attempt only: routine polls while a VM runs are not timed.
export function markStart(d: Draft, phase: Phase): void {
  const deploy = d.s.deploy;
  if (deploy === null || deploy.openPhases.includes(phase)) return;
  d.s.deploy = { target: deploy.target, openPhases: [...deploy.openPhases, phase] };
  d.out.push({ type: 'mark', phase, edge: 'start' });
}

export function markEnd(d: Draft, phase: Phase): void {
  const deploy = d.s.deploy;
  if (deploy === null || !deploy.openPhases.includes(phase)) return;
  d.s.deploy = { target: deploy.target, openPhases: deploy.openPhases.filter((p) => p !== phase) };
  d.out.push({ type: 'mark', phase, edge: 'end' });
}

/** Ends the deployment attempt: every open phase gets its end, then `done`. */
export function finishDeploy(d: Draft, outcome: 'running' | 'failed', reason?: FailureReason): Assignment {
  const deploy = d.s.deploy!;
  for (const phase of PHASES) if (deploy.openPhases.includes(phase)) d.out.push({ type: 'mark', phase, edge: 'end' });
  const image = deploy.target ?? UNKNOWN_IMAGE;
  d.out.push(reason === undefined ? { type: 'done', image, outcome } : { type: 'done', image, outcome, reason });
  d.s.deploy = null;
  return image;
}

export function setTimer(d: Draft, purpose: 'backoff' | 'poll', afterUs: number): void {
  d.s.timer = purpose;
  d.out.push({ type: 'setTimer', id: newId(d), afterUs, purpose });
}

/** Nothing to do until the next poll. */
export function idle(d: Draft): void {
  d.s.op = null;
  d.s.attempt = 0;
  setTimer(d, 'poll', d.s.config.pollIntervalUs);
}

/** Schedules the retry of `op` after a backoff; false when the attempts are exhausted. */
export function backoff(d: Draft): boolean {
  const s = d.s;
  s.attempt += 1;
  if (s.config.maxAttempts > 0 && s.attempt >= s.config.maxAttempts) return false;
  const draw = nextRandom(s.rngState);
  s.rngState = draw.rngState;
  const delayUs = backoffDelayUs(s.config.backoffBaseUs, s.config.backoffCapUs, s.attempt, draw.value);
  s.backoffSinceReadUs += delayUs;
  setTimer(d, 'backoff', delayUs);
  return true;
}

/** Emits the request for `op`; `retry` keeps the attempt counter (it is the same operation again). */
/** Operations issued by `request` (chunk fetches and reports carry more and have their own). */
export type PlainOp = Exclude<AgentOp, 'fetchChunks' | 'report'>;

export function request(d: Draft, op: PlainOp, retry: boolean): void {
  const s = d.s;
  if (!retry) s.attempt = 0;
  s.op = op;
  s.timer = null;
  const p = s.persisted;
  switch (op) {
    case 'login':
      if (s.reloginFor === null) markStart(d, 'auth');
      d.out.push({ type: 'control', id: newId(d), op });
      return;
    case 'getAssignment':
      markStart(d, 'assignment');
      d.out.push({ type: 'control', id: newId(d), op });
      return;
    case 'getManifest':
      markStart(d, 'manifest');
      d.out.push({ type: 'control', id: newId(d), op, assignment: p.assignment! });
      return;
    case 'getKey':
      markStart(d, 'key');
      d.out.push({ type: 'control', id: newId(d), op, manifest: p.manifest! });
      return;
    case 'stage':
      markStart(d, 'verify');
      markStart(d, 'decrypt');
      d.out.push({ type: 'stage', id: newId(d), manifest: p.manifest! });
      return;
    case 'stopVm':
      markStart(d, 'boot');
      d.out.push({ type: 'stopVm', id: newId(d) });
      return;
    case 'startVm':
      markStart(d, 'boot');
      d.out.push({ type: 'startVm', id: newId(d), image: s.deploy!.target! });
      return;
  }
}

export function requestChunks(d: Draft, missing: ChunkRef[], retry: boolean): void {
  const s = d.s;
  if (!retry) s.attempt = 0;
  s.op = 'fetchChunks';
  s.timer = null;
  s.fetchTally = NO_TALLY;
  const m = s.persisted.manifest!;
  d.out.push({ type: 'fetchChunks', id: newId(d), imageId: m.imageId, version: m.version, chunks: missing });
}

const NO_TALLY = Object.freeze({ corrupt: 0, unavailable: 0 });

/** Re-reads the assignment before `stalled` is retried (no phase mark: the stalled phase stays open). */
export function requestRecheck(d: Draft, stalled: RecheckOp): void {
  const s = d.s;
  s.recheck = stalled;
  s.op = 'getAssignment';
  s.timer = null;
  d.out.push({ type: 'control', id: newId(d), op: 'getAssignment' });
}

export function requestReport(d: Draft, status: AgentStatus, image: Assignment | null, failure?: FailureReason): void {
  const s = d.s;
  s.reportingRunning = status === 'RUNNING';
  s.op = 'report';
  s.timer = null;
  s.attempt = 0;
  const action: Action = { type: 'control', id: newId(d), op: 'report', status };
  if (image !== null && image !== UNKNOWN_IMAGE) action.assignment = image;
  if (failure !== undefined) action.failure = failure;
  d.out.push(action);
}
