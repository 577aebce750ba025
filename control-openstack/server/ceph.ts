// `up --with-ceph`: a one-node Ceph under the stack's state dir for Glance's RBD store. One monitor,
// one manager, one memstore OSD (objects in RAM, capped), one RADOS gateway on loopback; no cephx,
// pools of size 1, private ports. Started in the foreground (-f), detached: the recorded pid is the
// daemon itself, so `down` stops exactly it.
import { mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { EnvironmentError } from '../../common/index.js';
import { CEPH_IDS, cephDaemonArgs, GLANCE_RBD_POOL, type ConfigInputs } from './configs.js';
import { CEPH_DAEMONS, type CephDaemonName, type StackLayout } from './layout.js';
import { isOurProcess, isPortFree, sleep, spawnDetached } from './processes.js';
import type { StackState } from './state.js';

/** The program each Ceph daemon's pid must still be running. */
export const CEPH_COMMANDS: Record<CephDaemonName, string> = {
  'ceph-mon': 'ceph-mon',
  'ceph-mgr': 'ceph-mgr',
  'ceph-osd': 'ceph-osd',
  radosgw: 'radosgw',
};

export function cephDaemonRunning(state: StackState, name: CephDaemonName, root: string): boolean {
  const pid = state.pids[name];
  return pid !== undefined && isOurProcess(pid, CEPH_COMMANDS[name]) && isOurProcess(pid, root);
}

/** Run a Ceph CLI (ceph, rbd, rados) against the stack's cluster; stdout, or an EnvironmentError. */
export async function cephCli(layout: StackLayout, cmd: 'ceph' | 'rbd' | 'rados', args: string[], timeoutMs = 60_000): Promise<string> {
  const res = await execa(cmd, ['-c', layout.ceph.conf, ...args], { reject: false, all: true, timeout: timeoutMs });
  if (res.exitCode !== 0 || res.timedOut) {
    const tail = (res.all ?? '').split('\n').filter(Boolean).slice(-6);
    throw new EnvironmentError(`${cmd} ${args.slice(0, 3).join(' ')} failed (${res.timedOut ? 'timed out' : `exit ${res.exitCode}`})`, [...tail, `logs: ${layout.logDir}/ceph-*.log`]);
  }
  return res.stdout;
}

export interface CephHealth {
  monQuorum: boolean;
  mgrAvailable: boolean;
  osdsUp: number;
  rgwAnswering: boolean;
}

/** One `ceph status` (3 s at most) and one HTTP GET on the gateway. */
export async function cephHealth(layout: StackLayout, rgwPort: number): Promise<CephHealth> {
  const res = await execa('ceph', ['-c', layout.ceph.conf, '--connect-timeout', '3', 'status', '-f', 'json'], { reject: false, timeout: 8_000 });
  let monQuorum = false;
  let mgrAvailable = false;
  let osdsUp = 0;
  if (res.exitCode === 0) {
    try {
      const s = JSON.parse(res.stdout) as { quorum_names?: string[]; mgrmap?: { available?: boolean }; osdmap?: { num_up_osds?: number; osdmap?: { num_up_osds?: number } } };
      monQuorum = (s.quorum_names ?? []).includes(CEPH_IDS.mon);
      mgrAvailable = s.mgrmap?.available === true;
      osdsUp = s.osdmap?.num_up_osds ?? s.osdmap?.osdmap?.num_up_osds ?? 0;
    } catch {
      // not JSON: treat as unhealthy
    }
  }
  let rgwAnswering = false;
  try {
    const r = await fetch(`http://127.0.0.1:${rgwPort}/`, { signal: AbortSignal.timeout(3_000) });
    await r.arrayBuffer();
    rgwAnswering = r.status === 200;
  } catch {
    rgwAnswering = false;
  }
  return { monQuorum, mgrAvailable, osdsUp, rgwAnswering };
}

/** Fail fast (before anything starts) when a fixed Ceph port of a daemon still to start is taken. */
export async function checkCephPorts(inputs: ConfigInputs, state: StackState): Promise<void> {
  const c = inputs.ceph;
  if (!c) return;
  const root = inputs.layout.root;
  const portOwners: [number, string][] = [];
  if (!cephDaemonRunning(state, 'ceph-mon', root)) portOwners.push([c.ports.mon, 'ceph-mon (msgr2)'], [c.ports.monV1, 'ceph-mon (msgr1)']);
  if (!cephDaemonRunning(state, 'radosgw', root)) portOwners.push([c.ports.rgw, 'radosgw']);
  for (const [port, what] of portOwners) {
    if (!(await isPortFree(port))) {
      throw new EnvironmentError(`port ${port} for ${what} is in use by another program`, [
        state.initialized.includes('ceph.mon_mkfs')
          ? 'the monitor map of this state dir holds that port: free it, or use a new --state directory'
          : `pick another base for a new state dir, e.g. --ceph-port-base ${c.ports.monV1 + 1000}`,
      ]);
    }
  }
}

export interface StartCephContext {
  inputs: ConfigInputs;
  state: StackState;
  save: () => void;
  once: (step: string, fn: () => Promise<unknown>) => Promise<void>;
  progress: (message: string) => void;
  timeoutMs: number;
}

/**
 * Start whichever Ceph daemons are not running, in order (mon, mgr, OSD, RGW), doing the one-time
 * steps (mon --mkfs, OSD id + CRUSH, OSD --mkfs, the images pool) once per state dir.
 */
export async function startCeph(ctx: StartCephContext): Promise<void> {
  const { inputs, state, save, once, progress, timeoutMs } = ctx;
  const layout = inputs.layout;
  const c = inputs.ceph;
  if (!c) throw new Error('startCeph needs the ceph inputs');
  const root = layout.root;
  const began = performance.now();
  for (const d of [layout.ceph.dir, layout.ceph.runDir, layout.ceph.monData, layout.ceph.mgrData, layout.ceph.osdData, layout.ceph.rgwData]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  const toStart = CEPH_DAEMONS.filter((d) => !cephDaemonRunning(state, d, root));
  if (toStart.length === 0) return;
  await checkCephPorts(inputs, state);
  const start = (daemon: CephDaemonName) => {
    const { cmd, args } = cephDaemonArgs(inputs, daemon);
    state.pids[daemon] = spawnDetached(cmd, args, { log: `${layout.logDir}/${daemon}-stdout.log` });
    save();
  };
  const wait = async (daemon: CephDaemonName, what: string, ready: () => Promise<boolean>) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await ready()) return;
      if (!cephDaemonRunning(state, daemon, root)) {
        throw new EnvironmentError(`${daemon} exited during start-up`, [`see ${layout.logDir}/${daemon}-stdout.log and ${layout.logDir}/ceph-*.log`]);
      }
      await sleep(250);
    }
    throw new EnvironmentError(`${daemon}: ${what} not reached within ${Math.round(timeoutMs / 1000)} s`, [`see ${layout.logDir}/ceph-*.log`]);
  };
  const statusJson = async () => {
    const res = await execa('ceph', ['-c', layout.ceph.conf, '--connect-timeout', '3', 'status', '-f', 'json'], { reject: false, timeout: 8_000 });
    if (res.exitCode !== 0) return null;
    try {
      return JSON.parse(res.stdout) as { quorum_names?: string[]; osdmap?: { num_up_osds?: number; osdmap?: { num_up_osds?: number } } };
    } catch {
      return null;
    }
  };

  // ---- monitor ----
  await once('ceph.mon_mkfs', async () => {
    progress('ceph: creating the monitor');
    await run(layout, 'monmaptool', ['--create', '--clobber', '--addv', CEPH_IDS.mon, `[v2:127.0.0.1:${c.ports.mon},v1:127.0.0.1:${c.ports.monV1}]`, '--fsid', c.fsid, layout.ceph.monmap]);
    await run(layout, 'ceph-mon', ['-c', layout.ceph.conf, '--mkfs', '-i', CEPH_IDS.mon, '--monmap', layout.ceph.monmap]);
  });
  if (toStart.includes('ceph-mon')) {
    progress(`ceph: starting the monitor on 127.0.0.1:${c.ports.mon} (msgr2), ${c.ports.monV1} (msgr1)`);
    start('ceph-mon');
    await wait('ceph-mon', 'quorum', async () => ((await statusJson())?.quorum_names ?? []).includes(CEPH_IDS.mon));
  }

  // ---- manager ----
  if (toStart.includes('ceph-mgr')) {
    progress('ceph: starting the manager');
    start('ceph-mgr');
  }

  // ---- OSD: an id, a CRUSH position under the default root (chooseleaf type 0), a memstore ----
  await once('ceph.osd_create', async () => {
    // with the OSD's uuid, `osd create` is idempotent (a retry gets the same id)
    const id = (await cephCli(layout, 'ceph', ['osd', 'create', c.osdUuid])).trim();
    if (id !== CEPH_IDS.osd) throw new EnvironmentError(`ceph osd create gave id ${id}, expected ${CEPH_IDS.osd}`, ['the monitor already knew OSDs: use a fresh --state directory']);
    await cephCli(layout, 'ceph', ['osd', 'crush', 'add', `osd.${CEPH_IDS.osd}`, '1.0', 'root=default']);
  });
  await once('ceph.osd_mkfs', () => run(layout, 'ceph-osd', ['-c', layout.ceph.conf, '-i', CEPH_IDS.osd, '--mkfs', '--osd-uuid', c.osdUuid]));
  if (toStart.includes('ceph-osd')) {
    progress(`ceph: starting the OSD (memstore, at most ${Math.round(c.memstoreBytes / 1024 ** 2)} MiB in RAM)`);
    start('ceph-osd');
    await wait('ceph-osd', '"1 up"', async () => {
      const s = await statusJson();
      return (s?.osdmap?.num_up_osds ?? s?.osdmap?.osdmap?.num_up_osds ?? 0) >= 1;
    });
  }
  if (toStart.includes('ceph-mgr') && !cephDaemonRunning(state, 'ceph-mgr', root)) {
    throw new EnvironmentError('ceph-mgr exited during start-up', [`see ${layout.logDir}/ceph-mgr.${CEPH_IDS.mgr}.log`]);
  }

  // ---- the pool Glance writes to ----
  await once('ceph.pool_images', async () => {
    progress(`ceph: pool ${GLANCE_RBD_POOL} (8 PGs, size 1) for Glance`);
    await cephCli(layout, 'ceph', ['osd', 'pool', 'create', GLANCE_RBD_POOL, '8']);
    await cephCli(layout, 'rbd', ['pool', 'init', GLANCE_RBD_POOL], 120_000);
  });

  // ---- RADOS gateway (S3/Swift on loopback; creates its own pools on first start) ----
  if (toStart.includes('radosgw')) {
    progress(`ceph: starting the RADOS gateway on http://127.0.0.1:${c.ports.rgw}`);
    start('radosgw');
    await wait('radosgw', 'HTTP 200', async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${c.ports.rgw}/`, { signal: AbortSignal.timeout(2_000) });
        await r.arrayBuffer();
        return r.status === 200;
      } catch {
        return false;
      }
    });
  }
  state.cephStartMs = Math.round(performance.now() - began);
  save();
}

async function run(layout: StackLayout, cmd: string, args: string[]): Promise<void> {
  const res = await execa(cmd, args, { reject: false, all: true, timeout: 120_000 });
  if (res.exitCode !== 0 || res.timedOut) {
    const tail = (res.all ?? '').split('\n').filter(Boolean).slice(-6);
    throw new EnvironmentError(`${cmd} ${args.slice(0, 4).join(' ')} failed (${res.timedOut ? 'timed out' : `exit ${res.exitCode}`})`, [...tail, `logs: ${layout.logDir}`]);
  }
}
