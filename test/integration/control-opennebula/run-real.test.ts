// `edgeplane run --env real` with OpenNebula against the real front-end, through the built CLI:
// native mode (oned deploys every node; the results say no bytes moved with the dummy drivers) and
// agent mode (real edgeplane agents pull through oned's API and the added edge services).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireFrontEnd, START_TIMEOUT_MS, type TestFrontEnd } from './frontend.js';

const CLI = resolve(import.meta.dirname, '../../../dist/cli/main.js');
let fe: TestFrontEnd;
let work: string;

const scenario = (name: string, plane: string) => `name: ${name}
seed: 1
repeat: 1
fleet:
  sites: 1
  nodesPerSite: 3
  node: {access: {down: 100Mbit, up: 20Mbit, rtt: 40ms, loss: 0}, disk: 200MB/s, boot: {median: 1s, p99: 2s}}
  site: {wan: {down: 1Gbit, up: 1Gbit, rtt: 10ms}, lan: 1Gbit}
origin: {uplink: 10Gbit, rtt: 1ms}
image: {size: 1MiB, chunk: 256KiB}
planes:
  - ${plane}
strategy: origin
sla: {deployP99: 10m, makespan: 20m, failureRate: 50%}
`;

beforeAll(async () => {
  fe = await acquireFrontEnd();
  work = mkdtempSync(join(tmpdir(), 'edgeplane-one-run-'));
}, START_TIMEOUT_MS);
afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await fe?.release();
}, 120_000);

function results(out: string): { lines: Record<string, unknown>[]; text: string } {
  const text = readFileSync(join(out, 'results.ndjson'), 'utf8');
  return {
    lines: text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>),
    text,
  };
}

describe('run --env real --plane opennebula', () => {
  for (const placement of ['pinned', 'scheduler'] as const) {
    it(`native (${placement}): every node RUNNING, calls and VM state changes recorded, no bytes moved said plainly`, async () => {
      const file = join(work, `native-${placement}.yaml`);
      writeFileSync(file, scenario(`one-native-${placement}`, `{name: opennebula, mode: native, placement: ${placement}}`));
      const out = join(work, `out-native-${placement}`);
      const r = await execa('node', [CLI, 'run', file, '--env', 'real', '--plane', 'opennebula', '--state', fe.stateDir, '--out', out, '--no-report', '--json'], { reject: false });
      expect(r.exitCode, r.stderr).toBe(0);
      const { text } = results(out);
      expect(text).toContain('image bytes moved');
      expect(text).toContain('dummy TM/VMM drivers');
      const ndjson = readdirSync(join(out), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('native-r0.ndjson'));
      expect(ndjson).toHaveLength(1);
      const log = readFileSync(join(out, ndjson[0]!), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; op?: string; state?: string; outcome?: string });
      expect(log.filter((l) => l.type === 'done' && l.outcome === 'running')).toHaveLength(3);
      expect(log.some((l) => l.type === 'state' && l.state === 'ACTIVE/RUNNING')).toBe(true);
      expect(log.some((l) => l.type === 'call' && l.op === 'one.vm.allocate')).toBe(true);
      if (placement === 'pinned') expect(log.filter((l) => l.type === 'call' && l.op === 'one.vm.deploy')).toHaveLength(3);
      else expect(log.some((l) => l.type === 'call' && l.op === 'one.vm.deploy')).toBe(false);
    }, 300_000);
  }
  it('agent: real agents pull through oned and the edge services, every node RUNNING', async () => {
    const file = join(work, 'agent.yaml');
    writeFileSync(file, scenario('one-agent', '{name: opennebula, mode: agent}'));
    const out = join(work, 'out-agent');
    const r = await execa('node', [CLI, 'run', file, '--env', 'real', '--plane', 'opennebula', '--state', fe.stateDir, '--out', out, '--no-report', '--json'], { reject: false });
    expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(/opennebula/);
    const { lines } = results(out);
    const metric = (name: string) => lines.filter((l) => l.metric === name);
    expect(metric('deploy_latency')).toHaveLength(3);
    expect(metric('failures').map((l) => l.value)).toEqual([0]);
    // the image's bytes came from the added byte server: every node's whole sealed image
    expect(metric('origin_egress_bytes')[0]!.value as number).toBeGreaterThanOrEqual(3 * 1024 * 1024);
  }, 400_000);
});
