// `run --env emulate` for a plane in native mode: the plane itself deploys every node, with no
// edgeplane agent, and its own transfers move the image. The scenario's topology is built as for
// agents (namespaces, shaped links), and the plane gets its nodes one of two ways:
//  - `ssh` (OpenNebula): every node runs an sshd (sshd.ts), and the plane's native run gets them as
//    hosts over ssh (NativeSshFleet): its copies start in the origin namespace and cross origin
//    uplink, site WAN, site LAN and the node's access link;
//  - `node-processes` (CloudStack): the plane's services listen on the origin host (this machine's
//    own namespace, linked into the origin: topology.ts), its node side is a process per node in
//    the node's namespace (node-side.ts), e.g. a KVM agent that connects out and downloads.
// Faults: WAN link cuts and partitions are applied to the links; node crashes are SIGKILLs of a
// node's process (node-processes only: an sshd's host has no state to lose); service outages and
// chunk corruption are not supported here yet (the image moves in the plane's own stream).
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NotSupportedError, safeFolderName } from '../../common/index.js';
import { expandFleet, type Fleet } from '../../edge-sim/index.js';
import { recordsFromDeployments, type DeploymentRun } from '../../reports/index.js';
import { thisMachine } from '../machine.js';
import { runLabels } from '../run.js';
import { simBoundInputs } from '../sim.js';
import type { Scenario } from '../../scenarios/index.js';
import type { Environment, PlaneRun, PlaneRunContext } from '../types.js';
import { bootDelayMs } from './boot.js';
import { planFaults } from './faults.js';
import { NodeSideProcesses } from './node-side.js';
import { buildTopology, checkPrerequisites, cleanupStale, destroyNamespaces, guardTeardown, probeNetem, WanCuts, type BuiltTopology } from './netns.js';
import type { NsProcess } from './processes.js';
import { checkSshd, makeKeys, sshFleetOf, startNodeSshds } from './sshd.js';
import { ORIGIN_HOST_IP, planTopology, type Topology } from './topology.js';

/**
 * Faults a native plane's emulation cannot apply (NotSupportedError), checked before anything runs:
 * chunk corruption and control-plane outages always; node crashes for planes reached over ssh.
 */
export function checkNativeFaults(scenario: Scenario, plane: string, how: 'ssh' | 'node-processes', services: readonly string[]): void {
  const f = scenario.faults;
  if (f.chunkCorruption > 0) throw new NotSupportedError(`--env emulate with ${plane} native and chunkCorruption (the image moves in the plane's own stream, which edgeplane does not alter)`);
  if (f.controlOutages.some((c) => c.service === 'all' || services.includes(c.service))) {
    throw new NotSupportedError(
      `--env emulate with ${plane} native and a control-plane outage (${how === 'ssh' ? 'link cuts and partitions are emulated for planes reached over ssh' : 'link cuts, partitions and node crashes are emulated for this plane'}; service outages are not yet)`,
    );
  }
  if (how === 'ssh' && (f.crashes.length > 0 || (f.crashRate?.perNodePerHour ?? 0) > 0)) {
    throw new NotSupportedError(`--env emulate with ${plane} native and node crashes (link cuts and partitions are emulated for planes reached over ssh; an sshd's host has no deployment state to lose)`);
  }
}

export interface EmulatedNativeOptions {
  workDir: string;
  nodes?: number;
  /** the plane's state directory (default: the one `edgeplane up <plane>` uses) */
  stateDir?: string;
  timeoutMs?: number;
  netem?: 'auto' | 'off';
  maxImageBytes: number;
}

/** Bytes each node's access link has received (its namespace's end of the veth). */
function rxBytes(t: Topology): Map<number, number> {
  const out = new Map<number, number>();
  for (const node of t.nodes) {
    const r = spawnSync('ip', ['netns', 'exec', node.ns, 'cat', `/sys/class/net/${node.accessDevs.node}/statistics/rx_bytes`], { encoding: 'utf8' });
    out.set(node.index, Number(r.stdout.trim()) || 0);
  }
  return out;
}

export async function openEmulatedNative(env: Environment, o: EmulatedNativeOptions, ctx: PlaneRunContext): Promise<PlaneRun> {
  const { scenario, plane, descriptor: d, say, logger: log } = ctx;
  const operator = d.operator;
  const how = operator?.nativeEmulated;
  if (!operator?.native || how === undefined) throw new NotSupportedError(`--env emulate with ${plane.name} in native mode (${plane.name} has no native deployment of its own here; agent mode is emulated)`);
  checkNativeFaults(scenario, plane.name, how, d.services);
  checkPrerequisites();
  if (how === 'ssh') checkSshd();
  const cleaned = cleanupStale();
  if (cleaned.length > 0) say(`removed ${cleaned.length} namespace(s) left by an earlier emulation`);
  const fleet = expandFleet(scenario);
  const n = o.nodes ?? fleet.nodes.length;
  const timeoutMs = o.timeoutMs ?? 600_000;
  const topology = planTopology(scenario, n, fleet, { agentsPerProcess: 1, originHost: how === 'node-processes' });
  const netem = o.netem === 'off' ? false : probeNetem();
  const workDir = resolve(o.workDir, safeFolderName(scenario.name), plane.name);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const model = ctx.registry.model(plane.name, plane.mode, { placement: plane.placement, flags: plane.flags, calibration: ctx.calibration });
  const stateDir = resolve(o.stateDir ?? d.server?.defaultStateDir ?? '.');
  const imageBytes = Math.min(scenario.image.sizeBytes, o.maxImageBytes);
  const named = topology.nodes.map((node) => ({ planeId: operator.nodeName(node.id), node }));

  const nodeSide = how === 'ssh' ? 'an sshd' : `${plane.name}'s node side`;
  say(
    `building ${topology.namespaces.length} namespaces (${topology.sites.length} site(s), ${topology.nodes.length} node(s) with ${nodeSide} each), ${topology.egresses.length} shaped egresses; netem ${netem ? 'present' : "absent: no path delay on the plane's own transfers"}`,
  );
  let built: BuiltTopology | null = null;
  const release = guardTeardown(() => (built ? built.destroy() : destroyNamespaces(topology.namespaces)));
  let sshds: NsProcess[] = [];
  const byId = new Map(topology.nodes.map((x) => [x.id, x]));
  // the run's processes are started once; each repeat rewrites their boot-time files with its draws
  const nodeProcesses = how === 'node-processes' ? new NodeSideProcesses(byId, { dir: join(workDir, 'boot-ms'), delayMs: (id, r) => bootDelayMs(scenario, fleet, byId.get(id)!.index, r) }) : null;
  const teardown = async () => {
    await Promise.all(sshds.map((p) => p.stop(2_000)));
    await nodeProcesses?.stopAll();
    release();
    if (built) built.destroy();
  };
  let run: Awaited<ReturnType<NonNullable<typeof operator.native>>>;
  try {
    built = buildTopology(topology, { netem });
    let sshFleet;
    if (how === 'ssh') {
      const keys = makeKeys(join(workDir, 'ssh'));
      sshds = await startNodeSshds(keys, topology.nodes);
      sshFleet = sshFleetOf(keys, named);
    }
    run = await operator.native({
      stateDir,
      nodes: named.map((x) => ({ id: x.node.id, planeId: x.planeId, site: topology.sites[x.node.site]!.id })),
      placement: plane.placement,
      imageBytes,
      workDir,
      logger: log,
      say,
      sshFleet,
      nodeProcesses: nodeProcesses ?? undefined,
    });
  } catch (err) {
    await teardown();
    throw err;
  }
  log.info({ namespaces: topology.namespaces.length, buildMs: built.buildMs, netem, stateDir, how }, 'emulated native fleet ready');
  const startedAt = new Date().toISOString();
  const counters = { cuts: 0, crashes: 0, rxBytesSum: 0, rxSamples: 0 };
  const sub: Fleet = { sites: fleet.sites.slice(0, topology.sites.length), nodes: fleet.nodes.slice(0, topology.nodes.length), byId: fleet.byId };

  return {
    nodes: topology.nodes.length,
    async repeat(r): Promise<DeploymentRun> {
      say(`repeat ${r + 1}/${scenario.repeat}: ${topology.nodes.length} node(s), ${d.name} native (${plane.placement}), ${how === 'ssh' ? 'transfers over ssh' : "the plane's node side on every node"}`);
      const faults = planFaults(scenario, fleet, { emulated: topology.nodes.map((x) => x.index), sites: topology.sites.length, repeat: r, horizonUs: timeoutMs * 1000, services: d.services });
      nodeProcesses?.setRepeat(r);
      const before = rxBytes(topology);
      const cuts = new WanCuts(topology);
      const applied: Promise<void>[] = [];
      const t0Ms = Date.now();
      const timers = faults.actions.map((a) =>
        setTimeout(
          () => {
            const act = async (): Promise<void> => {
              if (a.kind === 'cut' || a.kind === 'restore') {
                if (await cuts.apply(a.site, a.kind === 'cut')) counters.cuts++;
              } else if (a.kind === 'crash') {
                if (nodeProcesses?.crash(fleet.nodes[a.node]!.id)) counters.crashes++;
              } else if (a.kind === 'reboot') await nodeProcesses?.restart(fleet.nodes[a.node]!.id);
            };
            applied.push(act().catch((err: Error) => log.error({ err: err.message, action: a }, 'fault action failed')));
          },
          Math.max(0, t0Ms + a.atUs / 1000 - Date.now()),
        ),
      );
      let deployments;
      try {
        deployments = await run.repeat(r);
      } finally {
        for (const t of timers) clearTimeout(t);
        await Promise.all(applied);
        await cuts.restoreAll();
      }
      const after = rxBytes(topology);
      const received = topology.nodes.map((x) => (after.get(x.index) ?? 0) - (before.get(x.index) ?? 0));
      counters.rxBytesSum += received.reduce((a, b) => a + b, 0);
      counters.rxSamples += received.length;
      // physics: no host holds more image bytes than its access link carried
      deployments.forEach((x, i) => {
        if (x.dataBytesIn > received[i]!) log.error({ node: x.node, dataBytesIn: x.dataBytesIn, received: received[i] }, 'a host holds more image bytes than its access link received');
      });
      const { records, originEgressBytes } = recordsFromDeployments(
        deployments,
        deployments.map((x) => x.intended),
      );
      const ok = deployments.filter((x) => x.outcome === 'running').length;
      say(`repeat ${r + 1}/${scenario.repeat}: ${ok}/${topology.nodes.length} RUNNING`);
      return {
        labels: runLabels(scenario, plane, env, topology.nodes.length, r),
        records,
        nodeId: (i) => topology.nodes[i]!.id,
        siteId: (i) => topology.sites[topology.nodes[i]!.site]!.id,
        bytesPerNode: imageBytes,
        originEgressBytes,
        dataRequestsPerRoundTrip: 1,
        bound: simBoundInputs(scenario, sub, model, imageBytes),
        deltaSavedBytes: null,
        faults: faults.windows,
        envCounters: [{ metric: 'emulate_node_rx', value: Math.round(received.reduce((a, b) => a + b, 0) / Math.max(1, received.length)), unit: 'B' }],
        sla: scenario.sla,
      };
    },
    meta() {
      const p = plane.name;
      return {
        assumptions: [
          {
            plane: p,
            name: 'control plane',
            value:
              how === 'ssh'
                ? `the running ${p} plane in ${stateDir} (native mode: the plane deploys, no edgeplane agent)`
                : `${p}'s services of this run on the origin host ${ORIGIN_HOST_IP} (native mode: the plane deploys, no edgeplane agent)`,
            source: 'edgeplane run --env emulate',
          },
          {
            plane: p,
            name: 'nodes run',
            value: topology.nodes.length,
            unit: 'hosts',
            source: `the scenario's first ${topology.nodes.length} of ${fleet.nodes.length} nodes, each ${how === 'ssh' ? 'an sshd in its own network namespace, reached by the plane' : `${p}'s node side in its own network namespace, reaching the plane`} over the fleet's shaped links`,
          },
          ...run.assumptions.map((a) => ({ plane: p, ...a })),
          {
            plane: p,
            name: 'network',
            value: netem ? 'tbf + netem' : 'tbf',
            source: netem ? 'every link shaped by tbf, delay and loss by netem' : "every link shaped by tbf; no netem in this kernel: the plane's own transfers see no path delay and no loss (bandwidth only)",
          },
          {
            plane: p,
            name: 'bytes received per node (mean)',
            value: counters.rxSamples > 0 ? Math.round(counters.rxBytesSum / counters.rxSamples) : 0,
            unit: 'B',
            source: `rx_bytes of each node's access veth over each repeat: the image, ${how === 'ssh' ? 'ssh framing' : 'HTTP framing'} and the control traffic`,
          },
        ],
        machine: thisMachine(),
        startedAt,
      };
    },
    profile: () => d.profile?.() ?? model.profile,
    counters: () => ({ cuts: counters.cuts, ...(nodeProcesses ? { crashes: counters.crashes, nodeSideStarts: nodeProcesses.starts(), nodeSideCpuMs: nodeProcesses.cpuMs() } : {}) }),
    async close() {
      try {
        await run.close();
      } finally {
        await teardown();
      }
    },
  };
}
