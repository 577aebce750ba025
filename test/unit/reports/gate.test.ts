import { describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { InputError } from '../../../common/index.js';
import { gateJUnit, gateMarkdown, runGate, type Sample } from '../../../reports/index.js';
import { makeResults } from './fixtures.js';

const sim = (o: Parameters<typeof makeResults>[0] = {}) => makeResults({ perNode: false, nodes: [200], ...o }).samples;
const real = (o: Parameters<typeof makeResults>[0] = {}) => makeResults({ perNode: false, nodes: [200], env: 'real', repeats: 8, ...o }).samples;

describe('gate on deterministic (sim) results', () => {
  it('passes an identical rerun', () => {
    const r = runGate(sim(), sim());
    expect(r.ok).toBe(true);
    expect(r.counts.regression).toBe(0);
    expect(r.checks.every((c) => c.method === 'exact' && c.status === 'pass')).toBe(true);
    expect(r.checks.length).toBeGreaterThan(20);
  });

  it('flags an injected 20% latency regression on every latency metric of every plane', () => {
    const r = runGate(sim(), sim({ latencyFactor: 1.2 }));
    expect(r.ok).toBe(false);
    const flagged = r.checks.filter((c) => c.status === 'regression');
    for (const plane of ['openstack', 'opennebula', 'cloudstack']) {
      for (const metric of ['deploy_latency_p50', 'deploy_latency_p95', 'makespan']) {
        const c = flagged.find((x) => x.labels.plane === plane && x.metric === metric);
        expect(c, `${plane} ${metric}`).toBeDefined();
        expect(c!.change).toBeGreaterThan(0.1);
      }
    }
    // untouched metrics still pass
    expect(r.checks.find((c) => c.metric === 'api_calls_per_deploy')?.status).toBe('pass');
  });

  it('a faster run is an improvement, not a failure', () => {
    const r = runGate(sim(), sim({ latencyFactor: 0.8 }));
    expect(r.ok).toBe(true);
    expect(r.counts.improved).toBeGreaterThan(0);
  });

  it('tolerates changes within a per-metric tolerance', () => {
    const slower = sim({ latencyFactor: 1.01 });
    expect(runGate(sim(), slower).ok).toBe(false);
    expect(runGate(sim(), slower, { tolerance: 0.05 }).ok).toBe(true);
    const onlyMakespan = runGate(sim(), slower, { tolerance: { makespan: 0.05 } });
    expect(onlyMakespan.checks.find((c) => c.metric === 'makespan' && c.labels.plane === 'openstack')?.status).toBe('pass');
    expect(onlyMakespan.checks.find((c) => c.metric === 'deploy_latency_p50' && c.labels.plane === 'openstack')?.status).toBe('regression');
  });

  it('higher is better for placement accuracy', () => {
    const base = sim({ planes: ['cloudstack'] });
    const worse = base.map((s) => (s.metric === 'placement_accuracy' ? { ...s, value: s.value - 0.01 } : s));
    const r = runGate(base, worse, { metrics: ['placement_accuracy'] });
    expect(r.ok).toBe(false);
    expect(r.checks).toHaveLength(1);
    expect(r.checks[0].better).toBe('higher');
    const better = base.map((s) => (s.metric === 'placement_accuracy' ? { ...s, value: 1 } : s));
    expect(runGate(base, better, { metrics: ['placement_accuracy'] }).checks[0].status).toBe('improved');
  });

  it('a metric missing from the current run fails; a newly missed SLA is a regression', () => {
    const base = sim({ planes: ['openstack'] });
    const dropped = base.filter((s) => s.metric !== 'makespan');
    const r1 = runGate(base, dropped);
    expect(r1.ok).toBe(false);
    expect(r1.checks.find((c) => c.metric === 'makespan')?.status).toBe('missing');
    const sla: Sample = { metric: 'sla_missed', value: 1, unit: 'count', labels: { ...base[0].labels, kind: 'p95_latency' } };
    const r2 = runGate(base, [...base, sla]);
    expect(r2.ok).toBe(false);
    expect(r2.checks.find((c) => c.metric === 'sla_missed[p95_latency]')?.status).toBe('regression');
  });
});

describe('gate on noisy (real) results', () => {
  it('passes a rerun drawn from the same distribution', () => {
    const r = runGate(real({ seed: 1 }), real({ seed: 2 }));
    expect(r.counts.regression).toBe(0);
    expect(r.ok).toBe(true);
    expect(r.checks.some((c) => c.method === 'mann-whitney' && c.p !== undefined)).toBe(true);
  });

  it('flags a 20% latency regression with Mann-Whitney over the repeats', () => {
    const r = runGate(real({ seed: 1 }), real({ seed: 2, latencyFactor: 1.2 }));
    expect(r.ok).toBe(false);
    const p95 = r.checks.find((c) => c.metric === 'deploy_latency_p95' && c.labels.plane === 'openstack')!;
    expect(p95.status).toBe('regression');
    expect(p95.p).toBeLessThan(0.05);
    expect(p95.baseline).toHaveLength(8);
  });

  it('does not fail a significant but tiny shift below the minimum effect', () => {
    // low-noise repeats (±0.4%): a 2% shift separates the samples completely, so it is significant
    const template = real({ planes: ['openstack'] }).filter((s) => s.metric === 'makespan');
    const base = template.map((s, i) => ({ ...s, value: 100 + 0.1 * i }));
    const shifted = base.map((s) => ({ ...s, value: s.value * 1.02 }));
    const c = runGate(base, shifted, { metrics: ['makespan'] }).checks[0];
    expect(c.status).toBe('pass');
    expect(c.reason).toMatch(/below the minimum effect/);
    const strict = runGate(base, shifted, { metrics: ['makespan'], minEffect: 0.01 }).checks[0];
    expect(strict.status).toBe('regression');
  });

  it('says when there are too few repeats to decide instead of passing silently', () => {
    const r = runGate(real({ repeats: 2 }), real({ repeats: 2, latencyFactor: 1.5 }), { metrics: ['makespan'] });
    expect(r.checks.every((c) => c.status === 'inconclusive')).toBe(true);
    expect(r.checks[0].reason).toMatch(/too few samples/);
    expect(r.ok).toBe(true);
    expect(runGate(real({ repeats: 2 }), real({ repeats: 2 }), { metrics: ['makespan'], failOnInconclusive: true }).ok).toBe(false);
    expect(gateMarkdown(r)).toContain('inconclusive');
  });
});

describe('gate input errors', () => {
  it('rejects results with nothing in common, naming both sides', () => {
    const err = (() => {
      try {
        runGate(sim(), real());
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    expect((err as InputError).details.join('\n')).toMatch(/baseline: .*sim.*\n.*current: .*real/s);
  });

  it('rejects unknown, per-node and direction-less metrics and bad options', () => {
    expect(() => runGate(sim(), sim(), { metrics: ['latency'] })).toThrow(/unknown metric "latency"/);
    expect(() => runGate(sim(), sim(), { metrics: ['deploy_latency'] })).toThrow(/per-node metric/);
    expect(() => runGate(sim(), sim(), { metrics: ['sim_events'] })).toThrow(/no better direction/);
    expect(() => runGate(sim(), sim(), { alpha: 1.5 })).toThrow(InputError);
    expect(() => runGate(sim(), sim(), { tolerance: { nope: 0.1 } })).toThrow(/unknown metric "nope"/);
    expect(() => runGate([], sim())).toThrow(/baseline has none/);
  });
});

describe('gate output', () => {
  it('Markdown names the regressions; JUnit has one test case per check and failures for regressions', () => {
    const r = runGate(sim({ planes: ['openstack'] }), sim({ planes: ['openstack'], latencyFactor: 1.2 }));
    const md = gateMarkdown(r);
    expect(md).toMatch(/^### ❌ edgeplane gate: \d+ of \d+ checks failed/);
    expect(md).toContain('`deploy_latency_p95`');
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(gateJUnit(r));
    const suite = xml.testsuites.testsuite;
    const cases = Array.isArray(suite.testcase) ? suite.testcase : [suite.testcase];
    expect(cases).toHaveLength(r.checks.length);
    const failures = cases.filter((c: { failure?: unknown }) => c.failure);
    expect(failures.length).toBe(r.counts.regression);
    expect(Number(xml.testsuites.failures)).toBe(r.counts.regression);
    expect(gateMarkdown(runGate(sim(), sim()))).toMatch(/^### ✅ edgeplane gate: no regression/);
  });
});
