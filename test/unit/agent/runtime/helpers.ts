// A published image on a test plane, and agent runtimes pointed at it (sim hypervisor).
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assignInTestPlane, publishToTestPlane, TestPlaneClient, TestPlaneServer } from '../../../../control-test-plane/index.js';
import { AgentRuntime, DEFAULT_AGENT_CONFIG, SimHypervisor, type AgentConfig, type Assignment, type Hypervisor, type StagedImage } from '../../../../agent/index.js';
import { generateDataKey, generatePublisherKeys, sealImage, type ImageManifest } from '../../../../pipeline/index.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export async function tempDir(prefix = 'ep-agent-rt-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Deterministic pseudo-random bytes. */
export function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; off += 32, i++) createHash('sha256').update(`${seed}/${i}`).digest().copy(out, off);
  return out;
}

export const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

export interface Publisher {
  signingKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
  dataKey: Buffer;
}

export function newPublisher(): Publisher {
  const { privateKeyPem, publicKeyPem } = generatePublisherKeys();
  return { signingKey: createPrivateKey(privateKeyPem), publicKey: createPublicKey(publicKeyPem), publicKeyPem, dataKey: generateDataKey() };
}

export interface PublishedImage {
  image: Assignment;
  plaintext: Buffer;
  manifest: ImageManifest;
  sealedDir: string;
}

/** Seals `plaintext` as id@version and publishes it into the test-plane directory. */
export async function publish(planeDir: string, pub: Publisher, image: Assignment, plaintext: Buffer, chunkSize = 256 * KiB): Promise<PublishedImage> {
  const work = await tempDir('ep-seal-');
  const imagePath = join(work, 'image.img');
  await writeFile(imagePath, plaintext);
  const sealedDir = join(work, 'sealed');
  const r = await sealImage({ imagePath, outDir: sealedDir, imageId: image.imageId, version: image.version, dataKey: pub.dataKey, signingKey: pub.signingKey, chunking: { algorithm: 'fixed', size: chunkSize } });
  await publishToTestPlane({ dir: planeDir, sealedDir, dataKey: pub.dataKey, trusted: [pub.publicKey] });
  return { image, plaintext, manifest: r.manifest, sealedDir };
}

/** A hypervisor that records every image it is asked to start, with the bytes of the file it got. */
export class RecordingHypervisor extends SimHypervisor {
  readonly started: { image: Assignment; sha256: string }[] = [];

  constructor(bootDelayMs = 5) {
    super({ bootDelayMs });
  }

  override async start(image: StagedImage) {
    const { readFile } = await import('node:fs/promises');
    this.started.push({ image: { imageId: image.imageId, version: image.version }, sha256: sha256(await readFile(image.path)) });
    return super.start(image);
  }
}

export interface Rig {
  planeDir: string;
  server: TestPlaneServer;
  pub: Publisher;
  node: string;
  token: string;
}

export async function newRig(opts: { rangeDelayMs?: number } = {}): Promise<Rig> {
  const planeDir = await tempDir('ep-plane-');
  const server = new TestPlaneServer({ dir: planeDir, rangeDelayMs: opts.rangeDelayMs });
  await server.start();
  const node = 'edge-1';
  const { token } = await assignInTestPlane({ dir: planeDir, node, pin: null });
  return { planeDir, server, pub: newPublisher(), node, token };
}

export const FAST_MACHINE = { ...DEFAULT_AGENT_CONFIG, pollIntervalUs: 100_000, backoffBaseUs: 20_000, backoffCapUs: 200_000 };

export function newAgent(
  rig: Rig,
  stateDir: string,
  hv: Hypervisor = new RecordingHypervisor(),
  extra: { trusted?: KeyObject[]; rangesInFlight?: number; token?: string; machine?: Partial<AgentConfig> } = {},
): AgentRuntime {
  const plane = new TestPlaneClient({ url: rig.server.url, node: rig.node, token: extra.token ?? rig.token, timeoutMs: 5_000 });
  return new AgentRuntime({
    stateDir,
    plane,
    hypervisor: hv,
    trusted: extra.trusted ?? [rig.pub.publicKey],
    machine: { ...FAST_MACHINE, ...extra.machine },
    seed: 42,
    rangesInFlight: extra.rangesInFlight ?? 4,
    batchMs: 20,
    bootTimeoutMs: 5_000,
  });
}

export const running = (image: Assignment) => (s: { status: string; running: Assignment | null }) => s.status === 'RUNNING' && s.running?.imageId === image.imageId && s.running.version === image.version;
