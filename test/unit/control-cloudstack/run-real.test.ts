// `edgeplane run --env real --plane cloudstack` through the built CLI against the emulator that
// `edgeplane up cloudstack --api-port` starts (only Node needed; `npm test` builds first): native
// mode pinned and through the allocator (3 nodes: deployVirtualMachine + job polling, each host's
// KVM agent downloading the direct-download template, every call and VM state change recorded)
// and agent mode (real edgeplane agents pulling through the signed API, origin and KMS), results
// the report reads; then `fleet` on the agent-mode nodes: revoke, and assigning to the revoked
// node is exit 2.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../free-port.js';

const CLI = resolve(import.meta.dirname, '../../../dist/cli/main.js');
let work = '';
let state = '';

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

const cli = (args: string[]) => execa('node', [CLI, ...args], { reject: false, cwd: work, env: { NO_COLOR: '1' } });

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first`);
  work = mkdtempSync(join(tmpdir(), 'ep-cs-run-'));
  state = join(work, 'state');
  const up = await cli(['up', 'cloudstack', '--state', state, '--api-port', String(await freePort())]);
  expect(up.exitCode, up.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  if (state) await cli(['down', 'cloudstack', '--state', state]);
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

async function run(name: string, plane: string): Promise<{ out: string; results: Record<string, unknown>[] }> {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, scenario(name, plane));
  const out = join(work, `out-${name}`);
  const r = await cli(['run', file, '--env', 'real', '--plane', 'cloudstack', '--state', state, '--out', out, '--no-report']);
  expect(r.exitCode, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`).toBe(0);
  return { out, results: lines(join(out, 'results.ndjson')) };
}

async function reportReads(out: string, label: string): Promise<void> {
  const rep = await cli(['report', join(out, 'results.ndjson'), '-o', join(out, 'report')]);
  expect(rep.exitCode, rep.stderr).toBe(0);
  const md = readFileSync(join(out, 'report', 'report.md'), 'utf8');
  expect(md).toContain('| cloudstack |');
  expect(md).toContain(`mode: ${label}`);
}

describe('run --env real --plane cloudstack', () => {
  for (const placement of ['pinned', 'scheduler'] as const) {
    it(`native (${placement}): 3 VMs Running, each host downloaded the template, calls and VM states recorded`, async () => {
      const { out, results } = await run(`cs-native-${placement}`, `{name: cloudstack, mode: native, placement: ${placement}}`);
      const text = JSON.stringify(results);
      expect(text).toContain('image bytes moved');
      expect(text).toContain('direct-download template');
      const file = readdirSync(out, { recursive: true })
        .map(String)
        .find((f) => f.endsWith('native-r0.ndjson'));
      expect(file).toBeDefined();
      const log = lines(join(out, file!)) as { type: string; op?: string; state?: string; outcome?: string; bytes?: number; intendedHost?: string; placedHost?: string }[];
      const done = log.filter((l) => l.type === 'done');
      expect(done.map((l) => l.outcome)).toEqual(['running', 'running', 'running']);
      if (placement === 'pinned') expect(done.every((l) => l.placedHost === l.intendedHost)).toBe(true);
      expect(log.filter((l) => l.type === 'call' && l.op === 'cs.deployVirtualMachine')).toHaveLength(3);
      expect(log.filter((l) => l.type === 'call' && l.op === 'cs.queryAsyncJobResult').length).toBeGreaterThanOrEqual(3);
      expect(log.filter((l) => l.type === 'state' && l.state === 'Running')).toHaveLength(3);
      // one full download per host that ran a VM (a fresh template per repeat; the allocator may put two VMs on one host)
      const hosts = new Set(done.map((l) => l.placedHost));
      if (placement === 'pinned') expect(hosts.size).toBe(3);
      const downloads = log.filter((l) => l.type === 'download');
      expect(downloads).toHaveLength(hosts.size);
      expect(downloads.every((l) => l.bytes === 1024 * 1024)).toBe(true);
      const meta = results.find((l) => l.type === 'meta') as { assumptions?: { name: string; value: unknown }[] } | undefined;
      expect(meta?.assumptions?.find((a) => a.name === 'image bytes moved')?.value).toBe(1024 * 1024);
      await reportReads(out, 'native');
    }, 300_000);
  }

  it('agent: real agents pull through the signed API, every node RUNNING; then fleet revoke and an assignment to the revoked node is exit 2', async () => {
    const { out } = await run('cs-agent', '{name: cloudstack, mode: agent}');
    await reportReads(out, 'agent');
    const st = await cli(['fleet', 'status', '--plane', 'cloudstack', '--state', state, '--json']);
    expect(st.exitCode, st.stderr).toBe(0);
    const nodes = JSON.parse(st.stdout) as { nodeId: string; enabled: boolean; pin: { imageId: string; version: string } | null; report: { status: string } | null }[];
    const mine = nodes.filter((n) => n.pin?.imageId === 'ep-cs-agent');
    expect(mine.map((n) => [n.nodeId, n.enabled, n.report?.status])).toEqual([
      ['site-000-node-0000', true, 'RUNNING'],
      ['site-000-node-0001', true, 'RUNNING'],
      ['site-000-node-0002', true, 'RUNNING'],
    ]);
    const pin = `${mine[0]!.pin!.imageId}@${mine[0]!.pin!.version}`;
    const rv = await cli(['fleet', 'revoke', 'site-000-node-0000', '--plane', 'cloudstack', '--state', state]);
    expect(rv.exitCode, rv.stderr).toBe(0);
    const as = await cli(['fleet', 'assign', pin, 'site-000-node-0000', '--plane', 'cloudstack', '--state', state]);
    expect(as.exitCode).toBe(2);
    expect(as.stderr).toMatch(/revoked/);
    const after = JSON.parse((await cli(['fleet', 'status', 'site-000-node-0000', '--plane', 'cloudstack', '--state', state, '--json'])).stdout) as { enabled: boolean; pin: unknown }[];
    expect(after[0]).toMatchObject({ enabled: false, pin: null });
  }, 400_000);
});
