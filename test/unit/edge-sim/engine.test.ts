import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Simulator } from '../../../edge-sim/engine.js';

describe('Simulator', () => {
  it('runs events in time order, ties in scheduling order', () => {
    const sim = new Simulator();
    const log: string[] = [];
    sim.at(30, () => log.push('c'));
    sim.at(10, () => log.push('a1'));
    sim.after(10, () => log.push('a2'));
    sim.at(20, () => log.push('b'));
    sim.at(10, () => log.push('a3'));
    sim.run();
    expect(log).toEqual(['a1', 'a2', 'a3', 'b', 'c']);
    expect(sim.now).toBe(30);
    expect(sim.events).toBe(5);
  });

  it('orders any random schedule by (time, insertion)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), (times) => {
        const sim = new Simulator();
        const seen: number[] = [];
        times.forEach((t, i) => sim.at(t, () => seen.push(i)));
        sim.run();
        const expected = times
          .map((t, i) => [t, i])
          .sort((a, b) => a[0] - b[0] || a[1] - b[1])
          .map((p) => p[1]);
        expect(seen).toEqual(expected);
      }),
    );
  });

  it('events scheduled from callbacks at the current time run after those already queued', () => {
    const sim = new Simulator();
    const log: string[] = [];
    sim.at(5, () => {
      log.push('first');
      sim.after(0, () => log.push('nested'));
    });
    sim.at(5, () => log.push('second'));
    sim.run();
    expect(log).toEqual(['first', 'second', 'nested']);
  });

  it('rounds delays up and rejects times in the past', () => {
    const sim = new Simulator();
    let firedAt = -1;
    sim.after(2.1, () => (firedAt = sim.now));
    sim.run();
    expect(firedAt).toBe(3);
    expect(() => sim.at(1, () => {})).toThrow(/>= now/);
    expect(() => sim.at(4.5, () => {})).toThrow(/integer/);
    expect(() => sim.after(-1, () => {})).toThrow(/>= 0/);
  });

  it('cancel skips the event and does not count it', () => {
    const sim = new Simulator();
    const log: number[] = [];
    const h1 = sim.at(1, () => log.push(1));
    sim.at(2, () => log.push(2));
    const h3 = sim.at(3, () => log.push(3));
    sim.cancel(h1);
    sim.cancel(h3);
    sim.run();
    expect(log).toEqual([2]);
    expect(sim.events).toBe(1);
  });

  it('run until a time stops there, advances the clock, and resumes later', () => {
    const sim = new Simulator();
    const log: number[] = [];
    for (const t of [5, 10, 15, 20]) sim.at(t, () => log.push(t));
    sim.run({ untilUs: 12 });
    expect(log).toEqual([5, 10]);
    expect(sim.now).toBe(12);
    sim.run({ untilUs: 15 });
    expect(log).toEqual([5, 10, 15]);
    sim.run();
    expect(log).toEqual([5, 10, 15, 20]);
  });

  it('maxEvents and stop() interrupt the run', () => {
    const sim = new Simulator();
    const log: number[] = [];
    for (let t = 1; t <= 10; t++)
      sim.at(t, () => {
        log.push(t);
        if (t === 6) sim.stop();
      });
    sim.run({ maxEvents: 3 });
    expect(log).toEqual([1, 2, 3]);
    sim.run();
    expect(log).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sim.now).toBe(6);
    sim.run();
    expect(log.length).toBe(10);
  });

  it('beforeAdvance hooks run once before the clock moves', () => {
    const sim = new Simulator();
    const log: string[] = [];
    sim.at(1, () => {
      log.push('e1');
      sim.beforeAdvance(() => {
        log.push(`hook@${sim.now}`);
        sim.after(0, () => log.push('from-hook'));
      });
    });
    sim.at(1, () => log.push('e1b'));
    sim.at(2, () => log.push('e2'));
    sim.run();
    expect(log).toEqual(['e1', 'e1b', 'hook@1', 'from-hook', 'e2']);
  });

  it('handles a large randomised workload in order', () => {
    const sim = new Simulator();
    let last = -1;
    let ok = true;
    let state = 12345;
    const tick = (): void => {
      if (sim.now < last) ok = false;
      last = sim.now;
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      if (sim.events < 200_000) sim.after(state % 1000, tick);
    };
    for (let i = 0; i < 1000; i++) sim.at(i, tick);
    sim.run();
    expect(ok).toBe(true);
    expect(sim.events).toBeGreaterThanOrEqual(200_000);
  });
});
