import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Simulator } from '../../../edge-sim/engine.js';
import { maxMinRates, Network } from '../../../edge-sim/network.js';

// 8 Mb/s = exactly 1 byte per microsecond, which keeps hand computations readable.
/** one byte per µs, in bits per second */
const BYTE_PER_US = 8e6;

function setup() {
  const sim = new Simulator();
  const net = new Network(sim);
  return { sim, net };
}

describe('Network: hand-computed cases', () => {
  it('two flows share a link; when one finishes the other speeds up', () => {
    const { sim, net } = setup();
    const link = net.addLink('wan', BYTE_PER_US);
    const doneAt: Record<string, number> = {};
    const a = net.startFlow({ path: [link], bytes: 1000, onDone: () => (doneAt.a = sim.now) });
    const b = net.startFlow({ path: [link], bytes: 3000, onDone: () => (doneAt.b = sim.now) });
    expect(net.rateBitsPerS(a)).toBe(BYTE_PER_US / 2);
    // Each gets 0.5 B/us: a finishes at 2000 us having moved 1000 B, b has 1000 B then and takes
    // the remaining 2000 B at 1 B/us: 4000 us.
    sim.run({ untilUs: 2000 });
    expect(doneAt.a).toBe(2000);
    expect(net.deliveredBytes(b)).toBe(1000);
    expect(net.rateBitsPerS(b)).toBe(BYTE_PER_US);
    sim.run();
    expect(doneAt.b).toBe(4000);
    expect(net.linkBytes(link)).toBe(4000);
    expect(net.activeFlows).toBe(0);
  });

  it('completions land on the ceiling microsecond and the rest is re-shared from there', () => {
    const { sim, net } = setup();
    const link = net.addLink('wan', 3e6); // 0.375 B/us, 0.1875 each
    const doneAt: number[] = [];
    net.startFlow({ path: [link], bytes: 1000, onDone: () => doneAt.push(sim.now) });
    net.startFlow({ path: [link], bytes: 3000, onDone: () => doneAt.push(sim.now) });
    sim.run();
    // a: 1000/0.1875 = 5333.3 -> 5334. b then has 5334*0.1875 = 1000.125 B; 1999.875/0.375 = 5333.
    expect(doneAt).toEqual([5334, 5334 + 5333]);
  });

  it('a capped flow leaves bandwidth to the other flow', () => {
    const { sim, net } = setup();
    const link = net.addLink('wan', 10 * BYTE_PER_US);
    const capped = net.startFlow({ path: [link], bytes: 1000, capBitsPerS: BYTE_PER_US, onDone: () => {} });
    const free = net.startFlow({ path: [link], bytes: 1000, onDone: () => {} });
    expect(net.rateBitsPerS(capped)).toBe(BYTE_PER_US);
    expect(net.rateBitsPerS(free)).toBe(9 * BYTE_PER_US);
    sim.run();
    expect(sim.now).toBe(1000);
  });

  it('a zero-byte flow completes at once, at the same virtual time', () => {
    const { sim, net } = setup();
    const link = net.addLink('wan', BYTE_PER_US);
    sim.at(50, () => {
      net.startFlow({ path: [link], bytes: 0, onDone: () => log.push(sim.now) });
    });
    const log: number[] = [];
    sim.run();
    expect(log).toEqual([50]);
  });

  it('a shared link going down pauses its flows; they resume when it is back', () => {
    const { sim, net } = setup();
    const link = net.addLink('wan', BYTE_PER_US);
    let doneAt = -1;
    const f = net.startFlow({ path: [link], bytes: 4000, onDone: () => (doneAt = sim.now) });
    sim.at(1000, () => net.setLinkUp(link, false));
    sim.at(3000, () => net.setLinkUp(link, true));
    sim.run({ untilUs: 2000 });
    expect(net.rateBitsPerS(f)).toBe(0);
    expect(net.deliveredBytes(f)).toBe(1000);
    sim.run();
    expect(doneAt).toBe(6000);
  });

  it('a private link going down pauses only its flow; the sharer speeds up meanwhile', () => {
    const { sim, net } = setup();
    const wan = net.addLink('wan', BYTE_PER_US);
    const accA = net.addLink('acc-a', 100 * BYTE_PER_US, { private: true });
    const accB = net.addLink('acc-b', 100 * BYTE_PER_US, { private: true });
    const doneAt: Record<string, number> = {};
    const a = net.startFlow({ path: [accA, wan], bytes: 1000, onDone: () => (doneAt.a = sim.now) });
    const b = net.startFlow({ path: [wan, accB], bytes: 3000, onDone: () => (doneAt.b = sim.now) });
    sim.at(1000, () => net.setLinkUp(accA, false));
    sim.at(2000, () => net.setLinkUp(accA, true));
    sim.run({ untilUs: 1500 });
    expect(net.rateBitsPerS(a)).toBe(0);
    expect(net.rateBitsPerS(b)).toBe(BYTE_PER_US);
    expect(net.deliveredBytes(a)).toBe(500);
    expect(net.deliveredBytes(b)).toBe(1000);
    sim.run();
    // 0-1000: 0.5 each (a 500, b 500). 1000-2000: b alone (b 1500). Then 0.5 each: a needs 500
    // more -> 3000; b has 2000 then and finishes alone at 1 B/us -> 4000.
    expect(doneAt).toEqual({ a: 3000, b: 4000 });
    expect(net.linkBytes(accA)).toBe(1000);
    expect(net.linkBytes(wan)).toBe(4000);
  });

  it('the private link caps its flow and is asserted to carry one flow at a time', () => {
    const { sim, net } = setup();
    const wan = net.addLink('wan', 10 * BYTE_PER_US);
    const acc = net.addLink('acc', 2 * BYTE_PER_US, { private: true });
    const f = net.startFlow({ path: [wan, acc], bytes: 2000, onDone: () => {} });
    expect(net.rateBitsPerS(f)).toBe(2 * BYTE_PER_US);
    expect(() => net.startFlow({ path: [acc], bytes: 1, onDone: () => {} })).toThrow(/already carries/);
    sim.run();
    expect(sim.now).toBe(1000);
    expect(() => net.startFlow({ path: [acc, wan], bytes: 1, onDone: () => {} })).not.toThrow();
  });

  it('cancelFlow returns the bytes delivered so far and frees the bandwidth', () => {
    const { sim, net } = setup();
    const link = net.addLink('wan', BYTE_PER_US);
    let doneB = -1;
    let aDone = false;
    const a = net.startFlow({ path: [link], bytes: 10_000, onDone: () => (aDone = true) });
    net.startFlow({ path: [link], bytes: 2000, onDone: () => (doneB = sim.now) });
    let cancelled = -1;
    sim.at(1001, () => (cancelled = net.cancelFlow(a)));
    sim.run();
    expect(cancelled).toBe(500); // 1001 us at 0.5 B/us = 500.5, floored
    expect(net.deliveredBytes(a)).toBe(500);
    expect(net.cancelFlow(a)).toBe(500);
    expect(aDone).toBe(false);
    // b: 500.5 B by 1001 us, then 1499.5 B at 1 B/us -> 2500.5 -> 2501
    expect(doneB).toBe(2501);
    expect(net.linkBytes(link)).toBe(2500);
  });

  it('setLinkCapacity re-shares from that instant', () => {
    const { sim, net } = setup();
    const link = net.addLink('wan', BYTE_PER_US);
    let doneAt = -1;
    net.startFlow({ path: [link], bytes: 4000, onDone: () => (doneAt = sim.now) });
    sim.at(1000, () => net.setLinkCapacity(link, 2 * BYTE_PER_US));
    sim.run();
    expect(doneAt).toBe(1000 + 3000 / 2);
  });

  it('with a recompute quantum, starts are batched onto the next boundary', () => {
    const sim = new Simulator();
    const net = new Network(sim, { recomputeQuantumUs: 1000 });
    const link = net.addLink('wan', 100 * BYTE_PER_US);
    const doneAt: number[] = [];
    // 100 flows start at 1..100 us: one recompute at 1000 us gives each 1 B/us.
    for (let i = 1; i <= 100; i++) sim.at(i, () => net.startFlow({ path: [link], bytes: 1000, onDone: () => doneAt.push(sim.now) }));
    sim.run({ untilUs: 999 });
    expect(net.recomputes).toBe(0);
    sim.run();
    expect(doneAt).toEqual(new Array(100).fill(2000));
    expect(net.recomputes).toBe(2); // the batch start, and the batch completion
  });

  it('with a recompute quantum, completions between boundaries stay exact at the rates in force', () => {
    const sim = new Simulator();
    const net = new Network(sim, { recomputeQuantumUs: 1000 });
    const link = net.addLink('wan', 2 * BYTE_PER_US);
    const doneAt: number[] = [];
    // Both get 1 B/us from t=0. The first ends at 100 us; its bandwidth is re-shared only at
    // 1000 us, but the second still ends exactly when its own bytes are in: 300 us.
    net.startFlow({ path: [link], bytes: 100, onDone: () => doneAt.push(sim.now) });
    net.startFlow({ path: [link], bytes: 300, onDone: () => doneAt.push(sim.now) });
    sim.run();
    expect(doneAt).toEqual([100, 300]);
  });

  it('aggregates flows with the same shared path into one class', () => {
    const { sim, net } = setup();
    const origin = net.addLink('origin', 1e9);
    const wans = Array.from({ length: 10 }, (_, i) => net.addLink(`wan${i}`, 1e8));
    for (let n = 0; n < 500; n++) {
      const acc = net.addLink(`acc${n}`, 1e8, { private: true });
      net.startFlow({ path: [origin, wans[n % 10], acc], bytes: 1e6, onDone: () => {} });
    }
    expect(net.classCount).toBe(10);
    expect(net.activeFlows).toBe(500);
    sim.run();
    expect(net.activeFlows).toBe(0);
    expect(net.classCount).toBe(0);
    expect(net.linkBytes(origin)).toBe(500e6);
  });
});

interface RandomCase {
  capacities: number[];
  flows: { path: number[]; cap: number | null; bytes: number; startUs: number }[];
}

const randomCase: fc.Arbitrary<RandomCase> = fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 5 }).chain((caps) =>
  fc.record({
    capacities: fc.constant(caps.map((c) => c * 1e6)),
    flows: fc.array(
      fc.record({
        path: fc.uniqueArray(fc.integer({ min: 0, max: caps.length - 1 }), { minLength: 1, maxLength: caps.length }),
        cap: fc.option(fc.integer({ min: 1, max: 80 }).map((c) => c * 1e6)),
        bytes: fc.integer({ min: 0, max: 200_000 }),
        startUs: fc.integer({ min: 0, max: 20_000 }),
      }),
      { minLength: 1, maxLength: 8 },
    ),
  }),
);

function relClose(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

describe('Network against the reference', () => {
  it('rates equal maxMinRates when all flows start together (shared and private links)', () => {
    fc.assert(
      fc.property(randomCase, fc.integer({ min: 0, max: 3 }), (c, privateCount) => {
        const { net } = setup();
        const links = c.capacities.map((cap, i) => net.addLink(`l${i}`, cap));
        const capacities = c.capacities.slice();
        // Some flows also get a private access link of their own.
        const paths = c.flows.map((f, i) => {
          if (i >= privateCount) return f.path;
          capacities.push(((i % 3) + 1) * 7e6);
          return [...f.path, net.addLink(`acc${i}`, capacities[capacities.length - 1], { private: true })];
        });
        const ids = c.flows.map((f, i) => net.startFlow({ path: paths[i].map((l) => (l < links.length ? links[l] : l)), bytes: 1e9, capBitsPerS: f.cap ?? undefined, onDone: () => {} }));
        const expected = maxMinRates(
          capacities,
          paths.map((p, i) => ({ path: p, capBitsPerS: c.flows[i].cap ?? undefined })),
        );
        ids.forEach((id, i) => expect(relClose(net.rateBitsPerS(id), expected[i])).toBe(true));
      }),
      { numRuns: 200 },
    );
  });

  it('with staggered starts and completions, rates always match the reference for the active flows', () => {
    fc.assert(
      fc.property(randomCase, fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 6 }), (c, checkpoints) => {
        const { sim, net } = setup();
        const links = c.capacities.map((cap, i) => net.addLink(`l${i}`, cap));
        const ids: number[] = [];
        const finished = new Set<number>();
        c.flows.forEach((f, i) =>
          sim.at(f.startUs, () => {
            ids[i] = net.startFlow({ path: f.path.map((l) => links[l]), bytes: f.bytes, capBitsPerS: f.cap ?? undefined, onDone: (id) => finished.add(id) });
          }),
        );
        for (const t of [...new Set(checkpoints)].sort((a, b) => a - b)) {
          sim.run({ untilUs: t });
          const active = c.flows.map((_, i) => i).filter((i) => ids[i] !== undefined && !finished.has(ids[i]));
          const expected = maxMinRates(
            c.capacities,
            active.map((i) => ({ path: c.flows[i].path, capBitsPerS: c.flows[i].cap ?? undefined })),
          );
          active.forEach((i, k) => expect(relClose(net.rateBitsPerS(ids[i]), expected[k])).toBe(true));
        }
        sim.run();
        expect(finished.size).toBe(c.flows.length);
        c.flows.forEach((f, i) => expect(net.deliveredBytes(ids[i])).toBe(f.bytes));
      }),
      { numRuns: 150 },
    );
  });

  it('rates match the reference when many flows share paths (classes with weight > 1)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 2, maxLength: 8 }),
        fc.array(fc.record({ path: fc.integer({ min: 0, max: 5 }), cap: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 7 }),
        (caps, groups, downLink) => {
          const capacities = caps.map((c) => c * 1e6);
          // Six fixed paths over the links (indices wrap), four caps including none and paused-like 1 b/s.
          const paths = [[0], [1], [0, 1], [0, 2], [1, 2, 3], [3, 4, 5]].map((p) => [...new Set(p.map((l) => l % caps.length))]);
          const capPool = [undefined, 3e6, 11e6, 1];
          const { net } = setup();
          const links = capacities.map((c, i) => net.addLink(`l${i}`, c));
          const flows: { path: number[]; capBitsPerS?: number }[] = [];
          const ids: number[] = [];
          for (const g of groups) {
            for (let k = 0; k < g.n; k++) {
              const f = { path: paths[g.path], capBitsPerS: capPool[g.cap] };
              flows.push(f);
              ids.push(net.startFlow({ path: f.path.map((l) => links[l]), bytes: 1e9, capBitsPerS: f.capBitsPerS, onDone: () => {} }));
            }
          }
          const down = downLink % caps.length;
          net.setLinkUp(links[down], false);
          const expected = maxMinRates(
            capacities.map((c, i) => (i === down ? 0 : c)),
            flows,
          );
          ids.forEach((id, i) => expect(relClose(net.rateBitsPerS(id), expected[i])).toBe(true));
          expect(net.classCount).toBeLessThanOrEqual(24);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('conserves bytes: origin = sum of WANs = sum of access links = sum of delivered, also mid-flight', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ wan: fc.integer({ min: 0, max: 2 }), bytes: fc.integer({ min: 0, max: 500_000 }), startUs: fc.integer({ min: 0, max: 50_000 }) }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 100_000 }),
        (nodes, midUs) => {
          const { sim, net } = setup();
          const origin = net.addLink('origin', 50e6);
          const wans = [net.addLink('w0', 20e6), net.addLink('w1', 30e6), net.addLink('w2', 7e6)];
          const access = nodes.map((_, i) => net.addLink(`a${i}`, (1 + (i % 4)) * 5e6, { private: true }));
          const ids: number[] = [];
          nodes.forEach((n, i) => sim.at(n.startUs, () => (ids[i] = net.startFlow({ path: [origin, wans[n.wan], access[i]], bytes: n.bytes, onDone: () => {} }))));
          sim.run({ untilUs: midUs });
          const wanSum = wans.reduce((s, w) => s + net.linkBytes(w), 0);
          const accSum = access.reduce((s, a) => s + net.linkBytes(a), 0);
          const originMid = net.linkBytes(origin);
          // Each term is floored separately, so allow one byte per term.
          expect(Math.abs(originMid - wanSum)).toBeLessThanOrEqual(3);
          expect(Math.abs(originMid - accSum)).toBeLessThanOrEqual(nodes.length);
          sim.run();
          const total = nodes.reduce((s, n) => s + n.bytes, 0);
          expect(net.linkBytes(origin)).toBe(total);
          expect(wans.reduce((s, w) => s + net.linkBytes(w), 0)).toBe(total);
          expect(access.reduce((s, a) => s + net.linkBytes(a), 0)).toBe(total);
          nodes.forEach((n, i) => expect(net.linkBytes(access[i])).toBe(n.bytes));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('is deterministic: the same scenario gives the same completion log', () => {
    const runOnce = (): string => {
      const { sim, net } = setup();
      const origin = net.addLink('origin', 1e9);
      const wans = Array.from({ length: 7 }, (_, i) => net.addLink(`w${i}`, (i + 1) * 3e7));
      const log: string[] = [];
      for (let n = 0; n < 300; n++) {
        const acc = net.addLink(`a${n}`, 5e7, { private: true });
        sim.at((n * 7919) % 10_000, () => net.startFlow({ path: [origin, wans[n % 7], acc], bytes: 100_000 + ((n * 104729) % 900_000), onDone: (id) => log.push(`${id}@${sim.now}`) }));
      }
      sim.run();
      return log.join(',');
    };
    expect(runOnce()).toBe(runOnce());
  });
});
