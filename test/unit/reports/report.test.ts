import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { renderReport } from '../../../reports/index.js';
import { makeResults, REPORT_PLANES } from './fixtures.js';

async function render(input: ReturnType<typeof makeResults>, options: Parameters<typeof renderReport>[2] = { planes: REPORT_PLANES }) {
  const dir = await mkdtemp(join(tmpdir(), 'edgeplane-report-'));
  const out = await renderReport(input, dir, options);
  return { dir, out, html: await readFile(out.html, 'utf8'), md: await readFile(out.markdown, 'utf8') };
}

/** Count of drawn data marks (class="data") in an SVG string. */
const marks = (svg: string) => (svg.match(/class="data"/g) ?? []).length;

describe('renderReport', () => {
  it('renders one plane: CDF, phases, bounds and timeline, no scaling chart', async () => {
    const { out, html, md } = await render(makeResults({ planes: ['openstack'], nodes: [50] }));
    const names = out.charts.map((c) => c.replace(/.*\//, ''));
    expect(names).toEqual(['01-default-latency-cdf.svg', '01-default-phases.svg', '01-default-bounds.svg', '01-default-timeline.svg']);
    for (const c of out.charts) expect(marks(await readFile(c, 'utf8')), c).toBeGreaterThan(0);
    // one column only: nothing to mark as best
    expect(html).not.toContain('class="num best"');
    expect(md).toContain('![Deploy latency CDF — default (50 nodes)](charts/01-default-latency-cdf.svg)');
  });

  it('renders three planes overlaid, marks the best value per row and lists what each plane lacks', async () => {
    const { out, html, md } = await render(makeResults({ nodes: [80] }));
    const cdf = await readFile(out.charts[0], 'utf8');
    expect(marks(cdf)).toBe(3);
    for (const colour of ['#0072B2', '#E69F00', '#009E73']) expect(cdf).toContain(colour);
    const phases = await readFile(out.charts[1], 'utf8');
    expect(marks(phases)).toBe(3 * 8); // 8 phases per plane
    // the p50 row: openstack has the fastest phases in the fixture
    const p50 = /<tr><th scope="row">deploy latency p50<\/th>(.*?)<\/tr>/.exec(html)![1];
    expect(p50.match(/<td[^>]*>/g)![0]).toContain('best');
    expect(md).toMatch(/\| \*\*Latency\*\* · deploy latency p50 \| \*\*★ [\d.]+ s\*\* \|/);
    expect(md).toMatch(/\| cloudstack \|.*\| kms, signed-manifests \|/);
    expect(html).toContain('Model assumptions and their sources');
    expect(html).toContain('calibration/default.json');
    // self-contained: no external references
    expect(html).not.toMatch(/<(script|link)\b|src="http|href="http/);
  });

  it('adds a log–log scaling chart when several fleet sizes are given', async () => {
    const { out } = await render(makeResults({ nodes: [50, 200, 800], planes: ['openstack', 'opennebula'] }));
    const scaling = out.charts.find((c) => c.endsWith('-scaling.svg'));
    expect(scaling).toBeDefined();
    const svg = await readFile(scaling!, 'utf8');
    expect(marks(svg)).toBe(2);
    expect(svg).toContain('fleet size (nodes)');
    expect(svg).toContain('makespan (s)');
    // 3 points per series
    expect((svg.match(/<circle/g) ?? []).length).toBe(6);
  });

  it('tells apart the same plane from two sources (e.g. two versions)', async () => {
    const a = makeResults({ planes: ['openstack'], nodes: [40], source: 'v1/results.ndjson' });
    const b = makeResults({ planes: ['openstack'], nodes: [40], source: 'v2/results.ndjson', latencyFactor: 0.7 });
    const { html } = await render({ samples: [...a.samples, ...b.samples], metas: [...a.metas, ...b.metas] });
    expect(html).toContain('openstack · v1/results');
    expect(html).toContain('openstack · v2/results');
  });

  it('every axis carries a unit', async () => {
    const { out } = await render(makeResults({ nodes: [30, 60] }));
    for (const c of out.charts) {
      const svg = await readFile(c, 'utf8');
      const labels = svg.match(/<text[^>]*text-anchor="middle"[^>]*>[^<]*\([^)]*\)<\/text>/g) ?? [];
      expect(labels.length, c).toBeGreaterThanOrEqual(1);
    }
  });

  it('renders 3 planes × 10k nodes in a few seconds with small SVGs', async () => {
    const input = makeResults({ nodes: [10_000] });
    const t0 = performance.now();
    const { out, dir } = await render(input);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(8000);
    for (const f of await readdir(join(dir, 'charts'))) {
      expect((await readFile(join(dir, 'charts', f))).length, f).toBeLessThan(150_000);
    }
    expect(out.charts.length).toBe(4);
  });

  it('orders and colours the planes as the caller lists them, unlisted planes after', async () => {
    const a = makeResults({ planes: ['cloudstack', 'openstack'], nodes: [20], perNode: true, faults: false });
    // a plane reports/ has never heard of, named only in the results
    const extra = makeResults({ planes: ['opennebula'], nodes: [20], faults: false });
    const rename = (s: (typeof extra.samples)[number]) => ({ ...s, labels: { ...s.labels, plane: 'testplane' } });
    const input = { samples: [...a.samples, ...extra.samples.map(rename)], metas: a.metas };
    const { out, html, md } = await render(input, { planes: [{ name: 'openstack', colour: '#123456' }, { name: 'cloudstack' }] });
    // columns of the side-by-side table and rows of the complexity table: listed order, then first seen
    expect(md).toMatch(/\| {2}\| openstack \| cloudstack \| testplane \|/);
    const complexity = md.slice(md.indexOf('### Complexity profile per plane'), md.indexOf('### Model assumptions'));
    const rows = complexity
      .split('\n')
      .filter((l) => /^\| (openstack|cloudstack|testplane) \|/.test(l))
      .map((l) => l.split(' | ')[0].slice(2));
    expect(rows).toEqual(['openstack', 'cloudstack', 'testplane']);
    expect(html).toContain('planes: openstack, cloudstack, testplane');
    // the listed colour; the others the first Okabe–Ito colours in order of appearance
    const cdf = await readFile(out.charts[0], 'utf8');
    const strokes = [...cdf.matchAll(/<[^>]*class="data"[^>]*>/g)].map((m) => /stroke="(#[0-9A-Fa-f]{6})"/.exec(m[0])?.[1]);
    expect(strokes).toEqual(['#123456', '#0072B2', '#E69F00']);
  });

  it('without a plane list shows the planes in first-seen order', async () => {
    const r = makeResults({ planes: ['cloudstack', 'opennebula'], nodes: [20], faults: false });
    const { md, out } = await render(r, {});
    expect(md).toMatch(/\| {2}\| cloudstack \| opennebula \|/);
    const cdf = await readFile(out.charts[0], 'utf8');
    expect([...cdf.matchAll(/<[^>]*class="data"[^>]*>/g)].map((m) => /stroke="(#[0-9A-Fa-f]{6})"/.exec(m[0])?.[1])).toEqual(['#0072B2', '#E69F00']);
  });

  it('rejects empty results', async () => {
    await expect(renderReport({ samples: [], metas: [] }, tmpdir())).rejects.toBeInstanceOf(InputError);
  });
});
