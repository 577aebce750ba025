import { getHeapStatistics } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { DEFAULT_SIMULATOR_LIMITS, setSimulatorLimits, simulatorLimits } from '../../../edge-sim/index.js';
import { checkBudget, DEFAULT_BUDGET, estimateRun, parseBudget } from '../../../environments/index.js';
import { scenarios } from '../../../planes/index.js';
import { scenario } from './helpers.js';

/** a crash rate past the scenario format's limit (60 per node-hour): the budget is the next line of defence */
const crashing = (sites: number, nodesPerSite: number, perNodePerHour: number, downForUs: number) => {
  const s = fleet(sites, nodesPerSite, 'faults: {crashRate: {perNodePerHour: 60, downFor: 1s}}');
  s.faults.crashRate = { perNodePerHour, downForUs };
  return s;
};

const fleet = (sites: number, nodesPerSite: number, extra = '') =>
  scenario(`
name: budget
fleet:
  sites: ${sites}
  nodesPerSite: ${nodesPerSite}
  node: {access: {down: 100Mbit, up: 20Mbit, rtt: 40ms}}
  site: {wan: {down: 1Gbit, up: 1Gbit, rtt: 10ms}}
origin: {uplink: 10Gbit, rtt: 1ms}
image: {size: 512MiB, chunk: 4MiB}
planes: [openstack, {name: opennebula, mode: native}]
${extra}`);

function thrown(f: () => void): InputError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

afterEach(() => setSimulatorLimits(DEFAULT_SIMULATOR_LIMITS));

describe('estimateRun', () => {
  it('is monotone in nodes and repeats', () => {
    let prev = estimateRun(fleet(1, 1));
    for (const [sites, per] of [
      [1, 10],
      [10, 10],
      [100, 10],
      [100, 100],
      [1000, 100],
    ]) {
      const e = estimateRun(fleet(sites, per));
      expect(e.nodes).toBe(sites * per);
      for (const k of ['eventsPerRun', 'events', 'nodeChunks'] as const) expect(e[k]).toBeGreaterThan(prev[k]);
      // the per-node detail samples stop at 5000 nodes, so memory is monotone, not strictly
      expect(e.memoryBytes).toBeGreaterThanOrEqual(prev.memoryBytes);
      prev = e;
    }
    const s = fleet(10, 10);
    let last = estimateRun(s);
    for (const repeat of [2, 10, 100]) {
      const e = estimateRun({ ...s, repeat });
      expect(e.runs).toBe(repeat * 2);
      expect(e.events).toBeGreaterThan(last.events);
      expect(e.memoryBytes).toBeGreaterThan(last.memoryBytes);
      last = e;
    }
  });

  it('counts random crashes; a rate that repeats with no delay is unbounded', () => {
    expect(estimateRun(fleet(10, 10)).crashesPerNode).toBe(0);
    const gentle = estimateRun(fleet(10, 10, 'faults: {crashRate: {perNodePerHour: 0.5, downFor: 30s}}'));
    expect(gentle.crashesPerNode).toBeGreaterThan(0);
    expect(gentle.crashesPerNode).toBeLessThan(5);
    expect(estimateRun(crashing(10, 10, 1e300, 0)).eventsPerRun).toBeGreaterThan(1e100);
  });

  it('passes every shipped scenario with the default budget, rollout-100k with room', async () => {
    for (const name of ['default', 'rollout-10k', 'rollout-100k', 'flaky-links', 'boot-storm', 'peer-swarm', 'site-cache', 'wan-partition', 'delta-update']) {
      const { scenario: s } = await scenarios.load(name);
      expect(() => checkBudget(estimateRun(s))).not.toThrow();
    }
    const { scenario: big } = await scenarios.load('rollout-100k');
    const e = estimateRun(big);
    expect(e.eventsPerRun * 5).toBeLessThan(DEFAULT_BUDGET.events);
    expect(e.memoryBytes * 5).toBeLessThan(DEFAULT_BUDGET.memoryBytes);
  });

  it('lets rollout-1m run within the default budget; past this Node heap it says how to raise the heap', async () => {
    const { scenario: s } = await scenarios.load('rollout-1m');
    const e = estimateRun(s);
    expect(e.nodes).toBe(1_000_000);
    expect(e.eventsPerRun).toBeLessThan(DEFAULT_BUDGET.events);
    expect(e.nodeChunks).toBeLessThan(DEFAULT_BUDGET.nodeChunks);
    expect(e.memoryBytes).toBeLessThan(DEFAULT_BUDGET.memoryBytes);
    if (e.memoryBytes > getHeapStatistics().heap_size_limit) {
      expect(thrown(() => checkBudget(e, {}, 'rollout-1m')).message).toMatch(/above this Node's heap limit .* NODE_OPTIONS=--max-old-space-size=\d+/);
    } else expect(() => checkBudget(e)).not.toThrow();
  });
});

describe('checkBudget', () => {
  it('fails up front naming the figure, its value, the limit and the flag', () => {
    const huge = fleet(1_000_000, 1);
    const err = thrown(() => checkBudget(estimateRun(huge), {}, 'huge.yaml'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^huge\.yaml: the run is over budget: the memory estimate .* is [\d.]+ GiB, the limit is 8\.00 GiB; raise it on purpose with --budget memory=/);

    const repeats = thrown(() => checkBudget(estimateRun({ ...fleet(10, 20), repeat: 100_000 })));
    expect(repeats.message).toContain('repeats x planes is 200,000, the limit is 10,000');
    expect(repeats.message).toContain('--budget runs=N');

    const crash = thrown(() => checkBudget(estimateRun(crashing(10, 20, 1e300, 30_000_000))));
    expect(crash.message).toMatch(/estimated events of one run is [\d,]+, the limit is 100,000,000 \([\d,]+ random crashes per node from faults.crashRate\); raise it on purpose with --budget events=N/);
  });

  it('a raised budget lets it through and arms the simulator with it', () => {
    const e = estimateRun({ ...fleet(10, 20), repeat: 100_000 });
    expect(() => checkBudget(e, { runs: 200_000 })).toThrow(/events of all 200,000 runs/);
    expect(() => checkBudget(e, { runs: 200_000, totalEvents: 1e12 })).toThrow(/memory estimate/);
    expect(() => checkBudget(e, parseBudget('runs=200000,memory=10TiB,total-events=1e12'))).not.toThrow();
    checkBudget(estimateRun(fleet(1, 1)), parseBudget('events=2e8,instant-events=5000000'));
    expect(simulatorLimits()).toEqual({ maxEvents: 200_000_000, maxEventsPerInstant: 5_000_000 });
  });
});

describe('parseBudget', () => {
  it('reads key=value pairs, sizes for memory, and adds up repeated flags', () => {
    expect(parseBudget('events=2e8, memory=16GiB')).toEqual({ events: 2e8, memoryBytes: 16 * 2 ** 30 });
    expect(parseBudget('node-chunks=5000000000', { runs: 5 })).toEqual({ runs: 5, nodeChunks: 5e9 });
    expect(parseBudget('memory=1073741824')).toEqual({ memoryBytes: 2 ** 30 });
  });

  it('refuses unknown keys and values that are not whole positive numbers', () => {
    for (const bad of ['foo=1', 'events', 'events=', 'events=-1', 'events=0', 'events=1e400', 'events=abc', 'memory=lots', 'events=Infinity']) {
      expect(() => parseBudget(bad), bad).toThrow(InputError);
    }
  });
});
