// `run --env emulate` with CloudStack native: the run's own management-server emulator listens on
// the fleet's origin host, each Edge host's KVM agent is a process in its node's namespace, and
// every agent downloads the direct-download template itself across the shaped links. Root
// (namespaces); nothing else: the emulator and the agents are the project's own.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEmulationNamespaces } from '../../../environments/emulate/index.js';
import { readResults } from '../../../reports/index.js';

const CLI = resolve(import.meta.dirname, '../../../dist/cli/main.js');
const IMAGE_MIB = 8;
const WAN_MBIT = 40;
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
  - {name: cloudstack, mode: native, placement: pinned, directDownload: true}
strategy: origin
sla: {makespan: 10m}
${extra}`;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('the emulation builds network namespaces: run the integration tests as root');
  work = mkdtempSync(join(tmpdir(), 'edgeplane-cs-emulate-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface LogLine {
  type: string;
  state?: string;
  vm?: string;
  ms?: number;
  status?: number;
  bytes?: number;
  startMs?: number;
  endMs?: number;
}

async function runEmulated(name: string, extra = '') {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, scenario(name, extra));
  const out = join(work, `out-${name}`);
  const r = await execa('node', [CLI, 'run', file, '--env', 'emulate', '--out', out, '--no-report', '--json'], { reject: false });
  expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
  const { metas, samples } = await readResults([join(out, 'results.ndjson')]);
  const metric = (m: string) => samples.filter((s) => s.metric === m).map((s) => s.value);
  const file0 = readdirSync(out, { recursive: true })
    .map(String)
    .find((f) => f.endsWith('native-r0.ndjson'))!;
  const log = readFileSync(join(out, file0), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LogLine);
  return { out, metas, metric, log };
}

/** Processes of this test's work folder still running (emulator, KVM agents). */
function leftovers(): string[] {
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => l.includes(work) && /kvm-agent\/main\.js|server\/main\.js/.test(l));
}

describe('run --env emulate --plane cloudstack (native, KVM agents on the nodes)', () => {
  it('every host downloads the template itself over the shaped links, within their physics, boots after its bytes arrived, and nothing is left', async () => {
    const { metas, metric, log } = await runEmulated('cs-emu-native');
    expect(metric('failures')).toEqual([0]);
    expect(metric('deploy_latency')).toHaveLength(4);
    expect(metric('placement_accuracy')).toEqual([1]);
    const assumptions = metas[0]!.assumptions as { name: string; value: unknown; source: string }[];
    expect(assumptions.find((a) => a.name === 'control plane')!.value).toMatch(/origin host 10\.77\.1\.1/);
    expect(assumptions.find((a) => a.name === 'image bytes moved')!.source).toMatch(/across the fleet's shaped links/);
    // four downloads of the whole template, one per host, each through its site's WAN
    const downloads = log.filter((l) => l.type === 'download');
    expect(downloads.map((d) => [d.status, d.bytes])).toEqual(Array.from({ length: 4 }, () => [200, IMAGE_MIB * 2 ** 20]));
    const wanSeconds = (IMAGE_MIB * 2 ** 20 * 8) / (WAN_MBIT * 1e6);
    for (const d of downloads) expect(d.endMs! - d.startMs!).toBeGreaterThanOrEqual(wanSeconds * 1000 * 0.95);
    expect(metric('emulate_node_rx')[0]!).toBeGreaterThanOrEqual(IMAGE_MIB * 2 ** 20);
    // physics from the links: a site's two hosts share its WAN
    expect(metric('makespan')[0]!).toBeGreaterThanOrEqual(2 * wanSeconds);
    expect(metric('makespan')[0]!).toBeGreaterThanOrEqual(metric('makespan_lower_bound')[0]!);
    // cause before effect: the k-th VM to run does so after the k-th download ended (and its 1 s boot)
    const running = log
      .filter((l) => l.type === 'state' && l.state === 'Running')
      .map((l) => l.ms!)
      .sort((a, b) => a - b);
    const ended = downloads.map((d) => d.endMs!).sort((a, b) => a - b);
    expect(running).toHaveLength(4);
    running.forEach((ms, k) => expect(ms).toBeGreaterThanOrEqual(ended[k]! + 1_000 - 150));
    expect(leftovers()).toEqual([]);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 300_000);

  it("a WAN cut stalls that site's downloads (begun during it or in flight), which go on when the link returns; the simulator agrees within 10%", async () => {
    // site-000 is cut from the start (its hosts' connections retry their SYNs through the silent
    // cut), site-001 while its downloads are under way (their TCP connections stall)
    const cuts = 'faults:\n  linkDown:\n    - {sites: [site-000], from: 0s, to: 3s}\n    - {sites: [site-001], from: 1s, to: 4s}\n';
    const { metric, log } = await runEmulated('cs-emu-native-cut', cuts);
    expect(metric('failures')).toEqual([0]);
    const running = log.filter((l) => l.type === 'state' && l.state === 'Running').map((l) => l.ms!);
    // nothing runs before its site's link is back, the bytes left and the boot
    expect(Math.min(...running)).toBeGreaterThan(3_000 + 1_000);
    const sim = await execa('node', [CLI, 'run', join(work, 'cs-emu-native-cut.yaml'), '--out', join(work, 'sim-cut'), '--no-report', '--json'], { reject: false });
    expect(sim.exitCode, sim.stderr.slice(-2000)).toBe(0);
    const simResults = await readResults([join(work, 'sim-cut', 'results.ndjson')]);
    const simMakespan = simResults.samples.find((s) => s.metric === 'makespan')!.value;
    expect(Math.abs(metric('makespan')[0]! - simMakespan) / simMakespan).toBeLessThanOrEqual(0.1);
    expect(leftovers()).toEqual([]);
  }, 300_000);
});
