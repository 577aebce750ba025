// The `emulate` environment (`edgeplane run --env emulate`): the scenario's topology built for real
// with network namespaces and shaped links (topology.ts, netns.ts), a real `edgeplane agent`
// process in every node's namespace with its own state directory and chunk store, the plane's
// node side served from the origin namespace, delay (without netem) and chunk corruption added
// by a relay in each site router (relay.ts), and the scenario's faults applied to processes and
// links (faults.ts). The agents' events.ndjson become the same deployment records as the
// simulator's. Everything created is torn down in close(), on Ctrl-C, and on the next start after
// a crash (the state file, netns.ts).
//
// Node side (agent mode): the test plane, standing in for the scenario's plane (`nodeSide:
// 'stand-in'`, the default), or the plane's own (`'plane'`, OpenStack): its running services on
// this machine's loopback, reached by the nodes at their site router (a relay per service port)
// and from there at the origin host (ORIGIN_HOST_IP, forwarded to loopback), its node client
// pointed there by the plane's operator (reroute: Keystone's URL, Glance and Barbican as endpoint
// overrides). Native planes bring their own node side (native.ts).
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { EnvironmentError, InputError, NotSupportedError, safeFolderName, writeRandomFile } from '../../common/index.js';
import { expandFleet, type Fleet } from '../../edge-sim/index.js';
import { deploymentFromEvents, recordsFromDeployments, type Deployment, type DeploymentRun } from '../../reports/index.js';
import type { PlaneRegistry } from '../../adapters/index.js';
import type { Scenario } from '../../scenarios/index.js';
import { thisMachine } from '../machine.js';
import { DEFAULT_AGENT_CONFIG } from '../../agent/index.js';
import { runLabels } from '../run.js';
import { simBoundInputs } from '../sim.js';
import type { Environment, PlaneRun, PlaneRunContext } from '../types.js';
import type { MeasuredCall } from './agreement.js';
import { planFaults, type FaultAction } from './faults.js';
import { buildTopology, checkPrerequisites, cleanupStale, destroyNamespaces, guardTeardown, probeNetem, WanCuts, type BuiltTopology } from './netns.js';
import { namespaceLauncher, NsProcess, type AgentLauncher, type AgentProcess } from './processes.js';
import { Relay, type RelayConfig } from './relay.js';
import { bootDelayMs } from './boot.js';
import { EventsTail } from './events-tail.js';
import { checkNativeFaults, openEmulatedNative } from './native.js';
import { ORIGIN_HOST_IP, ORIGIN_IP, ORIGIN_NS, pathOneWayUs, planTopology, viaRouter, type EmulatedNode } from './topology.js';

/** Agent machines on one machine: in agent hosts ~9 MiB each, alone ~73 MiB (measured, docs/emulate.md); 200 emulated here, 400 allowed (the CPU is the limit above). */
export const MAX_EMULATED_NODES = 400;
/** The emulated image is at most this big: every node stores its chunks and a staged copy on this disk. */
export const MAX_EMULATED_IMAGE_BYTES = 512 * 1024 * 1024;
/** The plane's service listens here in the origin namespace; relays listen on the same port in each site router. */
export const EMULATE_SERVICE_PORT = 47080;
/** The plane that stands in for the scenario's plane on the nodes, and the path its service answers on. */
const STAND_IN = 'test-plane';
const TEST_PLANE_PATH = '/test-plane/v1';

export interface EmulateEnvironmentOptions {
  /** test plane directory, keys, agent configurations and node state go here */
  workDir: string;
  /** the scenario's first N nodes (site-major); default: all */
  nodes?: number;
  cliPath?: string;
  /** per repeat: nodes not finished by then count as failed (timeout) */
  timeoutMs?: number;
  /** `auto` probes the kernel; `off` uses the relay for delay even where netem exists */
  netem?: 'auto' | 'off';
  /**
   * agent machines per agent process (1: a process per node); default 1 up to
   * SOLO_FLEET_MAX nodes, DEFAULT_AGENTS_PER_HOST above. Nodes a crash fault hits always run alone.
   */
  agentsPerProcess?: number;
  /** how agent processes are started in their namespaces (default: plain processes; environments/containers: containers) */
  launcher?: AgentLauncher;
  /** native mode: the plane's state directory (default: the one `edgeplane up <plane>` uses) */
  stateDir?: string;
  /** agent mode: the test plane stands in for the scenario's plane (default), or the plane's own running services and node client serve the agents */
  nodeSide?: 'stand-in' | 'plane';
  /** receives every repeat's successful first-attempt control calls (for calibrating the simulator to the stand-in) */
  onCalls?: (plane: string, calls: MeasuredCall[]) => void;
}

/** The scenario as the emulation takes it: agent-mode planes, the origin strategy, a fleet this machine holds. */
export function emulateScenario(scenario: Scenario, path: string, o: { nodes?: number; registry: PlaneRegistry }): Scenario {
  const size = scenario.fleet.sites * scenario.fleet.nodesPerSite;
  const n = o.nodes ?? size;
  if (o.nodes === undefined && size > MAX_EMULATED_NODES) {
    throw new InputError(`${path}: ${size} nodes; the emulation runs one agent process per node on this machine: give --nodes N (at most ${MAX_EMULATED_NODES})`);
  }
  if (n > MAX_EMULATED_NODES) throw new InputError(`--nodes ${n}: at most ${MAX_EMULATED_NODES} emulated nodes on one machine`);
  if (n > size) throw new InputError(`--nodes ${n}: scenario ${scenario.name} has only ${size} nodes`);
  if (scenario.strategy !== 'origin') {
    throw new NotSupportedError(`--env emulate with strategy ${scenario.strategy} (the real agent fetches from its plane only: no site cache or peer exchange yet; strategy origin is emulated)`);
  }
  if (scenario.image.previous) throw new NotSupportedError('--env emulate with image.previous (a delta update needs the previous version staged on every node first)');
  for (const p of scenario.planes) {
    const d = o.registry.get(p.name);
    if (p.mode === 'native' && d.operator?.nativeEmulated !== undefined) {
      checkNativeFaults(scenario, p.name, d.operator.nativeEmulated, d.services);
      continue;
    }
    if (p.mode !== 'agent')
      throw new NotSupportedError(
        `--env emulate with ${p.name} in ${p.mode} mode (the emulated nodes run the edge agent, or a plane's own native deployment where it has one: ${nativePlanes(o.registry).join(', ') || 'none'})`,
      );
  }
  return scenario;
}

const EMULATED_BACKOFF_CAP_S = 5;

/**
 * How the emulated agents behave: the fleet comes up idle before t0, every node is pinned at t0
 * and notices at its next poll, a short one (idle polling of a big fleet costs the plane's CPU:
 * less often there). The simulator side of an agreement runs with the same.
 */
export function emulatedClients(nodes: number): Scenario['clients'] {
  const pollUs = Math.round((nodes <= 50 ? 0.25 : Math.min(5, nodes / 100)) * 1e6);
  return { pollIntervalUs: pollUs, startJitterUs: pollUs, requestTimeoutUs: 60_000_000, backoffCapUs: EMULATED_BACKOFF_CAP_S * 1e6 };
}

/** One agent's private memory apart from its chunk buffers (measured ~41-53 MiB idle), for the up-front check. */
const AGENT_BASE_BYTES = 48 * 2 ** 20;
/** An agent host process's own private memory, and each agent machine's in it (measured, docs/emulate.md), for the up-front check. */
const HOST_BASE_BYTES = 64 * 2 ** 20;
const HOSTED_AGENT_BYTES = 8 * 2 ** 20;
/** Up to this many nodes, a process per node (as the agreement was measured); above, agent hosts. */
export const SOLO_FLEET_MAX = 50;
export const DEFAULT_AGENTS_PER_HOST = 20;

function availableMemoryBytes(): number | null {
  try {
    const kb = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/** Agents started at once while the fleet comes up. */
const START_WAVE = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ActiveTopology {
  built: BuiltTopology;
  release: () => void;
}

export function emulateEnvironment(o: EmulateEnvironmentOptions): Environment {
  const env: Environment = {
    name: 'emulate',
    strategyOf: (scenario) => scenario.strategy,
    open: (ctx) => openEmulatedPlane(env, o, ctx),
  };
  return env;
}

function agentConfig(
  file: string,
  o: { node: string; stateDir: string; plane: Record<string, unknown>; trust: string; rangesInFlight: number; wholeStreamAt: number | 'never'; bootMs: number; seed: number; pollS: number },
): void {
  const body = {
    node: o.node,
    stateDir: o.stateDir,
    plane: o.plane,
    trust: [o.trust],
    hypervisor: { kind: 'sim', simBootDelayMs: o.bootMs, bootTimeoutS: 120 },
    fetch: { rangesInFlight: o.rangesInFlight, wholeStreamAt: o.wholeStreamAt, requestTimeoutS: 60 },
    machine: { pollIntervalS: o.pollS, backoffBaseS: DEFAULT_AGENT_CONFIG.backoffBaseUs / 1e6, backoffCapS: EMULATED_BACKOFF_CAP_S },
    seed: o.seed,
  };
  writeFileSync(file, `# edgeplane agent configuration (edgeplane run --env emulate)\n${toYaml(body)}`, { mode: 0o600 });
}

async function openEmulatedPlane(env: Environment, o: EmulateEnvironmentOptions, ctx: PlaneRunContext): Promise<PlaneRun> {
  const { scenario, plane, say, logger: log } = ctx;
  if (plane.mode === 'native') return openEmulatedNative(env, { workDir: o.workDir, nodes: o.nodes, stateDir: o.stateDir, timeoutMs: o.timeoutMs, netem: o.netem, maxImageBytes: MAX_EMULATED_IMAGE_BYTES }, ctx);
  if (plane.mode !== 'agent') throw new NotSupportedError(`--env emulate with ${plane.name} in ${plane.mode} mode`);
  checkPrerequisites();
  const cleaned = cleanupStale();
  if (cleaned.length > 0) say(`removed ${cleaned.length} namespace(s) left by an earlier emulation`);
  const fleet = expandFleet(scenario);
  const n = o.nodes ?? fleet.nodes.length;
  // nodes a crash fault hits (in any repeat) run alone, so the crash is a real SIGKILL of their process
  const solo = new Set<number>();
  const firstN = fleet.nodes.slice(0, n).map((x) => x.index);
  const own = o.nodeSide === 'plane';
  for (let r = 0; r < scenario.repeat; r++) {
    const plan = planFaults(scenario, fleet, { emulated: firstN, sites: fleet.sites.length, repeat: r, horizonUs: (o.timeoutMs ?? 600_000) * 1000, services: ctx.descriptor.services });
    for (const a of plan.actions) if (a.kind === 'crash') solo.add(a.node);
    if (own && plan.actions.some((a) => a.kind === 'outage-start'))
      throw new NotSupportedError(`--env emulate --node-side plane with a control-plane outage (${plane.name}'s services are the running stack's, which the emulation does not stop)`);
  }
  const agentsPerProcess = o.agentsPerProcess ?? (n <= SOLO_FLEET_MAX ? 1 : DEFAULT_AGENTS_PER_HOST);
  const topology = planTopology(scenario, n, fleet, { agentsPerProcess, solo, originHost: own });
  const soloNodes = topology.nodes.filter((x) => !x.hosted);
  const netem = o.netem === 'off' ? false : probeNetem();
  const cliPath = o.cliPath ?? new URL('../../cli/main.js', import.meta.url).pathname;
  const relayMain = new URL('./relay-main.js', import.meta.url).pathname;
  const workDir = resolve(o.workDir, safeFolderName(scenario.name), plane.name);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const model = ctx.registry.model(plane.name, plane.mode, { placement: plane.placement, flags: plane.flags, calibration: ctx.calibration });

  // the node side: the test plane's operator standing in, or the plane's own, through the registry
  const sideName = own ? plane.name : STAND_IN;
  const why = own ? `--env emulate --node-side plane needs ${plane.name}'s operator and node client` : '--env emulate needs the stand-in plane';
  const standIn = ctx.registry.with(sideName, 'operator', why).operator;
  const nodeClient = ctx.registry.with(sideName, 'nodeClient', why).nodeClient;
  const planeDir = join(workDir, 'plane');
  mkdirSync(planeDir, { recursive: true });
  const ownStateDir = resolve(o.stateDir ?? ctx.descriptor.server?.defaultStateDir ?? '.');
  const operator = await standIn.open(own ? ownStateDir : planeDir);
  if (own && (!operator.reroute || !operator.unassign)) throw new NotSupportedError(`--env emulate --node-side plane with ${plane.name} (its operator cannot point its nodes at the emulated routers)`);
  const assignmentOps = nodeClient.assignmentOps ?? [];

  // the image: random bytes of the scenario's size (capped), sealed as the scenario chunks it
  const imageBytes = Math.min(scenario.image.sizeBytes, MAX_EMULATED_IMAGE_BYTES);
  const chunkBytes = Math.min(scenario.image.chunkBytes, imageBytes);
  const imageId = `ep-${safeFolderName(scenario.name)}`
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .slice(0, 100);
  const raw = join(workDir, 'image.raw');
  writeRandomFile(raw, imageBytes);
  // the plane's own store keeps what earlier runs published: a version of this run's own
  const version = own ? `emulated-${Date.now().toString(36)}` : 'emulated';
  const published = await operator.publish({ source: raw, imageId, version, keysDir: join(workDir, 'keys'), chunking: { algorithm: 'fixed', size: chunkBytes }, logger: log });
  rmSync(raw, { force: true });
  const pin = published.pin;
  // the image as the agents' events name it (the manifest's identity); the pin and the plane's
  // reports may name it otherwise (OpenStack's name the Glance image by id)
  const deployed = { imageId, version };
  const trustFile = join(published.keysDir, 'publisher.pub');
  const enrolled = await operator.enroll(topology.nodes.map((x) => standIn.nodeName(x.id)));
  // where each node reaches the plane: the stand-in at its site router's relay; the plane's own
  // services at the same ports of the router, relayed to the origin host
  const ownPorts = new Set<number>();
  const planeSection = new Map<number, Record<string, unknown>>();
  for (const [i, node] of topology.nodes.entries()) {
    const section = enrolled[i]!.agentPlane;
    if (!own) planeSection.set(node.index, { ...section, url: `http://${node.routerIp}:${EMULATE_SERVICE_PORT}${TEST_PLANE_PATH}` });
    else planeSection.set(node.index, await operator.reroute!(section, (url) => viaRouter(url, node.routerIp, ownPorts)));
  }

  const clients = emulatedClients(topology.nodes.length);
  const pollS = clients.pollIntervalUs / 1e6;
  // a big fleet: a smaller V8 young generation per agent (~12 MiB less each, measured), recorded in the assumptions
  const agentFlags = topology.nodes.length > 50 ? ['--max-semi-space-size=1'] : [];
  const buffers = 2 * Math.min(64, scenario.concurrency.rangesInFlight) * Math.min(scenario.image.chunkBytes, MAX_EMULATED_IMAGE_BYTES);
  const needBytes = soloNodes.length * (AGENT_BASE_BYTES + buffers) + topology.hosts.length * HOST_BASE_BYTES + (topology.nodes.length - soloNodes.length) * (HOSTED_AGENT_BYTES + buffers);
  const available = availableMemoryBytes();
  if (available !== null && available < needBytes + 1024 ** 3) {
    throw new EnvironmentError(
      `${topology.nodes.length} agents (${soloNodes.length} alone, the rest in ${topology.hosts.length} agent host(s)) need about ${Math.round(needBytes / 2 ** 20)} MiB (measured bases and chunk buffers) and 1 GiB to spare; this machine has ${Math.round(available / 2 ** 20)} MiB available`,
    );
  }
  say(
    `building ${topology.namespaces.length} namespaces (${topology.sites.length} site(s), ${topology.nodes.length} node(s)${topology.hosts.length > 0 ? `: ${topology.nodes.length - soloNodes.length} in ${topology.hosts.length} agent host(s) of up to ${agentsPerProcess}, ${soloNodes.length} alone` : ''}), ${topology.egresses.length} shaped egresses; netem ${netem ? 'present' : 'absent: delay by relay, loss not reproduced'}`,
  );
  // guarded from before the first namespace exists (a signal during the build removes what it made)
  let built: BuiltTopology | null = null;
  const release = guardTeardown(() => (built ? built.destroy() : destroyNamespaces(topology.namespaces)));
  try {
    built = buildTopology(topology, { netem });
  } catch (err) {
    release();
    throw err;
  }
  const active: ActiveTopology = { built, release };
  log.info({ namespaces: topology.namespaces.length, buildMs: built.buildMs, netem }, 'emulated topology built');

  let service: NsProcess | null = null;
  // the plane's own services: forwarded from the origin host to their loopback ports (this process)
  const forwarders = [...ownPorts].map((port) => new Relay({ listen: { host: ORIGIN_HOST_IP, port }, target: { host: '127.0.0.1', port }, delayUs: {}, defaultDelayUs: 0, corruption: 0, seed: 0, stream: 'origin-host' }));
  const startService = async () => {
    if (own) return;
    service = new NsProcess(ORIGIN_NS, [cliPath, 'test-plane', 'serve', '--dir', planeDir, '--host', ORIGIN_IP, '--port', String(EMULATE_SERVICE_PORT)], 'test plane');
    const started = service;
    await started.waitFor(/http:\/\/\S+/);
    void started.exited.then((code) => {
      if (started === service && !stoppingService) log.error({ code, signal: started.child.signalCode, stderr: started.stderr.slice(-3000) }, 'the plane service exited unasked');
    });
  };
  let stoppingService = false;
  // the service's CPU time so far: that of the processes stopped (outages) plus the running one's
  let stoppedServiceCpuMs = 0;
  const serviceCpuMs = () => stoppedServiceCpuMs + ((service as NsProcess | null)?.cpuMs() ?? 0);
  const stopService = async () => {
    const s = service as NsProcess | null;
    stoppedServiceCpuMs += s?.cpuMs() ?? 0;
    await s?.stop(2_000);
  };
  const counters = {
    fleetUpMs: 0,
    assignMsMax: 0,
    agentStarts: 0,
    crashes: 0,
    cuts: 0,
    outages: 0,
    corrupted: 0,
    relayConnections: 0,
    peakRssMaxBytes: 0,
    peakRssSumBytes: 0,
    privateMaxBytes: 0,
    privateSumBytes: 0,
    pssSumBytes: 0,
    rssSamples: 0,
  };
  const timeoutMs = o.timeoutMs ?? 600_000;
  const startedAt = new Date().toISOString();
  const launcher = o.launcher ?? namespaceLauncher;
  try {
    for (const f of forwarders) await f.start();
    await startService();
    await launcher.prepare?.({ workDir, cliPath, logger: log });
  } catch (err) {
    await Promise.all(forwarders.map((f) => f.close()));
    await (service as NsProcess | null)?.stop(2_000);
    await launcher.close?.().catch(() => {});
    release();
    built.destroy();
    throw err;
  }

  /** The relay of site `site` on `port` (the stand-in's: EMULATE_SERVICE_PORT to the origin namespace; the plane's own: each service port to the origin host). */
  const relayConfig = (site: number, repeat: number, port: number): RelayConfig => {
    const s = topology.sites[site]!;
    const delays: Record<string, number> = {};
    for (const node of topology.nodes) if (node.site === site) delays[node.ip] = netem ? 0 : pathOneWayUs(topology, node);
    return {
      // every address of the router: its LAN address (nodes alone) and its aliases (hosted nodes)
      listen: { host: '0.0.0.0', port },
      target: own ? { host: ORIGIN_HOST_IP, port } : { host: ORIGIN_IP, port: EMULATE_SERVICE_PORT },
      delayUs: delays,
      defaultDelayUs: 0,
      corruption: scenario.faults.chunkCorruption,
      // the plane's own agents stream a fresh image whole (a 200): corrupted per chunk as ranges are
      ...(own ? { streamPieceBytes: chunkBytes } : {}),
      seed: scenario.seed,
      stream: own ? `${s.id}/repeat-${repeat}/port-${port}` : `${s.id}/repeat-${repeat}`,
    };
  };

  return {
    nodes: topology.nodes.length,
    async repeat(r): Promise<DeploymentRun> {
      const repeatDir = join(workDir, `repeat-${r}`);
      mkdirSync(join(repeatDir, 'agents'), { recursive: true });
      // relays: one per site router, fresh per repeat (their corruption draws are per repeat)
      const relays: NsProcess[] = [];
      let relayCpuMs = 0;
      const serviceCpuStartMs = serviceCpuMs();
      let serviceCpuEndMs = serviceCpuStartMs;
      let stoppingRelays = false;
      const relayFiles: string[] = [];
      for (const s of topology.sites) {
        for (const port of own ? [...ownPorts] : [EMULATE_SERVICE_PORT]) {
          const file = join(repeatDir, own ? `relay-${s.index}-${port}.json` : `relay-${s.index}.json`);
          writeFileSync(file, JSON.stringify(relayConfig(s.index, r, port)));
          relayFiles.push(file);
          relays.push(new NsProcess(s.ns, [relayMain, file], own ? `relay ${s.id}:${port}` : `relay ${s.id}`));
        }
      }
      for (const p of relays) {
        await p.waitFor(/ready \d+/);
        void p.exited.then((code) => {
          if (!stoppingRelays) log.error({ relay: p.what, code, signal: p.child.signalCode, stderr: p.stderr.slice(-3000) }, 'relay exited during the repeat');
        });
      }
      const configs = new Map<number, { file: string; stateDir: string }>();
      for (const node of topology.nodes) {
        const stateDir = join(repeatDir, 'nodes', standIn.nodeName(node.id));
        const file = join(repeatDir, 'agents', `${standIn.nodeName(node.id)}.agent.yaml`);
        agentConfig(file, {
          node: standIn.nodeName(node.id),
          stateDir,
          plane: planeSection.get(node.index)!,
          trust: trustFile,
          rangesInFlight: Math.min(64, scenario.concurrency.rangesInFlight),
          wholeStreamAt: scenario.concurrency.wholeStreamAt,
          bootMs: bootDelayMs(scenario, fleet, node.index, r),
          seed: scenario.seed * 1000 + r,
          pollS,
        });
        configs.set(node.index, { file, stateDir });
      }
      const byIndex = new Map(topology.nodes.map((x) => [x.index, x]));
      const faults = planFaults(scenario, fleet, { emulated: topology.nodes.map((x) => x.index), sites: topology.sites.length, repeat: r, horizonUs: timeoutMs * 1000, services: ctx.descriptor.services });
      // agent processes: one per node alone, one per agent host; `procOf` maps a node to the process running it
      const procOf = new Map<number, AgentProcess>();
      const units: { key: string; nodes: number[]; start: () => AgentProcess }[] = [
        ...soloNodes.map((node) => ({
          key: `n${node.index}`,
          nodes: [node.index],
          start: () => launcher.start({ ns: node.ns, args: [cliPath, 'agent', '--config', configs.get(node.index)!.file], what: `agent ${node.id}`, nodeFlags: agentFlags }),
        })),
        ...topology.hosts.map((h, i) => ({
          key: `h${i}`,
          nodes: h.nodes,
          start: () =>
            launcher.start({
              ns: h.ns,
              args: [cliPath, 'agent', '--config', ...h.nodes.map((x) => configs.get(x)!.file)],
              what: `agent host ${i} (${topology.sites[h.site]!.id}, ${h.nodes.length} agent machines)`,
              nodeFlags: [],
            }),
        })),
      ];
      const unitOf = new Map(units.flatMap((u) => u.nodes.map((x) => [x, u] as const)));
      const procs = new Map<string, AgentProcess>();
      const startUnit = (u: (typeof units)[number]) => {
        const p = u.start();
        procs.set(u.key, p);
        for (const x of u.nodes) procOf.set(x, p);
        counters.agentStarts += u.nodes.length;
      };
      const tails = new Map(topology.nodes.map((x) => [x.index, new EventsTail(join(configs.get(x.index)!.stateDir, 'events.ndjson'))]));
      const eventsOf = (node: EmulatedNode) => {
        const tail = tails.get(node.index)!;
        tail.poll();
        return tail.lines;
      };
      const isDone = (node: EmulatedNode) => eventsOf(node).some((l) => l.type === 'done' && l.image.imageId === deployed.imageId && l.image.version === deployed.version);
      // per process (unit), the largest figures sampled; divided by its agent machines at the end
      const memory = new Map<string, { peak: number; priv: number; pss: number }>();
      let sampledAt = 0;
      const cpu = new Map<AgentProcess, number>();
      const sampleMemory = (u: (typeof units)[number]) => {
        const p = procs.get(u.key);
        const c = p?.cpuMs();
        if (p && c != null) cpu.set(p, c);
        const m = p?.memory();
        if (!m) return;
        const was = memory.get(u.key) ?? { peak: 0, priv: 0, pss: 0 };
        memory.set(u.key, { peak: Math.max(was.peak, m.peakRssBytes), priv: Math.max(was.priv, m.privateBytes), pss: Math.max(was.pss, m.pssBytes) });
      };

      // the fleet comes up idle (logged in, polling, no pin): agent start-up (~1 CPU-second each
      // here) is not part of the rollout, which begins at t0 when every node is pinned at once
      await (operator.unassign ?? operator.revoke)(enrolled.map((e) => e.nodeId));
      say(`repeat ${r + 1}/${scenario.repeat}: starting ${topology.nodes.length} agent(s) in ${units.length} process(es)`);
      const idle = (node: EmulatedNode) => eventsOf(node).some((l) => l.type === 'call' && assignmentOps.includes(l.op) && l.status === 200);
      const upStart = Date.now();
      // in waves of processes: a Node process costs ~1 CPU-second to start here; starting hundreds
      // at once starves this process (and the agents' first calls) on 2 cores
      let upSoFar = 0;
      for (let w = 0; w < units.length; w += START_WAVE) {
        const wave = units.slice(w, w + START_WAVE);
        for (const u of wave) startUnit(u);
        const waveNodes = wave.flatMap((u) => u.nodes.map((x) => byIndex.get(x)!));
        const waveStart = Date.now();
        for (;;) {
          const dead = wave.find((u) => !procs.get(u.key)!.running);
          if (dead) throw new EnvironmentError(`${procs.get(dead.key)!.what} exited while the fleet came up: ${procs.get(dead.key)!.stderr.trim().slice(-1500)}`);
          const up = waveNodes.filter(idle).length;
          if (up === waveNodes.length) break;
          if (Date.now() - waveStart > 600_000) throw new EnvironmentError(`only ${upSoFar + up} of ${topology.nodes.length} agents came up (logged in and polled) in time`);
          await sleep(200);
        }
        upSoFar += waveNodes.length;
        ctx.onProgress?.(r, 0, topology.nodes.length);
      }
      const fleetUpMs = Date.now() - upStart;
      counters.fleetUpMs = Math.max(counters.fleetUpMs, fleetUpMs);
      log.info({ repeat: r, fleetUpMs }, 'fleet up and idle');
      const t0Ms = Date.now();
      await operator.assign(
        pin,
        enrolled.map((e) => e.nodeId),
      );
      const assignMs = Date.now() - t0Ms;
      counters.assignMsMax = Math.max(counters.assignMsMax, assignMs);
      const crashed = new Set<number>();
      const cuts = new WanCuts(topology);
      let outageDepth = 0;
      const applied: Promise<void>[] = [];
      const apply = async (a: FaultAction): Promise<void> => {
        if (a.kind === 'crash') {
          const u = unitOf.get(a.node)!;
          const p = procOf.get(a.node);
          // crash nodes were planned to run alone (planTopology's solo set)
          if (u.nodes.length !== 1) throw new EnvironmentError(`node ${byIndex.get(a.node)!.id} runs in an agent host: a crash would kill its neighbours`);
          if (!p?.running || crashed.has(a.node)) return;
          crashed.add(a.node);
          sampleMemory(u);
          p.kill('SIGKILL');
          counters.crashes++;
        } else if (a.kind === 'reboot') {
          if (!crashed.delete(a.node)) return;
          await procOf.get(a.node)?.exited;
          startUnit(unitOf.get(a.node)!);
        } else if (a.kind === 'cut' || a.kind === 'restore') {
          if (await cuts.apply(a.site, a.kind === 'cut')) counters.cuts++;
        } else {
          outageDepth += a.kind === 'outage-start' ? 1 : -1;
          if (a.kind === 'outage-start' && outageDepth === 1) {
            counters.outages++;
            stoppingService = true;
            await stopService();
            stoppingService = false;
          } else if (a.kind === 'outage-end' && outageDepth === 0) await startService();
        }
      };
      const timers = faults.actions.map((a) =>
        setTimeout(
          () => {
            applied.push(apply(a).catch((err) => log.error({ err: (err as Error).message, action: a }, 'fault action failed')));
          },
          Math.max(0, t0Ms + a.atUs / 1000 - Date.now()),
        ),
      );
      let deployments: Deployment[];
      const placed = new Map<number, boolean>();
      try {
        for (;;) {
          let finished = 0;
          // smaps_rollup walks page tables: sample memory once a second, not every poll
          const sample = Date.now() - sampledAt >= 1_000;
          if (sample) sampledAt = Date.now();
          for (const node of topology.nodes) {
            const p = procOf.get(node.index)!;
            if (isDone(node)) finished++;
            else if (!p.running && !crashed.has(node.index)) finished++;
          }
          if (sample) for (const u of units) sampleMemory(u);
          ctx.onProgress?.(r, finished, topology.nodes.length);
          if (finished === topology.nodes.length || Date.now() - t0Ms >= timeoutMs) break;
          await sleep(250);
        }
        for (const node of topology.nodes) {
          const p = procOf.get(node.index)!;
          if (!p.running && !crashed.has(node.index) && !isDone(node)) log.error({ node: node.id, process: p.what, stderr: p.stderr.slice(-2000) }, 'agent exited early');
        }
        // the plane's view: a RUNNING report for the pin, after t0 (reports follow `done`)
        const deadline = Date.now() + 15_000;
        for (;;) {
          const status = await operator.status(topology.nodes.map((x) => standIn.nodeName(x.id)));
          topology.nodes.forEach((node, i) => {
            const rep = status[i]?.report;
            placed.set(node.index, rep != null && rep.seq >= t0Ms && rep.status === 'RUNNING' && rep.image?.imageId === pin.imageId && rep.image.version === pin.version);
          });
          const running = topology.nodes.filter((x) => eventsOf(x).some((l) => l.type === 'done' && l.outcome === 'running'));
          if (running.every((x) => placed.get(x.index)) || Date.now() > deadline) break;
          await sleep(300);
        }
        deployments = topology.nodes.map((node) =>
          // the rollout's lines: from t0, without the start lines of restarts (a deployment begins at the poll that finds the pin)
          deploymentFromEvents(
            eventsOf(node).filter((l) => l.t >= t0Ms && l.type !== 'start'),
            { node: node.id, site: topology.sites[node.site]!.id, t0Ms, image: deployed, dataOps: nodeClient.dataOps, reportOps: nodeClient.reportOps },
          ),
        );
      } finally {
        for (const t of timers) clearTimeout(t);
        await Promise.all(applied);
        for (const u of units) sampleMemory(u);
        await Promise.all([...procs.values()].map((a) => a.stop()));
        // undo what the timeline left applied: links back up, the service running
        await cuts.restoreAll();
        if (outageDepth > 0 || !(service as NsProcess | null)?.running) await startService();
        relayCpuMs = relays.reduce((a, p) => a + (p.cpuMs() ?? 0), 0);
        serviceCpuEndMs = serviceCpuMs();
        stoppingRelays = true;
        await Promise.all(relays.map((p) => p.stop(2_000)));
      }
      for (const relayFile of relayFiles) {
        const file = `${relayFile}.counters.json`;
        if (existsSync(file)) {
          const c = JSON.parse(readFileSync(file, 'utf8')) as { corrupted: number; connections: number };
          counters.corrupted += c.corrupted;
          counters.relayConnections += c.connections;
        }
      }
      // per agent machine: its process's figures divided by the machines in it (1 for a node alone)
      const perAgent = units.flatMap((u) => {
        const m = memory.get(u.key);
        return m ? [{ machines: u.nodes.length, peak: m.peak / u.nodes.length, priv: m.priv / u.nodes.length, pss: m.pss / u.nodes.length }] : [];
      });
      const machines = perAgent.reduce((a, x) => a + x.machines, 0);
      const weighted = (f: (x: (typeof perAgent)[number]) => number) => (machines > 0 ? perAgent.reduce((a, x) => a + f(x) * x.machines, 0) / machines : 0);
      const peakMean = weighted((x) => x.peak);
      const privMean = weighted((x) => x.priv);
      const pssMean = weighted((x) => x.pss);
      const peakMax = Math.max(0, ...perAgent.map((x) => x.peak));
      const privMax = Math.max(0, ...perAgent.map((x) => x.priv));
      counters.peakRssMaxBytes = Math.max(counters.peakRssMaxBytes, peakMax);
      counters.peakRssSumBytes += peakMean * machines;
      counters.privateMaxBytes = Math.max(counters.privateMaxBytes, privMax);
      counters.privateSumBytes += privMean * machines;
      counters.pssSumBytes += pssMean * machines;
      counters.rssSamples += machines;
      if (o.onCalls && !own) {
        const calls: MeasuredCall[] = [];
        for (const node of topology.nodes) {
          const oneWayUs = pathOneWayUs(topology, node);
          for (const l of eventsOf(node)) {
            if (l.type === 'call' && (l.attempt ?? 1) === 1 && typeof l.ms === 'number' && l.status >= 200 && l.status < 300 && !nodeClient.dataOps.includes(l.op)) calls.push({ op: l.op, ms: Number(l.ms), oneWayUs });
          }
        }
        o.onCalls(plane.name, calls);
      }
      const { records, originEgressBytes } = recordsFromDeployments(
        deployments,
        topology.nodes.map((x) => placed.get(x.index) === true),
      );
      const ok = deployments.filter((x) => x.outcome === 'running').length;
      say(`repeat ${r + 1}/${scenario.repeat}: ${ok}/${topology.nodes.length} RUNNING`);
      // the nodes built, as the simulator's fleet type (for the bound)
      const sub: Fleet = { sites: fleet.sites.slice(0, topology.sites.length), nodes: fleet.nodes.slice(0, topology.nodes.length), byId: fleet.byId };
      return {
        labels: runLabels(scenario, plane, env, topology.nodes.length, r),
        records,
        nodeId: (i) => topology.nodes[i]!.id,
        siteId: (i) => topology.sites[topology.nodes[i]!.site]!.id,
        bytesPerNode: published.blobBytes,
        originEgressBytes,
        dataRequestsPerRoundTrip: Math.min(64, scenario.concurrency.rangesInFlight),
        bound: simBoundInputs(scenario, sub, model, published.blobBytes, { blobBytes: published.blobBytes }),
        deltaSavedBytes: null,
        faults: faults.windows,
        envCounters: [
          { metric: 'emulate_agent_peak_rss', value: Math.round(peakMean), unit: 'B' },
          { metric: 'emulate_agent_peak_rss_max', value: Math.round(peakMax), unit: 'B' },
          { metric: 'emulate_agent_private_memory', value: Math.round(privMean), unit: 'B' },
          { metric: 'emulate_agent_private_memory_max', value: Math.round(privMax), unit: 'B' },
          { metric: 'emulate_agent_pss', value: Math.round(pssMean), unit: 'B' },
          { metric: 'emulate_agent_processes', value: units.length, unit: 'count' },
          { metric: 'emulate_fleet_up', value: fleetUpMs / 1000, unit: 's' },
          // CPU seconds of the whole repeat (fleet start-up included): per agent machine, and of the relays and the plane's service
          { metric: 'emulate_agent_cpu', value: [...cpu.values()].reduce((a, b) => a + b, 0) / 1000 / topology.nodes.length, unit: 's' },
          { metric: 'emulate_relay_cpu', value: relayCpuMs / 1000, unit: 's' },
          { metric: 'emulate_service_cpu', value: (serviceCpuEndMs - serviceCpuStartMs) / 1000, unit: 's' },
        ],
        sla: scenario.sla,
      };
    },
    meta() {
      const p = plane.name;
      return {
        ...(ctx.calibration ? { calibration: ctx.calibration.source } : {}),
        assumptions: [
          own
            ? {
                plane: p,
                name: 'control plane',
                value: `${p}'s own services (${ownStateDir})`,
                source: `the running ${p} services on this machine's loopback (ports ${[...ownPorts].join(', ')}), reached by each node at its site router, relayed to the origin host ${ORIGIN_HOST_IP} and forwarded there; the agents run ${p}'s own node client`,
              }
            : { plane: p, name: 'control plane', value: 'test plane (stand-in)', source: `edgeplane test-plane serve in the origin namespace stands in for ${p}'s node side (--node-side plane: its own)` },
          {
            plane: p,
            name: 'nodes run',
            value: topology.nodes.length,
            unit: 'agents',
            source:
              topology.hosts.length === 0
                ? `the scenario's first ${topology.nodes.length} of ${fleet.nodes.length} nodes, one edgeplane agent process each in its own network namespace`
                : `the scenario's first ${topology.nodes.length} of ${fleet.nodes.length} nodes: ${topology.nodes.length - soloNodes.length} as agent machines in ${topology.hosts.length} agent host process(es) of up to ${agentsPerProcess} (one per site at least; each machine with its own address, shaped access link, sockets and state directory), ${soloNodes.length} as a process of their own in their own network namespace (every node a crash fault hits)`,
          },
          { plane: p, name: 'agent processes', value: soloNodes.length + topology.hosts.length, unit: 'processes', source: `${soloNodes.length} alone, ${topology.hosts.length} agent host(s)` },
          { plane: p, name: 'image size', value: published.blobBytes, unit: 'B', source: `random bytes, sealed: min(scenario image ${scenario.image.sizeBytes} B, ${MAX_EMULATED_IMAGE_BYTES} B)` },
          {
            plane: p,
            name: 'network',
            value: netem ? 'tbf + netem' : 'tbf + relay',
            source: netem ? 'every link shaped by tbf, delay and loss by netem' : 'every link shaped by tbf; no netem in this kernel: path delay added by a relay in each site router, packet loss not reproduced',
          },
          { plane: p, name: 'agent runtime', value: launcher.describe, source: 'how each agent process (or agent host) runs inside its network namespace' },
          { plane: p, name: 'hypervisor', value: 'sim', source: "the agent's timed fake VM; boot time drawn from the scenario's boot distribution" },
          {
            plane: p,
            name: 'agent peak RSS (mean)',
            value: counters.rssSamples > 0 ? Math.round(counters.peakRssSumBytes / counters.rssSamples) : 0,
            unit: 'B',
            source: "VmHWM of each agent process (the shared Node binary pages included; an agent host's divided by its agent machines), mean over nodes and repeats",
          },
          {
            plane: p,
            name: 'agent private memory (mean)',
            value: counters.rssSamples > 0 ? Math.round(counters.privateSumBytes / counters.rssSamples) : 0,
            unit: 'B',
            source: `largest Private_Clean + Private_Dirty (smaps_rollup) of each agent process (an agent host's divided by its agent machines), sampled once a second, mean over nodes and repeats${agentFlags.length > 0 ? `; agents alone run with node ${agentFlags.join(' ')}` : ''}`,
          },
          {
            plane: p,
            name: 'agent PSS (mean)',
            value: counters.rssSamples > 0 ? Math.round(counters.pssSumBytes / counters.rssSamples) : 0,
            unit: 'B',
            source: "largest Pss (smaps_rollup: each shared page split among the processes mapping it) of each agent process, an agent host's divided by its agent machines: the fleet's memory per node",
          },
          { plane: p, name: 'poll interval', value: pollS, unit: 's', source: 'the fleet comes up idle before t0; at t0 every node is pinned and notices at its next poll' },
        ],
        machine: thisMachine(),
        startedAt,
      };
    },
    profile: () => model.profile,
    counters: () => ({ ...counters }),
    async close() {
      stoppingService = true;
      await (service as NsProcess | null)?.stop(2_000);
      await Promise.all(forwarders.map((f) => f.close()));
      // the plane's own store: its nodes keep their enrollment, not this run's pin
      if (own) await operator.unassign!(enrolled.map((e) => e.nodeId)).catch((err: Error) => log.error({ err: err.message }, 'could not withdraw the pins of this run'));
      await launcher.close?.().catch((err: Error) => log.error({ err: err.message }, 'could not remove what the agent launcher made'));
      active.release();
      active.built.destroy();
    },
  };
}

/** Planes whose native mode is emulated (their operator deploys natively: to hosts over ssh, or through their own node-side processes). */
export function nativePlanes(registry: PlaneRegistry): string[] {
  return registry.descriptors.filter((d) => d.modes.includes('native') && d.operator?.native !== undefined && d.operator.nativeEmulated !== undefined).map((d) => d.name);
}

/** For checks before anything runs: the planes an emulation can serve (all agent-mode planes, through the stand-in). */
export function emulatedPlanes(registry: PlaneRegistry): string[] {
  return registry.descriptors.filter((d) => d.model !== undefined && d.modes.includes('agent')).map((d) => d.name);
}
