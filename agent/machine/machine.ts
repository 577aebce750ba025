// The edge agent's pure state machine. `step` never mutates its input, reads no clock and does
// no I/O: it answers an event with the next state and the actions a runtime must execute.
//
// A deployment attempt goes login → getAssignment → getManifest → getKey → fetchChunks → stage
// → (stopVm) → startVm, then reports RUNNING and polls for a new assignment. A new image is
// staged in full before the old VM is stopped, and failures never stop a running VM. A retry of
// getManifest/getKey/fetchChunks after an `unavailable` backoff re-reads the assignment first:
// if the plane assigned another image, the attempt switches to it. A VM restored offline after a
// start is reported RUNNING once the plane answers.

import { missingChunks, withManifest, withoutManifestChunks, withStaged, withStored } from './chunks.js';
import { allocateId, backoff, finishDeploy, idle, markEnd, markStart, request, requestChunks, requestRecheck, requestReport, sameImage, setPersisted, type Draft, type PlainOp } from './draft.js';
import type { AgentConfig, AgentState, AgentStatus, Assignment, ControlErrorKind, ControlOp, ControlResult, Event, FailureReason, ManifestInfo, PersistedState, Phase, RecheckOp, StepResult } from './types.js';

export const DEFAULT_AGENT_CONFIG: AgentConfig = Object.freeze({
  backoffBaseUs: 500_000,
  backoffCapUs: 30_000_000,
  maxAttempts: 0,
  pollIntervalUs: 10_000_000,
  maxChunkRetries: 3,
});

export function emptyPersisted(): PersistedState {
  return { assignment: null, manifest: null, verifiedChunks: [], staged: null, heldDigests: [], boots: 0, pendingBoot: false };
}

// Each start draws request ids from its own range (ids stay below 2^53 for 2^21 starts).
const IDS_PER_BOOT = 2 ** 32;

export function initialState(config: AgentConfig, persisted: PersistedState | null, seed: number): AgentState {
  const p = persisted ?? emptyPersisted();
  return {
    status: 'INIT',
    config,
    persisted: p,
    running: null,
    attempt: 0,
    backoffSinceReadUs: 0,
    chunkFailures: {},
    nextRequestId: (p.boots ?? 0) * IDS_PER_BOOT + 1,
    awaiting: null,
    rngState: seed | 0,
    lastFailure: null,
    op: null,
    timer: null,
    authenticated: false,
    reloginFor: null,
    deploy: null,
    reportRunning: false,
    reportingRunning: false,
    recheck: null,
    restore: null,
    fetchTally: { corrupt: 0, unavailable: 0 },
    authFailures: 0,
    gaveUp: null,
  };
}

/**
 * The working copy of `s` a step edits. Field by field rather than a spread: every state then has
 * one shape, which keeps the machine's property reads monomorphic (a simulated fleet steps
 * millions of times).
 */
function cloneState(s: AgentState): AgentState {
  return {
    status: s.status,
    config: s.config,
    persisted: s.persisted,
    running: s.running,
    attempt: s.attempt,
    backoffSinceReadUs: s.backoffSinceReadUs,
    chunkFailures: s.chunkFailures,
    nextRequestId: s.nextRequestId,
    awaiting: s.awaiting,
    rngState: s.rngState,
    lastFailure: s.lastFailure,
    op: s.op,
    timer: s.timer,
    authenticated: s.authenticated,
    reloginFor: s.reloginFor,
    deploy: s.deploy,
    reportRunning: s.reportRunning,
    reportingRunning: s.reportingRunning,
    recheck: s.recheck,
    restore: s.restore,
    fetchTally: s.fetchTally,
    authFailures: s.authFailures,
    gaveUp: s.gaveUp,
  };
}

export function step(state: AgentState, event: Event): StepResult {
  if (event.type === 'start') return onStart(state);
  if (event.type === 'vmStarted' && state.restore !== null && event.id === state.restore.id) return onRestored(state, event.ok);
  if (state.awaiting === null || event.id !== state.awaiting || !expects(state, event)) return { state, actions: [] };
  const d: Draft = { s: cloneState(state), out: [] };
  switch (event.type) {
    case 'timer':
      onTimer(d);
      break;
    case 'controlResult':
      onControl(d, event.result);
      break;
    case 'chunks':
      onChunks(d, event);
      break;
    case 'staged':
      onStaged(d, event.ok ? null : event.reason);
      break;
    case 'vmStopped':
      d.s.running = null;
      request(d, 'startVm', false);
      break;
    case 'vmStarted':
      onVmStarted(d, event.ok);
      break;
  }
  d.s.status = statusOf(d.s);
  return { state: d.s, actions: d.out };
}

/** Whether `event`, carrying the awaited id, is the kind of answer the machine waits for. */
function expects(s: AgentState, event: Exclude<Event, { type: 'start' }>): boolean {
  if (event.type === 'timer') return s.timer !== null;
  if (s.timer !== null) return false;
  switch (event.type) {
    case 'controlResult':
      return event.result.op === s.op;
    case 'chunks':
      return s.op === 'fetchChunks';
    case 'staged':
      return s.op === 'stage';
    case 'vmStopped':
      return s.op === 'stopVm';
    case 'vmStarted':
      return s.op === 'startVm';
  }
}

function onStart(state: AgentState): StepResult {
  const boots = (state.persisted.boots ?? 0) + 1;
  const persisted: PersistedState = { ...state.persisted, boots };
  const d: Draft = { s: initialState(state.config, persisted, state.rngState), out: [] };
  d.out.push({ type: 'persist', state: persisted });
  if (persisted.staged !== null && persisted.pendingBoot === true) {
    // The crash came between staging and the first boot: finish that deployment first.
    d.s.deploy = { target: persisted.staged, openPhases: [] };
    request(d, 'startVm', false);
  } else if (persisted.staged !== null) {
    // Offline restart: run the verified local image whatever (and whenever) the control plane
    // answers. Restoring is not a deployment: no marks, no `done`.
    const id = allocateId(d);
    d.s.restore = { id, image: persisted.staged, thenBoot: false };
    d.out.push({ type: 'startVm', id, image: persisted.staged });
    request(d, 'login', false);
  } else {
    d.s.deploy = { target: persisted.assignment, openPhases: [] };
    request(d, 'login', false);
  }
  d.s.status = statusOf(d.s);
  return { state: d.s, actions: d.out };
}

function onRestored(state: AgentState, ok: boolean): StepResult {
  const d: Draft = { s: cloneState(state), out: [] };
  const { image, thenBoot } = state.restore!;
  d.s.restore = null;
  d.s.running = ok ? image : null;
  if (ok) d.s.reportRunning = true; // a restart: the plane has not heard of this VM yet
  if (thenBoot) boot(d);
  else if (ok && idleOnline(d.s)) reportRunning(d);
  d.s.status = statusOf(d.s);
  return { state: d.s, actions: d.out };
}

function onTimer(d: Draft): void {
  const s = d.s;
  if (s.timer === 'poll') {
    request(d, s.authenticated ? 'getAssignment' : 'login', false);
    return;
  }
  const op = s.op!;
  // A deployment operation stalled on `unavailable`: its image may be gone because the plane
  // assigned another one, so the assignment is re-read before it is retried, at most once per
  // poll interval of backoff (re-reading before every retry multiplies the load on a plane that
  // is refusing requests already).
  const stalled = op === 'fetchChunks' || op === 'getManifest' || op === 'getKey';
  if (stalled && s.deploy !== null && s.backoffSinceReadUs >= s.config.pollIntervalUs) requestRecheck(d, op);
  else if (op !== 'report') retry(d, op);
}

function retry(d: Draft, op: Exclude<ControlOp, 'report'> | 'fetchChunks' | 'stage' | 'stopVm' | 'startVm'): void {
  if (op === 'fetchChunks') retryChunks(d);
  else request(d, op, true);
}

const RECHECK_PHASE: Record<RecheckOp, Phase> = { getManifest: 'manifest', getKey: 'key', fetchChunks: 'transfer' };

/**
 * The assignment re-read before retrying a stalled operation. Unchanged: retry it. Changed: the
 * stalled image is abandoned and this deployment attempt goes on for the new assignment (it ends
 * with one `done`, for the image it ends with); none: the attempt waits for an assignment.
 */
function onRecheck(d: Draft, assignment: Assignment | null): void {
  const s = d.s;
  const stalled = s.recheck!;
  s.recheck = null;
  if (sameImage(assignment, s.deploy!.target)) {
    retry(d, stalled);
    return;
  }
  markEnd(d, RECHECK_PHASE[stalled]);
  s.chunkFailures = {};
  if (assignment === null) s.deploy = { target: null, openPhases: s.deploy!.openPhases };
  onAssignment(d, assignment);
}

function onControl(d: Draft, result: ControlResult): void {
  const s = d.s;
  if (!result.ok) {
    onControlError(d, result.op, result.error.kind);
    return;
  }
  if (result.op !== 'login') s.reloginFor = null;
  switch (result.op) {
    case 'login':
      s.authenticated = true;
      s.authFailures = 0;
      markEnd(d, 'auth');
      if (s.recheck !== null) requestRecheck(d, s.recheck);
      else request(d, (s.reloginFor as PlainOp | null) ?? 'getAssignment', false);
      return;
    case 'getAssignment':
      s.backoffSinceReadUs = 0;
      if (s.recheck !== null) onRecheck(d, result.assignment);
      else onAssignment(d, result.assignment);
      return;
    case 'getManifest':
      onManifest(d, result.manifest);
      return;
    case 'getKey':
      markEnd(d, 'key');
      startTransfer(d);
      return;
    case 'report':
      if (s.reportingRunning) s.reportRunning = false;
      s.reportingRunning = false;
      idle(d);
      return;
  }
}

function onControlError(d: Draft, op: ControlOp, kind: ControlErrorKind): void {
  const s = d.s;
  if (op === 'report') {
    s.reportingRunning = false; // best effort: a RUNNING report is sent again after the next poll
    idle(d);
    return;
  }
  if (op === 'getAssignment' && s.recheck !== null && kind !== 'unauthorized') {
    // the re-read is best effort (the data path may be up while the control plane is not)
    const stalled = s.recheck;
    s.recheck = null;
    retry(d, stalled);
    return;
  }
  switch (kind) {
    case 'unavailable':
      if (!backoff(d)) fail(d, 'retriesExhausted');
      return;
    case 'unauthorized':
      s.authenticated = false;
      if (op === 'login' || s.reloginFor !== null) {
        s.authFailures += 1;
        fail(d, 'unauthorized');
        const most = s.config.maxAuthFailures ?? 0;
        if (most > 0 && s.authFailures >= most) giveUp(d, 'unauthorized');
        return;
      }
      s.reloginFor = op;
      request(d, 'login', false);
      return;
    default:
      fail(d, kind);
  }
}

function onAssignment(d: Draft, assignment: Assignment | null): void {
  const s = d.s;
  if (assignment === null) {
    if (s.deploy === null && s.reportRunning && s.running !== null && s.lastFailure === null) reportRunning(d);
    else idle(d);
    return;
  }
  if (s.deploy === null && (sameImage(assignment, s.running) || sameImage(assignment, s.restore?.image ?? null))) {
    s.lastFailure = null;
    if (s.reportRunning) reportRunning(d);
    else idle(d);
    return;
  }
  s.deploy = { target: assignment, openPhases: s.deploy?.openPhases ?? [] };
  s.chunkFailures = {};
  markEnd(d, 'assignment');
  if (!sameImage(assignment, s.persisted.assignment)) {
    setPersisted(d, { ...s.persisted, assignment, manifest: null, verifiedChunks: [] });
  }
  if (sameImage(assignment, s.persisted.staged) && s.restore === null && sameImage(assignment, s.running))
    onVmStarted(d, true); // back to the VM that runs
  else if (sameImage(assignment, s.persisted.staged)) boot(d);
  else if (s.persisted.manifest !== null) request(d, 'getKey', false);
  else request(d, 'getManifest', false);
}

function onManifest(d: Draft, manifest: ManifestInfo): void {
  const target = d.s.persisted.assignment!;
  if (manifest.imageId !== target.imageId || manifest.version !== target.version) {
    fail(d, 'invalid');
    return;
  }
  markEnd(d, 'manifest');
  setPersisted(d, withManifest(d.s.persisted, manifest));
  request(d, 'getKey', false);
}

function startTransfer(d: Draft): void {
  markStart(d, 'transfer');
  const missing = missingChunks(d.s.persisted);
  if (missing.length === 0) {
    markEnd(d, 'transfer');
    request(d, 'stage', false);
  } else {
    requestChunks(d, missing, false);
  }
}

function retryChunks(d: Draft): void {
  const missing = missingChunks(d.s.persisted);
  if (missing.length === 0) {
    markEnd(d, 'transfer');
    request(d, 'stage', false);
  } else {
    requestChunks(d, missing, true);
  }
}

function onChunks(d: Draft, event: Event & { type: 'chunks' }): void {
  const s = d.s;
  const stored = withStored(s.persisted, event.stored);
  if (stored !== null) {
    setPersisted(d, stored);
    s.attempt = 0; // progress: the source is alive
  }
  if (event.corrupt.length > 0) {
    const failures = { ...s.chunkFailures };
    let tampered = false;
    for (const index of event.corrupt) {
      failures[index] = (failures[index] ?? 0) + 1;
      if (failures[index] > s.config.maxChunkRetries) tampered = true;
    }
    s.chunkFailures = failures;
    if (tampered) {
      fail(d, 'tampered');
      return;
    }
  }
  if (event.corrupt.length > 0 || event.unavailable.length > 0) {
    s.fetchTally = { corrupt: s.fetchTally.corrupt + event.corrupt.length, unavailable: s.fetchTally.unavailable + event.unavailable.length };
  }
  if (!event.final) return;
  const missing = missingChunks(s.persisted);
  if (missing.length === 0) {
    markEnd(d, 'transfer');
    request(d, 'stage', false);
    return;
  }
  // Corrupt chunks are refetched at once (their failures are counted per chunk); anything
  // unavailable, or missing without a reason, waits for a backoff.
  if (s.fetchTally.unavailable === 0 && missing.length <= s.fetchTally.corrupt) requestChunks(d, missing, true);
  else if (!backoff(d)) fail(d, 'retriesExhausted');
}

function onStaged(d: Draft, error: 'tampered' | 'io' | null): void {
  if (error === null) {
    markEnd(d, 'verify');
    markEnd(d, 'decrypt');
    setPersisted(d, withStaged(d.s.persisted));
    boot(d);
  } else if (error === 'tampered') {
    setPersisted(d, withoutManifestChunks(d.s.persisted));
    fail(d, 'tampered');
  } else if (!backoff(d)) {
    fail(d, 'retriesExhausted');
  }
}

/** Exactly one VM: the old one is stopped only now that the new image is staged. */
function boot(d: Draft): void {
  const s = d.s;
  if (s.restore !== null) {
    // one hypervisor request at a time: go on once the restore has ended
    markStart(d, 'boot');
    s.restore = { ...s.restore, thenBoot: true };
    s.op = 'startVm';
    s.timer = null;
    s.awaiting = null;
    return;
  }
  request(d, s.running !== null ? 'stopVm' : 'startVm', false);
}

function onVmStarted(d: Draft, ok: boolean): void {
  const s = d.s;
  if (!ok) {
    s.running = null;
    fail(d, 'bootFailed');
    return;
  }
  s.running = s.deploy!.target;
  s.lastFailure = null;
  s.chunkFailures = {};
  s.reportRunning = true;
  if (s.persisted.pendingBoot === true) setPersisted(d, { ...s.persisted, pendingBoot: false });
  finishDeploy(d, 'running');
  if (s.authenticated) reportRunning(d);
  else request(d, 'login', false); // offline boot: tell the plane once it answers
}

/** Sends the RUNNING report owed (`reportRunning` is cleared once it succeeds). */
function reportRunning(d: Draft): void {
  requestReport(d, 'RUNNING', d.s.running);
}

/** Nothing in flight but the poll timer, logged in, no deployment or failure to speak of. */
function idleOnline(s: AgentState): boolean {
  return s.deploy === null && s.op === null && s.timer === 'poll' && s.authenticated && s.lastFailure === null;
}

/** The attempt failed: report it, keep any running VM, and poll again (the operator may fix it). */
function fail(d: Draft, reason: FailureReason): void {
  const s = d.s;
  s.reloginFor = null;
  s.recheck = null;
  s.chunkFailures = {};
  if (reason === 'unauthorized') s.authenticated = false;
  if (s.deploy === null) {
    idle(d); // a routine poll failed: no deployment to report
    return;
  }
  const image = finishDeploy(d, 'failed', reason);
  s.lastFailure = reason;
  if (s.authenticated) requestReport(d, 'FAILED', image, reason);
  else idle(d);
}

/**
 * The plane keeps refusing this node's credentials (revoked, or wrong): stop asking. Nothing more
 * is requested (the poll timer just set is withdrawn); a VM that runs keeps running; the runtime
 * sees `gaveUp` and ends the process with its documented exit code.
 */
function giveUp(d: Draft, reason: FailureReason): void {
  const s = d.s;
  d.out = d.out.filter((a) => a.type !== 'setTimer');
  s.gaveUp = reason;
  s.lastFailure = reason;
  s.op = null;
  s.timer = null;
  s.awaiting = null;
}

function statusOf(s: AgentState): AgentStatus {
  if (s.deploy === null) {
    if (s.lastFailure !== null) return 'FAILED';
    if (s.running !== null) return 'RUNNING';
    if (s.restore !== null) return 'BOOTING';
  }
  // while the assignment is re-read for a stalled operation, the node is still at that operation
  switch (s.recheck !== null && s.op === 'getAssignment' ? s.recheck : s.op) {
    case null:
      return s.timer === null ? 'INIT' : 'POLLING';
    case 'login':
      return 'AUTHENTICATING';
    case 'getAssignment':
      return 'POLLING';
    case 'getManifest':
      return 'FETCHING_MANIFEST';
    case 'getKey':
      return 'FETCHING_KEY';
    case 'fetchChunks':
      return 'FETCHING_CHUNKS';
    case 'stage':
      return 'STAGING';
    case 'stopVm':
    case 'startVm':
      return 'BOOTING';
    case 'report':
      return s.running !== null ? 'RUNNING' : 'POLLING';
  }
}
