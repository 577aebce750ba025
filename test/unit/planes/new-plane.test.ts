// Adding a plane is one folder (test/fixtures/control-toy/) plus one line in a registry: the
// scenario format, the simulator, the results and the report take it without another change.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlaneRegistry } from '../../../adapters/index.js';
import type { InputError } from '../../../common/index.js';
import { simulate } from '../../../environments/index.js';
import { planes } from '../../../planes/index.js';
import { renderReport } from '../../../reports/index.js';
import { ScenarioCatalog } from '../../../scenarios/index.js';
import { toy } from '../../fixtures/control-toy/index.js';

const registry = new PlaneRegistry([...planes.descriptors, toy]); // the one line
const catalog = new ScenarioCatalog(registry.simulated);

const yaml = (planesLine: string) =>
  ['name: toy-rollout', 'repeat: 2', 'fleet: {sites: 2, nodesPerSite: 5}', 'image: {size: 64MiB, chunk: 4MiB}', planesLine, 'faults: {controlOutages: [{service: toy-api, from: 1s, to: 2s}]}', ''].join('\n');

function errorsOf(c: ScenarioCatalog, text: string): string[] {
  try {
    c.parse(text, 'toy.yaml');
  } catch (err) {
    return (err as InputError).details;
  }
  throw new Error('the scenario was accepted');
}

describe('a model-only plane added with one folder and one registry line', () => {
  it('is a plane the scenario format accepts, with its own option and service', () => {
    const s = catalog.parse(yaml('planes: [toy, {name: toy, turbo: true}, openstack]'), 'toy.yaml');
    expect(s.planes.map((p) => [p.name, p.mode, p.flags])).toEqual([
      ['toy', 'agent', { turbo: false }],
      ['toy', 'agent', { turbo: true }],
      ['openstack', 'agent', {}],
    ]);
    // the shipped catalog does not know it
    expect(errorsOf(new ScenarioCatalog(planes.simulated), yaml('planes: [toy]')).join('\n')).toMatch(/planes\[0\]/);
    // its option is its own: another plane may not set it
    expect(errorsOf(catalog, yaml('planes: [{name: openstack, turbo: true}]'))).toEqual(['toy.yaml:5:35: planes[0].turbo: turbo is only available for toy in agent mode']);
  });

  it('`run` simulates it: results, bound and report', async () => {
    const text = yaml('planes: [toy, {name: toy, turbo: true}]');
    const scenario = catalog.parse(text, 'toy.yaml');
    const r = await simulate({ scenario, scenarioText: text, version: 'test', registry });
    expect(r.metas.map((m) => m.plane)).toEqual(['toy', 'toy']);
    const one = (metric: string, turbo: boolean) => r.samples.filter((s) => s.metric === metric && s.labels.repeat === 0 && (s.labels.turbo === 'on') === turbo).map((s) => s.value);
    for (const turbo of [false, true]) {
      expect(one('failures', turbo)).toEqual([0]);
      expect(one('deploy_latency', turbo)).toHaveLength(10);
      expect(one('makespan_ratio_to_bound', turbo)[0]).toBeGreaterThanOrEqual(1);
      expect(one('api_calls_per_deploy', turbo)[0]).toBeGreaterThanOrEqual(5 + 16);
    }
    // the toy's option changes the result: more API workers, no slower
    expect(one('makespan', true)[0]).toBeLessThanOrEqual(one('makespan', false)[0]!);
    expect(r.samples.some((s) => s.metric === 'fault_window' && s.labels.target === 'toy-api')).toBe(true);
    const report = await renderReport({ samples: r.samples, metas: r.metas }, mkdtempSync(join(tmpdir(), 'ep-toy-')), {
      planes: registry.descriptors.map((d) => ({ name: d.name, colour: d.colour })),
    });
    const html = readFileSync(report.html, 'utf8');
    expect(html).toContain('toy');
    expect(html).toContain(toy.colour);
  });
});
