// Shared by the OpenStack integration tests: reuse the stack .ci/run started
// (EDGEPLANE_OPENSTACK_STATE), or start one into a temp dir on free ports and stop it afterwards.
// A stack that cannot start makes the suite fail (never skip).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PORTS, down, isPortFree, loadStack, up, type RunningStack, type StackPorts } from '../../../control-openstack/server/index.js';

export interface TestStack {
  stack: RunningStack;
  release(): Promise<void>;
}

export async function freePorts(): Promise<StackPorts> {
  const ports = { ...DEFAULT_PORTS };
  for (const name of Object.keys(ports) as (keyof StackPorts)[]) {
    // +10000 steps stay clear of the ports fetch refuses (6000, 6665-6669, ...)
    let port = ports[name];
    while (!(await isPortFree(port))) port += 10000;
    ports[name] = port;
  }
  return ports;
}

export async function acquireStack(): Promise<TestStack> {
  const shared = process.env.EDGEPLANE_OPENSTACK_STATE;
  if (shared) return { stack: loadStack(shared), release: async () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'edgeplane-openstack-'));
  try {
    const stack = await up({ stateDir: dir, ports: await freePorts() });
    return {
      stack,
      release: async () => {
        await down(dir);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await down(dir).catch(() => {});
    throw err;
  }
}
