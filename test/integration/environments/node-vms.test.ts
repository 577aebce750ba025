// Node VMs as an SSH fleet: `nodes vms up --count 2` boots two qemu guests (the guest image is
// built by scripts/node-vm-image.sh on first use, then cached: a debootstrap root takes ~2-10 min
// here), `nodes check` finds sshd and Node in both, a run of two nodes deploys on them against
// the stand-in test plane, and `nodes vms down` stops them. Under TCG (KVM guests hang on these
// machines) a boot takes ~1-2 min on 2 shared cores. Needs root, qemu and debootstrap (CI runs
// as root; scripts/install-test-deps.sh): it FAILS, never skips, without them.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readResults } from '../../../reports/index.js';
import { buildPrivateDist } from '../../unit/agent/runtime/private-build.js';

let CLI = '';
let removeDist: () => Promise<void> = async () => {};
let work = '';
let state = '';
const started = performance.now();

beforeAll(async () => {
  expect(process.getuid?.(), 'node VMs need root (the guest image build: debootstrap, chroot)').toBe(0);
  for (const tool of ['qemu-system-x86_64', 'qemu-img', 'debootstrap', 'mkfs.ext4']) expect(spawnSync('sh', ['-c', `command -v ${tool}`]).status, `${tool} must be installed: scripts/install-test-deps.sh`).toBe(0);
  work = await mkdtemp(join(tmpdir(), 'ep-node-vms-'));
  state = join(work, 'vms');
  const dist = await buildPrivateDist();
  CLI = dist.cli;
  removeDist = dist.remove;
}, 600_000);

afterAll(async () => {
  if (CLI && state) await execa(process.execPath, [CLI, 'nodes', 'vms', 'down', '--state', state], { reject: false });
  await removeDist();
  if (work && !process.env.EDGEPLANE_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
  console.log(`node-vms.test.ts: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}, 120_000);

const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false, cwd: work, env: { NO_COLOR: '1', XDG_CACHE_HOME: join(work, 'cache') } });
const qemuOf = (dir: string) => (spawnSync('pgrep', ['-f', `qemu-system-x86_64.*${dir}`], { encoding: 'utf8' }).stdout ?? '').trim();

it('boots two node VMs, deploys on them over SSH, and stops them', async () => {
  let t = performance.now();
  const up = await cli('nodes', 'vms', 'up', '--count', '2', '--state', state);
  console.log(`nodes vms up: ${((performance.now() - t) / 1000).toFixed(1)} s\n${up.stdout}\n${up.stderr}`);
  expect(up.exitCode, up.stderr).toBe(0);
  const inventory = join(state, 'inventory.yaml');
  expect(readFileSync(inventory, 'utf8')).toMatch(/hostKey: "SHA256:/);

  const check = await cli('nodes', 'check', '--inventory', inventory, '--json');
  expect(check.exitCode, check.stderr).toBe(0);
  const checks = JSON.parse(check.stdout) as { name: string; ok: boolean; machine: { node: string; hostname: string; cpus: number } }[];
  expect(checks.map((c) => [c.name, c.ok, c.machine.hostname])).toEqual([
    ['vm-0', true, 'vm-0'],
    ['vm-1', true, 'vm-1'],
  ]);
  expect(checks[0]!.machine).toMatchObject({ node: process.version, cpus: 1 });

  const scenario = join(work, 'vms.yaml');
  await writeFile(scenario, ['name: on-vms', 'repeat: 1', 'fleet: {sites: 1, nodesPerSite: 2}', 'image: {size: 4MiB, chunk: 1MiB}', 'planes: [openstack]', ''].join('\n'));
  t = performance.now();
  const out = join(work, 'out');
  const r = await cli('run', scenario, '--env', 'real', '--inventory', inventory, '--stand-in', 'test-plane', '--out', out, '--no-report');
  console.log(`run on 2 node VMs: ${((performance.now() - t) / 1000).toFixed(1)} s\n${r.stdout}`);
  expect(r.exitCode, r.stderr).toBe(0);
  const { metas, samples } = await readResults([join(out, 'results.ndjson')]);
  const nodes = (metas[0]!.machine as unknown as { nodes: { name: string; hostname: string }[] }).nodes;
  expect(nodes.map((n) => n.hostname)).toEqual(['vm-0', 'vm-1']);
  const of = (m: string) => samples.filter((s) => s.metric === m && s.labels.repeat === 0);
  expect(of('deploy_latency')).toHaveLength(2);
  expect(of('failures')[0]!.value).toBe(0);
  expect(of('placement_accuracy')[0]!.value).toBe(1);

  const down = await cli('nodes', 'vms', 'down', '--state', state);
  expect(down.exitCode, down.stderr).toBe(0);
  expect(down.stdout).toMatch(/vm-0 .*stopped/);
  expect(down.stdout).toMatch(/vm-1 .*stopped/);
  expect(qemuOf(state)).toBe('');
  expect(existsSync(join(state, 'vm-0.qcow2'))).toBe(false);
}, 3_000_000);
