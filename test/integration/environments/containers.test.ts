// `run --env emulate --runtime containers` against real Podman (Debian's podman + runc serve the
// Docker Engine API): two engine services of their own (own storage, own sockets), the agent image
// imported into each from a root filesystem (no registry), agents spread over both engines, each
// container inside its node's emulated namespace, a crashed node's container SIGKILLed and replaced,
// every container removed afterwards. Needs root, podman, runc, debootstrap (the first build of
// the root takes minutes; later ones use /var/cache/edgeplane). It FAILS, never skips, without them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupStale, listEmulationNamespaces } from '../../../environments/emulate/index.js';
import { buildPrivateDist } from '../../unit/agent/runtime/private-build.js';
import { firstPlane } from './emulation-testbed.js';

let CLI = '';
let removeDist: () => Promise<void> = async () => {};
let work = '';
const services: { child: ChildProcess; socket: string; docker: Docker }[] = [];

async function startPodman(dir: string, conf: string): Promise<{ child: ChildProcess; socket: string; docker: Docker }> {
  const socket = join(dir, 'podman.sock');
  const child = spawn('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--runtime', '/usr/sbin/runc', 'system', 'service', '--time=0', `unix://${socket}`], {
    stdio: 'ignore',
    env: { ...process.env, CONTAINERS_CONF: conf },
  });
  const docker = new Docker({ socketPath: socket });
  for (let i = 0; i < 300; i++) {
    if (
      existsSync(socket) &&
      (await docker.ping().then(
        () => true,
        () => false,
      ))
    )
      return { child, socket, docker };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`podman service on ${socket} did not answer`);
}

beforeAll(async () => {
  expect(process.getuid?.(), 'containers in emulated namespaces need root').toBe(0);
  for (const tool of ['podman', 'runc', 'debootstrap']) expect(spawnSync('which', [tool]).status, `${tool} must be installed: apt-get install -y --no-install-recommends podman runc debootstrap`).toBe(0);
  const dist = await buildPrivateDist();
  CLI = dist.cli;
  removeDist = dist.remove;
  work = await mkdtemp(join(tmpdir(), 'ep-containers-'));
  // what ENVIRONMENT.md says Podman needs here (no systemd, no ulimit defaults), for these services only
  const conf = join(work, 'containers.conf');
  await writeFile(conf, '[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\n');
  for (const name of ['engine-a', 'engine-b']) services.push(await startPodman(join(work, name), conf));
  cleanupStale();
}, 900_000);

afterAll(async () => {
  await removeDist();
  for (const s of services) {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
  // podman keeps its overlay storage directory mounted on itself after the service stops
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => work && m.startsWith(`${work}/`))
    .sort()
    .reverse();
  for (const m of mounts) spawnSync('umount', [m]);
  if (work && !process.env.EDGEPLANE_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
}, 120_000);

const owned = async (d: Docker) => d.listContainers({ all: true, filters: { label: ['io.edgeplane.owner'] } });

describe('run --env emulate --runtime containers', () => {
  it('runs every agent in a container inside its node namespace, spread over two engines, and removes them all', async () => {
    const file = join(work, 'containers.yaml');
    await writeFile(
      file,
      [
        'name: emu-containers',
        'seed: 5',
        'repeat: 1',
        'fleet:',
        '  sites: 1',
        '  nodesPerSite: 3',
        '  node: {access: {down: 40Mbit, up: 10Mbit, rtt: 20ms}, boot: 1s}',
        '  site: {wan: {down: 200Mbit, up: 200Mbit, rtt: 10ms}, lan: 1Gbit}',
        'origin: {uplink: 1Gbit, rtt: 2ms}',
        'image: {size: 4MiB, chunk: 1MiB}',
        'planes: [openstack]',
        'strategy: origin',
        'faults:',
        '  crashes: [{at: 1s, nodes: [site-000/node-0001], downFor: 2s}]',
        '',
      ].join('\n'),
    );
    const engines = services.flatMap((s) => ['--engine', `unix://${s.socket}`]);
    const run = execa(process.execPath, [CLI, 'run', file, '--env', 'emulate', '--runtime', 'containers', ...engines, '--out', join(work, 'out'), '--json'], { reject: false, cwd: work, env: { NO_COLOR: '1' } });
    // while it runs: each engine holds some of the agents' containers
    const seen = services.map(() => new Set<string>());
    const watch = (async () => {
      while (run.exitCode === null) {
        for (const [i, s] of services.entries()) for (const c of await owned(s.docker).catch(() => [])) seen[i]!.add(c.Id);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const r = await run;
    await watch;
    expect(r.exitCode, r.stderr).toBe(0);
    const plane = firstPlane(r.stdout);
    expect(plane.metrics.failures).toBe(0);
    expect(plane.metrics.placement_accuracy).toBe(1);
    expect(plane.counters.crashes).toBe(1);
    expect(plane.counters.agentStarts).toBe(4);
    // 4 containers (3 nodes, one replaced after its crash), round-robin over the two engines
    expect(seen.map((s) => s.size)).toEqual([2, 2]);
    // nothing left: no container on either engine, no namespace
    for (const s of services) expect(await owned(s.docker)).toEqual([]);
    expect(listEmulationNamespaces()).toEqual([]);
  }, 900_000);

  it('refuses an engine on another host (a container there cannot join this machine’s namespaces) and a missing engine', async () => {
    const remote = await execa(process.execPath, [CLI, 'run', 'emulate-jitter', '--env', 'emulate', '--runtime', 'containers', '--engine', 'tcp://192.0.2.1:2375', '--out', join(work, 'out-remote')], {
      reject: false,
      cwd: work,
    });
    expect(remote.exitCode).toBe(2);
    expect(remote.stderr).toMatch(/cannot join it/);
    const none = await execa(process.execPath, [CLI, 'run', 'emulate-jitter', '--env', 'emulate', '--runtime', 'containers', '--out', join(work, 'out-none')], { reject: false, cwd: work });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/at least one --engine/);
  }, 120_000);
});
