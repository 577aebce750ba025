import { describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_CONFIG, PHASES, backoffCeilingUs, emptyPersisted, initialState, step, type Action, type AgentConfig } from '../../../../agent/index.js';
import { A, A2, Driver, RECHECK_EACH_RETRY, deepFreeze, manifest } from './helpers.js';

const M = manifest(A, ['d0', 'd1', 'd2']);

describe('happy path', () => {
  it('goes login → assignment → manifest → key → chunks → stage → boot → report → poll', () => {
    const n = new Driver();
    expect(n.start()).toEqual(['persist', 'mark:auth:start', 'control:login']);
    expect(n.state.status).toBe('AUTHENTICATING');
    expect(n.login()).toEqual(['mark:auth:end', 'mark:assignment:start', 'control:getAssignment']);
    expect(n.assignment(A)).toEqual(['mark:assignment:end', 'persist', 'mark:manifest:start', 'control:getManifest']);
    expect(n.persisted.assignment).toEqual(A);
    expect(n.state.status).toBe('FETCHING_MANIFEST');
    expect(n.manifest(M)).toEqual(['mark:manifest:end', 'persist', 'mark:key:start', 'control:getKey']);
    expect(n.persisted.manifest).toEqual(M);
    expect(n.key()).toEqual(['mark:key:end', 'mark:transfer:start', 'fetch:0,1,2']);
    expect(n.state.status).toBe('FETCHING_CHUNKS');
    expect(n.chunks([0, 1], { final: false })).toEqual(['persist']);
    expect(n.persisted.verifiedChunks).toEqual([0, 1]);
    expect(n.chunks([2])).toEqual(['persist', 'mark:transfer:end', 'mark:verify:start', 'mark:decrypt:start', 'stage:1']);
    expect(n.staged()).toEqual(['mark:verify:end', 'mark:decrypt:end', 'persist', 'mark:boot:start', 'startVm:img-a@1']);
    expect(n.persisted.staged).toEqual(A);
    expect(n.vmStarted()).toEqual(['persist', 'mark:boot:end', 'done:running', 'control:report:RUNNING']);
    expect(n.persisted.pendingBoot).toBe(false);
    expect(n.state.status).toBe('RUNNING');
    expect(n.state.running).toEqual(A);
    expect(n.report()).toEqual(['timer:poll']);
    expect(n.lastOf('setTimer').afterUs).toBe(DEFAULT_AGENT_CONFIG.pollIntervalUs);
    // routine polls are not timed and change nothing
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.state.status).toBe('RUNNING');
    expect(n.assignment(A)).toEqual(['timer:poll']);
    expect(n.lastOf('done')).toEqual({ type: 'done', image: A, outcome: 'running' });
  });

  it('polls again at the poll interval while nothing is assigned', () => {
    const n = new Driver();
    n.start();
    n.login();
    expect(n.assignment(null)).toEqual(['timer:poll']);
    expect(n.state.status).toBe('POLLING');
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.assignment(A)).toEqual(['mark:assignment:end', 'persist', 'mark:manifest:start', 'control:getManifest']);
  });

  it('marks every phase exactly once, start before end, before done', () => {
    const n = new Driver();
    n.deploy(A, M);
    const marks = n.log.filter((a): a is Extract<Action, { type: 'mark' }> => a.type === 'mark');
    for (const phase of PHASES) {
      const edges = marks.filter((m) => m.phase === phase).map((m) => m.edge);
      expect(edges, phase).toEqual(['start', 'end']);
    }
    const doneAt = n.log.findIndex((a) => a.type === 'done');
    expect(n.log.slice(doneAt).some((a) => a.type === 'mark')).toBe(false);
  });
});

describe('offline restart', () => {
  it('restores the staged VM at once, beside login and poll, and it is no deployment', () => {
    const first = new Driver();
    first.deploy(A, M);
    const n = new Driver(DEFAULT_AGENT_CONFIG, first.persisted);
    expect(n.start()).toEqual(['persist', 'startVm:img-a@1', 'control:login']);
    const restore = n.lastOf('startVm').id;
    expect(n.state.status).toBe('BOOTING');
    // the control plane is down: the VM boots anyway, the agent keeps retrying
    expect(n.error('login', 'unavailable')).toEqual(['timer:backoff']);
    expect(n.timer()).toEqual(['control:login']);
    expect(n.login()).toEqual(['control:getAssignment']);
    // the plane assigns what is being restored: nothing to deploy
    expect(n.assignment(A)).toEqual(['timer:poll']);
    // the VM comes up while the node idles online: the plane is told at once
    expect(n.send({ type: 'vmStarted', id: restore, ok: true })).toEqual(['control:report:RUNNING']);
    expect(n.lastOf('control')).toMatchObject({ op: 'report', status: 'RUNNING', assignment: A });
    expect(n.state.running).toEqual(A);
    expect(n.state.status).toBe('RUNNING');
    expect(n.report()).toEqual(['timer:poll']);
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.assignment(A)).toEqual(['timer:poll']);
    expect(n.log.some((a) => a.type === 'done' || a.type === 'mark')).toBe(false);
    // a second answer for the restore is stale
    const before = n.state;
    expect(n.send({ type: 'vmStarted', id: restore, ok: true })).toEqual([]);
    expect(n.state).toBe(before);
  });

  it('completes a deployment a crash interrupted between staging and the first boot', () => {
    const first = new Driver();
    first.start();
    first.login();
    first.assignment(A);
    first.manifest(M);
    first.key();
    first.chunks([0, 1, 2]);
    first.staged();
    expect(first.persisted.pendingBoot).toBe(true);
    const n = new Driver(DEFAULT_AGENT_CONFIG, first.persisted);
    expect(n.start()).toEqual(['persist', 'mark:boot:start', 'startVm:img-a@1']);
    expect(n.vmStarted()).toEqual(['persist', 'mark:boot:end', 'done:running', 'control:login']);
    expect(n.login()).toEqual(['control:getAssignment']);
    // once reachable, the node tells the plane it runs its assignment
    expect(n.assignment(A)).toEqual(['control:report:RUNNING']);
    expect(n.report()).toEqual(['timer:poll']);
  });

  it('a deployment reaching boot during a restore waits for it, then stops and starts', () => {
    const first = new Driver();
    first.deploy(A, M);
    const n = new Driver(DEFAULT_AGENT_CONFIG, first.persisted);
    n.start();
    const restore = n.lastOf('startVm').id;
    n.login();
    n.assignment(A2);
    n.manifest(manifest(A2, ['d0', 'd1', 'n2']));
    n.key();
    n.chunks([2]);
    expect(n.staged()).toEqual(['mark:verify:end', 'mark:decrypt:end', 'persist', 'mark:boot:start']);
    expect(n.state.status).toBe('BOOTING');
    expect(n.send({ type: 'vmStarted', id: restore, ok: true })).toEqual(['stopVm']);
    expect(n.vmStopped()).toEqual(['startVm:img-a@2']);
    expect(n.vmStarted()).toEqual(['persist', 'mark:boot:end', 'done:running', 'control:report:RUNNING']);
  });

  it('resumes after a crash without refetching verified chunks', () => {
    const first = new Driver();
    first.start();
    first.login();
    first.assignment(A);
    first.manifest(M);
    first.key();
    first.chunks([0, 2], { final: false });
    const n = new Driver(DEFAULT_AGENT_CONFIG, first.persisted);
    n.start();
    n.login();
    // the manifest survives the crash; the key (never persisted) is fetched again
    expect(n.assignment(A)).toEqual(['mark:assignment:end', 'mark:key:start', 'control:getKey']);
    expect(n.key()).toEqual(['mark:key:end', 'mark:transfer:start', 'fetch:1']);
  });

  it('never reuses a request id of an earlier start', () => {
    const first = new Driver();
    first.start();
    const staleId = first.id;
    const n = new Driver(DEFAULT_AGENT_CONFIG, first.persisted);
    n.start();
    expect(n.id).not.toBe(staleId);
    const before = n.state;
    expect(n.send({ type: 'controlResult', id: staleId, result: { op: 'login', ok: true } })).toEqual([]);
    expect(n.state).toBe(before);
  });
});

describe('backoff', () => {
  it('grows exponentially with equal jitter and stops at the cap', () => {
    const config: AgentConfig = { ...DEFAULT_AGENT_CONFIG, backoffBaseUs: 1000, backoffCapUs: 16_000 };
    const n = new Driver(config);
    n.start();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      expect(n.error('login', 'unavailable')).toEqual(['timer:backoff']);
      delays.push(n.lastOf('setTimer').afterUs);
      expect(n.timer()).toEqual(['control:login']);
    }
    delays.forEach((delay, i) => {
      const ceiling = Math.min(16_000, 1000 * 2 ** i);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
      expect(Number.isInteger(delay)).toBe(true);
    });
    expect(backoffCeilingUs(1000, 16_000, 1)).toBe(1000);
    expect(backoffCeilingUs(1000, 16_000, 4)).toBe(8000);
    expect(backoffCeilingUs(1000, 16_000, 60)).toBe(16_000);
    // the jitter is seeded: not all capped delays are equal, and the same seed repeats them
    expect(new Set(delays.slice(5)).size).toBeGreaterThan(1);
    const again = new Driver(config);
    again.start();
    const delays2: number[] = [];
    for (let i = 0; i < 10; i++) {
      again.error('login', 'unavailable');
      delays2.push(again.lastOf('setTimer').afterUs);
      again.timer();
    }
    expect(delays2).toEqual(delays);
  });

  it('restarts from the base once an operation succeeds', () => {
    const config: AgentConfig = { ...DEFAULT_AGENT_CONFIG, backoffBaseUs: 1000, backoffCapUs: 1_000_000 };
    const n = new Driver(config);
    n.start();
    for (let i = 0; i < 5; i++) {
      n.error('login', 'unavailable');
      n.timer();
    }
    n.login();
    n.error('getAssignment', 'unavailable');
    expect(n.lastOf('setTimer').afterUs).toBeLessThanOrEqual(1000);
  });

  it('fails with retriesExhausted after maxAttempts, then keeps polling', () => {
    const n = new Driver({ ...RECHECK_EACH_RETRY, maxAttempts: 3 });
    n.start();
    n.login();
    n.assignment(A);
    expect(n.error('getManifest', 'unavailable')).toEqual(['timer:backoff']);
    // each retry re-reads the assignment first (not counted as an attempt)
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.assignment(A)).toEqual(['control:getManifest']);
    expect(n.error('getManifest', 'unavailable')).toEqual(['timer:backoff']);
    n.timer();
    n.assignment(A);
    expect(n.error('getManifest', 'unavailable')).toEqual(['mark:manifest:end', 'done:failed:retriesExhausted', 'control:report:FAILED:retriesExhausted']);
    expect(n.state.status).toBe('FAILED');
    expect(n.report()).toEqual(['timer:poll']);
    expect(n.timer()).toEqual(['control:getAssignment']);
    // the operator fixed it: a new attempt starts from the manifest
    expect(n.assignment(A)).toEqual(['mark:manifest:start', 'control:getManifest']);
  });
});

describe('re-login on 401', () => {
  it('logs in once more and redoes the operation', () => {
    const n = new Driver();
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    expect(n.error('getKey', 'unauthorized')).toEqual(['control:login']);
    expect(n.state.status).toBe('AUTHENTICATING');
    expect(n.login()).toEqual(['control:getKey']);
    expect(n.key()).toEqual(['mark:key:end', 'mark:transfer:start', 'fetch:0,1,2']);
  });

  it('fails unauthorized on a second 401 but keeps the running VM', () => {
    const n = new Driver();
    n.deploy(A, M);
    n.timer();
    n.assignment(A2);
    expect(n.error('getManifest', 'unauthorized')).toEqual(['control:login']);
    n.login();
    expect(n.error('getManifest', 'unauthorized')).toEqual(['mark:manifest:end', 'done:failed:unauthorized', 'timer:poll']);
    expect(n.lastOf('done').image).toEqual(A2);
    expect(n.state.running).toEqual(A);
    expect(n.log.some((a) => a.type === 'stopVm')).toBe(false);
    expect(n.state.status).toBe('FAILED');
    // credentials must be renewed before the next poll
    expect(n.timer()).toEqual(['control:login']);
  });

  it('a 401 after a re-login that succeeded for another op earns a new re-login', () => {
    const n = new Driver();
    n.start();
    n.login();
    n.error('getAssignment', 'unauthorized');
    n.login();
    n.assignment(A);
    expect(n.error('getManifest', 'unauthorized')).toEqual(['control:login']);
  });

  it('gives up after maxAuthFailures refused logins in a row: asks for nothing more, keeps the running VM', () => {
    const n = new Driver({ ...DEFAULT_AGENT_CONFIG, maxAuthFailures: 3 });
    n.deploy(A, M);
    n.timer();
    expect(n.error('getAssignment', 'unauthorized')).toEqual(['control:login']);
    expect(n.error('login', 'unauthorized')).toEqual(['timer:poll']); // 1 (a routine poll: no deployment to end)
    expect(n.state.gaveUp ?? null).toBeNull();
    expect(n.timer()).toEqual(['control:login']);
    expect(n.error('login', 'unauthorized')).toEqual(['timer:poll']); // 2
    n.timer();
    expect(n.error('login', 'unauthorized')).toEqual([]); // 3: no timer, no request
    expect(n.state.gaveUp).toBe('unauthorized');
    expect(n.state.authFailures).toBe(3);
    expect(n.state.status).toBe('FAILED');
    expect(n.state.running).toEqual(A);
    expect(n.state.awaiting).toBeNull();
    expect(n.log.some((a) => a.type === 'stopVm')).toBe(false);
  });

  it('a successful login resets the count of refused logins; 0 never gives up', () => {
    const n = new Driver({ ...DEFAULT_AGENT_CONFIG, maxAuthFailures: 2 });
    n.start();
    n.error('login', 'unauthorized');
    n.timer();
    n.login();
    expect(n.state.authFailures).toBe(0);
    const forever = new Driver({ ...DEFAULT_AGENT_CONFIG, maxAuthFailures: 0 });
    forever.start();
    for (let i = 0; i < 50; i++) {
      expect(forever.error('login', 'unauthorized').at(-1)).toBe('timer:poll');
      forever.timer();
    }
    expect(forever.state.gaveUp ?? null).toBeNull();
  });

  it('a 401 on the first login is final', () => {
    const n = new Driver();
    n.start();
    expect(n.error('login', 'unauthorized')).toEqual(['mark:auth:end', 'done:failed:unauthorized', 'timer:poll']);
    expect(n.lastOf('done').image).toEqual({ imageId: '', version: '' });
  });
});

describe('stale events', () => {
  it('ignores results for ids it does not await, and answers of the wrong kind', () => {
    const n = new Driver();
    n.start();
    const loginId = n.id;
    n.login();
    const before = n.state;
    expect(n.send({ type: 'controlResult', id: loginId, result: { op: 'login', ok: true } })).toEqual([]);
    expect(n.send({ type: 'timer', id: n.id })).toEqual([]); // awaits a result, not a timer
    expect(n.send({ type: 'vmStarted', id: n.id, ok: true })).toEqual([]);
    expect(n.send({ type: 'controlResult', id: n.id, result: { op: 'getKey', ok: true } })).toEqual([]);
    expect(n.send({ type: 'chunks', id: n.id + 1, stored: [0], corrupt: [], unavailable: [], final: true })).toEqual([]);
    expect(n.state).toBe(before);
  });

  it('ignores chunks events of a fetch request that was replaced', () => {
    const n = new Driver();
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    const firstFetch = n.id;
    n.chunks([0], { corrupt: [1, 2] });
    expect(n.last.map((a) => a.type)).toEqual(['persist', 'fetchChunks']);
    expect(n.send({ type: 'chunks', id: firstFetch, stored: [1, 2], corrupt: [], unavailable: [], final: true })).toEqual([]);
    expect(n.chunks([1, 2])).toContain('stage:1');
  });
});

describe('chunk failures', () => {
  it('refetches corrupt chunks at once and unavailable ones after a backoff', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    expect(n.chunks([0, 2], { corrupt: [1] })).toEqual(['persist', 'fetch:1']);
    expect(n.chunks([], { unavailable: [1] })).toEqual(['timer:backoff']);
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.assignment(A)).toEqual(['fetch:1']);
    expect(n.chunks([1])).toContain('stage:1');
  });

  it('backs off when a final event leaves chunks missing without a reason', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    expect(n.chunks([0])).toEqual(['persist', 'timer:backoff']);
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.assignment(A)).toEqual(['fetch:1,2']);
  });

  it('declares the image tampered beyond maxChunkRetries, stages nothing and keeps the old VM', () => {
    const n = new Driver({ ...RECHECK_EACH_RETRY, maxChunkRetries: 2 });
    n.deploy(A, M);
    n.timer();
    n.assignment(A2);
    n.manifest(manifest(A2, ['d0', 'x1', 'x2']));
    n.key();
    n.chunks([2], { corrupt: [1] });
    n.chunks([], { corrupt: [1] });
    expect(n.chunks([], { corrupt: [1] })).toEqual(['mark:transfer:end', 'done:failed:tampered', 'control:report:FAILED:tampered']);
    expect(n.persisted.staged).toEqual(A);
    expect(n.state.running).toEqual(A);
    expect(n.log.some((a) => a.type === 'stopVm' || (a.type === 'stage' && a.manifest.version === '2'))).toBe(false);
  });

  it('a staged image that fails verification is tampered and its chunks are fetched again next time', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    n.chunks([0, 1, 2]);
    expect(n.send({ type: 'staged', id: n.id, ok: false, reason: 'tampered' })).toEqual(['persist', 'mark:verify:end', 'mark:decrypt:end', 'done:failed:tampered', 'control:report:FAILED:tampered']);
    expect(n.persisted.verifiedChunks).toEqual([]);
    n.report();
    n.timer();
    n.assignment(A);
    expect(n.key()).toContain('fetch:0,1,2');
  });

  it('each attempt gets fresh per-chunk retries', () => {
    const n = new Driver({ ...RECHECK_EACH_RETRY, maxChunkRetries: 1 });
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    n.chunks([0, 2], { corrupt: [1] });
    expect(n.chunks([], { corrupt: [1] })).toContain('done:failed:tampered');
    n.report();
    n.timer();
    n.assignment(A);
    n.key();
    expect(n.chunks([], { corrupt: [1] })).toEqual(['fetch:1']);
  });

  it('a staging I/O error is retried after a backoff', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    n.chunks([0, 1, 2]);
    expect(n.send({ type: 'staged', id: n.id, ok: false, reason: 'io' })).toEqual(['timer:backoff']);
    expect(n.timer()).toEqual(['stage:1']);
    expect(n.staged()).toContain('startVm:img-a@1');
  });

  it('boot failure is reported', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    n.chunks([0, 1, 2]);
    n.staged();
    expect(n.vmStarted(false)).toEqual(['mark:boot:end', 'done:failed:bootFailed', 'control:report:FAILED:bootFailed']);
    expect(n.state.running).toBeNull();
  });

  it.each(['forbidden', 'notFound', 'invalid'] as const)('%s fails the attempt, then polling goes on', (kind) => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    expect(n.error('getManifest', kind)).toEqual(['mark:manifest:end', `done:failed:${kind}`, `control:report:FAILED:${kind}`]);
    expect(n.report()).toEqual(['timer:poll']);
    expect(n.lastOf('setTimer').afterUs).toBe(RECHECK_EACH_RETRY.pollIntervalUs);
  });

  it('a manifest for another image than assigned is invalid', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    expect(n.manifest(manifest(A2, ['d0']))).toContain('done:failed:invalid');
  });
});

describe('updates', () => {
  const M2 = manifest(A2, ['d0', 'n1', 'd2', 'n3']);

  it('fetches only chunks whose digests are not held (delta)', () => {
    const n = new Driver();
    n.deploy(A, M);
    n.timer();
    expect(n.assignment(A2)).toEqual(['persist', 'mark:manifest:start', 'control:getManifest']);
    expect(n.persisted).toMatchObject({ assignment: A2, manifest: null, verifiedChunks: [], staged: A });
    expect(n.manifest(M2)).toEqual(['mark:manifest:end', 'persist', 'mark:key:start', 'control:getKey']);
    expect(n.persisted.verifiedChunks).toEqual([0, 2]);
    expect(n.key()).toEqual(['mark:key:end', 'mark:transfer:start', 'fetch:1,3']);
  });

  it('stages the new image in full before stopping the old VM, then starts the new one', () => {
    const n = new Driver();
    n.deploy(A, M);
    n.timer();
    // an update is a new deployment attempt: timed from its discovery
    expect(n.assignment(A2)).toEqual(['persist', 'mark:manifest:start', 'control:getManifest']);
    n.manifest(M2);
    n.key();
    expect(n.state.running).toEqual(A);
    n.chunks([1, 3]);
    expect(n.staged()).toEqual(['mark:verify:end', 'mark:decrypt:end', 'persist', 'mark:boot:start', 'stopVm']);
    expect(n.persisted.staged).toEqual(A2);
    expect(n.state.running).toEqual(A);
    expect(n.vmStopped()).toEqual(['startVm:img-a@2']);
    expect(n.state.running).toBeNull();
    expect(n.vmStarted()).toEqual(['persist', 'mark:boot:end', 'done:running', 'control:report:RUNNING']);
    expect(n.state.running).toEqual(A2);
    const types = n.log.map((a) => a.type);
    expect(types.lastIndexOf('stage')).toBeLessThan(types.lastIndexOf('stopVm'));
    // only the new chunks of the new version were held afterwards, the old ones may go
    expect(n.persisted.heldDigests).toEqual(['d0', 'n1', 'd2', 'n3']);
  });

  it('holds chunks with the same digest together (zero blocks are fetched once)', () => {
    const n = new Driver();
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(manifest(A, ['z', 'd1', 'z', 'z']));
    n.key();
    expect(n.chunks([0], { final: false })).toEqual(['persist']);
    expect(n.persisted.verifiedChunks).toEqual([0, 2, 3]);
    expect(n.persisted.heldDigests).toEqual(['z']);
    expect(n.chunks([2, 1, 3])).toContain('stage:1');
    expect(n.persisted.verifiedChunks).toEqual([0, 2, 3, 1]);
  });

  it('after a crash mid-update, boots the old staged image and resumes the new one', () => {
    const first = new Driver();
    first.deploy(A, M);
    first.timer();
    first.assignment(A2);
    first.manifest(M2);
    first.key();
    first.chunks([1], { final: false });
    const n = new Driver(DEFAULT_AGENT_CONFIG, first.persisted);
    expect(n.start()).toEqual(['persist', 'startVm:img-a@1', 'control:login']);
    n.send({ type: 'vmStarted', id: n.lastOf('startVm').id, ok: true });
    n.login();
    expect(n.assignment(A2)).toEqual(['mark:key:start', 'control:getKey']);
    expect(n.key()).toEqual(['mark:key:end', 'mark:transfer:start', 'fetch:3']);
    n.chunks([3]);
    expect(n.staged()).toContain('stopVm');
  });

  it('a reassignment to the running image needs no deployment', () => {
    const n = new Driver();
    n.deploy(A, M);
    n.timer();
    n.assignment(A2);
    n.error('getManifest', 'forbidden');
    n.report();
    expect(n.state.status).toBe('FAILED');
    n.timer();
    expect(n.assignment(A)).toEqual(['timer:poll']);
    expect(n.state.status).toBe('RUNNING');
  });
});

describe('purity', () => {
  it('does not mutate a frozen state and returns fresh objects', () => {
    const s = deepFreeze(initialState(DEFAULT_AGENT_CONFIG, emptyPersisted(), 1));
    const r = step(s, { type: 'start' });
    expect(r.state).not.toBe(s);
    expect(s.status).toBe('INIT');
  });
});

describe('RUNNING report after an offline restore', () => {
  const restarted = (): { n: Driver; restore: number } => {
    const first = new Driver();
    first.deploy(A, M);
    const n = new Driver(DEFAULT_AGENT_CONFIG, first.persisted);
    n.start();
    return { n, restore: n.lastOf('startVm').id };
  };

  it('reports RUNNING once the plane answers again, if the VM came up while it was down', () => {
    const { n, restore } = restarted();
    expect(n.error('login', 'unavailable')).toEqual(['timer:backoff']);
    // the VM is back while the plane is unreachable: nothing to tell anyone yet
    expect(n.send({ type: 'vmStarted', id: restore, ok: true })).toEqual([]);
    expect(n.state.status).toBe('RUNNING');
    expect(n.state.reportRunning).toBe(true);
    n.timer();
    expect(n.error('login', 'unavailable')).toEqual(['timer:backoff']);
    n.timer();
    expect(n.login()).toEqual(['control:getAssignment']);
    expect(n.assignment(A)).toEqual(['control:report:RUNNING']);
    expect(n.lastOf('control')).toMatchObject({ op: 'report', status: 'RUNNING', assignment: A });
    expect(n.report()).toEqual(['timer:poll']);
    expect(n.state.reportRunning).toBe(false);
    // reported once: later polls are plain polls
    n.timer();
    expect(n.assignment(A)).toEqual(['timer:poll']);
    expect(n.log.filter((a) => a.type === 'control' && a.op === 'report')).toHaveLength(1);
    expect(n.log.some((a) => a.type === 'done' || a.type === 'mark')).toBe(false);
  });

  it('does not report before the restored VM is up', () => {
    const { n, restore } = restarted();
    n.login();
    expect(n.assignment(A)).toEqual(['timer:poll']);
    expect(n.state.status).toBe('BOOTING');
    expect(n.send({ type: 'vmStarted', id: restore, ok: true })).toEqual(['control:report:RUNNING']);
  });

  it('sends a failed RUNNING report again after the next poll, until one succeeds', () => {
    const { n, restore } = restarted();
    n.send({ type: 'vmStarted', id: restore, ok: true });
    n.login();
    expect(n.assignment(A)).toEqual(['control:report:RUNNING']);
    expect(n.error('report', 'unavailable')).toEqual(['timer:poll']);
    expect(n.state.reportRunning).toBe(true);
    n.timer();
    expect(n.assignment(A)).toEqual(['control:report:RUNNING']);
    expect(n.report()).toEqual(['timer:poll']);
    n.timer();
    expect(n.assignment(A)).toEqual(['timer:poll']);
  });

  it('a FAILED report succeeding does not count as the RUNNING one', () => {
    const { n, restore } = restarted();
    n.send({ type: 'vmStarted', id: restore, ok: true });
    n.login();
    n.assignment(A2);
    expect(n.error('getManifest', 'forbidden')).toContain('control:report:FAILED:forbidden');
    expect(n.report()).toEqual(['timer:poll']);
    expect(n.state.status).toBe('FAILED');
    // the operator rolls the node back to what it runs: now the plane hears RUNNING
    n.timer();
    expect(n.assignment(A)).toEqual(['control:report:RUNNING']);
    expect(n.state.status).toBe('RUNNING');
  });

  it('reports the running VM when nothing is assigned any more', () => {
    const { n, restore } = restarted();
    n.send({ type: 'vmStarted', id: restore, ok: true });
    n.login();
    expect(n.assignment(null)).toEqual(['control:report:RUNNING']);
  });

  it('a restore that fails to boot reports nothing', () => {
    const { n, restore } = restarted();
    n.login();
    n.assignment(A);
    expect(n.send({ type: 'vmStarted', id: restore, ok: false })).toEqual([]);
    n.timer();
    // the next poll boots the staged image as a deployment, which reports its own outcome
    expect(n.assignment(A)).toEqual(['mark:boot:start', 'startVm:img-a@1']);
    expect(n.log.some((a) => a.type === 'control' && a.op === 'report')).toBe(false);
    expect(n.vmStarted()).toEqual(['mark:boot:end', 'done:running', 'control:report:RUNNING']);
  });
});

describe('an assignment that changes while the old image stalls', () => {
  const M2 = manifest(A2, ['d0', 'n1', 'n2']);
  const B = { imageId: 'img-b', version: '1' };
  const MB = manifest(B, ['b0', 'b1']);

  const fetching = (config: AgentConfig = RECHECK_EACH_RETRY): Driver => {
    const n = new Driver(config);
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    n.chunks([0], { unavailable: [1, 2] });
    return n;
  };

  it('re-reads the assignment before refetching, and deploys the new one instead (maxAttempts 0)', () => {
    const n = fetching();
    for (let i = 0; i < 5; i++) {
      expect(n.timer()).toEqual(['control:getAssignment']);
      expect(n.state.status).toBe('FETCHING_CHUNKS');
      expect(n.assignment(A)).toEqual(['fetch:1,2']);
      expect(n.chunks([], { unavailable: [1, 2] })).toEqual(['timer:backoff']);
    }
    expect(n.timer()).toEqual(['control:getAssignment']);
    // the plane now assigns B: A is abandoned, the same attempt goes on for B
    expect(n.assignment(B)).toEqual(['mark:transfer:end', 'persist', 'mark:manifest:start', 'control:getManifest']);
    expect(n.persisted).toMatchObject({ assignment: B, manifest: null, verifiedChunks: [] });
    expect(n.persisted.heldDigests).toEqual(['d0']); // A's stored chunk stays held (a later delta may use it)
    expect(n.manifest(MB)).toEqual(['mark:manifest:end', 'persist', 'mark:key:start', 'control:getKey']);
    expect(n.key()).toEqual(['mark:key:end', 'mark:transfer:start', 'fetch:0,1']);
    n.chunks([0, 1]);
    n.staged();
    expect(n.vmStarted()).toEqual(['persist', 'mark:boot:end', 'done:running', 'control:report:RUNNING']);
    expect(n.state.running).toEqual(B);
    // one `done` for the attempt, and every mark balanced
    expect(n.log.filter((a) => a.type === 'done')).toEqual([{ type: 'done', image: B, outcome: 'running' }]);
    const open = new Set<string>();
    for (const a of n.log) {
      if (a.type !== 'mark') continue;
      if (a.edge === 'start') {
        expect(open.has(a.phase)).toBe(false);
        open.add(a.phase);
      } else expect(open.delete(a.phase)).toBe(true);
    }
    expect(open.size).toBe(0);
  });

  it('re-reads at most once per poll interval of backoff: retries before that go straight to the data path', () => {
    const n = fetching(DEFAULT_AGENT_CONFIG);
    let waited = n.lastOf('setTimer').afterUs;
    let retries = 0;
    // backoff 0.5 s, 1 s, 2 s, 4 s ...: the first retries refetch at once
    while (waited < DEFAULT_AGENT_CONFIG.pollIntervalUs) {
      expect(n.timer()).toEqual(['fetch:1,2']);
      expect(n.chunks([], { unavailable: [1, 2] })).toEqual(['timer:backoff']);
      waited += n.lastOf('setTimer').afterUs;
      retries++;
    }
    expect(retries).toBeGreaterThanOrEqual(3);
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.assignment(A)).toEqual(['fetch:1,2']);
    // the read starts the count again
    expect(n.chunks([], { unavailable: [1, 2] })).toEqual(['timer:backoff']);
    expect(n.state.backoffSinceReadUs).toBe(n.lastOf('setTimer').afterUs);
  });

  it('does not count the re-read as an attempt', () => {
    const n = fetching({ ...RECHECK_EACH_RETRY, maxAttempts: 3 });
    n.timer();
    n.assignment(A);
    expect(n.chunks([], { unavailable: [1, 2] })).toEqual(['timer:backoff']);
    n.timer();
    n.assignment(A);
    expect(n.chunks([], { unavailable: [1, 2] })).toEqual(['mark:transfer:end', 'done:failed:retriesExhausted', 'control:report:FAILED:retriesExhausted']);
  });

  it('refetches anyway when the re-read itself fails (the data path may be up while the plane is not)', () => {
    const n = fetching();
    n.timer();
    expect(n.error('getAssignment', 'unavailable')).toEqual(['fetch:1,2']);
    n.chunks([], { unavailable: [1, 2] });
    n.timer();
    expect(n.error('getAssignment', 'notFound')).toEqual(['fetch:1,2']);
    expect(n.chunks([1, 2])).toContain('stage:1');
  });

  it('logs in again on a 401 for the re-read, then re-reads', () => {
    const n = fetching();
    n.timer();
    expect(n.error('getAssignment', 'unauthorized')).toEqual(['control:login']);
    expect(n.login()).toEqual(['control:getAssignment']);
    expect(n.assignment(B)).toEqual(['mark:transfer:end', 'persist', 'mark:manifest:start', 'control:getManifest']);
  });

  it('a second 401 for the re-read fails the attempt', () => {
    const n = fetching();
    n.timer();
    n.error('getAssignment', 'unauthorized');
    n.login();
    expect(n.error('getAssignment', 'unauthorized')).toEqual(['mark:transfer:end', 'done:failed:unauthorized', 'timer:poll']);
    expect(n.state.recheck).toBeNull();
  });

  it('an assignment withdrawn mid-fetch: the attempt waits, polling, for the next one', () => {
    const n = fetching();
    n.timer();
    expect(n.assignment(null)).toEqual(['mark:transfer:end', 'timer:poll']);
    expect(n.state.deploy).toEqual({ target: null, openPhases: [] });
    expect(n.state.status).toBe('POLLING');
    expect(n.timer()).toEqual(['mark:assignment:start', 'control:getAssignment']);
    expect(n.assignment(B)).toEqual(['mark:assignment:end', 'persist', 'mark:manifest:start', 'control:getManifest']);
  });

  it('getManifest and getKey retries re-read the assignment too', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    n.error('getManifest', 'unavailable');
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.state.status).toBe('FETCHING_MANIFEST');
    expect(n.assignment(A)).toEqual(['control:getManifest']);
    n.manifest(M);
    n.error('getKey', 'unavailable');
    expect(n.timer()).toEqual(['control:getAssignment']);
    expect(n.state.status).toBe('FETCHING_KEY');
    expect(n.assignment(B)).toEqual(['mark:key:end', 'persist', 'mark:manifest:start', 'control:getManifest']);
    n.error('getManifest', 'unavailable');
    n.timer();
    expect(n.assignment(A2)).toEqual(['mark:manifest:end', 'persist', 'mark:manifest:start', 'control:getManifest']);
    expect(n.lastOf('control').assignment).toEqual(A2);
  });

  it('an update abandoned for the image that runs ends RUNNING without restarting the VM', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.deploy(A, M);
    n.timer();
    n.assignment(A2);
    n.manifest(M2);
    n.key();
    n.chunks([], { unavailable: [1, 2] });
    n.timer();
    expect(n.assignment(A)).toEqual(['mark:transfer:end', 'persist', 'done:running', 'control:report:RUNNING']);
    expect(n.persisted).toMatchObject({ assignment: A, manifest: null, staged: A, pendingBoot: false });
    expect(n.lastOf('done')).toEqual({ type: 'done', image: A, outcome: 'running' });
    expect(n.log.some((a) => a.type === 'stopVm')).toBe(false);
    expect(n.state.running).toEqual(A);
    expect(n.report()).toEqual(['timer:poll']);
    expect(n.state.status).toBe('RUNNING');
  });

  it('does not re-read for retries that are no deployment operation (stage I/O)', () => {
    const n = new Driver(RECHECK_EACH_RETRY);
    n.start();
    n.login();
    n.assignment(A);
    n.manifest(M);
    n.key();
    n.chunks([0, 1, 2]);
    n.send({ type: 'staged', id: n.id, ok: false, reason: 'io' });
    expect(n.timer()).toEqual(['stage:1']);
  });
});
