import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { Assignment } from '../agent/machine/index.js';
import { EnvironmentError, InputError, silentLogger, type Logger } from '../common/index.js';
import { preparePublishInput, writeSealedBlob, type PublishInputOptions } from '../pipeline/index.js';
import { OpenStackOperator, type EnrolledNode, type PublishedImage } from './client/operator.js';
import type { NodeConfig } from './client/node.js';
import { ProjectListSchema } from './client/schemas.js';
import { decodePin, NODE_TAG, nodeUserName, planPlacement, type NodeReport } from './placement.js';
import { cloudTargetFrom, type CloudTarget } from './cloud-config.js';
import { loadStack, OPERATOR_ROLE, type RunningStack } from './server/index.js';

export interface Fleet {
  /** the local stack (`edgeplane up openstack`), or null for a cloud from clouds.yaml / openrc */
  stack: RunningStack | null;
  operator: OpenStackOperator;
  /** what the operator works on, for messages */
  target: string;
}

/**
 * The operator of a cloud (clouds.yaml / openrc), its prerequisites checked up front: a cloud
 * that lacks what edgeplane needs fails here (exit 3) with every problem listed, before any change.
 */
export async function openCloudFleet(target: CloudTarget): Promise<Fleet> {
  const operator = new OpenStackOperator({ authUrl: target.authUrl, username: '', password: '', projectName: '', credentials: target.credentials, interface: target.interface });
  let problems: string[];
  try {
    problems = await operator.prerequisiteProblems(OPERATOR_ROLE);
  } catch (err) {
    throw new EnvironmentError(`${target.source}: cannot reach Keystone at ${target.authUrl}: ${(err as Error).message}`);
  }
  if (problems.length > 0) throw new EnvironmentError(`${target.source} is not usable as the edgeplane operator:\n  - ${problems.join('\n  - ')}`);
  return { stack: null, operator, target: `${target.source} (${target.authUrl})` };
}

/** `--cloud NAME` / `--openrc FILE` / OS_CLOUD when given, else the admin operator of the stack in `stateDir`. */
export async function openFleetFor(stateDir: string, opts: { cloud?: string; openrc?: string } = {}): Promise<Fleet> {
  const target = cloudTargetFrom(opts);
  return target ? openCloudFleet(target) : openFleet(stateDir);
}

/** The admin operator of the stack in `stateDir` (EnvironmentError when there is none). */
export function openFleet(stateDir: string): Fleet & { stack: RunningStack } {
  let stack: RunningStack;
  try {
    stack = loadStack(stateDir);
  } catch (err) {
    if (err instanceof EnvironmentError) throw err;
    throw new EnvironmentError(`cannot use the OpenStack stack in ${stateDir}: ${(err as Error).message}`);
  }
  const { endpoints, admin } = stack;
  const operator = new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName });
  return { stack, operator, target: `the stack in ${stateDir}` };
}

// ---- publish ----

/** What `publishToFleet` takes: the publish input (a raw image or a sealed directory, and its keys) and a logger. */
export interface PublishOptions extends Omit<PublishInputOptions, 'workDir' | 'keyRef'> {
  logger?: Logger;
}

export interface PublishResult extends PublishedImage {
  chunks: number;
  blobBytes: number;
  sealed: boolean;
  keysGenerated: boolean;
  keysDir: string;
}

/** Seal (if needed) and publish: blob image + manifest image in Glance, data key in Barbican. */
export async function publishToFleet(operator: OpenStackOperator, opts: PublishOptions): Promise<PublishResult> {
  const log = opts.logger ?? silentLogger;
  const work = mkdtempSync(join(tmpdir(), 'edgeplane-publish-'));
  try {
    const input = await preparePublishInput({ ...opts, keyRef: `barbican:edgeplane-key-${opts.imageId}-${opts.version}`, workDir: work });
    if (input.keysGenerated) log.info({ keysDir: input.keysDir }, 'generated publisher and data keys');
    const blob = join(work, 'blob');
    const blobBytes = await writeSealedBlob(input.sealedDir, input.manifest, blob);
    const published = await operator.publishImage({ name: opts.imageId, version: opts.version, image: { file: blob }, manifest: input.envelope, key: input.dataKey });
    return { ...published, chunks: input.manifest.chunks.length, blobBytes, sealed: input.sealed, keysGenerated: input.keysGenerated, keysDir: input.keysDir };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- enroll ----

/** The agent configuration written for each enrolled node (agent.yaml shape; plane kind `openstack`). */
export interface OpenStackAgentFile {
  node: string;
  stateDir: string;
  plane: { kind: 'openstack' } & NodeConfig;
  trust: string[];
}

export function agentFileFor(node: EnrolledNode, trust: string[]): OpenStackAgentFile {
  return { node: node.nodeId, stateDir: `/var/lib/edgeplane/${node.nodeId}`, plane: { kind: 'openstack', ...node.config }, trust };
}

export interface EnrollResult {
  node: EnrolledNode;
  configFile: string | null;
}

/** Enroll each node (sorted, de-duplicated); with `outDir`, write `<node>.agent.yaml` (mode 0600: it holds the password). */
export async function enrollFleet(operator: OpenStackOperator, nodeIds: readonly string[], opts: { outDir?: string; trust?: string[] } = {}): Promise<EnrollResult[]> {
  const plan = planNodes(nodeIds);
  if (opts.outDir) mkdirSync(opts.outDir, { recursive: true });
  const out: EnrollResult[] = [];
  for (const p of plan) {
    const node = await operator.enrollNode(p.nodeId);
    let configFile: string | null = null;
    if (opts.outDir) {
      configFile = join(resolve(opts.outDir), `${p.nodeId}.agent.yaml`);
      const header = '# edgeplane agent configuration written by `edgeplane fleet enroll` (holds the node password)\n';
      writeFileSync(configFile, header + toYaml(agentFileFor(node, opts.trust ?? ['publisher.pub'])), { mode: 0o600 });
    }
    out.push({ node, configFile });
  }
  return out;
}

// ---- assign / revoke ----

/** `<image-id>@<version>` (InputError when malformed). */
export function parseAssignment(text: string): Assignment {
  const at = text.lastIndexOf('@');
  const a = { imageId: text.slice(0, at), version: text.slice(at + 1) };
  if (at <= 0 || !a.version) throw new InputError(`expected <image-id>@<version>, got ${JSON.stringify(text)}`);
  try {
    planPlacement(['x'], { x: a });
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  return a;
}

function planNodes(nodeIds: readonly string[], pin?: Assignment) {
  if (nodeIds.length === 0) throw new InputError('give at least one node id');
  try {
    return planPlacement(nodeIds, pin ? Object.fromEntries(nodeIds.map((n) => [n, pin])) : {});
  } catch (err) {
    throw new InputError((err as Error).message);
  }
}

/** Pin `assignment` on every node, in sorted node order; returns each node's pin tag. */
export async function assignFleet(operator: OpenStackOperator, assignment: Assignment, nodeIds: readonly string[]): Promise<{ nodeId: string; pinTag: string }[]> {
  const plan = planNodes(nodeIds, assignment);
  // a revoked node gets nothing: its old token may still be valid for a few seconds
  // (keystonemiddleware's cache), and a pin would share the new image and key with it
  const revoked: string[] = [];
  for (const p of plan) if (!(await operator.nodeEnabled(p.nodeId))) revoked.push(p.nodeId);
  if (revoked.length > 0) throw new InputError(`refusing to assign ${assignment.imageId}@${assignment.version}: revoked node${revoked.length > 1 ? 's' : ''} ${revoked.join(', ')} (enroll again to reinstate)`);
  for (const p of plan) await operator.pin(p.nodeId, assignment);
  return plan.map((p) => ({ nodeId: p.nodeId, pinTag: p.pinTag! }));
}

/** Withdraw each node's pin, image, manifest and key (unpin); the node stays enrolled and may log in. */
export async function unassignFleet(operator: OpenStackOperator, nodeIds: readonly string[]): Promise<string[]> {
  const plan = planNodes(nodeIds);
  for (const p of plan) await operator.unpin(p.nodeId);
  return plan.map((p) => p.nodeId);
}

/** Disable each node's user (tokens revoked, no new login), then withdraw its image, manifest and key (unpin). */
export async function revokeFleet(operator: OpenStackOperator, nodeIds: readonly string[]): Promise<string[]> {
  const plan = planNodes(nodeIds);
  for (const p of plan) {
    await operator.revokeNode(p.nodeId);
    await operator.unpin(p.nodeId);
  }
  return plan.map((p) => p.nodeId);
}

// ---- status ----

export interface NodeStatus {
  nodeId: string;
  projectId: string;
  enabled: boolean;
  pin: Assignment | null;
  report: NodeReport | null;
}

const NODE_PROJECT_PREFIX = 'edgeplane-node-';

/** Every enrolled node (projects tagged `edgeplane:node`), or just `nodeIds`, sorted by node id. */
export async function fleetStatus(operator: OpenStackOperator, nodeIds: readonly string[] = []): Promise<NodeStatus[]> {
  const ks = operator.session.keystone;
  const root = operator.config.authUrl.replace(/\/+$/, '').replace(/\/v3$/, '');
  const projects = await operator.session.authed((t) =>
    operator.transport.json(root, { op: 'keystone.project.list', method: 'GET', path: '/v3/projects', query: { tags: NODE_TAG }, headers: { 'X-Auth-Token': t } }, (d) => ProjectListSchema.parse(d)),
  );
  const wanted = nodeIds.length > 0 ? new Set(planNodes(nodeIds).map((p) => p.nodeId)) : null;
  const nodes = projects.projects
    .filter((p) => p.name.startsWith(NODE_PROJECT_PREFIX))
    .map((p) => ({ nodeId: p.name.slice(NODE_PROJECT_PREFIX.length), project: p }))
    .filter((n) => !wanted || wanted.has(n.nodeId))
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  if (wanted) {
    const missing = [...wanted].filter((n) => !nodes.some((x) => x.nodeId === n));
    if (missing.length > 0) throw new InputError(`not enrolled: ${missing.join(', ')}`);
  }
  const out: NodeStatus[] = [];
  for (const { nodeId, project } of nodes) {
    const user = await operator.session.authed(async (t) => (await ks.findUsers(t, nodeUserName(nodeId)))[0]);
    out.push({ nodeId, projectId: project.id, enabled: user?.enabled ?? false, pin: decodePin(project.tags), report: user ? await operator.readReport(nodeId) : null });
  }
  return out;
}
