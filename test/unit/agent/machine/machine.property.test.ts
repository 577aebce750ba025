import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_CONFIG, emptyPersisted, initialState, step, type Event } from '../../../../agent/index.js';
import { deepFreeze } from './helpers.js';
import { EXPECTED_REASON, IMAGE_A, IMAGE_B, runWorld, type Permanent, type Schedule } from './world.js';

const PERMANENT: Exclude<Permanent, 'none'>[] = ['forbidden', 'notFound', 'invalid', 'keyRevoked', 'tamperedChunk', 'stagedTampered', 'bootFails'];

const scheduleArb: fc.Arbitrary<Schedule> = fc.record({
  config: fc.record({
    backoffBaseUs: fc.constant(DEFAULT_AGENT_CONFIG.backoffBaseUs),
    backoffCapUs: fc.constant(DEFAULT_AGENT_CONFIG.backoffCapUs),
    maxAttempts: fc.constantFrom(0, 0, 2, 4),
    pollIntervalUs: fc.constant(DEFAULT_AGENT_CONFIG.pollIntervalUs),
    maxChunkRetries: fc.integer({ min: 0, max: 3 }),
  }),
  seed: fc.integer(),
  update: fc.boolean(),
  updateAt: fc.integer({ min: 0, max: 80 }),
  updateMidFetch: fc.boolean(),
  abandon: fc.boolean(),
  shared: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  permanent: fc.oneof({ weight: 3, arbitrary: fc.constant<Permanent>('none') }, { weight: 2, arbitrary: fc.constantFrom(...PERMANENT) }),
  controlFaults: fc.array(fc.constantFrom('ok', 'ok', 'unavailable', 'unauthorized'), { maxLength: 30 }),
  chunkFaults: fc.array(fc.constantFrom('ok', 'corrupt', 'unavailable'), { maxLength: 30 }),
  stageIo: fc.array(fc.boolean(), { maxLength: 3 }),
  crashes: fc.array(fc.record({ at: fc.integer({ min: 0, max: 120 }), killsVm: fc.boolean() }), { maxLength: 4 }),
  picks: fc.array(fc.nat({ max: 7 }), { maxLength: 150 }),
  duplicates: fc.array(fc.integer({ min: 0, max: 150 }), { maxLength: 8 }),
  splits: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 10 }),
  slowVm: fc.boolean(),
});

const same = (a: { imageId: string; version: string } | null, b: { imageId: string; version: string } | null) => a !== null && b !== null && a.imageId === b.imageId && a.version === b.version;

describe('agent machine in a faulty world', () => {
  it('ends RUNNING the assigned image, or failed for the injected unrecoverable fault', () => {
    fc.assert(
      fc.property(scheduleArb, (schedule) => {
        // the world throws on any broken invariant: refetch of persisted chunks, stop before
        // staged, start of an unstaged image, unbalanced marks, mutation of a frozen state
        const out = runWorld(schedule);
        const last = out.dones.at(-1);
        if (schedule.permanent === 'none') {
          expect(out.vm).toEqual(out.target);
          expect(out.machine.running).toEqual(out.target);
          expect(out.machine.status).toBe('RUNNING');
          if (last !== undefined) expect(same(last.image, out.target) && last.outcome === 'running').toBe(true);
        } else {
          expect(last).toMatchObject({ outcome: 'failed', reason: EXPECTED_REASON[schedule.permanent], image: out.target });
          expect(out.machine.status).toBe('FAILED');
          expect(out.everRan.some((image) => same(image, out.target))).toBe(false);
          // a failed update never takes the old VM down (unless the new one was booted and failed)
          const oldRan = out.everRan.some((image) => same(image, IMAGE_A));
          if (schedule.permanent === 'bootFails') expect(out.vm).toBeNull();
          else expect(out.vm).toEqual(schedule.update && oldRan ? IMAGE_A : null);
        }
        // the plane is reachable at the end: a node RUNNING has said so since it last started
        if (out.machine.status === 'RUNNING') expect(out.runningReports.some((image) => same(image, out.machine.running))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('an update in the middle of a fetch that leaves the old image unreadable ends RUNNING the new image', () => {
    const abandoned = scheduleArb.map((s): Schedule => ({ ...s, config: { ...s.config, maxAttempts: 0 }, update: true, updateMidFetch: true, abandon: true, permanent: 'none' }));
    fc.assert(
      fc.property(abandoned, (schedule) => {
        const out = runWorld(schedule);
        expect(out.vm).toEqual(IMAGE_B);
        expect(out.machine.running).toEqual(IMAGE_B);
        expect(out.machine.status).toBe('RUNNING');
        expect(out.runningReports.some((image) => same(image, IMAGE_B))).toBe(true);
        // at most one `done` per attempt: no attempt of A ended after B's began
        const last = out.dones.at(-1);
        if (last !== undefined) expect(last).toMatchObject({ image: IMAGE_B, outcome: 'running' });
      }),
      { numRuns: 200 },
    );
  });

  it('a node restored offline reports RUNNING once the plane answers', () => {
    // a crash (some kill the VM) mostly after the first deployment, and the plane down at restart
    const restarted = scheduleArb.map(
      (s): Schedule => ({
        ...s,
        update: false,
        permanent: 'none',
        crashes: [{ at: 40 + (s.seed & 63), killsVm: (s.seed & 64) !== 0 }],
        outageAfterCrash: 1 + ((s.seed >>> 7) % 8),
      }),
    );
    fc.assert(
      fc.property(restarted, (schedule) => {
        const out = runWorld(schedule);
        expect(out.machine.status).toBe('RUNNING');
        expect(out.runningReports).toContainEqual(IMAGE_A);
      }),
      { numRuns: 100 },
    );
  });

  it('is deterministic: the same schedule gives the same actions', () => {
    fc.assert(
      fc.property(scheduleArb, (schedule) => {
        expect(runWorld(schedule).log).toEqual(runWorld(schedule).log);
      }),
      { numRuns: 60 },
    );
  });
});

describe('step on arbitrary events', () => {
  const eventArb: fc.Arbitrary<Event> = fc.oneof(
    fc.constant<Event>({ type: 'start' }),
    fc.record({ type: fc.constant('timer' as const), id: fc.integer({ min: 0, max: 2 ** 32 + 8 }) }),
    fc.record({
      type: fc.constant('chunks' as const),
      id: fc.integer({ min: 0, max: 2 ** 32 + 8 }),
      stored: fc.array(fc.nat({ max: 5 })),
      corrupt: fc.array(fc.nat({ max: 5 })),
      unavailable: fc.array(fc.nat({ max: 5 })),
      final: fc.boolean(),
    }),
    fc.record({ type: fc.constant('vmStarted' as const), id: fc.integer({ min: 0, max: 2 ** 32 + 8 }), ok: fc.boolean() }),
    fc.integer({ min: 0, max: 2 ** 32 + 8 }).map((id): Event => ({ type: 'controlResult', id, result: { op: 'login', ok: true } })),
  );

  it('never mutates its input and never throws, whatever arrives', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), fc.integer(), (events, seed) => {
        let state = initialState(DEFAULT_AGENT_CONFIG, emptyPersisted(), seed);
        for (const event of events) {
          const frozen = deepFreeze(state);
          const snapshot = JSON.stringify(frozen);
          const r = step(frozen, deepFreeze(event));
          expect(JSON.stringify(frozen)).toBe(snapshot);
          expect(JSON.stringify(step(frozen, event))).toBe(JSON.stringify(r));
          state = r.state;
        }
      }),
      { numRuns: 300 },
    );
  });
});
