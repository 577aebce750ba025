// The `real` environment (`edgeplane run --env real`): a scenario's rollout for real, on this
// machine, against a running plane (any plane whose descriptor has an operator and a node client;
// today the local OpenStack stack). The operator side publishes an appliance sized after the
// scenario's image (sealed, chunked as the scenario says), enrolls the scenario's first N nodes
// and pins the image; then N real agent processes (`edgeplane agent`, qemu or the sim hypervisor)
// start at t0, each with a fresh state directory per repeat; their events.ndjson and the reports
// the operator reads back become the same deployment records the simulator returns.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import type { EnrolledFleetNode, PlaneRegistry } from '../adapters/index.js';
import { EnvironmentError, InputError, NotSupportedError, safeFolderName } from '../common/index.js';
import { buildAppliance, buildPayloadImage, MiB } from '../pipeline/index.js';
import { deploymentFromEvents, parseAgentEvents, recordsFromDeployments, type AgentEventLine, type Deployment, type DeploymentRun } from '../reports/index.js';
import { nodeId as scenarioNodeId, siteId, type Scenario } from '../scenarios/index.js';
import { thisMachine } from './machine.js';
import { runLabels } from './run.js';
import type { Environment, PlaneRun, PlaneRunContext } from './types.js';

/** More agent processes than this on one machine measure the machine, not the plane. */
export const MAX_REAL_NODES = 32;
/** The appliance of a real run is at most this big (the scenario's image size otherwise). */
export const MAX_REAL_IMAGE_BYTES = 64 * MiB;

export type RealHypervisor = 'sim' | 'qemu';

// ---- one local agent process ----

export interface LocalAgentSettings {
  stateDir: string;
  trust: string[];
  hypervisor: RealHypervisor;
  /** qemu acceleration (default auto: KVM when it works, else TCG) */
  accel?: 'auto' | 'kvm' | 'tcg';
  rangesInFlight?: number;
  /** the agent's `fetch.wholeStreamAt` (default: the agent's, 0.5) */
  wholeStreamAt?: number | 'never';
  /** machine timing (seconds); defaults suit a local run */
  pollIntervalS?: number;
  backoffBaseS?: number;
  backoffCapS?: number;
  bootTimeoutS?: number;
}

/** An agent configuration's body for an enrolled node (paths as given: local ones resolved by the caller). */
export function agentConfigBody(node: Pick<EnrolledFleetNode, 'nodeId' | 'agentPlane'>, s: LocalAgentSettings): Record<string, unknown> {
  return {
    node: node.nodeId,
    stateDir: s.stateDir,
    plane: node.agentPlane,
    trust: s.trust,
    hypervisor: { kind: s.hypervisor, accel: s.accel ?? 'auto', bootTimeoutS: s.bootTimeoutS ?? 240 },
    fetch: { rangesInFlight: s.rangesInFlight ?? 4, ...(s.wholeStreamAt !== undefined ? { wholeStreamAt: s.wholeStreamAt } : {}) },
    machine: { pollIntervalS: s.pollIntervalS ?? 2, backoffBaseS: s.backoffBaseS ?? 0.5, backoffCapS: s.backoffCapS ?? 5 },
  };
}

/** Writes `<dir>/<node>.agent.yaml` (mode 0600: it holds the node credential) for an enrolled node. */
export function writeLocalAgentConfig(node: Pick<EnrolledFleetNode, 'nodeId' | 'agentPlane'>, dir: string, s: LocalAgentSettings): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${node.nodeId}.agent.yaml`);
  const body = agentConfigBody(node, { ...s, stateDir: resolve(s.stateDir), trust: s.trust.map((t) => resolve(t)) });
  writeFileSync(file, `# edgeplane agent configuration (edgeplane run --env real)\n${toYaml(body)}`, { mode: 0o600 });
  return file;
}

/** The CLI this module was built with (dist/cli/main.js). */
export function defaultCliPath(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

/** An `edgeplane agent` process this code started (stopped by its own pid only). */
export class LocalAgent {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(
    readonly node: string,
    readonly configFile: string,
    readonly stateDir: string,
    cliPath: string = defaultCliPath(),
  ) {
    this.child = spawn(process.execPath, [cliPath, 'agent', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 16_384) this.stderr += d.toString();
    });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  events(): AgentEventLine[] {
    let text = '';
    try {
      text = readFileSync(join(this.stateDir, 'events.ndjson'), 'utf8');
    } catch {
      return [];
    }
    return parseAgentEvents(text);
  }

  /** SIGTERM (the agent stops its VM and exits 0); SIGKILL after `graceMs`. */
  async stop(graceMs = 30_000): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) this.child.kill('SIGKILL');
    }, graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

// ---- the rollout ----

/** An agent of a real run, wherever it runs (a local process, or one on an SSH node). */
export interface RealAgent {
  readonly node: string;
  readonly running: boolean;
  readonly stderr: string;
  events(): AgentEventLine[];
  stop(): Promise<unknown>;
}

/** Where a real run's agents run instead of local processes (environments/ssh: the inventory's nodes). */
export interface AgentHosts {
  kind: string;
  /** at most this many nodes */
  maxNodes: number;
  /** for messages: "3 SSH node(s) of the inventory" */
  describe: string;
  /** connects and checks every host and copies the agent (before any plane work, so a bad host fails fast) */
  open(o: { nodes: { id: string; planeId: string }[]; say: (m: string) => void; log: PlaneRunContext['logger'] }): Promise<AgentHostsRun>;
}

export interface AgentHostsRun {
  /** after publish and enroll: the trust key copied, the plane made reachable (the nodes' plane sections) */
  prepare(o: { sections: unknown[]; trustFile: string }): Promise<void>;
  /** one agent per configuration (the i-th on the i-th host); each mirrors its events.ndjson under `localDir/<node>/` */
  start(repeat: number, configs: Record<string, unknown>[], localDir: string): Promise<RealAgent[]>;
  /** each host's machine, for the results' meta line */
  machines(): Record<string, unknown>[];
  assumptions(): { name: string; value: string | number; unit?: string; source: string }[];
  close(): Promise<void>;
}

export interface RealEnvironmentOptions {
  /** run the agents there instead of as local processes */
  hosts?: AgentHosts;
  /**
   * serve the plane's node side with this plane instead (today: `test-plane`, started by edgeplane
   * in the work directory, as --env emulate does): for trying nodes without a cloud
   */
  standIn?: 'test-plane';
  /** the plane's state directory (`edgeplane up <plane> --state`); default: the plane server's */
  stateDir?: string;
  /** an existing cloud instead of the local stack (clouds.yaml cloud, openrc file) */
  cloud?: string;
  openrc?: string;
  /** appliance, keys, agent configurations and state directories go here (one folder per scenario and plane) */
  workDir: string;
  hypervisor: RealHypervisor;
  /** the scenario's first N nodes (site-major order); default: all, when that many */
  nodes?: number;
  cliPath?: string;
  /** per repeat: nodes that have not finished by then count as failed (`timeout`) */
  timeoutMs?: number;
}

/** The scenario's first `n` node ids, site-major (the simulator's order), with the plane's names for them. */
export function scenarioNodes(scenario: Scenario, n: number, planeName: (id: string) => string = (id) => id, maxNodes = MAX_REAL_NODES): { id: string; planeId: string; site: string }[] {
  const { sites, nodesPerSite } = scenario.fleet;
  if (!Number.isInteger(n) || n < 1) throw new InputError('--nodes must be a whole number of at least 1');
  if (n > maxNodes) {
    throw new InputError(maxNodes === MAX_REAL_NODES ? `--nodes ${n}: a real run starts one agent process per node on this machine; at most ${MAX_REAL_NODES}` : `--nodes ${n}: the inventory has ${maxNodes} node(s)`);
  }
  if (n > sites * nodesPerSite) throw new InputError(`--nodes ${n}: scenario ${scenario.name} has only ${sites * nodesPerSite} nodes`);
  const out: { id: string; planeId: string; site: string }[] = [];
  for (let s = 0; s < sites && out.length < n; s++) {
    for (let i = 0; i < nodesPerSite && out.length < n; i++) {
      const id = scenarioNodeId(s, i, sites, nodesPerSite);
      out.push({ id, planeId: planeName(id), site: siteId(s, sites) });
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The real environment: each plane's repeats by real agents (scenarioNodes checks the node count before any plane work). */
export function realEnvironment(o: RealEnvironmentOptions): Environment {
  const env: Environment = {
    name: 'real',
    // agents fetch from the plane's image service: no site cache or peers for real (yet)
    strategyOf: () => 'origin',
    open: (ctx) => openRealPlane(env, o, ctx),
  };
  return env;
}

/**
 * The scenario as a real run takes it, checked before any plane starts: only the planes that can
 * run for real (an operator and a node client); with `--plane` naming others, NotSupportedError.
 */
export function realScenario(scenario: Scenario, path: string, o: { registry: PlaneRegistry; nodes?: number; explicitPlanes: boolean; hostNodes?: number; standIn?: string }): Scenario {
  const size = scenario.fleet.sites * scenario.fleet.nodesPerSite;
  if (o.hostNodes !== undefined) {
    if (o.nodes !== undefined && o.nodes > o.hostNodes) throw new InputError(`--nodes ${o.nodes}: the inventory has ${o.hostNodes} node(s)`);
  } else if (o.nodes === undefined && size > MAX_REAL_NODES) {
    throw new InputError(`${path}: ${size} nodes; a real run starts one agent process per node on this machine: give --nodes N (at most ${MAX_REAL_NODES})`);
  }
  const served = (name: string) => (o.standIn && o.registry.has(name) && o.registry.get(name).modes.includes('agent') ? o.standIn : name);
  const runnable = (name: string) => o.registry.has(served(name)) && o.registry.get(served(name)).operator !== undefined && o.registry.get(served(name)).nodeClient !== undefined;
  const able = o.registry.descriptors.filter((d) => runnable(d.name)).map((d) => d.name);
  const unable = scenario.planes.filter((p) => !runnable(p.name)).map((p) => p.name);
  if (o.explicitPlanes && unable.length > 0) {
    throw new NotSupportedError(`--env real with --plane ${unable.join(',')}: only ${able.join(', ')} run(s) for real`);
  }
  const planes = scenario.planes.filter((p) => runnable(p.name));
  if (planes.length === 0) throw new InputError(`${path}: the scenario has none of the planes --env real runs (${able.join(', ')})`);
  for (const p of planes) {
    const native = !o.standIn && p.mode === 'native' && o.registry.get(p.name).operator?.native !== undefined;
    if (p.mode !== 'agent' && !native) throw new NotSupportedError(`${path}: ${p.name} in ${p.mode} mode for real (the real edge agent is agent mode)`);
  }
  return { ...scenario, planes };
}

/**
 * The image a real run publishes. qemu boots it, so it is an appliance (kernel + initramfs, padded
 * to the target when the target is larger); the sim hypervisor boots nothing, so a payload of
 * exactly the target size serves and the machine needs no kernel or busybox.
 */
async function realImage(hypervisor: RealHypervisor, o: { outDir: string; imageId: string; version: string; size: number }): Promise<{ path: string; size: number; kind: string }> {
  if (hypervisor === 'sim') return { ...(await buildPayloadImage(o)), kind: 'payload (sim hypervisor: no kernel)' };
  const minimal = await buildAppliance({ outDir: o.outDir, imageId: o.imageId, version: o.version, then: 'idle' });
  const built = o.size > minimal.header.size ? await buildAppliance({ outDir: o.outDir, imageId: o.imageId, version: o.version, then: 'idle', size: o.size }) : minimal;
  return { path: built.path, size: built.header.size, kind: 'appliance padded' };
}

/** The stand-in test plane's server (`edgeplane test-plane serve`), on loopback, on a free port. */
async function startStandInServer(cliPath: string, dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  // its stdin is held here: when edgeplane ends in any way, SIGKILL included, the server sees it close and stops
  const child = spawn(process.execPath, [cliPath, 'test-plane', 'serve', '--dir', dir, '--host', '127.0.0.1', '--port', '0', '--until-stdin-closes'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 8192) err += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // edgeplane leaving in any way (an interrupt's handler calls process.exit) takes the server along
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  void exited.then(() => process.off('exit', onExit));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = / at (http:\/\/\S+)/.exec(out);
    if (m) {
      return {
        url: m[1]!,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new EnvironmentError(`the stand-in test plane did not start: ${err.trim().slice(-1000)}`);
    }
    await sleep(50);
  }
}

async function openRealPlane(env: Environment, o: RealEnvironmentOptions, ctx: PlaneRunContext): Promise<PlaneRun> {
  const { scenario, descriptor: d, say, logger: log } = ctx;
  if (!o.standIn && ctx.plane.mode === 'native' && d.operator?.native) return openNativeRealPlane(env, o, ctx);
  if (ctx.plane.mode !== 'agent') throw new NotSupportedError(`${d.name} in ${ctx.plane.mode} mode for real (the real edge agent is agent mode)`);
  // the plane whose node side the agents talk to: the scenario's, or the stand-in
  const served = o.standIn ?? d.name;
  const planeOps = ctx.registry.with(served, 'operator', '--env real with plane');
  const nodeClient = ctx.registry.with(served, 'nodeClient', '--env real with plane').nodeClient;
  const fleetSize = scenario.fleet.sites * scenario.fleet.nodesPerSite;
  const nodes = scenarioNodes(scenario, o.nodes ?? (o.hosts ? Math.min(fleetSize, o.hosts.maxNodes) : fleetSize), planeOps.operator.nodeName, o.hosts?.maxNodes ?? MAX_REAL_NODES);
  const workDir = resolve(o.workDir, safeFolderName(scenario.name), d.name);
  mkdirSync(workDir, { recursive: true });
  let standIn: { url: string; stop: () => Promise<void> } | null = null;
  const stateDir = o.standIn ? join(workDir, 'stand-in') : resolve(o.stateDir ?? d.server?.defaultStateDir ?? '.');
  if (o.standIn) {
    mkdirSync(stateDir, { recursive: true });
    standIn = await startStandInServer(o.cliPath ?? defaultCliPath(), stateDir);
    say(`stand-in ${o.standIn} serving at ${standIn.url}`);
  }
  let hostsRun: AgentHostsRun | null = null;
  const closeAll = async () => {
    await hostsRun?.close();
    await standIn?.stop();
  };
  try {
    if (o.hosts) hostsRun = await o.hosts.open({ nodes, say, log });
    const operator = await planeOps.operator.open(stateDir, { cloud: o.cloud, openrc: o.openrc });

    // the image: an appliance padded to the scenario's size (capped), chunked as the scenario says
    const lineage = `ep-${scenario.name}`
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .slice(0, 100);
    const version = `r${Date.now()}`;
    const applianceDir = join(workDir, 'appliance');
    const built = await realImage(o.hypervisor, { outDir: applianceDir, imageId: lineage, version, size: Math.min(scenario.image.sizeBytes, MAX_REAL_IMAGE_BYTES) });
    const chunkBytes = Math.min(scenario.image.chunkBytes, built.size);
    say(`publishing ${lineage}@${version} (${built.size} bytes, ${chunkBytes}-byte chunks)`);
    const published = await operator.publish({
      source: built.path,
      imageId: lineage,
      version,
      keysDir: join(workDir, 'keys'),
      chunking: { algorithm: 'fixed', size: chunkBytes },
      logger: log,
    });
    log.info({ lineage, version, pin: published.pin, chunks: published.chunks, blobBytes: published.blobBytes }, 'published');

    say(`enrolling ${nodes.length} node(s) and pinning ${published.pin.imageId}@${published.pin.version}`);
    const enrolled = (await operator.enroll(nodes.map((n) => n.planeId))).map((e) => (standIn ? { ...e, agentPlane: { ...e.agentPlane, url: standIn.url } } : e));
    const byId = new Map(enrolled.map((e) => [e.nodeId, e]));
    const pin = published.pin;
    const trustFile = join(published.keysDir, 'publisher.pub');
    await hostsRun?.prepare({ sections: enrolled.map((e) => e.agentPlane), trustFile });
    await operator.assign(
      pin,
      nodes.map((n) => n.planeId),
    );

    const startedAt = new Date().toISOString();
    const timeoutMs = o.timeoutMs ?? (o.hypervisor === 'qemu' ? 600_000 : 300_000);
    const image = { imageId: lineage, version };
    const settings = (n: { planeId: string }, repeatDir: string): LocalAgentSettings => ({
      stateDir: join(repeatDir, 'nodes', n.planeId),
      trust: [trustFile],
      hypervisor: o.hypervisor,
      rangesInFlight: Math.min(64, scenario.concurrency.rangesInFlight),
      wholeStreamAt: scenario.concurrency.wholeStreamAt,
    });
    const where = o.hosts ? o.hosts.describe : 'this machine';

    return {
      nodes: nodes.length,
      async repeat(r): Promise<DeploymentRun> {
        const repeatDir = join(workDir, `repeat-${r}`);
        say(`repeat ${r + 1}/${scenario.repeat}: starting ${nodes.length} agent(s) (${o.hypervisor} hypervisor) on ${where}`);
        let t0Ms = Date.now();
        let agents: RealAgent[];
        if (hostsRun) {
          const bodies = nodes.map((n) => agentConfigBody(byId.get(n.planeId)!, settings(n, repeatDir)));
          t0Ms = Date.now();
          agents = await hostsRun.start(r, bodies, join(repeatDir, 'nodes'));
        } else {
          const configs = nodes.map((n) => writeLocalAgentConfig(byId.get(n.planeId)!, join(repeatDir, 'agents'), settings(n, repeatDir)));
          t0Ms = Date.now();
          agents = nodes.map((n, i) => new LocalAgent(n.planeId, configs[i]!, join(repeatDir, 'nodes', n.planeId), o.cliPath));
        }
        let placed: Record<string, boolean> = {};
        let deployments: Deployment[];
        try {
          const doneOf = (a: RealAgent) => a.events().some((l) => l.type === 'done' && l.image.imageId === lineage && l.image.version === version);
          for (;;) {
            const finished = agents.filter((a) => !a.running || doneOf(a)).length;
            ctx.onProgress?.(r, finished, agents.length);
            if (finished === agents.length || Date.now() - t0Ms >= timeoutMs) break;
            await sleep(250);
          }
          for (const a of agents) if (!a.running) log.error({ node: a.node, stderr: a.stderr.slice(-2000) }, 'agent exited early');
          // what the operator sees: each node's last report (written after `done`), newer than t0
          const deadline = Date.now() + 30_000;
          for (;;) {
            const status = await operator.status(nodes.map((n) => n.planeId));
            placed = Object.fromEntries(
              status.map((s) => [s.nodeId, s.report !== null && s.report.status === 'RUNNING' && s.report.seq >= t0Ms && s.report.image?.imageId === pin.imageId && s.report.image.version === pin.version]),
            );
            const running = nodes.filter((_, i) => agents[i]!.events().some((l) => l.type === 'done' && l.outcome === 'running' && l.image.imageId === lineage));
            if (running.every((n) => placed[n.planeId]) || Date.now() > deadline) break;
            await sleep(500);
          }
          deployments = agents.map((a, i) => deploymentFromEvents(a.events(), { node: nodes[i]!.id, site: nodes[i]!.site, t0Ms, image, dataOps: nodeClient.dataOps, reportOps: nodeClient.reportOps }));
        } finally {
          await Promise.all(agents.map((a) => a.stop()));
        }
        const { records, originEgressBytes } = recordsFromDeployments(
          deployments,
          nodes.map((n) => placed[n.planeId] === true),
        );
        const ok = deployments.filter((x) => x.outcome === 'running').length;
        say(`repeat ${r + 1}/${scenario.repeat}: ${ok}/${nodes.length} RUNNING`);
        log.info({ repeat: r, running: ok, nodes: nodes.length }, 'repeat done');
        return unshapedRun(ctx, env, nodes, r, { records, originEgressBytes, bytesPerNode: published.blobBytes, dataRequestsPerRoundTrip: Math.min(64, scenario.concurrency.rangesInFlight) });
      },
      meta() {
        const p = d.name;
        return {
          assumptions: [
            o.standIn
              ? { plane: p, name: 'control plane', value: `${o.standIn} (stand-in)`, source: `edgeplane test-plane serve in the work directory stands in for ${p}'s node side (--stand-in)` }
              : { plane: p, name: 'control plane', value: `the running ${p} plane in ${stateDir}`, source: 'edgeplane run --env real' },
            {
              plane: p,
              name: 'nodes run',
              value: nodes.length,
              unit: 'agents',
              source: `the scenario's first ${nodes.length} of ${fleetSize} nodes, one agent process each on ${o.hosts ? 'its own SSH node' : 'this machine'}`,
            },
            ...(hostsRun ? hostsRun.assumptions().map((a) => ({ plane: p, ...a })) : []),
            { plane: p, name: 'image size', value: built.size, unit: 'B', source: `${built.kind} of min(scenario image ${scenario.image.sizeBytes} B, ${MAX_REAL_IMAGE_BYTES} B)` },
            { plane: p, name: 'chunk size', value: chunkBytes, unit: 'B', source: 'scenario image.chunk' },
            { plane: p, name: 'hypervisor', value: o.hypervisor, source: o.hypervisor === 'qemu' ? 'qemu (KVM when usable, else TCG); boot ends at the image boot marker' : 'sim: a timed fake VM (no boot cost)' },
            {
              plane: p,
              name: 'network',
              value: o.hosts ? 'as the nodes are connected' : 'loopback',
              source: 'no link shaping: the scenario network, strategy and faults are not applied; data from the plane only (strategy origin); no physical bound applies',
            },
          ],
          machine: { ...thisMachine(), ...(hostsRun ? { nodes: hostsRun.machines() } : {}) },
          startedAt,
        };
      },
      profile: () => d.profile?.() ?? null,
      counters: () => ({}),
      close: closeAll,
    };
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }
}

/**
 * A repeat of a real run: loopback and unshaped, so the scenario's links are not what the bytes
 * crossed (no physical bound), and no faults are applied.
 */
function unshapedRun(
  ctx: PlaneRunContext,
  env: Environment,
  nodes: { id: string; site: string }[],
  repeat: number,
  o: Pick<DeploymentRun, 'records' | 'originEgressBytes' | 'bytesPerNode' | 'dataRequestsPerRoundTrip'>,
): DeploymentRun {
  return {
    labels: runLabels(ctx.scenario, ctx.plane, env, nodes.length, repeat),
    ...o,
    nodeId: (i) => nodes[i]!.id,
    siteId: (i) => nodes[i]!.site,
    bound: null,
    deltaSavedBytes: null,
    faults: [],
    envCounters: [],
    sla: ctx.scenario.sla,
  };
}

/** Native mode for real: the plane's own operator deploys each node (no edgeplane agent); same results format. */
async function openNativeRealPlane(env: Environment, o: RealEnvironmentOptions, ctx: PlaneRunContext): Promise<PlaneRun> {
  const { scenario, descriptor: d, say, logger: log } = ctx;
  const operator = d.operator!;
  const stateDir = resolve(o.stateDir ?? d.server?.defaultStateDir ?? '.');
  const nodes = scenarioNodes(scenario, o.nodes ?? scenario.fleet.sites * scenario.fleet.nodesPerSite, operator.nodeName);
  const workDir = resolve(o.workDir, safeFolderName(scenario.name), d.name);
  mkdirSync(workDir, { recursive: true });
  const imageBytes = Math.min(scenario.image.sizeBytes, MAX_REAL_IMAGE_BYTES);
  const run = await operator.native!({ stateDir, nodes, placement: ctx.plane.placement, imageBytes, workDir, logger: log, say });
  const startedAt = new Date().toISOString();
  return {
    nodes: nodes.length,
    async repeat(r): Promise<DeploymentRun> {
      say(`repeat ${r + 1}/${scenario.repeat}: ${nodes.length} node(s), ${d.name} native (${ctx.plane.placement})`);
      const deployments = await run.repeat(r);
      const { records, originEgressBytes } = recordsFromDeployments(
        deployments,
        deployments.map((x) => x.intended),
      );
      log.info({ repeat: r, running: deployments.filter((x) => x.outcome === 'running').length, nodes: nodes.length }, 'native repeat done');
      return unshapedRun(ctx, env, nodes, r, { records, originEgressBytes, bytesPerNode: deployments[0]?.dataBytesIn ?? 0, dataRequestsPerRoundTrip: 1 });
    },
    meta() {
      const p = d.name;
      return {
        assumptions: [
          { plane: p, name: 'control plane', value: `the running ${p} plane in ${stateDir} (native mode: the plane deploys, no edgeplane agent)`, source: 'edgeplane run --env real' },
          { plane: p, name: 'nodes run', value: nodes.length, unit: 'nodes', source: `the scenario's first ${nodes.length} of ${scenario.fleet.sites * scenario.fleet.nodesPerSite} nodes` },
          ...run.assumptions.map((a) => ({ plane: p, ...a })),
        ],
        machine: thisMachine(),
        startedAt,
      };
    },
    profile: () => d.profile?.() ?? null,
    counters: () => ({}),
    close: () => run.close(),
  };
}
