// The whole path through the CLI with a real VM: build an appliance, seal it, publish it to a
// test plane served by `edgeplane test-plane serve`, assign it, run `edgeplane agent` with the
// qemu driver (TCG here, KVM where the probe finds it working), see the boot marker on the VM's
// console, then stop the agent, which stops the VM. Fails, never skips, without qemu or a kernel.
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireExecutable } from '../../../../agent/index.js';
import { bootMarker, findKernel } from '../../../../pipeline/index.js';
import { buildPrivateDist } from '../../../unit/agent/runtime/private-build.js';

let CLI = '';
let removeBuild = async () => {};
const cli = (...args: string[]) => execa('node', [CLI, ...args]);
const children: ResultPromise[] = [];

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  await requireExecutable('qemu-system-x86_64', 'apt-get install -y qemu-system-x86');
  await findKernel();
  ({ cli: CLI, remove: removeBuild } = await buildPrivateDist());
}, 180_000);

afterAll(async () => {
  for (const c of children) {
    c.kill('SIGKILL');
    await c.catch(() => undefined);
  }
  await removeBuild();
});

describe('edgeplane agent boots its assigned image under qemu', () => {
  it('fetches from the test plane, verifies, decrypts, boots, shows the marker, and stops the VM with the agent', async () => {
    const work = await mkdtemp(join(tmpdir(), 'ep-agent-qemu-'));
    const plane = join(work, 'plane');
    const keys = join(work, 'keys');
    await cli('image', 'build', '--out', work, '--id', 'agentboot', '--image-version', '3', '--size', '24MiB');
    const image = join(work, 'agentboot-3.img');
    expect(existsSync(image)).toBe(true);
    await cli('image', 'keygen', '--out', keys);
    await cli('image', 'seal', image, '--out', join(work, 'sealed'), '--signing-key', join(keys, 'publisher.key'), '--data-key', join(keys, 'data.key'), '--chunk-size', '1MiB');
    await cli('test-plane', 'publish', join(work, 'sealed'), '--dir', plane, '--data-key', join(keys, 'data.key'), '--trust', join(keys, 'publisher.pub'));
    const assigned = await cli('test-plane', 'assign', '--dir', plane, '--node', 'edge-q', '--image', 'agentboot@3');
    const token = /token ([0-9a-f]+)/.exec(assigned.stdout)![1];

    const server = execa('node', [CLI, 'test-plane', 'serve', '--dir', plane], { reject: false });
    children.push(server);
    const url = await new Promise<string>((resolve, reject) => {
      server.stdout!.on('data', (d: Buffer) => {
        const m = /at (http:\/\/\S+)/.exec(d.toString());
        if (m) resolve(m[1]);
      });
      void server.then((r) => reject(new Error(`test-plane serve exited: ${r.stderr}`)));
    });

    const stateDir = join(work, 'state');
    const config = join(work, 'agent.yaml');
    await writeFile(
      config,
      [
        'node: edge-q',
        `stateDir: ${stateDir}`,
        `plane: { kind: test-plane, url: "${url}", token: "${token}" }`,
        `trust: ["${join(keys, 'publisher.pub')}"]`,
        'hypervisor: { kind: qemu, accel: auto, bootTimeoutS: 240 }',
        'machine: { pollIntervalS: 1 }',
      ].join('\n'),
    );
    const started = Date.now();
    const agent = execa('node', [CLI, 'agent', '--config', config], { reject: false });
    children.push(agent);
    const events = async () => {
      const text = await readFile(join(stateDir, 'events.ndjson'), 'utf8').catch(() => '');
      return text
        .slice(0, text.lastIndexOf('\n') + 1)
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    };
    for (;;) {
      const lines = await events();
      if (lines.some((l) => l.type === 'status' && l.status === 'RUNNING')) break;
      const failed = lines.find((l) => l.type === 'done' && l.outcome === 'failed');
      if (failed) throw new Error(`deployment failed: ${JSON.stringify(failed)}; agent log ${join(stateDir, 'agent.log')}`);
      if (agent.exitCode !== null) throw new Error(`agent exited: ${(await agent).stderr}`);
      if (Date.now() - started > 300_000) throw new Error('no RUNNING within 300 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`agent deployed and booted agentboot@3 in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const staged = await readFile(join(stateDir, 'staged', 'agentboot@3.img'));
    expect(staged.equals(await readFile(image))).toBe(true);
    const consoleLog = await readFile(join(stateDir, 'vms', 'vm-1', 'console.log'), 'utf8');
    expect(consoleLog).toContain(bootMarker({ imageId: 'agentboot', version: '3' }));
    const vm = JSON.parse(await readFile(join(stateDir, 'vm.json'), 'utf8')) as { pid: number };
    expect(alive(vm.pid)).toBe(true);
    const reports = (await readFile(join(plane, 'reports', 'edge-q.ndjson'), 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    for (let i = 0; i < 50 && reports.length === 0; i++) await new Promise((r) => setTimeout(r, 100));

    agent.kill('SIGTERM');
    const exit = await agent;
    expect(exit.exitCode).toBe(0);
    expect(alive(vm.pid)).toBe(false);
    const finalReports = (await readFile(join(plane, 'reports', 'edge-q.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(finalReports.at(-1)).toMatchObject({ status: 'RUNNING', image: { imageId: 'agentboot', version: '3' } });
  });
});
