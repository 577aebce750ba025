// Shared by the OpenStack integration tests: reuse the stack .ci/run started
// (EDGEPLANE_OPENSTACK_STATE), or start one into a temp dir on free ports and stop it afterwards.
// A stack that cannot start makes the suite fail (never skip).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cephPortsFrom, DEFAULT_PORTS, down, isPortFree, loadStack, up, type RunningStack, type StackPorts } from '../../../control-openstack/server/index.js';

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
  return startOwnStack(false);
}

/** A stack of the test's own in a temp dir on free ports, stopped and removed on release. */
async function startOwnStack(withCeph: boolean): Promise<TestStack> {
  const dir = mkdtempSync(join(tmpdir(), withCeph ? 'edgeplane-openstack-ceph-' : 'edgeplane-openstack-'));
  try {
    const stack = await up({ stateDir: dir, ports: await freePorts(), ...(withCeph ? { withCeph: true, cephPortBase: await freeCephPortBase() } : {}) });
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

/** A Ceph port base whose monitor and RGW ports are free (26789 and up, in steps of 1000). */
export async function freeCephPortBase(): Promise<number> {
  for (let base = 26789; base < 60000; base += 1000) {
    const p = cephPortsFrom(base);
    if ((await isPortFree(p.mon)) && (await isPortFree(p.monV1)) && (await isPortFree(p.rgw))) return base;
  }
  throw new Error('no free port base for Ceph');
}

/**
 * A stack with Glance on Ceph RBD: the one .ci/run (or a developer) started and named in
 * EDGEPLANE_OPENSTACK_CEPH_STATE (it must be a --with-ceph stack), or one started into a temp dir
 * on free ports and stopped afterwards.
 */
export async function acquireCephStack(): Promise<TestStack> {
  const shared = process.env.EDGEPLANE_OPENSTACK_CEPH_STATE;
  if (shared) {
    const stack = loadStack(shared);
    if (!stack.state.withCeph) throw new Error(`EDGEPLANE_OPENSTACK_CEPH_STATE=${shared} is a file-store stack: start one with \`edgeplane up openstack --with-ceph\``);
    return { stack, release: async () => {} };
  }
  return startOwnStack(true);
}
