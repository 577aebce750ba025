// runScenario hands every results line to its sink as each plane finishes: a run that fails on a
// later plane has already delivered the earlier planes' lines, and onStep says where it was.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../common/index.js';
import { type Environment, runScenario, simEnvironment, simulate } from '../../../environments/index.js';
import { planes as registry } from '../../../planes/index.js';
import { scenario } from './helpers.js';

const yaml = `
name: stream
repeat: 2
fleet: {sites: 2, nodesPerSite: 3}
image: {size: 8MiB, chunk: 1MiB}
planes: [openstack, {name: cloudstack, mode: native}]
`;

describe('streamed results', () => {
  it('the sink gets the same lines, in the same order, as simulate collects', async () => {
    const s = scenario(yaml);
    const lines: string[] = [];
    const r = await runScenario({ env: simEnvironment, scenario: s, scenarioText: yaml, registry, version: 'test', logger: silentLogger, sink: (l) => lines.push(l) });
    const collected = await simulate({ scenario: scenario(yaml), scenarioText: yaml, version: 'test', registry });
    expect(lines).toEqual(collected.lines);
    expect(lines.length).toBe(r.samples.length + r.metas.length);
    expect(JSON.parse(lines[0]).type).toBe('meta');
  });

  it('a failure on a later plane leaves the earlier planes delivered and names where it stopped', async () => {
    const s = scenario(yaml);
    const failing: Environment = {
      ...simEnvironment,
      async open(ctx) {
        const run = await simEnvironment.open(ctx);
        if (ctx.plane.name !== 'cloudstack') return run;
        return { ...run, repeat: async (r) => (r === 1 ? Promise.reject(new Error('boom')) : run.repeat(r)) };
      },
    };
    const lines: string[] = [];
    const steps: string[] = [];
    await expect(
      runScenario({ env: failing, scenario: s, scenarioText: yaml, registry, version: 'test', logger: silentLogger, sink: (l) => lines.push(l), onStep: ({ label, repeat }) => steps.push(`${label} #${repeat + 1}`) }),
    ).rejects.toThrow('boom');
    expect(steps.at(-1)).toBe('cloudstack/native #2');
    const metas = lines.map((l) => JSON.parse(l)).filter((x) => x.type === 'meta');
    expect(metas.map((m) => m.plane)).toEqual(['openstack']);
    expect(lines.length).toBeGreaterThan(1);
  });
});
