// Issue 9 items 4 and 5: every figure a model lists as an assumption is simulated (changing it
// changes the results), and client behaviour (start-up jitter, request timeouts, listen backlogs,
// retries with the agent's backoff) is simulated.
import { describe, expect, it } from 'vitest';
import { modelAssumptions, type ApiOp, type NativeStep, type PlaneModel, type ServiceTime } from '../../../adapters/index.js';
import { simulateRun } from '../../../edge-sim/runner.js';
import { simulate } from '../../../environments/index.js';
import { planes as registry, scenarios } from '../../../planes/index.js';

const SMALL = (entry: string, strategy = 'origin') => `
name: assumptions
seed: 2
fleet: {sites: 2, nodesPerSite: 30, node: {access: {down: 200Mbit, up: 50Mbit, rtt: 20ms}, boot: 2s}}
origin: {uplink: 2Gbit}
image: {size: 64MiB, chunk: 4MiB}
planes: [${entry}]
strategy: ${strategy}
clients: {startJitter: 0s}
`;

/** The same fleet, every agent at once: queues form, backlogs fill. */
const STORM = (entry: string) => `${SMALL(entry).replace('nodesPerSite: 30', 'nodesPerSite: 150')}servers: {queueLimit: plane}\n`;

/** Agents that never stream the image whole: every chunk is a ranged GET. */
const RANGES = (entry: string) => `${SMALL(entry)}concurrency: {wholeStreamAt: never}\n`;

/** What runs say: makespan, p50, API calls and control bytes, calm and in a storm (a changed assumption must move one of them). */
function fingerprint(model: PlaneModel, entry: string): string {
  return JSON.stringify(
    [SMALL(entry), SMALL(entry, 'site-cache'), STORM(entry), RANGES(entry)].map((yaml) => {
      const scenario = scenarios.parse(yaml, 'a.yaml');
      const r = simulateRun({ scenario, plane: scenario.planes[0], repeat: 0, model });
      const ends = Array.from(r.rec.endUs).sort((a, b) => a - b);
      const onIntended = r.rec.placedOnIntended.reduce((a, b) => a + b, 0);
      return [ends[ends.length - 1], ends[ends.length >> 1], r.rec.apiCalls, r.rec.controlBytes, onIntended];
    }),
  );
}

/** Simulated, but nothing a deployment waits for: changing them moves no deployment figure. */
const OFF_THE_CRITICAL_PATH = new Set([
  // the status report goes out after the node is RUNNING (it loads the service, the deployment is over)
  'service time of keystone.credential.update',
  'service time of one.user.update',
  'service time of cs.createTags',
  // one key request per node: its cached answer is never asked for again within a rollout
  'token check by the added KMS',
  'signature check by the added KMS',
]);

const scale = (t: ServiceTime, k: number): ServiceTime =>
  t.kind === 'fixed' ? { kind: 'fixed', us: Math.round(t.us * k) + 1 } : { kind: 'lognormal', medianUs: Math.round(t.medianUs * k) + 1, p95Us: Math.round(t.p95Us * k) + 2 };

/** A copy of the model with op `name` (everywhere it appears) timed k times slower. */
function withOpTime(m: PlaneModel, name: string, k: number): PlaneModel {
  const op = (o: ApiOp): ApiOp => (o.op === name ? { ...o, serviceTime: scale(o.serviceTime ?? m.stations.find((s) => s.name === o.station)!.serviceTime, k) } : o);
  const step = (s: NativeStep): NativeStep => ('op' in s ? { ...s, op: op(s.op) } : s);
  return {
    ...m,
    agentOps: (c) => m.agentOps(c).map(op),
    nativeSteps: m.nativeSteps ? (o) => m.nativeSteps!(o).map(step) : undefined,
    dataPath: { ...m.dataPath, op: op(m.dataPath.op), wholeOp: m.dataPath.wholeOp && op(m.dataPath.wholeOp) },
    tokenValidation: m.tokenValidation ? { ...m.tokenValidation, op: op(m.tokenValidation.op) } : undefined,
  };
}

function withStation(m: PlaneModel, name: string, change: Partial<PlaneModel['stations'][number]>): PlaneModel {
  return { ...m, stations: m.stations.map((s) => (s.name === name ? { ...s, ...change } : s)) };
}

/** How to change each kind of listed figure; a listed figure with no way to change it is not simulated. */
function mutate(m: PlaneModel, row: string): { base: PlaneModel; changed: PlaneModel } | null {
  const changed = mutated(m, row);
  if (changed) return { base: m, changed };
  // a backlog shapes results only where a queue forms: compare with its station saturated (one worker), with and without it
  const x = row.match(/^listen backlog of (.+)$/);
  if (x) return { base: withStation(m, x[1], { workers: 1 }), changed: withStation(m, x[1], { workers: 1, queueLimit: 1 }) };
  return null;
}

function mutated(m: PlaneModel, row: string): PlaneModel | null {
  let x: RegExpMatchArray | null;
  if ((x = row.match(/^workers of (.+)$/))) return withStation(m, x[1], { workers: 1 });
  if ((x = row.match(/^service time of (.+)$/))) return withOpTime(m, x[1], 20);
  if ((x = row.match(/^worker processes of (.+)$/))) return withStation(m, x[1], { processes: 1 });
  if (row === 'token cache' || row.startsWith('token check by') || row.startsWith('signature check by')) {
    return m.tokenValidation ? { ...m, tokenValidation: { ...m.tokenValidation, cacheTtlUs: 1 } } : null;
  }
  if (row === 'origin throughput per stream') return m.dataPath.originThroughput ? { ...m, dataPath: { ...m.dataPath, originThroughput: { ...m.dataPath.originThroughput, bytesPerSecond: 100_000 } } } : null;
  if (row === 'password hashing') return withOpTime(m, 'keystone.token.issue', 20);
  if (row === 'scheduler intended-host rate' && m.placement.kind === 'scheduler') return { ...m, placement: { ...m.placement, unpinnedHitProbability: () => 0 } };
  return null;
}

/** Rows that describe how a plane works rather than give a figure the simulator could run with. */
const DESCRIPTIVE = new Set([
  'default chunk size', // the simulator uses the scenario's chunk size
  'request/response sizes', // counted in control bytes, but only the model's own byte figures exist: changed below per op
  'oned advised API load',
  'SCHED_INTERVAL',
  'MAX_DISPATCH',
  'MAX_HOST',
  'monitord STATE_VM period',
  'client poll interval of one.vm.info',
  'client poll interval of queryAsyncJobResult',
  'replica cache',
  'pinned deploy',
  'request signing',
  'async job completion',
  'host pinning',
  'vm.allocation.algorithm',
  'template path',
  'login',
]);

describe('every listed model figure is simulated: changing it changes the results', () => {
  const cases: { entry: string; plane: string; mode: 'agent' | 'native'; flags: Record<string, boolean> }[] = [
    { entry: 'openstack', plane: 'openstack', mode: 'agent', flags: {} },
    { entry: '{name: opennebula, mode: agent}', plane: 'opennebula', mode: 'agent', flags: { replicaCache: false } },
    { entry: '{name: opennebula, mode: native}', plane: 'opennebula', mode: 'native', flags: { replicaCache: false } },
    { entry: '{name: cloudstack, mode: native}', plane: 'cloudstack', mode: 'native', flags: { directDownload: false } },
  ];
  /** figures of scheduler placement: checked on a scheduler-placed run of the same plane */
  const SCHEDULER_FIGURES = new Set(['scheduler intended-host rate']);
  for (const c of cases) {
    it(`${c.entry}`, () => {
      const model = registry.model(c.plane, c.mode, { placement: 'pinned', flags: c.flags });
      const scheduled = () => ({ model: registry.model(c.plane, c.mode, { placement: 'scheduler', flags: c.flags }), entry: c.entry.replace('}', ', placement: scheduler}') });
      const unchanged: string[] = [];
      const unknown: string[] = [];
      for (const row of modelAssumptions(model)) {
        if (row.name.startsWith('profile of ')) continue; // the complexity profile, reported as is
        const run = SCHEDULER_FIGURES.has(row.name) ? scheduled() : { model, entry: c.entry };
        const pair = mutate(run.model, row.name);
        if (!pair) {
          if (!DESCRIPTIVE.has(row.name)) unknown.push(row.name);
          continue;
        }
        if (fingerprint(pair.changed, run.entry) === fingerprint(pair.base, run.entry) && !OFF_THE_CRITICAL_PATH.has(row.name)) unchanged.push(row.name);
      }
      expect(unknown, 'listed figures the test cannot change (simulate them or do not list them)').toEqual([]);
      expect(unchanged, 'listed figures that change nothing when changed').toEqual([]);
    }, 120_000);
  }
});

describe('client behaviour', () => {
  const storm = (clients: string, servers = '') => `
name: storm
seed: 4
fleet: {sites: 4, nodesPerSite: 50, node: {boot: 1s}}
image: {size: 8MiB, chunk: 4MiB}
planes: [openstack]
clients: ${clients}
${servers}
`;
  const metrics = async (yaml: string) => {
    const r = await simulate({ scenario: scenarios.parse(yaml, 's.yaml'), scenarioText: '', version: 'test', registry });
    const get = (m: string) => r.samples.find((s) => s.metric === m && s.labels.repeat === 0 && s.labels.node === undefined)?.value ?? Number.NaN;
    const latencies = r.samples.filter((s) => s.metric === 'deploy_latency' && s.labels.repeat === 0).map((s) => s.value);
    return { p50: get('deploy_latency_p50'), makespan: get('makespan'), calls: get('api_calls_per_deploy'), failures: get('failures'), min: Math.min(...latencies) };
  };

  it('start-up jitter spreads the logins: the earliest node is as fast as alone, the storm thins out', async () => {
    const storm0 = await metrics(storm('{startJitter: 0s, requestTimeout: 0s}', 'servers: {queueLimit: 0}'));
    const spread = await metrics(storm('{startJitter: 60s, requestTimeout: 0s}', 'servers: {queueLimit: 0}'));
    expect(spread.min).toBeLessThan(storm0.min + 1);
    expect(spread.p50).toBeLessThan(storm0.p50 + 30);
    expect(spread.makespan).toBeGreaterThan(storm0.makespan);
  });

  it('a full listen backlog refuses, the agents back off and retry: more calls, all still deploy', async () => {
    const open = await metrics(storm('{startJitter: 0s, requestTimeout: 0s}', 'servers: {queueLimit: 0}'));
    const small = await metrics(storm('{startJitter: 0s, requestTimeout: 0s}', 'servers: {queueLimit: 5}'));
    expect(small.failures).toBe(0);
    expect(small.calls).toBeGreaterThan(open.calls);
    expect(small.makespan).not.toBe(open.makespan);
  });

  it('a request timeout shorter than the queue makes agents give up and retry with backoff: more calls, all still deploy', async () => {
    const patient = await metrics(storm('{startJitter: 0s, requestTimeout: 0s}', 'servers: {queueLimit: 0}'));
    const hasty = await metrics(storm('{startJitter: 0s, requestTimeout: 3s}', 'servers: {queueLimit: 0}'));
    expect(hasty.failures).toBe(0);
    expect(hasty.calls).toBeGreaterThan(patient.calls);
  });

  it('a longer backoff cap: refused agents retry less often, fewer calls, all still deploy', async () => {
    const eager = await metrics(storm('{startJitter: 0s, requestTimeout: 0s, backoffCap: 2s}', 'servers: {queueLimit: 5}'));
    const patient = await metrics(storm('{startJitter: 0s, requestTimeout: 0s, backoffCap: 5m}', 'servers: {queueLimit: 5}'));
    expect(eager.failures).toBe(0);
    expect(patient.failures).toBe(0);
    expect(patient.calls).toBeLessThan(eager.calls);
  });
});

describe('whole-stream GETs (the agent fetch.wholeStreamAt)', () => {
  const run = async (extra: string, image = '{size: 64MiB, chunk: 4MiB}') => {
    const yaml = `name: whole\nseed: 6\nfleet: {sites: 2, nodesPerSite: 10, node: {boot: 1s}}\nimage: ${image}\nplanes: [openstack]\nclients: {startJitter: 0s}\n${extra}`;
    const r = await simulate({ scenario: scenarios.parse(yaml, 'w.yaml'), scenarioText: '', version: 'test', registry });
    const get = (m: string) => r.samples.find((s) => s.metric === m && s.labels.repeat === 0 && s.labels.node === undefined)?.value ?? Number.NaN;
    return { calls: get('api_calls_per_deploy'), failures: get('failures'), violations: get('fidelity_violations') };
  };

  it('a fresh image is one GET; never streaming whole, it is one ranged GET per chunk', async () => {
    const whole = await run('');
    const ranges = await run('concurrency: {wholeStreamAt: never}\n');
    for (const r of [whole, ranges]) {
      expect(r.failures).toBe(0);
      expect(r.violations).toBe(0);
    }
    // 64 MiB in 4 MiB chunks: 16 ranged GETs in place of one whole GET
    expect(ranges.calls - whole.calls).toBe(15);
  });

  it('a small delta is fetched by ranges, a large one whole', async () => {
    const NEVER = 'concurrency: {wholeStreamAt: never}\n';
    const small = await run('', '{size: 64MiB, chunk: 4MiB, previous: {shared: 90%}}');
    const smallRanges = await run(NEVER, '{size: 64MiB, chunk: 4MiB, previous: {shared: 90%}}');
    expect(small.failures).toBe(0);
    expect(small.calls).toBe(smallRanges.calls);
    const large = await run('', '{size: 64MiB, chunk: 4MiB, previous: {shared: 10%}}');
    const largeRanges = await run(NEVER, '{size: 64MiB, chunk: 4MiB, previous: {shared: 10%}}');
    expect(large.failures).toBe(0);
    expect(large.calls).toBeLessThan(largeRanges.calls);
  });
});
