// SSH nodes for `--env real --inventory` against real sshds (Debian's openssh-server), one per
// network namespace (ssh-sshd.ts): `nodes check`, a run of two nodes against the stand-in test
// plane (the agent bundled, copied over SFTP, started over SSH, its events read back, everything
// removed afterwards), and the error paths (bad inventory, wrong key, refused port, a host
// without Node.js). Needs root and openssh-server (CI runs as root; scripts/install-test-deps.sh):
// it FAILS, never skips, without them.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readResults } from '../../../reports/index.js';
import { buildPrivateDist } from '../../unit/agent/runtime/private-build.js';
import { inventoryYaml, SSHD, startSshds, type SshdFleet } from './ssh-sshd.js';

let CLI = '';
let removeDist: () => Promise<void> = async () => {};
let work = '';
let fleet: SshdFleet | null = null;
let remoteWork = '';
const started = performance.now();

beforeAll(async () => {
  expect(process.getuid?.(), 'SSH-node tests need root (network namespaces)').toBe(0);
  expect(existsSync(SSHD), 'openssh-server must be installed: scripts/install-test-deps.sh').toBe(true);
  work = await mkdtemp(join(tmpdir(), 'ep-ssh-nodes-'));
  const [dist, f] = await Promise.all([buildPrivateDist(), startSshds(join(work, 'sshd'), { count: 3, noNode: [2] })]);
  CLI = dist.cli;
  removeDist = dist.remove;
  fleet = f;
  remoteWork = join(work, 'remote');
  await mkdir(remoteWork, { recursive: true });
  await writeFile(
    join(work, 'good.yaml'),
    inventoryYaml(
      f,
      [
        { index: 0, name: 'node-a' },
        { index: 1, name: 'node-b' },
      ],
      remoteWork,
    ),
  );
}, 600_000);

afterAll(async () => {
  fleet?.stop();
  await removeDist();
  if (work && !process.env.EDGEPLANE_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
  console.log(`ssh-nodes.test.ts: ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false, cwd: work, env: { NO_COLOR: '1', XDG_CACHE_HOME: join(work, 'cache') } });

const scenarioFile = async (name: string) => {
  const file = join(work, `${name}.yaml`);
  await writeFile(file, [`name: ${name}`, 'repeat: 1', 'fleet: {sites: 2, nodesPerSite: 1}', 'image: {size: 6MiB, chunk: 1MiB}', 'planes: [openstack]', ''].join('\n'));
  return file;
};

/** `run` of the scenario on the two good nodes into `out`, returned once it says its agents are starting. */
const runUntilAgentsStart = async (scenario: string, out: string) => {
  const child = execa(process.execPath, [CLI, 'run', scenario, '--env', 'real', '--inventory', join(work, 'good.yaml'), '--stand-in', 'test-plane', '--out', join(work, out)], {
    reject: false,
    cwd: work,
    env: { NO_COLOR: '1', XDG_CACHE_HOME: join(work, 'cache') },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const deadline = Date.now() + 120_000;
  while (!/starting 2 agent/.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(err).toMatch(/starting 2 agent/);
  return { child, stderr: () => err };
};

/** pids of stand-in test-plane servers of this test's run into `out` (its work folder: not another run's on this machine) */
const standInsOf = (out: string) => (spawnSync('pgrep', ['-f', `test-plane serve --dir ${work}/\\.?${out}`], { encoding: 'utf8' }).stdout ?? '').trim();

/** agent processes of this test still running anywhere (the namespaces share this machine's processes) */
const leftAgents = () => {
  const pids = (spawnSync('pgrep', ['-f', `${remoteWork}/edgeplane-`], { encoding: 'utf8' }).stdout ?? '').trim();
  return pids === '' ? '' : spawnSync('ps', ['-o', 'pid,ppid,args', '-p', pids.split('\n').join(',')], { encoding: 'utf8' }).stdout;
};

describe('SSH nodes', () => {
  it('nodes check reports each node, and refuses a host without Node.js (exit 3)', async () => {
    const ok = await cli('nodes', 'check', '--inventory', join(work, 'good.yaml'), '--json');
    expect(ok.exitCode, ok.stderr).toBe(0);
    const checks = JSON.parse(ok.stdout) as { name: string; ok: boolean; machine: { node: string; arch: string; kvm: boolean }; hostKey: string }[];
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['node-a', true],
      ['node-b', true],
    ]);
    expect(checks[0]!.machine).toMatchObject({ node: process.version, arch: process.arch, kvm: expect.any(Boolean) });
    expect(checks[0]!.hostKey).toMatch(/^SHA256:/);

    await writeFile(
      join(work, 'nonode.yaml'),
      inventoryYaml(
        fleet!,
        [
          { index: 0, name: 'node-a' },
          { index: 2, name: 'bare' },
        ],
        remoteWork,
      ),
    );
    const bad = await cli('nodes', 'check', '--inventory', join(work, 'nonode.yaml'));
    expect(bad.exitCode, bad.stderr).toBe(3);
    expect(bad.stdout).toMatch(/node-a\s+ok/);
    expect(bad.stdout).toMatch(/bare\s+FAIL.*no Node\.js on the host/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('runs a scenario on two SSH nodes against the stand-in test plane, results in the simulator format, nothing left on the nodes', async () => {
    const out = join(work, 'out');
    const t = performance.now();
    const r = await cli('run', await scenarioFile('ssh-two'), '--env', 'real', '--inventory', join(work, 'good.yaml'), '--stand-in', 'test-plane', '--hypervisor', 'sim', '--out', out);
    console.log(`ssh run: ${((performance.now() - t) / 1000).toFixed(1)} s\n${r.stderr}`);
    expect(r.exitCode, r.stderr).toBe(0);
    const { metas, samples } = await readResults([join(out, 'results.ndjson')]);
    expect(metas).toHaveLength(1);
    expect(metas[0]).toMatchObject({ env: 'real', plane: 'openstack', mode: 'agent', nodes: 2 });
    const machine = metas[0]!.machine as unknown as { node: string; nodes: { name: string; host: string; site: string; node: string; arch: string }[] };
    expect(machine.nodes.map((n) => [n.name, n.host, n.site])).toEqual([
      ['node-a', fleet!.nodes[0]!.ip, 'site-0'],
      ['node-b', fleet!.nodes[1]!.ip, 'site-1'],
    ]);
    expect(machine.nodes[0]!.node).toBe(process.version);
    expect(metas[0]!.assumptions.map((a) => a.name)).toEqual(expect.arrayContaining(['nodes', 'plane access', 'agent']));
    const of = (m: string) => samples.filter((s) => s.metric === m && s.labels.repeat === 0);
    expect(
      of('deploy_latency')
        .map((s) => s.labels.node)
        .sort(),
    ).toEqual(['site-000/node-0000', 'site-001/node-0000']);
    for (const s of of('deploy_latency')) expect(s.value).toBeGreaterThan(0);
    expect(of('failures')[0]!.value).toBe(0);
    expect(of('placement_accuracy')[0]!.value).toBe(1);
    // each node fetched the whole sealed blob (6 MiB + 28 bytes per chunk)
    expect(of('origin_egress_bytes')[0]!.value).toBe(2 * (6 * 1024 * 1024 + 6 * 28));
    expect(of('deploy_phase').map((s) => s.labels.phase)).toEqual(expect.arrayContaining(['manifest', 'key', 'transfer', 'verify', 'boot']));
    // the events came back into the local work folder, as a local real run has them
    const nodesDir = join(out, 'work', 'ssh-two', 'openstack', 'repeat-0', 'nodes');
    for (const n of readdirSync(nodesDir)) {
      expect(readFileSync(join(nodesDir, n, 'events.ndjson'), 'utf8')).toMatch(/"type":"done"/);
      expect(readFileSync(join(nodesDir, n, 'agent.log'), 'utf8')).toMatch(/agent started/);
    }
    // nothing left on the nodes: the folder removed, no agent running
    expect(readdirSync(remoteWork)).toEqual([]);
    expect(leftAgents()).toBe('');
    expect(existsSync(join(out, 'index.html'))).toBe(true);
  }, 300_000);

  it('Ctrl-C during a run stops the remote agents and removes what was copied', async () => {
    const { child, stderr } = await runUntilAgentsStart(await scenarioFile('ssh-int'), 'out-int');
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, stderr()).toBe(130);
    expect(readdirSync(remoteWork)).toEqual([]);
    expect(leftAgents()).toBe('');
    // the stand-in plane's server went with edgeplane
    expect(standInsOf('out-int')).toBe('');
  }, 180_000);

  it('after edgeplane is SIGKILLed, the next run removes the folders it left on the nodes (and any agent still in them)', async () => {
    const scenario = await scenarioFile('ssh-kill');
    const { child } = await runUntilAgentsStart(scenario, 'out-kill');
    child.kill('SIGKILL');
    await child;
    // nothing could remove them: one folder per node, each with its owner
    const left = readdirSync(remoteWork).sort();
    expect(left).toHaveLength(2);
    for (const [i, name] of left.entries()) {
      expect(name).toMatch(new RegExp(`^edgeplane-[0-9a-f]{12}-node-${'ab'[i]}$`));
      expect(JSON.parse(readFileSync(join(remoteWork, name, 'owner.json'), 'utf8'))).toMatchObject({ pid: child.pid });
    }
    // the stand-in server saw its stdin close and stopped
    const gone = Date.now() + 10_000;
    while (standInsOf('out-kill') !== '' && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
    expect(standInsOf('out-kill')).toBe('');
    const out = join(work, 'out-after-kill');
    const r = await cli('run', scenario, '--env', 'real', '--inventory', join(work, 'good.yaml'), '--stand-in', 'test-plane', '--hypervisor', 'sim', '--out', out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readdirSync(remoteWork)).toEqual([]);
    expect(leftAgents()).toBe('');
    const removed = readFileSync(join(out, 'edgeplane.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('removed folders an earlier run left'))
      .flatMap((l) => (JSON.parse(l) as { removed: string[] }).removed);
    expect(removed.sort()).toEqual(left.map((n) => join(remoteWork, n)));
  }, 300_000);

  it('bad input: an invalid inventory exits 2; a wrong key, a refused port and a host without Node.js exit 3, nothing left behind', async () => {
    const scenario = await scenarioFile('ssh-bad');
    const runWith = async (inventory: string) => {
      const file = join(work, `inv-${Math.abs(inventory.length)}-${readdirSync(work).length}.yaml`);
      await writeFile(file, inventory);
      return cli('run', scenario, '--env', 'real', '--inventory', file, '--stand-in', 'test-plane', '--out', join(work, `out-bad-${readdirSync(work).length}`));
    };
    const invalid = await runWith('nodes:\n  - name: x\n    hots: 10.0.0.1\n');
    expect(invalid.exitCode, invalid.stderr).toBe(2);
    expect(invalid.stderr).toMatch(/not a valid inventory/);

    const wrongKey = await runWith(
      inventoryYaml(
        fleet!,
        [
          { index: 0, name: 'node-a', key: fleet!.wrongKey },
          { index: 1, name: 'node-b' },
        ],
        remoteWork,
      ),
    );
    expect(wrongKey.exitCode, wrongKey.stderr).toBe(3);
    expect(wrongKey.stderr).toMatch(/node-a .*authentication failed/);

    const refused = await runWith(
      inventoryYaml(
        fleet!,
        [
          { index: 0, name: 'node-a' },
          { index: 1, name: 'node-b', port: 2223 },
        ],
        remoteWork,
      ),
    );
    expect(refused.exitCode, refused.stderr).toBe(3);
    expect(refused.stderr).toMatch(/node-b .*connection refused/);

    const bare = await runWith(
      inventoryYaml(
        fleet!,
        [
          { index: 0, name: 'node-a' },
          { index: 2, name: 'bare' },
        ],
        remoteWork,
      ),
    );
    expect(bare.exitCode, bare.stderr).toBe(3);
    expect(bare.stderr).toMatch(/bare .*no Node\.js on the host/);
    for (const r of [invalid, wrongKey, refused, bare]) expect(r.stderr).not.toMatch(/\n\s+at /);
    // the node that was reachable had its folder removed again
    expect(readdirSync(remoteWork)).toEqual([]);
    expect(leftAgents()).toBe('');
  }, 180_000);
});
