// Placement determinism on the real scheduler: a pool of N equal dummy hosts (tagged in their host
// template so that the scheduler's candidates are exactly them), and rounds of N VMs, VM i meant
// for host i. Pinned (one.vm.deploy with enforce) must land 100% on the intended host; with
// mm_sched the measured rate of intended placements replaces the model's 1/N assumption.
import { OneClient } from './client/api.js';
import { rollOut, vmTemplateBody, type NativeDeployment } from './native.js';
import { ensureHosts, registerImage } from './native-run.js';
import { loadFrontEnd } from './server/index.js';

export const POOL_ATTR = 'EDGEPLANE_POOL';

export interface PlacementMeasurement {
  placement: 'pinned' | 'scheduler';
  hosts: number;
  rounds: number;
  deployments: number;
  running: number;
  intended: number;
  /** intended / running */
  rate: number;
  /** per round: the host each VM i landed on (index into the pool, -1 when unplaced) */
  landed: number[][];
}

/** Tag hosts as one pool and give VMs a requirement that only matches it. */
export async function poolHosts(admin: OneClient, names: readonly string[], pool: string): Promise<number[]> {
  const ids = await ensureHosts(admin, names);
  for (const id of ids.values()) await admin.call('one.host.update', [id, `${POOL_ATTR} = "${pool}"`, 1]);
  return names.map((n) => ids.get(n)!);
}

export function poolRequirement(pool: string): string {
  return `SCHED_REQUIREMENTS = "${POOL_ATTR} = \\"${pool}\\""`;
}

export async function measurePlacement(o: { stateDir: string; hosts: number; rounds: number; placement: 'pinned' | 'scheduler'; pool?: string }): Promise<PlacementMeasurement> {
  const { credentials } = loadFrontEnd(o.stateDir);
  const admin = new OneClient({ endpoint: credentials.endpoint, username: credentials.username, password: credentials.password, timeoutMs: 30_000 });
  const pool = o.pool ?? `place${o.hosts}`;
  try {
    const names = Array.from({ length: o.hosts }, (_, i) => `${pool}-${String(i).padStart(2, '0')}`);
    const hostIds = await poolHosts(admin, names, pool);
    const imageId = await registerImage(admin, `${pool}-image`, 64);
    const body = `${vmTemplateBody(imageId)}\n${poolRequirement(pool)}`;
    const landed: number[][] = [];
    let running = 0;
    let intended = 0;
    const tag = Date.now().toString(36);
    for (let r = 0; r < o.rounds; r++) {
      const targets = hostIds.map((hostId, i) => ({ node: names[i]!, hostId, vmName: `${pool}-${tag}-r${r}-vm${i}` }));
      const ds: NativeDeployment[] = await rollOut({ ...credentials, targets, placement: o.placement, vmTemplate: body, t0: performance.now(), pollMs: 100, timeoutMs: 180_000 });
      landed.push(ds.map((d) => (d.placedHostId === null ? -1 : hostIds.indexOf(d.placedHostId))));
      running += ds.filter((d) => d.outcome === 'running').length;
      intended += ds.filter((d) => d.intended).length;
      await Promise.all(ds.filter((d) => d.vmId !== null).map((d) => admin.vmAction('terminate-hard', d.vmId!).catch(() => undefined)));
    }
    return { placement: o.placement, hosts: o.hosts, rounds: o.rounds, deployments: o.hosts * o.rounds, running, intended, rate: running === 0 ? 0 : intended / running, landed };
  } finally {
    await admin.close();
  }
}
