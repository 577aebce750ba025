// `edgeplane run --env real`: a scenario's rollout for real, on this machine, against the local
// OpenStack stack. The operator side publishes an appliance sized after the scenario's image
// (sealed, chunked as the scenario says), enrolls the scenario's first N nodes and pins the image;
// then N real agent processes (`edgeplane agent`, qemu or the sim hypervisor) start at t0, each
// with a fresh state directory per repeat; their events.ndjson and the reports the operator reads
// back become result samples in the simulator's format (reports/from-events.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { InputError, silentLogger, type Logger } from '../common/index.js';
import { buildAppliance, MiB } from '../pipeline/index.js';
import {
  deploymentFromEvents,
  parseAgentEvents,
  repeatSamples,
  runSamplesFromDeployments,
  type AgentEventLine,
  type Deployment,
  type EventsRunSummary,
  type Labels,
  type Meta,
  type Sample,
} from '../reports/index.js';
import { nodeId as scenarioNodeId, siteId, type Scenario } from '../scenarios/index.js';
import type { EnrolledNode } from './client/operator.js';
import { agentFileFor, assignFleet, enrollFleet, fleetStatus, openFleet, publishToFleet, type Fleet } from './fleet.js';

/** More agent processes than this on one machine measure the machine, not the plane. */
export const MAX_REAL_NODES = 32;
/** The appliance of a real run is at most this big (the scenario's image size otherwise). */
export const MAX_REAL_IMAGE_BYTES = 64 * MiB;
export const DATA_OPS = ['glance.image.download_range'] as const;
export const REPORT_OPS = ['keystone.credential.update'] as const;

export type RealHypervisor = 'sim' | 'qemu';

// ---- one local agent process ----

export interface LocalAgentSettings {
  stateDir: string;
  trust: string[];
  hypervisor: RealHypervisor;
  /** qemu acceleration (default auto: KVM when it works, else TCG) */
  accel?: 'auto' | 'kvm' | 'tcg';
  rangesInFlight?: number;
  /** machine timing (seconds); defaults suit a local run */
  pollIntervalS?: number;
  backoffBaseS?: number;
  backoffCapS?: number;
  bootTimeoutS?: number;
}

/** Writes `<dir>/<node>.agent.yaml` (mode 0600: it holds the node password) for an enrolled node. */
export function writeLocalAgentConfig(node: EnrolledNode, dir: string, s: LocalAgentSettings): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${node.nodeId}.agent.yaml`);
  const body = {
    ...agentFileFor(node, s.trust.map((t) => resolve(t))),
    stateDir: resolve(s.stateDir),
    hypervisor: { kind: s.hypervisor, accel: s.accel ?? 'auto', bootTimeoutS: s.bootTimeoutS ?? 240 },
    fetch: { rangesInFlight: s.rangesInFlight ?? 4 },
    machine: { pollIntervalS: s.pollIntervalS ?? 2, backoffBaseS: s.backoffBaseS ?? 0.5, backoffCapS: s.backoffCapS ?? 5 },
  };
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

export interface RealRunOptions {
  scenario: Scenario;
  scenarioText?: string;
  /** the stack's state directory (`edgeplane up openstack --state`) */
  stackDir: string;
  /** appliance, keys, agent configurations and state directories go here */
  workDir: string;
  hypervisor: RealHypervisor;
  /** the scenario's first N nodes (site-major order) */
  nodes: number;
  repeat?: number;
  /** edgeplane's version, for the meta line */
  version: string;
  cliPath?: string;
  /** per repeat: nodes that have not finished by then count as failed (`timeout`) */
  timeoutMs?: number;
  logger?: Logger;
  onProgress?: (message: string) => void;
}

export interface RealRunResult {
  metas: Meta[];
  samples: Sample[];
  /** results.ndjson lines: the meta line, then the samples */
  lines: string[];
  nodes: { id: string; keystoneId: string; site: string }[];
  image: { lineage: string; version: string; glanceImageId: string; bytes: number; blobBytes: number; chunks: number; chunkBytes: number };
  summaries: EventsRunSummary[];
}

/** Keystone node names allow `[a-z0-9-]`: scenario ids `site-000/node-0000` become `site-000-node-0000`. */
export function keystoneNodeId(id: string): string {
  return id.replace(/\//g, '-').toLowerCase();
}

/** The scenario's first `n` node ids, site-major (the simulator's order). */
export function scenarioNodes(scenario: Scenario, n: number): { id: string; keystoneId: string; site: string }[] {
  const { sites, nodesPerSite } = scenario.fleet;
  if (!Number.isInteger(n) || n < 1) throw new InputError('--nodes must be a whole number of at least 1');
  if (n > MAX_REAL_NODES) throw new InputError(`--nodes ${n}: a real run starts one agent process per node on this machine; at most ${MAX_REAL_NODES}`);
  if (n > sites * nodesPerSite) throw new InputError(`--nodes ${n}: scenario ${scenario.name} has only ${sites * nodesPerSite} nodes`);
  const out: { id: string; keystoneId: string; site: string }[] = [];
  for (let s = 0; s < sites && out.length < n; s++) {
    for (let i = 0; i < nodesPerSite && out.length < n; i++) {
      const id = scenarioNodeId(s, i, sites, nodesPerSite);
      out.push({ id, keystoneId: keystoneNodeId(id), site: siteId(s, sites) });
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runRealScenario(o: RealRunOptions): Promise<RealRunResult> {
  const log = o.logger ?? silentLogger;
  const say = o.onProgress ?? (() => {});
  const { scenario } = o;
  const nodes = scenarioNodes(scenario, o.nodes);
  const repeats = o.repeat ?? scenario.repeat;
  const workDir = resolve(o.workDir);
  mkdirSync(workDir, { recursive: true });
  const fleet: Fleet = openFleet(o.stackDir);

  // the image: an appliance padded to the scenario's size (capped), chunked as the scenario says
  const lineage = `ep-${scenario.name}`.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').slice(0, 100);
  const version = `r${Date.now()}`;
  const applianceDir = join(workDir, 'appliance');
  const minimal = await buildAppliance({ outDir: applianceDir, imageId: lineage, version, then: 'idle' });
  const target = Math.min(scenario.image.sizeBytes, MAX_REAL_IMAGE_BYTES);
  const built = target > minimal.header.size ? await buildAppliance({ outDir: applianceDir, imageId: lineage, version, then: 'idle', size: target }) : minimal;
  const chunkBytes = Math.min(scenario.image.chunkBytes, built.header.size);
  say(`publishing ${lineage}@${version} (${built.header.size} bytes, ${chunkBytes}-byte chunks)`);
  const published = await publishToFleet(fleet.operator, {
    source: built.path,
    imageId: lineage,
    version,
    keysDir: join(workDir, 'keys'),
    chunking: { algorithm: 'fixed', size: chunkBytes },
    logger: log,
  });
  log.info({ lineage, version, glanceImageId: published.imageId, chunks: published.chunks, blobBytes: published.blobBytes }, 'published');

  say(`enrolling ${nodes.length} node(s) and pinning ${published.imageId}@${version}`);
  const enrolled = await enrollFleet(fleet.operator, nodes.map((n) => n.keystoneId));
  const byId = new Map(enrolled.map((e) => [e.node.nodeId, e.node]));
  const pin = { imageId: published.imageId, version };
  await assignFleet(fleet.operator, pin, nodes.map((n) => n.keystoneId));

  const labelsOf = (repeat: number | 'all'): Labels => ({
    scenario: scenario.name,
    plane: 'openstack',
    mode: 'agent',
    strategy: 'origin',
    env: 'real',
    seed: scenario.seed,
    repeat,
    nodes: nodes.length,
  });
  const startedAt = new Date().toISOString();
  const samples: Sample[] = [];
  const summaries: EventsRunSummary[] = [];
  const timeoutMs = o.timeoutMs ?? (o.hypervisor === 'qemu' ? 600_000 : 300_000);
  const sla = scenario.sla;

  for (let r = 0; r < repeats; r++) {
    const repeatDir = join(workDir, `repeat-${r}`);
    const configs = nodes.map((n) =>
      writeLocalAgentConfig(byId.get(n.keystoneId)!, join(repeatDir, 'agents'), {
        stateDir: join(repeatDir, 'nodes', n.keystoneId),
        trust: [join(published.keysDir, 'publisher.pub')],
        hypervisor: o.hypervisor,
        rangesInFlight: Math.min(64, scenario.concurrency.rangesInFlight),
      }),
    );
    say(`repeat ${r + 1}/${repeats}: starting ${nodes.length} agent(s) (${o.hypervisor} hypervisor)`);
    const t0Ms = Date.now();
    const agents = nodes.map((n, i) => new LocalAgent(n.keystoneId, configs[i]!, join(repeatDir, 'nodes', n.keystoneId), o.cliPath));
    const image = { imageId: lineage, version };
    let placed: Record<string, boolean> = {};
    let deployments: Deployment[];
    try {
      const finished = () => agents.map((a) => !a.running || a.events().some((l) => l.type === 'done' && l.image.imageId === lineage && l.image.version === version));
      while (!finished().every(Boolean) && Date.now() - t0Ms < timeoutMs) await sleep(250);
      for (const a of agents) if (!a.running) log.error({ node: a.node, stderr: a.stderr.slice(-2000) }, 'agent exited early');
      // what the operator sees: each node's last report (written after `done`), newer than t0
      const deadline = Date.now() + 30_000;
      for (;;) {
        const status = await fleetStatus(fleet.operator, nodes.map((n) => n.keystoneId));
        placed = Object.fromEntries(
          status.map((s) => [
            s.nodeId,
            s.report !== null && s.report.status === 'RUNNING' && s.report.seq >= t0Ms && s.report.image?.imageId === pin.imageId && s.report.image.version === pin.version,
          ]),
        );
        const running = agents.filter((a) => a.events().some((l) => l.type === 'done' && l.outcome === 'running' && l.image.imageId === lineage));
        if (running.every((a) => placed[a.node]) || Date.now() > deadline) break;
        await sleep(500);
      }
      deployments = agents.map((a, i) =>
        deploymentFromEvents(a.events(), { node: nodes[i]!.id, site: nodes[i]!.site, t0Ms, image, dataOps: DATA_OPS, reportOps: REPORT_OPS }),
      );
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
    }
    const placedById = Object.fromEntries(nodes.map((n) => [n.id, placed[n.keystoneId] === true]));
    const run = runSamplesFromDeployments(deployments, {
      labels: labelsOf(r),
      placed: placedById,
      bytesPerNode: published.blobBytes,
      sla: { deployP99S: sla.deployP99Us === null ? null : sla.deployP99Us / 1e6, makespanS: sla.makespanUs === null ? null : sla.makespanUs / 1e6, failureRate: sla.failureRate },
    });
    samples.push(...run.samples);
    summaries.push(run.summary);
    const ok = run.summary.latenciesS.length;
    say(`repeat ${r + 1}/${repeats}: ${ok}/${nodes.length} RUNNING, makespan ${run.summary.makespanS.toFixed(2)} s`);
    log.info({ repeat: r, running: ok, nodes: nodes.length, makespanS: run.summary.makespanS }, 'repeat done');
  }
  samples.push(...repeatSamples(summaries, labelsOf('all')));

  const cpuList = cpus();
  const meta: Meta = {
    type: 'meta',
    scenario: { name: scenario.name, ...(o.scenarioText !== undefined ? { text: o.scenarioText } : {}) },
    plane: 'openstack',
    mode: 'agent',
    strategy: 'origin',
    env: 'real',
    seed: scenario.seed,
    version: o.version,
    machine: { os: platform(), arch: arch(), cpus: cpuList.length, ...(cpuList[0]?.model ? { cpuModel: cpuList[0].model } : {}), node: process.version },
    startedAt,
    assumptions: [
      { plane: 'openstack', name: 'control plane', value: 'real Keystone, Glance (file store), Barbican on loopback (edgeplane up openstack)', source: 'edgeplane run --env real' },
      { plane: 'openstack', name: 'nodes run', value: nodes.length, unit: 'agents', source: `the scenario's first ${nodes.length} of ${scenario.fleet.sites * scenario.fleet.nodesPerSite} nodes, one agent process each on this machine` },
      { plane: 'openstack', name: 'image size', value: built.header.size, unit: 'B', source: `appliance padded to min(scenario image ${scenario.image.sizeBytes} B, ${MAX_REAL_IMAGE_BYTES} B)` },
      { plane: 'openstack', name: 'chunk size', value: chunkBytes, unit: 'B', source: 'scenario image.chunk' },
      { plane: 'openstack', name: 'hypervisor', value: o.hypervisor, source: o.hypervisor === 'qemu' ? 'qemu (KVM when usable, else TCG); boot ends at the image boot marker' : 'sim: a timed fake VM (no boot cost)' },
      { plane: 'openstack', name: 'network', value: 'loopback', source: 'no link shaping: the scenario network, strategy and faults are not applied; data from Glance only (strategy origin)' },
    ],
  };
  return {
    metas: [meta],
    samples,
    lines: [JSON.stringify(meta), ...samples.map((s) => JSON.stringify(s))],
    nodes,
    image: { lineage, version, glanceImageId: published.imageId, bytes: built.header.size, blobBytes: published.blobBytes, chunks: published.chunks, chunkBytes },
    summaries,
  };
}
