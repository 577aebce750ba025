// `edgeplane run <scenario> --env real` on the real stack: a tiny scenario (2 nodes, sim
// hypervisor) is published, enrolled, pinned and deployed by two agent processes; every line of
// results.ndjson must be a valid sample or meta line in the simulator's format, and the report
// renders from it. Bad usage is refused with exit 2 and no stack trace.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MetaSchema, renderReport, SampleSchema, type Meta, type Sample } from '../../../reports/index.js';
import { acquireStack, type TestStack } from '../control-openstack/stack.js';
import { buildPrivateCli } from '../control-openstack/agent/helpers.js';

let ts: TestStack;
let CLI = '';
let work = '';

beforeAll(async () => {
  [CLI, ts] = await Promise.all([buildPrivateCli(), acquireStack()]);
  work = await mkdtemp(join(tmpdir(), 'ep-run-real-'));
}, 600_000);

afterAll(async () => {
  await ts?.release();
  if (work && !process.env.EDGEPLANE_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false, cwd: work, env: { NO_COLOR: '1' } });

it('runs a tiny scenario for real and writes results in the simulator format', async () => {
  const scenario = join(work, 'tiny.yaml');
  await writeFile(scenario, ['name: tiny-real', 'repeat: 2', 'fleet: {sites: 2, nodesPerSite: 2}', 'image: {size: 12MiB, chunk: 1MiB}', 'planes: [openstack]', ''].join('\n'));
  const out = join(work, 'out');
  const r = await cli('run', scenario, '--env', 'real', '--plane', 'openstack', '--state', ts.stack.stateDir, '--hypervisor', 'sim', '--nodes', '2', '--out', out);
  expect(r.exitCode, r.stderr).toBe(0);
  console.log(r.stdout);

  const lines = readFileSync(join(out, 'results.ndjson'), 'utf8').trim().split('\n');
  const metas: Meta[] = [];
  const samples: Sample[] = [];
  for (const [i, line] of lines.entries()) {
    const raw = JSON.parse(line) as { type?: string };
    if (raw.type === 'meta') {
      const m = MetaSchema.safeParse(raw);
      expect(m.success, `line ${i + 1}: ${m.error?.message}`).toBe(true);
      metas.push(m.data!);
    } else {
      const s = SampleSchema.safeParse(raw);
      expect(s.success, `line ${i + 1}: ${s.error?.message}`).toBe(true);
      samples.push(s.data!);
    }
  }
  expect(metas).toHaveLength(1);
  expect(metas[0]).toMatchObject({ env: 'real', plane: 'openstack', mode: 'agent', scenario: { name: 'tiny-real' } });
  expect(metas[0]!.machine).toMatchObject({ os: expect.any(String), arch: expect.any(String), cpus: expect.any(Number), node: process.version });
  for (const s of samples) expect(s.labels).toMatchObject({ scenario: 'tiny-real', plane: 'openstack', mode: 'agent', env: 'real', nodes: 2 });

  // the first two nodes of the scenario, site-major, under their scenario ids
  const byMetric = (m: string, repeat: number | 'all' = 0) => samples.filter((s) => s.metric === m && s.labels.repeat === repeat);
  expect(
    byMetric('deploy_latency')
      .map((s) => s.labels.node)
      .sort(),
  ).toEqual(['site-000/node-0000', 'site-000/node-0001']);
  for (const repeat of [0, 1]) {
    const one = (m: string) => {
      const found = byMetric(m, repeat);
      expect(found, `${m} in repeat ${repeat}`).toHaveLength(1);
      return found[0]!.value;
    };
    const latencies = byMetric('deploy_latency', repeat);
    expect(latencies).toHaveLength(2);
    for (const l of latencies) {
      expect(l.value).toBeGreaterThan(0);
      expect(l.t).toBeGreaterThanOrEqual(l.value);
    }
    expect(one('deploy_latency_p50')).toBeLessThanOrEqual(one('deploy_latency_p99'));
    expect(one('deploy_latency_max')).toBeCloseTo(Math.max(...latencies.map((l) => l.value)), 6);
    expect(one('makespan')).toBeCloseTo(Math.max(...latencies.map((l) => l.t!)), 6);
    expect(one('placement_accuracy')).toBe(1);
    expect(one('failures')).toBe(0);
    // nothing held: one whole GET of the image file (fetch.wholeStreamAt) instead of 12 ranged ones, plus login, pin, image, manifest, key and report
    expect(one('api_calls_per_deploy')).toBeGreaterThanOrEqual(1 + 6);
    expect(one('api_calls_per_deploy')).toBeLessThan(12 + 6);
    expect(one('control_bytes_per_deploy')).toBeGreaterThan(0);
    // each node fetched the whole sealed blob once (12 MiB + 28 bytes per chunk)
    expect(one('origin_egress_bytes')).toBe(2 * (12 * 1024 * 1024 + 12 * 28));
    expect(byMetric('deploy_phase', repeat).map((s) => s.labels.phase)).toEqual(expect.arrayContaining(['manifest', 'key', 'transfer', 'verify', 'boot']));
    expect(byMetric('deploy_start', repeat)).toHaveLength(2);
  }
  expect(byMetric('deploy_latency_cv', 'all')).toHaveLength(1);
  expect(existsSync(join(out, 'index.html'))).toBe(true);

  // the report renders from the file's samples on their own
  const rendered = await renderReport({ samples, metas }, join(work, 'report'));
  expect(readFileSync(rendered.html, 'utf8')).toContain('tiny-real');
});

it('refuses bad usage of --env real with exit 2 and no stack trace', async () => {
  const scenario = join(work, 'big.yaml');
  await writeFile(scenario, ['name: big-real', 'fleet: {sites: 10, nodesPerSite: 10}', 'planes: [openstack]', ''].join('\n'));
  for (const args of [
    ['run', scenario, '--env', 'real', '--state', ts.stack.stateDir, '--nodes', '33'],
    ['run', scenario, '--env', 'real', '--state', ts.stack.stateDir],
    ['run', scenario, '--env', 'real', '--state', ts.stack.stateDir, '--nodes', '2', '--calibration', 'x.json'],
    ['run', scenario, '--state', ts.stack.stateDir],
  ]) {
    const r = await cli(...args);
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }
  const missing = await cli('run', scenario, '--env', 'real', '--state', join(work, 'no-stack'), '--nodes', '1');
  expect(missing.exitCode, missing.stderr).toBe(3);
  expect(missing.stderr).not.toMatch(/\n\s+at /);
});
