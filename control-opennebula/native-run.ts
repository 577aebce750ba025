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

export const NO_BYTES_NOTE =
  'OpenNebula dummy TM/VMM drivers (src/tm_mad/dummy, src/vmm_mad/dummy): PROLOG and BOOT move no image bytes and boot nothing; the figures are control-plane work only (with the emulated fleet over ssh the TM ssh copies would move real bytes)';
export const POLL_MS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function toRealDeployment(d: NativeDeployment): NativeRealDeployment {
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
    dataBytesIn: 0,
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
  const { credentials } = loadFrontEnd(o.stateDir);
  const admin = new OneClient({ endpoint: credentials.endpoint, username: credentials.username, password: credentials.password, timeoutMs: 30_000 });
  try {
    await admin.version();
  } catch (err) {
    throw new EnvironmentError(`no OpenNebula answering at ${credentials.endpoint}: ${(err as Error).message}`, [`edgeplane up opennebula --state ${o.stateDir}`]);
  }
  const tag = `ep${Date.now().toString(36)}`;
  o.say(`creating ${o.nodes.length} dummy host(s) and the image on ${credentials.endpoint}`);
  const names = o.nodes.map((n) => n.planeId);
  // the run's hosts are the scheduler's only candidates (a requirement on a host attribute)
  const ids = await poolHosts(admin, names, tag);
  const hosts = new Map(names.map((n, i) => [n, ids[i]!]));
  const imageId = await registerImage(admin, `${tag}-image`, Math.ceil(o.imageBytes / 1048576));
  const vmTemplate = `${vmTemplateBody(imageId, { EDGEPLANE_RUN: tag })}${o.placement === 'scheduler' ? `\n${poolRequirement(tag)}` : ''}`;
  const templateId = await admin.templateAllocate(`NAME = "${tag}-template"\n${vmTemplate}`);
  o.logger.info({ tag, imageId, templateId, hosts: Object.fromEntries(hosts) }, 'native run prepared');
  const started: number[] = [];
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
        pollMs: POLL_MS,
        onStateChange: (node, c) => log.push(JSON.stringify({ type: 'state', node, state: c.state, ms: Math.round(c.atMs) })),
      });
      for (const d of deployments) {
        for (const c of d.calls) log.push(JSON.stringify({ type: 'call', node: d.node, op: c.op, status: c.status, ms: Math.round(c.ms * 1000) / 1000, bytesOut: c.bytesOut, bytesIn: c.bytesIn }));
        log.push(JSON.stringify({ type: 'done', node: d.node, vm: d.vmId, outcome: d.outcome, intendedHost: d.intendedHostId, placedHost: d.placedHostId, reason: d.reason }));
        if (d.vmId !== null) started.push(d.vmId);
      }
      writeFileSync(join(o.workDir, `native-r${r}.ndjson`), `${log.join('\n')}\n`);
      // free the hosts for the next repeat (not part of the deployment's calls)
      await Promise.all(deployments.filter((d) => d.vmId !== null).map((d) => admin.vmAction('terminate-hard', d.vmId!).catch(() => undefined)));
      return deployments.map(toRealDeployment);
    },
    assumptions: [
      { name: 'image bytes moved', value: 0, unit: 'B', source: NO_BYTES_NOTE },
      { name: 'placement', value: o.placement === 'pinned' ? 'one.vm.allocate on hold, one.vm.deploy(vm, host, enforce=true)' : 'one.vm.allocate, mm_sched places it', source: 'OpenNebula 6.10 XML-RPC API' },
      { name: 'VM state polling', value: POLL_MS, unit: 'ms', source: 'one.vm.info every 50 ms until ACTIVE/RUNNING; every state change in native-r<N>.ndjson' },
      { name: 'calls and state changes', value: join(o.workDir, 'native-r<N>.ndjson'), source: 'every XML-RPC call (op, status, ms, bytes) and VM state change of each repeat' },
    ],
    async close() {
      await admin.close();
    },
  };
}
