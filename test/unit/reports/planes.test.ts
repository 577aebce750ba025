import { describe, expect, it } from 'vitest';
import { FALLBACK_COLOURS, runGate } from '../../../reports/index.js';
import { resolvePlanes } from '../../../reports/planes.js';
import { makeResults, REPORT_PLANES } from './fixtures.js';

describe('resolvePlanes', () => {
  it('keeps the listed order and colours, then unlisted planes in first-seen order with unused Okabe–Ito colours', () => {
    const got = resolvePlanes(REPORT_PLANES, ['x', 'cloudstack', 'openstack', 'y']);
    expect(got).toEqual([
      { name: 'openstack', colour: '#0072B2' },
      { name: 'cloudstack', colour: '#009E73' },
      { name: 'x', colour: '#CC79A7' },
      { name: 'y', colour: '#56B4E9' },
    ]);
    // a listed plane absent from the results is not shown, but keeps its colour from the others
    expect(got.map((p) => p.colour)).not.toContain('#E69F00');
  });

  it('without a list: first-seen order, palette in order; deterministic and cycling past its end', () => {
    const names = Array.from({ length: FALLBACK_COLOURS.length + 2 }, (_, i) => `p${i}`);
    const got = resolvePlanes(undefined, names);
    expect(got.map((p) => p.name)).toEqual(names);
    expect(got.slice(0, 3).map((p) => p.colour)).toEqual(['#0072B2', '#E69F00', '#009E73']);
    expect(got[FALLBACK_COLOURS.length].colour).toBe(FALLBACK_COLOURS[0]);
    expect(resolvePlanes(undefined, names)).toEqual(got);
  });

  it('listed planes without a colour take fallback colours in list order; duplicates and empty names are ignored', () => {
    const got = resolvePlanes([{ name: 'b' }, { name: '' }, { name: 'a', colour: '#0072b2' }, { name: 'b', colour: '#ffffff' }], ['a', 'b', 'c']);
    expect(got).toEqual([
      { name: 'b', colour: '#E69F00' },
      { name: 'a', colour: '#0072b2' },
      { name: 'c', colour: '#009E73' },
    ]);
  });
});

describe('planes reports/ has never heard of', () => {
  it('the gate compares them like any other', () => {
    const rename = (s: ReturnType<typeof makeResults>['samples'][number]) => ({ ...s, labels: { ...s.labels, plane: 'testplane' } });
    const base = makeResults({ planes: ['openstack'], nodes: [50], perNode: false }).samples.map(rename);
    const slower = makeResults({ planes: ['openstack'], nodes: [50], perNode: false, latencyFactor: 1.2 }).samples.map(rename);
    expect(runGate(base, base).ok).toBe(true);
    const r = runGate(base, slower);
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.metric === 'makespan')).toMatchObject({ status: 'regression', labels: { plane: 'testplane' } });
  });
});
