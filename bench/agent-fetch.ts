// Agent fetch throughput on loopback against `curl` fetching the same blob in the same run, and
// the agent's peak memory while deploying a big image.
//   fetch to the part     the runtime's fetch phase: ranged GETs (4 in flight), SHA-256 + AES-256-GCM
//                         of every blob on the crypto workers, plaintext written once into the
//                         partial staged image, fdatasync + journal per batch
//   fetch+verify+decrypt  the data path without the disk: ranged GETs, SHA-256, AES-256-GCM open
//   deploy (fetch+finish) the runtime's whole path: the fetch phase, then finishing the image
//                         (whole-plaintext SHA-256 on a worker, fsync, rename)
// The test plane is served by a separate `edgeplane test-plane serve` process for all of them.
// Peak RSS: the real `edgeplane agent` process (sim hypervisor) deploying a big image, read from
// /proc/<pid>/status (VmHWM) once it is RUNNING.
//   node dist/bench/agent-fetch.js [sizeMiB=1024] [rssSizeMiB=2048]
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { blobOffsets } from '../adapters/index.js';
import { assignInTestPlane, publishToTestPlane, TestPlaneClient } from '../control-test-plane/index.js';
import { DirectStage, fetchChunks } from '../agent/index.js';
import { silentLogger } from '../common/index.js';
import { chunkKeysFor, decryptChunk, generateDataKey, generatePublisherKeys, sealImage, sharedCryptoPool, type ImageManifest } from '../pipeline/index.js';
import { writeRandomFile } from './random-file.js';

const MiB = 1024 * 1024;
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

interface Plane {
  dir: string;
  url: string;
  server: ResultPromise;
}

async function startPlane(dir: string): Promise<Plane> {
  const server = execa('node', [CLI, 'test-plane', 'serve', '--dir', dir], { reject: false });
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      const m = /at (http:\/\/\S+)/.exec(d.toString());
      if (m) resolve(m[1]);
    });
    void server.then((r) => reject(new Error(`test-plane serve exited: ${r.stderr}`)));
  });
  return { dir, url, server };
}

async function sealAndPublish(work: string, planeDir: string, imageId: string, sizeMiB: number, keys: { signing: string; pub: string; data: Buffer }): Promise<ImageManifest> {
  const imagePath = join(work, `${imageId}.img`);
  await writeRandomFile(imagePath, sizeMiB * MiB);
  const sealedDir = join(work, `${imageId}-sealed`);
  const { manifest } = await sealImage({ imagePath, outDir: sealedDir, imageId, version: '1', dataKey: keys.data, signingKey: createPrivateKey(keys.signing) });
  await publishToTestPlane({ dir: planeDir, sealedDir, dataKey: keys.data, trusted: [createPublicKey(keys.pub)] });
  await rm(sealedDir, { recursive: true });
  await rm(imagePath);
  return manifest;
}

const seconds = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};

async function dropCaches(dir: string): Promise<void> {
  // the staged image of a previous round would only cost page cache: remove it
  await rm(dir, { recursive: true, force: true });
}

export async function benchAgentFetch(opts: { sizeMiB?: number; rssSizeMiB?: number; rounds?: number } = {}): Promise<string[]> {
  const sizeMiB = opts.sizeMiB ?? 1024;
  const rssSizeMiB = opts.rssSizeMiB ?? 2048;
  const rounds = opts.rounds ?? 2;
  const work = await mkdtemp(join(tmpdir(), 'edgeplane-agent-bench-'));
  const planeDir = join(work, 'plane');
  const { privateKeyPem, publicKeyPem } = generatePublisherKeys();
  const keys = { signing: privateKeyPem, pub: publicKeyPem, data: generateDataKey() };
  const lines: string[] = [];
  let plane: Plane | null = null;
  try {
    const manifest = await sealAndPublish(work, planeDir, 'bench', sizeMiB, keys);
    const blobBytes = manifest.chunks.reduce((s, c) => s + c.size, 0);
    const { token } = await assignInTestPlane({ dir: planeDir, node: 'bench-node', pin: { imageId: 'bench', version: '1' } });
    plane = await startPlane(planeDir);
    const client = new TestPlaneClient({ url: plane.url, node: 'bench-node', token });
    await client.login();
    const session = ((await (await fetch(`${plane.url}/login`, { method: 'POST', body: JSON.stringify({ node: 'bench-node', token }) })).json()) as { session: string }).session;
    const dataKey = await client.getKey('bench@1');
    const chunkKeys = chunkKeysFor(manifest, dataKey);
    const offsets = blobOffsets(manifest.chunks);
    const storeDir = join(work, 'agent');

    const best = { curl: Infinity, fetchOnly: Infinity, store: Infinity, decrypt: Infinity, stage: Infinity };
    for (let round = 0; round < rounds; round++) {
      best.curl = Math.min(best.curl, await seconds(() => execa('curl', ['-s', '-f', '-o', '/dev/null', '-H', `Authorization: Bearer ${session}`, `${plane!.url}/blobs/bench%401`])));

      await dropCaches(storeDir);
      await mkdir(storeDir, { recursive: true });
      const outPath = join(storeDir, 'bench@1.img');
      const direct = await DirectStage.open(manifest, outPath, sharedCryptoPool(), chunkKeys, silentLogger);
      let stored = 0;
      best.store = Math.min(
        best.store,
        await seconds(() =>
          fetchChunks({
            plane: client,
            blobRef: 'bench@1',
            offsets,
            chunks: manifest.chunks,
            direct,
            rangesInFlight: 4,
            wholeStreamAt: 'never',
            batchMs: 200,
            log: silentLogger,
            onBatch: (b) => (stored += b.stored.length),
          }),
        ),
      );
      if (stored !== manifest.chunks.length) throw new Error(`bench: stored ${stored} of ${manifest.chunks.length} chunks`);
      best.stage = Math.min(
        best.stage,
        await seconds(async () => {
          const r = await direct.finish(() => undefined);
          if (!r.ok) throw new Error(`bench: staging failed: ${r.message}`);
        }),
      );
      await rm(outPath, { force: true });

      const fourRanges = (use: (c: (typeof manifest.chunks)[number], blob: Buffer) => void) => async () => {
        let next = 0;
        const worker = async () => {
          while (next < manifest.chunks.length) {
            const c = manifest.chunks[next++];
            use(c, await client.downloadRange('bench@1', offsets[c.index], c.size));
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
      };
      best.fetchOnly = Math.min(
        best.fetchOnly,
        await seconds(
          fourRanges((c, blob) => {
            if (blob.length !== c.size) throw new Error(`bench: chunk ${c.index} is ${blob.length} bytes`);
          }),
        ),
      );
      // decryptChunk checks size and SHA-256 against the manifest, then the GCM tag
      best.decrypt = Math.min(best.decrypt, await seconds(fourRanges((c, blob) => void decryptChunk(manifest, chunkKeys, c, blob))));
    }
    client.close();
    await dropCaches(join(work, 'agent'));
    const rate = (s: number) => `${(blobBytes / s / 1e6).toFixed(0)} MB/s`;
    const vsCurl = (s: number) => `${((best.curl / s) * 100).toFixed(0)}% of curl`;
    lines.push(`agent fetch, ${sizeMiB} MiB image (${manifest.chunks.length} chunks of ${manifest.chunking.algorithm === 'fixed' ? manifest.chunking.size / MiB : '?'} MiB), loopback, best of ${rounds}:`);
    lines.push(`  curl (one stream, to /dev/null)   ${rate(best.curl)}  ${best.curl.toFixed(2)} s`);
    lines.push(`  fetch only (4 ranges, no checks)  ${rate(best.fetchOnly)}  ${best.fetchOnly.toFixed(2)} s  ${vsCurl(best.fetchOnly)}`);
    lines.push(`  fetch to the part (4 ranges)      ${rate(best.store)}  ${best.store.toFixed(2)} s  ${vsCurl(best.store)}`);
    lines.push(`  fetch+verify+decrypt (4 ranges)   ${rate(best.decrypt)}  ${best.decrypt.toFixed(2)} s  ${vsCurl(best.decrypt)}`);
    lines.push(`  finish alone (plaintext sha256, fsync, rename)  ${rate(best.stage)}  ${best.stage.toFixed(2)} s`);
    lines.push(`  deploy data path (fetch, then finish)  ${rate(best.store + best.stage)}  ${vsCurl(best.store + best.stage)}`);
    await rm(join(planeDir, 'images'), { recursive: true, force: true });

    if (rssSizeMiB > 0) lines.push(await peakRss(work, planeDir, plane.url, rssSizeMiB, keys));
  } finally {
    if (plane) {
      plane.server.kill('SIGTERM');
      await plane.server;
    }
    await rm(work, { recursive: true, force: true });
  }
  return lines;
}

/** The real agent process deploys a `sizeMiB` image; its peak RSS is read once it runs the VM. */
async function peakRss(work: string, planeDir: string, url: string, sizeMiB: number, keys: { signing: string; pub: string; data: Buffer }): Promise<string> {
  await sealAndPublish(work, planeDir, 'big', sizeMiB, keys);
  const { token } = await assignInTestPlane({ dir: planeDir, node: 'rss-node', pin: { imageId: 'big', version: '1' } });
  const stateDir = join(work, 'rss-agent');
  const pubFile = join(work, 'publisher.pub');
  await writeFile(pubFile, keys.pub);
  const config = join(work, 'rss-agent.yaml');
  await writeFile(config, [`node: rss-node`, `stateDir: ${stateDir}`, `plane: { kind: test-plane, url: "${url}", token: "${token}" }`, `trust: ["${pubFile}"]`, 'hypervisor: { kind: sim }'].join('\n'));
  const started = Date.now();
  const agent = execa('node', [CLI, 'agent', '--config', config], { reject: false });
  try {
    let peakKiB = 0;
    for (;;) {
      const status = await readFile(`/proc/${agent.pid}/status`, 'utf8').catch(() => '');
      peakKiB = Math.max(peakKiB, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      const events = await readFile(join(stateDir, 'events.ndjson'), 'utf8').catch(() => '');
      if (/"status":"RUNNING"/.test(events)) break;
      if (agent.exitCode !== null) throw new Error(`agent exited: ${(await agent).stderr}`);
      if (Date.now() - started > 900_000) throw new Error('the agent did not deploy within 15 min');
      await new Promise((r) => setTimeout(r, 100));
    }
    const wall = (Date.now() - started) / 1000;
    return `agent process deploying a ${sizeMiB} MiB image (sim hypervisor): peak RSS ${(peakKiB / 1024).toFixed(0)} MiB (VmHWM), ${wall.toFixed(1)} s from process start to RUNNING`;
  } finally {
    agent.kill('SIGTERM');
    await agent;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [size, rss] = process.argv.slice(2).map(Number);
  for (const line of await benchAgentFetch({ sizeMiB: size || undefined, rssSizeMiB: Number.isNaN(rss) ? undefined : rss })) console.log(line);
}
