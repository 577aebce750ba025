import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { scenarios } from '../../../planes/index.js';
import { nodeId, SHIPPED_DIR, siteId, type Scenario } from '../../../scenarios/index.js';

const MINIMAL = 'name: x\nplanes: [openstack]\n';

/** The details of the InputError that parsing `text` throws. */
function errorsOf(text: string, file = 'bad.yaml'): string[] {
  try {
    scenarios.parse(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    const details = (err as InputError).details;
    expect((err as InputError).message).toBe(`invalid scenario ${file} (${details.length} ${details.length === 1 ? 'error' : 'errors'})`);
    return details;
  }
  throw new Error('expected the scenario to be rejected');
}

function parse(text: string): Scenario {
  return scenarios.parse(text, 'ok.yaml');
}

describe('shipped scenarios', () => {
  const required = ['default', 'rollout-10k', 'rollout-100k', 'wan-partition', 'flaky-links', 'delta-update', 'boot-storm', 'peer-swarm', 'site-cache', 'login-storm'];

  it('include every required scenario, each valid and described in one sentence', async () => {
    const shipped = await scenarios.listShipped();
    expect(shipped.map((s) => s.name)).toEqual(expect.arrayContaining(required));
    for (const s of shipped) {
      expect(s.description, s.name).toMatch(/^[A-Z][^\n]*\.$/);
      const { scenario } = await scenarios.load(s.name);
      expect(scenario.name).toBe(s.name);
    }
  });

  it('start with the schema comment', async () => {
    for (const s of await scenarios.listShipped()) {
      const { text } = await scenarios.load(s.path);
      expect(text.split('\n')[0], s.name).toBe('# yaml-language-server: $schema=../schema.json');
    }
  });

  it('have the shapes the brief asks for', async () => {
    const get = async (name: string) => (await scenarios.load(name)).scenario;
    const def = await get('default');
    expect(def.planes.map((p) => `${p.name}:${p.mode}`)).toEqual(['openstack:agent', 'opennebula:native', 'cloudstack:native']);
    expect(def.fleet.sites * def.fleet.nodesPerSite).toBe(200);
    expect(def.repeat).toBe(3);
    expect(def.faults.chunkCorruption).toBeCloseTo(0.001);
    const big = await get('rollout-100k');
    expect(big.fleet.sites * big.fleet.nodesPerSite).toBe(100_000);
    expect(big.planes).toHaveLength(1);
    expect((await get('rollout-10k')).fleet.sites * (await get('rollout-10k')).fleet.nodesPerSite).toBe(10_000);
    expect((await get('delta-update')).image.previous).toEqual({ sharedFraction: 0.9 });
    expect((await get('peer-swarm')).strategy).toBe('peer');
    expect((await get('site-cache')).strategy).toBe('site-cache');
    expect((await get('boot-storm')).concurrency.maxConcurrentDeploys).toBeGreaterThan(0);
    const wan = await get('wan-partition');
    expect(wan.faults.partitions.length).toBeGreaterThan(0);
    expect(wan.faults.controlOutages.length).toBeGreaterThan(0);
  });

  it('SHIPPED_DIR is the absolute shipped folder', () => {
    expect(existsSync(join(SHIPPED_DIR, 'default.yaml'))).toBe(true);
  });
});

describe('loadScenario', () => {
  it('loads a path as well as a shipped name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeplane-scn-'));
    const file = join(dir, 'mine.yaml');
    await writeFile(file, MINIMAL);
    const loaded = await scenarios.load(file);
    expect(loaded.scenario.name).toBe('x');
    expect(loaded.text).toBe(MINIMAL);
  });

  it('names the shipped scenarios when nothing matches', async () => {
    const err = await scenarios.load('no-such-scenario').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toContain('no-such-scenario');
    expect((err as InputError).details.join('\n')).toContain('default');
  });

  it('reports errors against the file path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeplane-scn-'));
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'name: x\n');
    const err = (await scenarios.load(file).catch((e: unknown) => e)) as InputError;
    expect(err.details).toEqual([`${file}:1:1: planes: missing required key`]);
  });
});

describe('parsing', () => {
  it('fills every default from a minimal scenario', () => {
    const s = parse(MINIMAL);
    expect(s.description).toBe('');
    expect(s.seed).toBe(1);
    expect(s.repeat).toBe(1);
    expect(s.fleet.node.access).toEqual({ downBitsPerS: 100e6, upBitsPerS: 20e6, rttUs: 40_000, loss: 0 });
    expect(s.fleet.node.diskBitsPerS).toBe(200e6 * 8);
    expect(s.fleet.node.boot).toEqual({ kind: 'lognormal', medianUs: 8e6, p99Us: 20e6 });
    expect(s.fleet.site).toEqual({ wan: { downBitsPerS: 1e9, upBitsPerS: 1e9, rttUs: 10_000, loss: 0 }, lanBitsPerS: 1e9 });
    expect(s.origin).toEqual({ uplinkBitsPerS: 10e9, rttUs: 1000 });
    expect(s.image).toEqual({ sizeBytes: 512 * 2 ** 20, chunkBytes: 4 * 2 ** 20, previous: null });
    expect(s.strategy).toBe('origin');
    expect(s.concurrency).toEqual({ maxConcurrentDeploys: 0, rangesInFlight: 4, wholeStreamAt: 0.5 });
    expect(s.faults).toEqual({ crashes: [], crashRate: null, linkDown: [], partitions: [], controlOutages: [], chunkCorruption: 0 });
    expect(s.sla).toEqual({ deployP99Us: null, makespanUs: null, failureRate: null });
    expect(s).not.toHaveProperty('$schema');
  });

  it('keeps defaults for the link fields an override leaves out', () => {
    const s = parse(`${MINIMAL}fleet: {node: {access: {down: 1Gbit}, boot: 5s}}\n`);
    expect(s.fleet.node.access).toEqual({ downBitsPerS: 1e9, upBitsPerS: 20e6, rttUs: 40_000, loss: 0 });
    expect(s.fleet.node.boot).toEqual({ kind: 'fixed', us: 5e6 });
  });

  it('parses selectors, overrides, faults and planes', () => {
    const s = parse(`$schema: ../schema.json
name: x
planes: [openstack, {name: opennebula, replicaCache: true, placement: scheduler}, {name: cloudstack, directDownload: true}, {name: cloudstack, mode: agent}]
fleet:
  sites: 4
  nodesPerSite: 5
  siteOverrides: [{sites: [site-001], wan: {rtt: 80ms}, lan: 10Gbit}]
  nodeOverrides:
    - {nodes: 3, disk: 50MB/s}
    - {nodes: 10%, access: {loss: 1%}}
    - {nodes: [site-003/node-0004], boot: {median: 1s, p99: 2s}}
    - {sites: [site-000], boot: 2s}
faults:
  crashes: [{at: 1.5m, nodes: 1, downFor: 20s}]
  crashRate: {perNodePerHour: 0.1, downFor: 1m}
  partitions: [{sites: [site-002], from: 10s, to: 40s}]
  controlOutages: [{service: oned, from: 1s, to: 2s}, {service: all, from: 3s, to: 4s}]
`);
    expect(s.planes).toEqual([
      { name: 'openstack', mode: 'agent', placement: 'pinned', flags: {} },
      { name: 'opennebula', mode: 'native', placement: 'scheduler', flags: { replicaCache: true } },
      { name: 'cloudstack', mode: 'native', placement: 'pinned', flags: { directDownload: true } },
      { name: 'cloudstack', mode: 'agent', placement: 'pinned', flags: { directDownload: false } },
    ]);
    expect(s.fleet.siteOverrides).toEqual([{ sites: ['site-001'], wan: { rttUs: 80_000 }, lanBitsPerS: 10e9 }]);
    expect(s.fleet.nodeOverrides.map((o) => o.select)).toEqual([{ count: 3 }, { fraction: 0.1 }, { ids: ['site-003/node-0004'] }, { sites: ['site-000'] }]);
    expect(s.fleet.nodeOverrides[1]).toEqual({ select: { fraction: 0.1 }, access: { loss: 0.01 } });
    expect(s.faults.crashes).toEqual([{ at: 90e6, select: { count: 1 }, downForUs: 20e6 }]);
    expect(s.faults.crashRate).toEqual({ perNodePerHour: 0.1, downForUs: 60e6 });
    expect(s.faults.partitions).toEqual([{ sites: ['site-002'], fromUs: 10e6, toUs: 40e6 }]);
  });
});

describe('ids', () => {
  it('pad to at least 3 and 4 digits, more when needed', () => {
    expect(siteId(3, 10)).toBe('site-003');
    expect(siteId(999, 1000)).toBe('site-999');
    expect(siteId(7, 1001)).toBe('site-0007');
    expect(nodeId(3, 7, 10, 20)).toBe('site-003/node-0007');
    expect(nodeId(0, 12, 1, 100_000)).toBe('site-000/node-00012');
  });
});

describe('invalid scenarios', () => {
  it('a wrong unit', () => {
    expect(errorsOf(`${MINIMAL}origin:\n  uplink: 10Gbits\n`)).toEqual(['bad.yaml:4:11: origin.uplink: invalid bandwidth "10Gbits": expected a number and a unit, e.g. 100Mbit, 1Gbit, 50MB/s, 50MiB/s']);
  });

  it('a number where a duration with a unit is expected', () => {
    expect(errorsOf(`${MINIMAL}origin: {rtt: 40}\n`)).toEqual(['bad.yaml:3:15: origin.rtt: expected a duration with a unit, e.g. 40ms']);
  });

  it('an unknown key, with a hint', () => {
    expect(errorsOf(`${MINIMAL}fleet:\n  sites: 2\n  node:\n    acess: {down: 1Gbit}\n`)).toEqual(['bad.yaml:6:5: fleet.node.acess: unknown key "acess" (did you mean "access"?)']);
  });

  it('an unknown key with nothing close gets no hint', () => {
    expect(errorsOf(`${MINIMAL}colour: blue\n`)).toEqual(['bad.yaml:3:1: colour: unknown key "colour"']);
  });

  it('a missing required field', () => {
    expect(errorsOf('name: x\nfleet: {sites: 2}\n')).toEqual(['bad.yaml:1:1: planes: missing required key']);
    expect(errorsOf('name: x\nplanes: [{mode: agent}]\n')).toEqual(['bad.yaml:2:10: planes[0].name: missing required key']);
  });

  it('a bad type', () => {
    expect(errorsOf(`${MINIMAL}fleet:\n  sites: many\n`)).toEqual(['bad.yaml:4:10: fleet.sites: expected an integer, got "many"']);
    expect(errorsOf(`${MINIMAL}repeat: 0\n`)[0]).toMatch(/^bad\.yaml:3:9: repeat: /);
  });

  it('an enum value with a hint', () => {
    expect(errorsOf(`${MINIMAL}strategy: peers\n`)).toEqual(['bad.yaml:3:11: strategy: expected one of origin, site-cache, peer, got "peers" (did you mean "peer"?)']);
    expect(errorsOf('name: x\nplanes: [openstak]\n')).toEqual(['bad.yaml:2:10: planes[0]: expected one of openstack, opennebula, cloudstack, got "openstak" (did you mean "openstack"?)']);
  });

  it('a YAML syntax error', () => {
    const [line] = errorsOf('name: x\nplanes: [openstack\nfleet: {}\n');
    expect(line).toMatch(/^bad\.yaml:\d+:\d+: YAML syntax error: /);
    expect(errorsOf('name: x\nname: y\nplanes: [openstack]\n')).toEqual(['bad.yaml:2:1: YAML syntax error: Map keys must be unique']);
  });

  it('a scenario that is not a mapping', () => {
    expect(errorsOf('')).toEqual(['bad.yaml:1:1: a scenario must be a mapping with at least "name" and "planes"']);
    expect(errorsOf('- a\n- b\n')).toHaveLength(1);
  });

  it('references to sites and nodes that do not exist', () => {
    const text = `${MINIMAL}fleet: {sites: 3, nodesPerSite: 5}
faults:
  linkDown:
    - {sites: [site-001, site-003], from: 1s, to: 2s}
  crashes:
    - {at: 1s, nodes: [site-000/node-0005], downFor: 1s}
    - {at: 1s, nodes: 16, downFor: 1s}
    - {at: 1s, nodes: [site-1/node-0000], downFor: 1s}
`;
    expect(errorsOf(text)).toEqual([
      'bad.yaml:6:26: faults.linkDown[0].sites[1]: no site "site-003" in this fleet (sites are site-000 to site-002)',
      'bad.yaml:8:24: faults.crashes[0].nodes[0]: no node "site-000/node-0005" in this fleet (nodes are site-000/node-0000 to site-002/node-0004)',
      'bad.yaml:9:23: faults.crashes[1].nodes: 16 nodes asked for but the fleet has 15',
      'bad.yaml:10:24: faults.crashes[2].nodes[0]: no node "site-1/node-0000" in this fleet (nodes are site-000/node-0000 to site-002/node-0004)',
    ]);
    expect(errorsOf(`${MINIMAL}fleet:\n  sites: 2\n  siteOverrides: [{sites: [site-002], lan: 1Gbit}]\n`)).toEqual([
      'bad.yaml:5:28: fleet.siteOverrides[0].sites[0]: no site "site-002" in this fleet (sites are site-000 to site-001)',
    ]);
  });

  it('openstack in native mode', () => {
    expect(errorsOf('name: x\nplanes:\n  - {name: openstack, mode: native}\n')).toEqual(["bad.yaml:3:29: planes[0].mode: openstack has no native mode here: edgeplane's agent and pinning replace Nova"]);
  });

  it('plane options on the wrong plane, and duplicate planes', () => {
    expect(errorsOf('name: x\nplanes:\n  - {name: cloudstack, replicaCache: true}\n')).toEqual(['bad.yaml:3:38: planes[0].replicaCache: replicaCache is only available for opennebula in native mode']);
    expect(errorsOf('name: x\nplanes:\n  - {name: opennebula, mode: agent, directDownload: true}\n')[0]).toMatch(/^bad\.yaml:3:53: planes\[0\]\.directDownload: directDownload is only available for cloudstack/);
    expect(errorsOf('name: x\nplanes: [opennebula, {name: opennebula, mode: native}]\n')).toEqual(['bad.yaml:2:22: planes[1]: duplicate plane: same as planes[0]']);
  });

  it('windows that end before they start, chunks larger than the image', () => {
    expect(errorsOf(`${MINIMAL}faults:\n  partitions: [{sites: [site-000], from: 10s, to: 5s}]\n`)).toEqual(['bad.yaml:4:51: faults.partitions[0].to: "to" must be later than "from"']);
    expect(errorsOf(`${MINIMAL}image: {size: 1MiB, chunk: 4MiB}\n`)).toEqual(['bad.yaml:3:28: image.chunk: chunk size must not exceed the image size']);
  });

  it('a crash that names both nodes and sites', () => {
    expect(errorsOf(`${MINIMAL}faults:\n  crashes: [{at: 1s, nodes: 1, sites: [site-000], downFor: 1s}]\n`)).toEqual(['bad.yaml:4:13: faults.crashes[0]: give exactly one of "nodes" or "sites"']);
  });

  it('an outage of a service no selected plane has', () => {
    expect(errorsOf(`${MINIMAL}faults:\n  controlOutages: [{service: oned, from: 1s, to: 2s}]\n`)[0]).toMatch(/^bad\.yaml:4:30: faults\.controlOutages\[0\]\.service: unknown service "oned".*keystone/);
  });

  it('a fleet above one million nodes', () => {
    expect(errorsOf(`${MINIMAL}fleet: {sites: 1001, nodesPerSite: 1000}\n`)).toEqual(['bad.yaml:3:36: fleet.nodesPerSite: the fleet has 1,001,000 nodes; edgeplane simulates at most 1,000,000']);
  });

  it('reports several errors at once, in file order', () => {
    const details = errorsOf('name: x\nplanes: [openstack]\nseed: -1\nimage: {size: huge}\n', 'x.yaml');
    expect(details).toHaveLength(2);
    expect(details[0]).toMatch(/^x\.yaml:3:7: seed: /);
    expect(details[1]).toMatch(/^x\.yaml:4:15: image\.size: invalid size "huge"/);
  });
});
