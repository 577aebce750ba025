// `run --env emulate` with OpenNebula native against the real oned: the emulated nodes are hosts
// over ssh (an sshd in each node's namespace), the run's datastores use OpenNebula's own ssh
// transfer driver, so PROLOG moves the image's bytes over the shaped links. Root (namespaces).
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OneClient, oneLayout } from '../../../control-opennebula/index.js';
import { listEmulationNamespaces } from '../../../environments/emulate/index.js';
import { readResults } from '../../../reports/index.js';
import { acquireFrontEnd, START_TIMEOUT_MS, type TestFrontEnd } from './frontend.js';

const CLI = resolve(import.meta.dirname, '../../../dist/cli/main.js');
const IMAGE_MIB = 8;
const WAN_MBIT = 40;
let fe: TestFrontEnd;
let work: string;

const scenario = (name: string, extra = '') => `name: ${name}
seed: 5
repeat: 1
fleet:
  sites: 2
  nodesPerSite: 2
  node: {access: {down: 100Mbit, up: 20Mbit, rtt: 4ms}, boot: 1s}
  site: {wan: {down: ${WAN_MBIT}Mbit, up: ${WAN_MBIT}Mbit, rtt: 10ms}, lan: 1Gbit}
origin: {uplink: 1Gbit, rtt: 1ms}
image: {size: ${IMAGE_MIB}MiB, chunk: 1MiB}
planes:
  - {name: opennebula, mode: native, placement: pinned}
strategy: origin
sla: {makespan: 10m}
${extra}`;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the emulation builds network namespaces: run the integration tests as root');
  fe = await acquireFrontEnd();
  work = mkdtempSync(join(tmpdir(), 'edgeplane-one-emulate-'));
}, START_TIMEOUT_MS);
afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await fe?.release();
}, 120_000);

async function runEmulated(name: string, extra = '') {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, scenario(name, extra));
  const out = join(work, `out-${name}`);
  const r = await execa('node', [CLI, 'run', file, '--env', 'emulate', '--state', fe.stateDir, '--out', out, '--no-report', '--json'], { reject: false });
  expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
  const { metas, samples } = await readResults([join(out, 'results.ndjson')]);
  const metric = (m: string) => samples.filter((s) => s.metric === m).map((s) => s.value);
  const stateLog = readdirSync(out, { recursive: true })
    .map(String)
    .find((f) => f.endsWith('native-r0.ndjson'))!;
  const log = readFileSync(join(out, stateLog), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; node?: string; state?: string; ms?: number; outcome?: string });
  return { metas, metric, log };
}

describe('run --env emulate --plane opennebula (native, hosts over ssh)', () => {
  it("moves the image with OpenNebula's ssh transfer driver over the shaped links, within their physics, and leaves nothing behind", async () => {
    const { metas, metric, log } = await runEmulated('one-emu-native');
    expect(metric('failures')).toEqual([0]);
    expect(metric('deploy_latency')).toHaveLength(4);
    expect(metric('placement_accuracy')).toEqual([1]);
    const assumptions = metas[0]!.assumptions as { name: string; value: unknown; source: string }[];
    const moved = assumptions.find((a) => a.name === 'image bytes moved')!;
    expect(moved.value).toBe(IMAGE_MIB * 2 ** 20);
    expect(moved.source).toContain('src/tm_mad/ssh/clone');
    // every node's access link carried at least the image (checked on disk by SHA-256 before RUNNING counted)
    expect(metric('emulate_node_rx')[0]!).toBeGreaterThanOrEqual(IMAGE_MIB * 2 ** 20);
    // physics, computed here from the links: two nodes of a site share its WAN
    const siteWanSeconds = (2 * IMAGE_MIB * 2 ** 20 * 8) / (WAN_MBIT * 1e6);
    expect(metric('makespan')[0]!).toBeGreaterThanOrEqual(siteWanSeconds);
    expect(metric('makespan')[0]!).toBeGreaterThanOrEqual(metric('makespan_lower_bound')[0]!);
    // cause before effect: every node went through PROLOG (the copy) before RUNNING
    for (const node of new Set(log.filter((l) => l.type === 'state').map((l) => l.node))) {
      const states = log.filter((l) => l.type === 'state' && l.node === node);
      const prolog = states.find((s) => s.state === 'ACTIVE/PROLOG');
      const running = states.find((s) => s.state === 'ACTIVE/RUNNING');
      expect(prolog, String(node)).toBeDefined();
      expect(running!.ms! - prolog!.ms!).toBeGreaterThanOrEqual(((IMAGE_MIB * 2 ** 20 * 8) / (WAN_MBIT * 1e6)) * 1000);
    }
    // nothing left: no run datastores, no hosts in the drivers' ssh configuration, no namespaces
    const admin = new OneClient({ endpoint: fe.credentials.endpoint, username: fe.credentials.username, password: fe.credentials.password });
    try {
      const ds = await admin.datastorePool();
      expect(ds.filter((d) => d.TM_MAD === 'ssh' && d.NAME.endsWith('-system'))).toEqual([]);
    } finally {
      await admin.close();
    }
    expect(readFileSync(oneLayout(fe.stateDir).sshConfig, 'utf8')).not.toMatch(/^Host /m);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 400_000);

  it('a WAN cut stalls the copies of that site: those begun during the cut and those in flight go on when the link returns', async () => {
    // site-000 is cut before its copies begin (their ssh connections retry their SYNs through the
    // silent cut), site-001 while its copies are under way (its TCP connections stall)
    const cuts = 'faults:\n  linkDown:\n    - {sites: [site-000], from: 0s, to: 9s}\n    - {sites: [site-001], from: 1s, to: 6s}\n';
    const { metric, log } = await runEmulated('one-emu-native-cut', cuts);
    expect(metric('failures')).toEqual([0]);
    const runningAt = (node: string) => log.find((l) => l.type === 'state' && l.node === node && l.state === 'ACTIVE/RUNNING')!.ms!;
    // no copy can finish before its site's link is back plus the bytes left
    expect(runningAt('site-000/node-0000')).toBeGreaterThan(9_000);
    expect(runningAt('site-000/node-0001')).toBeGreaterThan(9_000);
    expect(runningAt('site-001/node-0000')).toBeGreaterThan(6_000);
    expect(runningAt('site-001/node-0001')).toBeGreaterThan(6_000);
  }, 400_000);
});
