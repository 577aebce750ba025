// The built `edgeplane` command, as a user runs it (npm test builds dist/ first).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { SampleSchema } from '../../reports/index.js';

const CLI = join(__dirname, '../../dist/cli/main.js');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'edgeplane-e2e-'));

async function edgeplane(...args: string[]) {
  return execa(process.execPath, [CLI, ...args], { reject: false, env: { NO_COLOR: '1' } });
}

function noStack(text: string): void {
  expect(text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
}

const small = (extra = ''): string => `
name: small
fleet: {sites: 2, nodesPerSite: 3}
image: {size: 8MiB, chunk: 1MiB}
planes: [openstack, {name: cloudstack, mode: native}]
${extra}
`;

describe('edgeplane CLI', () => {
  it('--help works on every command', async () => {
    for (const cmd of [[], ['run'], ['validate'], ['list'], ['report'], ['gate']]) {
      const r = await edgeplane(...cmd, '--help');
      expect(r.exitCode, cmd.join(' ')).toBe(0);
      expect(r.stdout).toContain('Usage:');
    }
  });

  it('list names the shipped scenarios', async () => {
    const r = await edgeplane('list');
    expect(r.exitCode).toBe(0);
    for (const name of ['default', 'rollout-10k', 'rollout-100k', 'wan-partition', 'flaky-links', 'delta-update', 'boot-storm']) {
      expect(r.stdout).toMatch(new RegExp(`^${name}\\s`, 'm'));
    }
  });

  it('validate: shipped scenarios pass (0), a broken file gives file:line:col and exit 2', async () => {
    expect((await edgeplane('validate', 'default', 'boot-storm')).exitCode).toBe(0);
    const dir = tmp();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nplanes: [openstack]\nimage:\n  size: 12 parsecs\n');
    const r = await edgeplane('validate', bad);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:4:9: /);
    noStack(r.stderr);
  });

  it('run: bad usage and bad input exit 2 without a stack trace', async () => {
    for (const args of [
      ['run'],
      ['run', 'no-such-scenario'],
      ['run', 'default', '--seed', 'abc'],
      ['run', 'default', '--plane', 'nova'],
      ['run', 'default', '--repeat', '0'],
      ['run', 'default', '--env', 'emulate'],
      // an agent-mode emulation talks to its stand-in: a plane's state directory does not apply
      ['run', 'emulate-agreement', '--env', 'emulate', '--state', '/nonexistent'],
      ['run', 'default', '--bogus'],
    ]) {
      const r = await edgeplane(...args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      noStack(r.stderr);
    }
  });

  it('run: writes results.ndjson of valid samples, a report, and exits 0', async () => {
    const dir = tmp();
    const file = join(dir, 'small.yaml');
    writeFileSync(file, small());
    const out = join(dir, 'out');
    const r = await edgeplane('run', file, '--out', out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/openstack\/agent/);
    expect(r.stdout).toMatch(/cloudstack\/native/);
    const lines = readFileSync(join(out, 'results.ndjson'), 'utf8').trim().split('\n');
    let samples = 0;
    for (const line of lines) {
      const obj = JSON.parse(line) as { type?: string };
      if (obj.type === 'meta') continue;
      SampleSchema.parse(obj);
      samples++;
    }
    expect(samples).toBeGreaterThan(20);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('<svg');
  });

  it('run --json prints a machine-readable summary', async () => {
    const dir = tmp();
    const file = join(dir, 'small.yaml');
    writeFileSync(file, small());
    const r = await edgeplane('run', file, '--out', join(dir, 'o'), '--json', '--no-report', '--plane', 'openstack');
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { scenarios: { planes: { plane: string; metrics: Record<string, number> }[] }[] };
    expect(j.scenarios[0].planes.map((p) => p.plane)).toEqual(['openstack']);
    expect(j.scenarios[0].planes[0].metrics.deploy_latency_p99).toBeGreaterThan(0);
  });

  it('run: a missed SLA exits 1 and names it', async () => {
    const dir = tmp();
    const file = join(dir, 'sla.yaml');
    writeFileSync(file, small('sla: {deployP99: 1ms}'));
    const r = await edgeplane('run', file, '--out', join(dir, 'o'), '--no-report');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/SLA missed/);
    expect(r.stderr).toMatch(/deployP99/);
  });
});
