import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { DEFAULT_SIMULATOR_LIMITS, SimulationBudgetError, setSimulatorLimits, Simulator, simulateRun } from '../../../edge-sim/index.js';
import { scenario } from '../environments/helpers.js';
import { planes } from '../../../planes/index.js';

afterEach(() => setSimulatorLimits(DEFAULT_SIMULATOR_LIMITS));

describe('Simulator budget', () => {
  it('catches a zero-delay self-rescheduling handler quickly, as an input error (exit 2)', () => {
    const sim = new Simulator({ maxEventsPerInstant: 10_000 });
    sim.at(5_000_000, () => {});
    const again = (): void => {
      sim.after(0, again);
    };
    sim.at(1_500_000, again);
    sim.loopHint = 'the test handler';
    let err: unknown;
    try {
      sim.run();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SimulationBudgetError);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    expect((err as Error).message).toBe(
      'the scenario makes the simulator loop at t=1.5 s: 10,000 events without virtual time passing; likely cause: the test handler; if this is a real burst, raise --budget instant-events=N',
    );
    expect(sim.events).toBeLessThanOrEqual(20_001);
  });

  it('catches it with the default limits, in seconds', () => {
    const sim = new Simulator();
    const again = (): void => {
      sim.after(0, again);
    };
    sim.at(0, again);
    const t0 = performance.now();
    expect(() => sim.run()).toThrow(/loop at t=0 s: 10,000,000 events without virtual time passing/);
    expect(performance.now() - t0).toBeLessThan(30_000);
  });

  it('stops a run over its event budget at exactly the limit', () => {
    const sim = new Simulator({ maxEvents: 1000 });
    const tick = (): void => {
      sim.after(1, tick);
    };
    sim.at(0, tick);
    expect(() => sim.run()).toThrow('the simulated run went over its event budget: 1,001 events (limit 1,000) at t=0.001 s; raise it with --budget events=N');
    expect(sim.events).toBe(1001);
  });

  it('lets bursts below the limit and runs that advance time through unchanged', () => {
    const sim = new Simulator({ maxEventsPerInstant: 100, maxEvents: 10_000 });
    let ran = 0;
    // 99 events at each instant, 50 instants: 4950 events, never 100 in a row at one instant
    for (let t = 0; t < 50; t++) for (let i = 0; i < 99; i++) sim.at(t, () => ran++);
    sim.run();
    expect(ran).toBe(4950);
    expect(sim.now).toBe(49);
    expect(sim.events).toBe(4950);
  });

  it('ends the crash-rate loop (a node crashing again with no delay) with a clear error', () => {
    setSimulatorLimits({ maxEventsPerInstant: 100_000 });
    const s = scenario(`
name: crash-loop
fleet:
  sites: 2
  nodesPerSite: 5
  node: {access: {down: 100Mbit, up: 20Mbit, rtt: 40ms}}
  site: {wan: {down: 1Gbit, up: 1Gbit, rtt: 10ms}}
origin: {uplink: 10Gbit, rtt: 1ms}
image: {size: 64MiB, chunk: 4MiB}
planes: [openstack]
faults: {crashRate: {perNodePerHour: 60, downFor: 0s}}
`);
    // past the scenario format's own limit (60 per node-hour): the engine is the last line of defence
    s.faults.crashRate = { perNodePerHour: 1e300, downForUs: 0 };
    const plane = s.planes[0];
    const model = planes.model(plane.name, plane.mode, { placement: plane.placement, flags: plane.flags });
    expect(() => simulateRun({ scenario: s, plane, repeat: 0, model })).toThrow(
      /^the scenario makes the simulator loop at t=[\d.]+ s: 100,000 events without virtual time passing; likely cause: faults.crashRate \(1e\+300 per node-hour, down for 0 s\): every node crashes again after ~0 us/,
    );
  });
});
