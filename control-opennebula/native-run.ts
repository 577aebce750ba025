// `run --env real` with OpenNebula in native mode: on the running front-end, one dummy host per
// scenario node, an image in the image datastore, a VM template, then per repeat the rollout of
// native.ts (allocate, deploy with enforce or mm_sched, polls to RUNNING). Every call and VM state
// change goes to native-r<N>.ndjson in the work folder; the VMs of a repeat are terminated after it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeRealDeployment, NativeRealRequest, NativeRealRun } from '../adapters/index.js';
import { EnvironmentError } from '../common/index.js';
import { OneClient, templateValue } from './client/api.js';
import { HOST_STATE, IMAGE_STATE } from './client/schemas.js';
import { rollOut, vmTemplateBody, type NativeDeployment } from './native.js';
import { poolHosts, poolRequirement } from './placement.js';
import { loadFrontEnd } from './server/index.js';
import { diskProblem, prepareSshDatastores, removeSshDatastores, waitDone, type SshDatastores } from './ssh-hosts.js';

export const NO_BYTES_NOTE =
  'OpenNebula dummy TM/VMM drivers (src/tm_mad/dummy, src/vmm_mad/dummy): PROLOG and BOOT move no image bytes and boot nothing; the figures are control-plane work only (with the emulated fleet over ssh the TM ssh copies would move real bytes)';
export const SSH_BYTES_NOTE =
  "OpenNebula's ssh transfer driver (src/tm_mad/ssh/clone) on an fs image datastore and an ssh system datastore: PROLOG tars the image on the front-end (an sshd in the emulated origin) and untars it on the host (an sshd in the node's namespace), over the fleet's shaped links; the VM manager is the dummy one (nothing boots), and a VM counts as deployed only when its disk.0 on the host has the image's size and SHA-256";
export const POLL_MS = 50;
/** The whole fleet's one.vm.info rate is held at about this many calls a second (each VM polled every POLL_MS up to 8 VMs, less often above), so polling does not take the front-end's CPU from the work it measures. */
export const MAX_POLLS_PER_S = 160;
/** How often each VM's state is read in a rollout of `vms` VMs. */
export const pollMsFor = (vms: number) => Math.min(1_000, Math.max(POLL_MS, Math.round((vms * 1000) / MAX_POLLS_PER_S)));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function toRealDeployment(d: NativeDeployment, dataBytesIn = 0): NativeRealDeployment {
  return {
    node: d.node,
    startS: d.startMs / 1000,
    endS: d.endMs === null ? null : d.endMs / 1000,
    outcome: d.outcome,
    ...(d.reason ? { reason: d.reason } : {}),
    phases: { ...d.phases },
    calls: d.calls.length,
    dataCalls: 0,
    controlBytes: d.calls.reduce((s, c) => s + c.bytesIn + c.bytesOut, 0),
    dataBytesIn,
    intended: d.intended,
  };
}

/** One dummy host per node (created when missing), all MONITORED; returns node -> host id. */
export async function ensureHosts(admin: OneClient, names: readonly string[], timeoutMs = 180_000): Promise<Map<string, number>> {
  let pool = await admin.hostPool();
  const have = new Map(pool.map((h) => [h.NAME, h.ID]));
  for (const n of names) if (!have.has(n)) have.set(n, await admin.hostAllocate(n, 'dummy', 'dummy', -1));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    pool = await admin.hostPool();
    const monitored = new Set(pool.filter((h) => h.STATE === HOST_STATE.MONITORED).map((h) => h.NAME));
    if (names.every((n) => monitored.has(n))) break;
    if (Date.now() > deadline) throw new EnvironmentError(`hosts not MONITORED after ${timeoutMs / 1000} s: ${names.filter((n) => !monitored.has(n)).join(', ')}`);
    await sleep(500);
  }
  return new Map(names.map((n) => [n, have.get(n)!]));
}

/** A (dummy-datastore) image, READY. */
export async function registerImage(admin: OneClient, name: string, sizeMiB: number): Promise<number> {
  const existing = (await admin.imagePool()).find((i) => i.NAME === name);
  const id = existing?.ID ?? (await admin.imageAllocate(`NAME = ${templateValue(name)}\nPATH = "/dev/null"\nTYPE = "OS"\nSIZE = "${Math.max(1, sizeMiB)}"`, 1));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const img = await admin.imageInfo(id);
    if (img.STATE === IMAGE_STATE.READY || img.STATE === IMAGE_STATE.USED) return id;
    if (img.STATE === IMAGE_STATE.ERROR) throw new EnvironmentError(`image ${name} (${id}) is in ERROR`);
    if (Date.now() > deadline) throw new EnvironmentError(`image ${name} (${id}) not READY after 60 s`);
    await sleep(200);
  }
}

export async function openNativeRun(o: NativeRealRequest): Promise<NativeRealRun> {
  const fe = loadFrontEnd(o.stateDir);
  const { credentials } = fe;
  const admin = new OneClient({ endpoint: credentials.endpoint, username: credentials.username, password: credentials.password, timeoutMs: 30_000 });
  try {
    await admin.version();
  } catch (err) {
    throw new EnvironmentError(`no OpenNebula answering at ${credentials.endpoint}: ${(err as Error).message}`, [`edgeplane up opennebula --state ${o.stateDir}`]);
  }
  const tag = `ep${Date.now().toString(36)}`;
  const names = o.nodes.map((n) => n.planeId);
  const sshFleet = o.sshFleet;
  if (sshFleet && names.some((n) => !sshFleet.hosts.has(n))) throw new EnvironmentError(`the ssh fleet lacks hosts ${names.filter((n) => !sshFleet.hosts.has(n)).join(', ')}`);
  o.say(`creating ${o.nodes.length} host(s) and the image on ${credentials.endpoint}${sshFleet ? ' (transfers over ssh to the emulated nodes)' : ' (dummy drivers)'}`);
  // the run's hosts are the scheduler's only candidates (a requirement on a host attribute)
  const ids = await poolHosts(admin, names, tag);
  const hosts = new Map(names.map((n, i) => [n, ids[i]!]));
  let ssh: SshDatastores | null = null;
  try {
    if (sshFleet) ssh = await prepareSshDatastores(admin, fe, sshFleet, { tag, imageBytes: o.imageBytes, workDir: o.workDir, logger: o.logger });
  } catch (err) {
    await admin.close();
    throw err;
  }
  const imageId = ssh ? ssh.imageId : await registerImage(admin, `${tag}-image`, Math.ceil(o.imageBytes / 1048576));
  const scheduled = o.placement === 'scheduler' ? [poolRequirement(tag), ...(ssh ? [`SCHED_DS_REQUIREMENTS = "ID = ${ssh.systemDs}"`] : [])] : [];
  const vmTemplate = [vmTemplateBody(imageId, { EDGEPLANE_RUN: tag }), ...scheduled].join('\n');
  const templateId = await admin.templateAllocate(`NAME = "${tag}-template"\n${vmTemplate}`);
  o.logger.info({ tag, imageId, templateId, hosts: Object.fromEntries(hosts) }, 'native run prepared');
  const started: number[] = [];
  const pollMs = pollMsFor(o.nodes.length);
  return {
    async repeat(r) {
      const targets = o.nodes.map((n) => ({ node: n.id, hostId: hosts.get(n.planeId)!, vmName: `${tag}-r${r}-${n.planeId}` }));
      const t0 = performance.now();
      const log: string[] = [];
      const deployments = await rollOut({
        endpoint: credentials.endpoint,
        username: credentials.username,
        password: credentials.password,
        targets,
        placement: o.placement,
        vmTemplate,
        t0,
        pollMs,
        ...(ssh ? { datastoreId: ssh.systemDs } : {}),
        onStateChange: (node, c) => log.push(JSON.stringify({ type: 'state', node, state: c.state, ms: Math.round(c.atMs) })),
      });
      // hosts over ssh: deployed means the bytes are on the host
      const bytesIn = new Map<string, number>();
      if (ssh) {
        for (const d of deployments) {
          if (d.outcome !== 'running' || d.vmId === null) continue;
          const problem = await diskProblem(ssh, d.vmId);
          if (problem === null) bytesIn.set(d.node, ssh.imageBytes);
          else {
            d.outcome = 'failed';
            d.reason = `RUNNING, but the TM copy is wrong: ${problem}`;
            d.intended = false;
          }
        }
      }
      for (const d of deployments) {
        for (const c of d.calls) log.push(JSON.stringify({ type: 'call', node: d.node, op: c.op, status: c.status, ms: Math.round(c.ms * 1000) / 1000, bytesOut: c.bytesOut, bytesIn: c.bytesIn }));
        log.push(JSON.stringify({ type: 'done', node: d.node, vm: d.vmId, outcome: d.outcome, intendedHost: d.intendedHostId, placedHost: d.placedHostId, reason: d.reason }));
        if (d.vmId !== null) started.push(d.vmId);
      }
      writeFileSync(join(o.workDir, `native-r${r}.ndjson`), `${log.join('\n')}\n`);
      // free the hosts for the next repeat (not part of the deployment's calls)
      const vms = deployments.filter((d) => d.vmId !== null).map((d) => d.vmId!);
      await Promise.all(vms.map((id) => admin.vmAction('terminate-hard', id).catch(() => undefined)));
      // over ssh, EPILOG deletes each disk on its host: before the next repeat (or the fleet goes)
      if (ssh) await waitDone(admin, vms);
      return deployments.map((d) => toRealDeployment(d, bytesIn.get(d.node) ?? 0));
    },
    assumptions: [
      ssh ? { name: 'image bytes moved', value: ssh.imageBytes, unit: 'B', source: SSH_BYTES_NOTE } : { name: 'image bytes moved', value: 0, unit: 'B', source: NO_BYTES_NOTE },
      { name: 'placement', value: o.placement === 'pinned' ? 'one.vm.allocate on hold, one.vm.deploy(vm, host, enforce=true)' : 'one.vm.allocate, mm_sched places it', source: 'OpenNebula 6.10 XML-RPC API' },
      {
        name: 'VM state polling',
        value: pollMs,
        unit: 'ms',
        source: `one.vm.info per VM every ${pollMs} ms until ACTIVE/RUNNING (${POLL_MS} ms, or the fleet's ${MAX_POLLS_PER_S} calls/s shared out); every state change in native-r<N>.ndjson`,
      },
      { name: 'calls and state changes', value: join(o.workDir, 'native-r<N>.ndjson'), source: 'every XML-RPC call (op, status, ms, bytes) and VM state change of each repeat' },
    ],
    async close() {
      try {
        if (ssh && sshFleet) await removeSshDatastores(admin, fe.layout, ssh, { tag, fleet: sshFleet }, o.logger);
      } finally {
        await admin.close();
      }
    },
  };
}
