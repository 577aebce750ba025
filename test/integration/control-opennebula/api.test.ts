// The XML-RPC client against the real oned: pinned deploys (enforce) to the intended hosts with
// every VM state change recorded, scheduler placement on N equal hosts, and the error model
// (NO_EXISTS for an unknown VM, AUTHENTICATION for a wrong password, login tokens within 10).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlErrorKind } from '../../../adapters/transport/index.js';
import { MAX_LOGIN_TOKENS, measurePlacement, OneClient, OneError, poolHosts, registerImage, rollOut, vmTemplateBody } from '../../../control-opennebula/index.js';
import { acquireFrontEnd, START_TIMEOUT_MS, type TestFrontEnd } from './frontend.js';

let fe: TestFrontEnd;
let admin: OneClient;

beforeAll(async () => {
  fe = await acquireFrontEnd();
  admin = new OneClient({ ...fe.credentials });
}, START_TIMEOUT_MS);
afterAll(async () => {
  await admin?.close();
  await fe?.release();
}, 120_000);

async function failure(p: Promise<unknown>): Promise<OneError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OneError) return err;
    throw err;
  }
  throw new Error('expected a OneError');
}

describe('the OpenNebula error model on the real oned', () => {
  it('an unknown VM id is NO_EXISTS (notFound), with the [method] prefix', async () => {
    const err = await failure(admin.vmInfo(987654));
    expect(err.errorName).toBe('NO_EXISTS');
    expect(err.code).toBe(0x400);
    expect(err.oneMessage).toMatch(/^\[one\.vm\.info\] /);
    expect(controlErrorKind(err)).toBe('notFound');
  });
  it('a wrong password is AUTHENTICATION (unauthorized)', async () => {
    const bad = new OneClient({ ...fe.credentials, password: 'wrong-password' });
    const err = await failure(bad.version());
    expect(err.errorName).toBe('AUTHENTICATION');
    expect(err.oneMessage).toMatch(/^\[one\.system\.version\] User couldn't be authenticated/);
    expect(controlErrorKind(err)).toBe('unauthorized');
    await bad.close();
  });
  it('deploying a RUNNING VM again is ACTION (wrong state)', async () => {
    const [host] = await poolHosts(admin, ['api-test-host'], 'api-test');
    const image = await registerImage(admin, 'api-test-image', 64);
    const [d] = await rollOut({ ...fe.credentials, targets: [{ node: 'n', hostId: host!, vmName: `api-${Date.now()}` }], placement: 'pinned', vmTemplate: vmTemplateBody(image), t0: performance.now() });
    expect(d!.outcome).toBe('running');
    const err = await failure(admin.vmDeploy(d!.vmId!, host!, true));
    expect(err.errorName).toBe('ACTION');
    await admin.vmAction('terminate-hard', d!.vmId!);
  }, 180_000);
  it('many logins in a row stay within oned’s 10 live tokens per user (each login revokes the last)', async () => {
    const c = new OneClient({ ...fe.credentials });
    for (let i = 0; i < MAX_LOGIN_TOKENS + 5; i++) await c.login(600);
    expect(c.hasToken).toBe(true);
    expect((await c.userInfo(-1)).NAME).toBe(fe.credentials.username);
    await c.close();
  }, 120_000);
});

describe('placement on the real front-end', () => {
  it('pinned (allocate on hold, deploy with enforce): every VM on its intended host, PROLOG -> BOOT -> RUNNING recorded', async () => {
    const m = await measurePlacement({ stateDir: fe.stateDir, hosts: 4, rounds: 2, placement: 'pinned', pool: 'itpin' });
    expect(m.running).toBe(8);
    expect(m.intended).toBe(8);
    expect(m.landed).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
  }, 300_000);
  it('scheduler: mm_sched places every VM on one of the N equal hosts; the intended-host rate is measured', async () => {
    const m = await measurePlacement({ stateDir: fe.stateDir, hosts: 4, rounds: 3, placement: 'scheduler', pool: 'itsched' });
    process.stdout.write(`scheduler placement, 4 equal hosts, 3 rounds: ${m.intended}/${m.running} on the intended host (rate ${m.rate.toFixed(3)}); landed ${JSON.stringify(m.landed)}\n`);
    expect(m.running).toBe(12);
    for (const round of m.landed) for (const h of round) expect(h).toBeGreaterThanOrEqual(0);
    expect(m.rate).toBeGreaterThanOrEqual(0);
    expect(m.rate).toBeLessThanOrEqual(1);
  }, 300_000);
  it('records every state change of a deployment in order, with times', async () => {
    const [host] = await poolHosts(admin, ['api-test-host'], 'api-test');
    const image = await registerImage(admin, 'api-test-image', 64);
    const [d] = await rollOut({ ...fe.credentials, targets: [{ node: 'n', hostId: host!, vmName: `states-${Date.now()}` }], placement: 'pinned', vmTemplate: vmTemplateBody(image), t0: performance.now(), pollMs: 5 });
    const names = d!.states.map((s) => s.state);
    expect(names[0]).toBe('HOLD');
    expect(names.at(-1)).toBe('ACTIVE/RUNNING');
    for (let i = 1; i < d!.states.length; i++) expect(d!.states[i]!.atMs).toBeGreaterThanOrEqual(d!.states[i - 1]!.atMs);
    expect(d!.calls.map((c) => c.op).slice(0, 2)).toEqual(['one.vm.allocate', 'one.vm.deploy']);
    expect(new Set(d!.calls.slice(2).map((c) => c.op))).toEqual(new Set(['one.vm.info']));
    await admin.vmAction('terminate-hard', d!.vmId!);
  }, 180_000);
});
