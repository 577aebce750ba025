// Resilience of real agents on the real OpenStack (sim hypervisor, for speed):
// 1. Glance is killed mid-rollout: agents retry with backoff, nothing is corrupted or fetched
//    twice; Glance is started again (`up` starts what is missing) and the rollout completes.
// 2. A node that verified its image restarts offline: agent stopped, Keystone killed, agent
//    started: its VM runs again before any successful login; Keystone back: it logs in, polls
//    and reports RUNNING again.
// 3. A revoked node: assigning to it is refused (exit 2); no new deployment (its logins are refused:
//    unauthorized), its VM keeps running v1, and after 5 refused logins it gives up (exit 3, status FAILED).
// Kills services of the stack these tests use (by the pids `up` recorded) and starts them again.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { agentFileFor, assignFleet, enrollFleet, fleetStatus, openFleet, publishToFleet, revokeFleet, type EnrollResult, type Fleet } from '../../../../control-openstack/index.js';
import { LocalAgent, writeLocalAgentConfig } from '../../../../environments/index.js';
import { buildAppliance, MiB, writeKeyFiles } from '../../../../pipeline/index.js';
import { acquireStack, type TestStack } from '../stack.js';
import { agentLogTail, buildPrivateCli, callsOf, doneWith, eventsOf, restartStack, same, sleep, stopService, waitUntil, type Image } from './helpers.js';

const run = randomUUID().slice(0, 6);
let ts: TestStack;
let fleet: Fleet;
let CLI = '';
let work = '';
const agents: LocalAgent[] = [];

beforeAll(async () => {
  [CLI, ts] = await Promise.all([buildPrivateCli(), acquireStack()]);
  fleet = openFleet(ts.stack.stateDir);
  work = await mkdtemp(join(tmpdir(), 'ep-os-outage-'));
}, 600_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  // leave the stack whole for whoever uses it next
  if (ts) await restartStack(ts.stack.stateDir).catch((err: Error) => console.error(`could not restart the stack: ${err.message}`));
  await ts?.release();
  if (work && !process.env.EDGEPLANE_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

it('survives a Glance outage mid-rollout, restarts a verified VM without Keystone, and a revoked node deploys nothing new', async () => {
  const stateDir = ts.stack.stateDir;
  const lineage = `out-${run}`;
  const keys = join(work, 'keys');
  await writeKeyFiles(keys);
  const chunking = { algorithm: 'fixed' as const, size: MiB };
  const a1 = await buildAppliance({ outDir: join(work, 'img'), imageId: lineage, version: '1', size: 48 * MiB, then: 'idle' });
  const pub1 = await publishToFleet(fleet.operator, { source: a1.path, imageId: lineage, version: '1', keysDir: keys, chunking });
  const v1: Image = { imageId: lineage, version: '1' };
  const pin1: Image = { imageId: pub1.imageId, version: '1' };
  const nodes = ['a', 'b', 'c'].map((x) => `out-${run}-${x}`);
  const enrolled = await enrollFleet(fleet.operator, nodes);
  await assignFleet(fleet.operator, pin1, nodes);

  const configFor = (e: EnrollResult) =>
    writeLocalAgentConfig({ nodeId: e.node.nodeId, agentPlane: { ...agentFileFor(e.node, []).plane } }, join(work, 'agents'), {
      stateDir: join(work, 'nodes', e.node.nodeId),
      trust: [join(keys, 'publisher.pub')],
      hypervisor: 'sim',
      rangesInFlight: 1, // slow enough to be caught mid-transfer
      wholeStreamAt: 'never', // the ranged path's retry rounds (the whole stream's resume: agent/whole-stream.test.ts, ceph.test.ts)
      pollIntervalS: 1,
      backoffBaseS: 0.2,
      backoffCapS: 2,
    });
  const configs = enrolled.map(configFor);
  const start = (i: number) => {
    const a = new LocalAgent(enrolled[i]!.node.nodeId, configs[i]!, join(work, 'nodes', enrolled[i]!.node.nodeId), CLI);
    agents.push(a);
    return a;
  };
  let live = enrolled.map((_, i) => start(i));

  // ---- 1. Glance killed once the first chunks have landed ----
  await waitUntil('the first chunks', () => live.some((a) => callsOf(eventsOf(a.stateDir), 'glance.image.download_range').some((c) => c.status === 206)), 120_000, 50);
  const killedAt = Date.now();
  await stopService(stateDir, 'glance');
  const before = live.map((a) => callsOf(eventsOf(a.stateDir), 'glance.image.download_range').filter((c) => c.status === 206).length);
  expect(
    before.some((n) => n < pub1.chunks),
    `some node mid-transfer when Glance died (chunks landed: ${before})`,
  ).toBe(true);
  await sleep(8_000);
  for (const a of live) {
    const lines = eventsOf(a.stateDir);
    expect(a.running).toBe(true);
    // nothing given up, nothing started from a partial image
    expect(lines.filter((l) => l.type === 'done' && l.outcome === 'failed')).toEqual([]);
    const failedCalls = callsOf(lines).filter((c) => c.t > killedAt && c.status === 0);
    const waiting = lines.some((l) => l.type === 'status' && l.t > killedAt) || failedCalls.length > 0 || doneWith(lines, v1) !== undefined;
    expect(waiting, `${a.node} kept trying`).toBe(true);
  }
  // retries come in rounds (a fetch round tries each missing chunk once) separated by the
  // machine's backoff: quiet gaps between bursts of failed calls
  for (const a of live) {
    const failed = callsOf(eventsOf(a.stateDir)).filter((c) => c.t > killedAt && c.status === 0);
    if (doneWith(eventsOf(a.stateDir), v1)) continue;
    expect(failed.length, `${a.node}: failed calls during the outage`).toBeGreaterThan(0);
    const bursts = failed.filter((c, i) => i === 0 || c.t - failed[i - 1]!.t > 150).length;
    console.log(`${a.node}: ${failed.length} failed calls in ${bursts} rounds during the Glance outage`);
    expect(bursts, `${a.node}: rounds of retries`).toBeGreaterThanOrEqual(2);
    expect(bursts, `${a.node}: rounds of retries in 8 s`).toBeLessThan(40);
  }

  await restartStack(stateDir);
  const restartedAt = Date.now();
  for (const a of live) {
    await waitUntil(`${a.node} to deploy after Glance came back`, () => doneWith(eventsOf(a.stateDir), v1), 120_000, 250).then((d) => {
      if (d.outcome !== 'running') throw new Error(`${a.node}: ${JSON.stringify(d)}\n${agentLogTail(a.stateDir)}`);
    });
    const lines = eventsOf(a.stateDir);
    // every chunk fetched once: none landed twice, none was corrupted
    const ranges = callsOf(lines, 'glance.image.download_range').filter((c) => c.status === 206);
    expect(ranges).toHaveLength(pub1.chunks);
    expect(readFileSync(join(a.stateDir, 'staged', `${lineage}@1.img`)).equals(readFileSync(a1.path))).toBe(true);
  }
  console.log(`Glance down ${((restartedAt - killedAt) / 1000).toFixed(1)} s; rollout completed ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after it came back`);
  await waitUntil('RUNNING reports', async () => (await fleetStatus(fleet.operator, nodes)).every((s) => s.report?.status === 'RUNNING' && same(s.report.image, pin1)), 30_000, 500);

  // ---- 2. offline restart: the verified VM comes back without Keystone ----
  const [na, nb] = [live[0]!, live[1]!];
  expect(await na.stop()).toBe(0);
  await stopService(stateDir, 'keystone');
  const offlineAt = Date.now();
  const na2 = start(0);
  await waitUntil(`${na2.node} to run its VM offline`, () => eventsOf(na2.stateDir).some((l) => l.type === 'status' && l.t > offlineAt && same(l.running, v1)), 60_000, 100);
  {
    const after = eventsOf(na2.stateDir).filter((l) => l.t > offlineAt);
    const running = after.find((l) => l.type === 'status' && same(l.running, v1))!;
    const logins = callsOf(after, 'keystone.token.issue');
    expect(logins.filter((c) => c.status === 201 && c.t < running.t)).toEqual([]);
    await sleep(3_000);
    expect(callsOf(eventsOf(na2.stateDir), 'keystone.token.issue').filter((c) => c.t > offlineAt && c.status === 0).length).toBeGreaterThan(0);
    // no fetch: the image was verified and staged before
    expect(callsOf(after, 'glance.image.download_range')).toEqual([]);
  }
  await restartStack(stateDir);
  // (the login may land while `up` still waits for the other services' health)
  await waitUntil(`${na2.node} to log in again`, () => callsOf(eventsOf(na2.stateDir), 'keystone.token.issue').some((c) => c.t > offlineAt && c.status === 201), 60_000, 250);
  // the plane sees the node again: it polls its pin with the new token, its VM still the verified v1
  const loggedIn = callsOf(eventsOf(na2.stateDir), 'keystone.token.issue').find((c) => c.t > offlineAt && c.status === 201)!;
  await waitUntil(`${na2.node} to poll its pin`, () => callsOf(eventsOf(na2.stateDir), 'keystone.project.show').some((c) => c.t > loggedIn.t && c.status === 200), 30_000, 250);
  expect(
    eventsOf(na2.stateDir)
      .filter((l) => l.type === 'status')
      .at(-1),
  ).toMatchObject({ status: 'RUNNING', running: v1 });
  // ... and reports when it comes back: a RUNNING report newer than the restart
  await waitUntil(
    `${na2.node} to report RUNNING after the offline restart`,
    async () => {
      const r = (await fleetStatus(fleet.operator, [na2.node]))[0]!.report;
      return r?.status === 'RUNNING' && r.seq >= offlineAt;
    },
    30_000,
    500,
  );
  const report = (await fleetStatus(fleet.operator, [na2.node]))[0]!.report;
  expect(report?.status).toBe('RUNNING');
  expect(same(report?.image, pin1)).toBe(true);
  live = [na2, nb, live[2]!];

  // ---- 3. revoked: no new deployment, the running VM stays ----
  const revokedAt = Date.now();
  await revokeFleet(fleet.operator, [nb.node]);
  const a2 = await buildAppliance({ outDir: join(work, 'img'), imageId: lineage, version: '2', size: 48 * MiB, then: 'idle' });
  const pub2 = await publishToFleet(fleet.operator, { source: a2.path, imageId: lineage, version: '2', keysDir: keys, chunking });
  // assigning work to a revoked node is refused (exit 2): nothing is shared with it
  await expect(assignFleet(fleet.operator, { imageId: pub2.imageId, version: '2' }, [nb.node])).rejects.toMatchObject({ exitCode: 2 });
  await waitUntil(`${nb.node}'s login to be refused`, () => callsOf(eventsOf(nb.stateDir), 'keystone.token.issue').some((c) => c.t > revokedAt && c.status === 401), 60_000, 250);
  // after maxAuthFailures (default 5) refused logins in a row the agent gives up: exit 3, a clear line on stderr, a halt event
  const code = await Promise.race([nb.exited, sleep(60_000).then(() => 'still running')]);
  expect(code, nb.stderr).toBe(3);
  expect(nb.stderr).toContain("refused this node's credentials 5 times in a row");
  const lines = eventsOf(nb.stateDir);
  const since = lines.filter((l) => l.t > revokedAt);
  expect(readFileSync(join(nb.stateDir, 'events.ndjson'), 'utf8')).toContain('"type":"halt","reason":"unauthorized","authFailures":5');
  expect(callsOf(since, 'glance.image.download_range')).toEqual([]);
  expect(since.filter((l) => l.type === 'mark' || l.type === 'done')).toEqual([]);
  const lastStatus = lines.filter((l) => l.type === 'status').at(-1)!;
  // it gave up (FAILED: unauthorized), with its VM still running v1
  expect(lastStatus).toMatchObject({ status: 'FAILED', running: v1 });
  expect(readFileSync(join(nb.stateDir, 'agent.log'), 'utf8')).toContain('"kind":"unauthorized"');
  const st = (await fleetStatus(fleet.operator, [nb.node]))[0]!;
  expect(st.enabled).toBe(false);
  expect(st.report?.image?.version).toBe('1'); // it never reported v2
});
