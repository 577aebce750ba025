// Crash safety (slow, ~2 min): the real agent process (`node <build>/cli/main.js agent`) is
// SIGKILLed at seeded random points of deployments — first deployments on fresh nodes and updates
// of a node already running the other image — then restarted, and must converge every time to the
// assigned image RUNNING, bit-identical, without fetching again any chunk it held when it was
// killed: journaled in a partial staged image, or part of a complete staged image. Two nodes run
// their trials side by side.
import { execa, type ResultPromise } from 'execa';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignInTestPlane, type RangeLogEntry } from '../../../../control-test-plane/index.js';
import { nextRandom, readJournal, type Assignment } from '../../../../agent/index.js';
import { bytes, KiB, MiB, newRig, publish, sha256, tempDir, type PublishedImage, type Rig } from './helpers.js';
import { buildPrivateDist } from './private-build.js';

const TRIALS = Number(process.env.EP_CRASH_TRIALS ?? 100);
const LANES = 2;
/** a lane moves to a fresh node (a first deployment) every this many trials */
const FRESH_EVERY = 5;

let CLI = '';
let removeBuild = async () => {};
const stateDirs: string[] = [];
let rig: Rig;
let images: PublishedImage[];
let keyFile: string;
const lanes: Lane[] = [];

beforeAll(async () => {
  ({ cli: CLI, remove: removeBuild } = await buildPrivateDist());
  rig = await newRig({ rangeDelayMs: 3 });
  images = [
    await publish(rig.planeDir, rig.pub, { imageId: 'app', version: '1' }, bytes(6 * MiB, 'crash-1'), 128 * KiB),
    await publish(rig.planeDir, rig.pub, { imageId: 'app', version: '2' }, bytes(6 * MiB + 5000, 'crash-2'), 128 * KiB),
  ];
  keyFile = join(rig.planeDir, 'publisher.pub');
  await writeFile(keyFile, rig.pub.publicKeyPem);
}, 180_000);

afterAll(async () => {
  for (const lane of lanes) await lane.node?.kill();
  await rig?.server.close();
  for (const dir of [...stateDirs, rig?.planeDir]) if (dir) await rm(dir, { recursive: true, force: true });
  await removeBuild();
});

interface Line {
  type: string;
  status?: string;
  running?: Assignment | null;
  pid?: number;
}

async function eventsSince(stateDir: string, from: number): Promise<Line[]> {
  const text = await readFile(join(stateDir, 'events.ndjson'), 'utf8').catch(() => '');
  // only whole lines: the agent may be writing the next one right now
  return text
    .slice(from, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

async function eventsLength(stateDir: string): Promise<number> {
  return (await readFile(join(stateDir, 'events.ndjson'), 'utf8').catch(() => '')).length;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class AgentNode {
  child: ResultPromise | null = null;
  /** after each kill: the digests the node then held on disk, and where the range log stood */
  readonly heldAtKill: { held: Set<string>; logMark: number; image: PublishedImage }[] = [];

  private constructor(
    readonly name: string,
    readonly stateDir: string,
    readonly config: string,
  ) {}

  static async create(name: string, image: Assignment): Promise<AgentNode> {
    const stateDir = await tempDir('ep-crash-');
    stateDirs.push(stateDir);
    const { token } = await assignInTestPlane({ dir: rig.planeDir, node: name, pin: image });
    const config = join(stateDir, 'agent.yaml');
    await writeFile(
      config,
      [
        `node: ${name}`,
        `stateDir: ${stateDir}`,
        `plane: { kind: test-plane, url: "${rig.server.url}", token: "${token}" }`,
        `trust: ["${keyFile}"]`,
        'hypervisor: { kind: sim, simBootDelayMs: 20 }',
        'fetch: { rangesInFlight: 4, batchMs: 20, requestTimeoutS: 5 }',
        'machine: { pollIntervalS: 0.1, backoffBaseS: 0.05, backoffCapS: 0.5 }',
      ].join('\n'),
    );
    return new AgentNode(name, stateDir, config);
  }

  /** Spawns the agent; resolves once its runtime started, with the events offset before it. */
  async spawn(): Promise<number> {
    const from = await eventsLength(this.stateDir);
    const t0 = Date.now();
    const child = execa('node', [CLI, 'agent', '--config', this.config], { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    this.child = child;
    let exited = false;
    void child.then(() => (exited = true));
    await waitFor(async () => exited || (await eventsSince(this.stateDir, from)).some((l) => l.type === 'start' && l.pid === child.pid), 30_000, `${this.name} to start`);
    if (exited) throw new Error(`${this.name}: the agent exited at start: ${(await child).stderr}`);
    stats.spawnMs += Date.now() - t0;
    stats.spawns++;
    return from;
  }

  async kill(image?: PublishedImage): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.child;
    this.child = null;
    if (image) {
      const held = await heldOnDisk(this.stateDir);
      this.heldAtKill.push({ held, logMark: rig.server.rangeLog.length, image });
    }
  }

  async converge(image: PublishedImage, from: number): Promise<void> {
    const v = image.image.version;
    await waitFor(async () => (await eventsSince(this.stateDir, from)).some((l) => l.type === 'status' && l.status === 'RUNNING' && l.running?.version === v), 30_000, `${this.name} to run version ${v}`);
  }
}

/** Digests whose plaintext the node's staged folder holds: journaled in a partial image, or in a complete image. */
async function heldOnDisk(stateDir: string): Promise<Set<string>> {
  const held = new Set<string>();
  const dir = join(stateDir, 'staged');
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.endsWith('.img.journal')) for (const d of await readJournal(join(dir, name))) held.add(d);
    const whole = images.find((i) => name === `${i.image.imageId}@${i.image.version}.img`);
    if (whole) for (const c of whole.manifest.chunks) held.add(c.digest);
  }
  return held;
}

interface Lane {
  node: AgentNode | null;
  current: number;
}

const stats = { trials: 0, kills: 0, updates: 0, killsMidFetch: 0, spawnMs: 0, spawns: 0, convergeMs: 0, chunksHeldAtKills: 0 };

function random(seed: number): () => number {
  let state = seed;
  return () => {
    const draw = nextRandom(state);
    state = draw.rngState;
    return draw.value;
  };
}

/** Image and digest of each chunk offset of each blob, to read the range log. */
function digestOf(entry: RangeLogEntry): string | undefined {
  const image = images.find((i) => `${i.image.imageId}@${i.image.version}` === entry.blobRef)!;
  let offset = 0;
  for (const c of image.manifest.chunks) {
    if (offset === entry.offset) return c.digest;
    offset += c.size;
  }
  return undefined;
}

async function checkConverged(node: AgentNode, image: PublishedImage): Promise<void> {
  const ref = `${image.image.imageId}@${image.image.version}`;
  const staged = await readFile(join(node.stateDir, 'staged', `${ref}.img`));
  expect(sha256(staged), `${node.name}: staged ${ref}`).toBe(sha256(image.plaintext));
  const state = JSON.parse(await readFile(join(node.stateDir, 'state.json'), 'utf8'));
  expect(state.staged, node.name).toEqual(image.image);
  const mine = rig.server.rangeLog.filter((e) => e.node === node.name && e.status === 206);
  for (const { held, logMark } of node.heldAtKill.splice(0)) {
    const again = mine.filter((e) => e.seq >= logMark && held.has(digestOf(e)!));
    expect(again, `${node.name}: chunks fetched again after they were stored verified`).toEqual([]);
  }
}

describe('crash safety (slow): SIGKILL at random points of deployments', () => {
  it(`${TRIALS} trials converge to the assigned image running, bit-identical, with no verified chunk fetched again`, async () => {
    const draw = random(20260522);
    // a kill lands anywhere from the assignment until a little after a typical deployment ends
    const windowMs = 700;
    let nodeCount = 0;
    let nextTrial = 0;

    const runLane = async (lane: Lane): Promise<void> => {
      while (nextTrial < TRIALS) {
        const trial = nextTrial++;
        const kills = draw() < 0.25 ? 2 : 1;
        const delays = Array.from({ length: kills }, () => Math.floor(draw() * windowMs));
        const fresh = lane.node === null || trial % FRESH_EVERY === 0;
        const target = images[(lane.current + 1) % images.length];
        if (fresh) {
          await lane.node?.kill();
          lane.node = await AgentNode.create(`crash-${nodeCount++}`, target.image);
          await lane.node.spawn();
        } else {
          // the running agent polls, sees the new pin and stages the other image
          await assignInTestPlane({ dir: rig.planeDir, node: lane.node!.name, pin: target.image });
          stats.updates++;
        }
        const node = lane.node!;
        for (const [k, delay] of delays.entries()) {
          if (k > 0) await node.spawn();
          await sleep(delay);
          await node.kill(target);
          stats.kills++;
          const last = node.heldAtKill.at(-1)!;
          const ofTarget = target.manifest.chunks.filter((c) => last.held.has(c.digest)).length;
          if (ofTarget > 0 && ofTarget < target.manifest.chunks.length) stats.killsMidFetch++;
          stats.chunksHeldAtKills += ofTarget;
        }
        const from = await node.spawn();
        const t0 = Date.now();
        await node.converge(target, from);
        stats.convergeMs += Date.now() - t0;
        await checkConverged(node, target);
        lane.current = images.indexOf(target);
        stats.trials++;
      }
    };
    for (let i = 0; i < LANES; i++) lanes.push({ node: null, current: 1 });
    await Promise.all(lanes.map(runLane));

    console.log(
      `crash safety: ${stats.trials} trials (${stats.updates} updates of a running node), ${stats.kills} SIGKILLs; ` +
        `${stats.killsMidFetch} kills left some but not all chunks of the target in the store (${stats.chunksHeldAtKills} target chunks held at kills in all), none fetched again; ` +
        `agent start ${Math.round(stats.spawnMs / stats.spawns)} ms, convergence after the last restart ${Math.round(stats.convergeMs / stats.trials)} ms on average`,
    );
    expect(stats.trials).toBe(TRIALS);
    expect(stats.kills).toBeGreaterThanOrEqual(TRIALS);
    // the kill points spread over the deployments: many left chunks behind
    expect(stats.killsMidFetch).toBeGreaterThan(TRIALS / 5);
  }, 900_000);
});
