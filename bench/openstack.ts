// Glance download benchmark on the live stack (`npm run bench -- openstack`): one sealed image
// (>= 256 MiB) in one Glance, fetched by
//   curl            GET /v2/images/{id}/file with the node's token, to /dev/null
//   glance client   `glance image-download` (python3-glanceclient, OS_* from the stack's openrc)
//   node client     OpenStackNodeClient ranged GETs of the sealed chunks (4 MiB), 4 and 8 in flight
//   agent fetch     the agent runtime's fetchChunks (ranged GETs + digest check + durable store)
//   fetch+open      node client ranged GETs + pipeline verifyChunk + decryptChunk, in memory
// and the control-plane overhead of one deployment (login + assignment + manifest + key) over
// fresh node logins. MB = 10^6 bytes. Each throughput is the median of `repeats` runs.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ChunkStore, fetchChunks } from '../agent/index.js';
import { quantile, silentLogger } from '../common/index.js';
import { enrollFleet, openFleet, OpenStackNodeClient, publishToFleet, type NodeConfig } from '../control-openstack/index.js';
import { chunkKeysFor, decryptChunk, readDataKey, verifyChunk, verifyManifest, readPublicKey, type ImageManifest } from '../pipeline/index.js';
import { writeRandomFile } from './random-file.js';

const MiB = 1024 * 1024;

export interface BenchOpenStackOptions {
  /** state dir of a running `edgeplane up openstack` */
  stateDir: string;
  sizeMiB?: number;
  repeats?: number;
  /** fresh node logins for the control-plane overhead */
  logins?: number;
}

const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b);
const median = (values: number[]): number => quantile(sorted(values), 0.5);

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

/** Ranged GETs of every chunk (`chunksPerRange` consecutive chunks per request) with `inFlight`
 *  requests outstanding; `each` sees each chunk's blob. */
async function rangedFetch(client: OpenStackNodeClient, imageId: string, m: ImageManifest, inFlight: number, each?: (index: number, blob: Buffer) => void, chunksPerRange = 1): Promise<number> {
  const spans: { first: number; offset: number; length: number; sizes: number[] }[] = [];
  let off = 0;
  for (let i = 0; i < m.chunks.length; i += chunksPerRange) {
    const sizes = m.chunks.slice(i, i + chunksPerRange).map((c) => c.size);
    const length = sizes.reduce((a, b) => a + b, 0);
    spans.push({ first: i, offset: off, length, sizes });
    off += length;
  }
  let next = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    while (next < spans.length) {
      const span = spans[next++]!;
      const blob = await client.downloadRange(imageId, span.offset, span.length);
      bytes += blob.length;
      if (each) {
        let at = 0;
        span.sizes.forEach((size, k) => {
          each(span.first + k, blob.subarray(at, at + size));
          at += size;
        });
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return bytes;
}

function openrcEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export (OS_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return env;
}

export async function benchOpenStack(opts: BenchOpenStackOptions): Promise<string[]> {
  const sizeMiB = opts.sizeMiB ?? 256;
  const repeats = opts.repeats ?? 3;
  const logins = opts.logins ?? 20;
  const lines: string[] = [];
  const { stack, operator } = openFleet(opts.stateDir);
  const work = await mkdtemp(join(tmpdir(), 'edgeplane-bench-os-'));
  try {
    const run = randomBytes(3).toString('hex');
    const raw = join(work, 'image.raw');
    await writeRandomFile(raw, sizeMiB * MiB);
    const keysDir = join(work, 'keys');
    const pub = await publishToFleet(operator, { source: raw, imageId: `bench-${run}`, version: '1', keysDir, sealedDir: join(work, 'sealed') });
    const [enrolled] = await enrollFleet(operator, [`bench-${run}`]);
    const node = enrolled!.node;
    await operator.pin(node.nodeId, pub);
    const client = new OpenStackNodeClient(node.config);
    await client.login();
    const fetched = await client.getManifest({ imageId: pub.imageId, version: '1' });
    const manifest = verifyManifest(fetched.bytes, [await readPublicKey(join(keysDir, 'publisher.pub'))]);
    const dataKey = await readDataKey(join(keysDir, 'data.key'));
    const bytes = pub.blobBytes;
    const mbps = (s: number) => bytes / 1e6 / s;
    const url = `${stack.endpoints.image}/v2/images/${pub.imageId}/file`;
    lines.push(
      `openstack glance download: sealed image ${(bytes / MiB).toFixed(1)} MiB in ${manifest.chunks.length} chunks of 4 MiB, Glance file store on loopback, ` +
        `median of ${repeats} runs (MB = 10^6 B), load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs`,
    );

    const results: Record<string, number> = {};
    /** CPU seconds this process spent per run (in-process clients only; curl and glance run as children) */
    const cpu: Record<string, number> = {};
    const measure = async (name: string, fn: () => Promise<unknown>, inProcess = true): Promise<void> => {
      await fn(); // warm-up (page cache of the Glance store, connections, token caches)
      const s: number[] = [];
      const before = process.cpuUsage();
      for (let i = 0; i < repeats; i++) s.push(await seconds(fn));
      const used = process.cpuUsage(before);
      results[name] = median(s);
      if (inProcess) cpu[name] = (used.user + used.system) / 1e6 / repeats;
    };

    const token = await client.session.token();
    await measure('curl', () => execa('curl', ['-sf', '-o', '/dev/null', '-H', `X-Auth-Token: ${token}`, url]), false);
    const env = { ...process.env, ...openrcEnv(await readFile(stack.layout.openrc, 'utf8')) };
    await measure('glance image-download', () => execa('glance', ['--os-image-api-version', '2', 'image-download', '--file', '/dev/null', pub.imageId], { env }), false);
    for (const n of [4, 8]) {
      await measure(`node client, ${n} ranges in flight`, async () => {
        const got = await rangedFetch(client, pub.imageId, manifest, n);
        if (got !== bytes) throw new Error(`fetched ${got} bytes, expected ${bytes}`);
      });
    }
    // the same bytes in fewer requests: consecutive chunks coalesced into 32 MiB ranges
    await measure('node client, 32 MiB ranges (8 chunks), 4 in flight', async () => {
      const got = await rangedFetch(client, pub.imageId, manifest, 4, undefined, 8);
      if (got !== bytes) throw new Error(`fetched ${got} bytes, expected ${bytes}`);
    });
    for (const n of [4, 8]) {
      await measure(`agent fetchChunks (verify + durable store), ${n} in flight`, async () => {
        const dir = join(work, `store-${n}`);
        await rm(dir, { recursive: true, force: true });
        const store = new ChunkStore(dir);
        await store.init();
        let stored = 0;
        let offset = 0;
        const offsets = manifest.chunks.map((c) => {
          const o = offset;
          offset += c.size;
          return o;
        });
        await fetchChunks({
          plane: client,
          blobRef: pub.imageId,
          offsets,
          chunks: manifest.chunks,
          store,
          rangesInFlight: n,
          batchMs: 200,
          onBatch: (b) => {
            stored += b.stored.length;
          },
          log: silentLogger,
        });
        if (stored !== manifest.chunks.length) throw new Error(`stored ${stored} of ${manifest.chunks.length} chunks`);
      });
    }
    const keys = chunkKeysFor(manifest, dataKey);
    await measure('node client + verifyChunk + decryptChunk, 8 in flight', async () => {
      let plain = 0;
      await rangedFetch(client, pub.imageId, manifest, 8, (index, blob) => {
        const c = manifest.chunks[index]!;
        if (!verifyChunk(c, blob)) throw new Error(`chunk ${index} failed verification`);
        plain += decryptChunk(manifest, keys, c, Buffer.from(blob.buffer, blob.byteOffset, blob.length)).length;
      });
      if (plain !== manifest.plaintext.size) throw new Error(`decrypted ${plain} bytes, expected ${manifest.plaintext.size}`);
    });

    const curl = results.curl!;
    const glance = results['glance image-download']!;
    for (const [name, s] of Object.entries(results)) {
      lines.push(
        `  ${name.padEnd(58)} ${s.toFixed(3).padStart(7)} s  ${mbps(s).toFixed(0).padStart(5)} MB/s  ` +
          `${(curl / s).toFixed(2)}x curl  ${(glance / s).toFixed(2)}x glance-client` +
          (cpu[name] !== undefined ? `  client CPU ${cpu[name]!.toFixed(2)} s` : ''),
      );
    }
    const best = Math.min(results['node client, 4 ranges in flight']!, results['node client, 8 ranges in flight']!);
    const coalesced = results['node client, 32 MiB ranges (8 chunks), 4 in flight']!;
    lines.push(
      `  goal, node client with 4 MiB ranges: >= 1.0x curl (${(curl / best).toFixed(2)}x: ${curl / best >= 1 ? 'MET' : 'MISSED'}), ` +
        `>= 1.5x glance-client (${(glance / best).toFixed(2)}x: ${glance / best >= 1.5 ? 'MET' : 'MISSED'}); ` +
        `with 32 MiB ranges: ${(curl / coalesced).toFixed(2)}x curl, ${(glance / coalesced).toFixed(2)}x glance-client`,
    );

    // control-plane overhead of one deployment, fresh node client (new login) each time
    const phases: Record<'auth' | 'assignment' | 'manifest' | 'key' | 'total', number[]> = { auth: [], assignment: [], manifest: [], key: [], total: [] };
    const config: NodeConfig = node.config;
    for (let i = 0; i < logins + 1; i++) {
      const c = new OpenStackNodeClient(config);
      const t0 = performance.now();
      await c.login();
      const t1 = performance.now();
      const a = (await c.getAssignment())!;
      const t2 = performance.now();
      const m = await c.getManifest(a);
      const t3 = performance.now();
      await c.getKey(m.keyRef);
      const t4 = performance.now();
      if (i === 0) continue; // warm-up
      phases.auth.push(t1 - t0);
      phases.assignment.push(t2 - t1);
      phases.manifest.push(t3 - t2);
      phases.key.push(t4 - t3);
      phases.total.push(t4 - t0);
    }
    const fmt = (v: number[]) => `p50 ${median(v).toFixed(1)} ms`;
    lines.push(
      `openstack control-plane overhead per deployment (${logins} fresh node logins, Keystone password_hash_rounds = ${stack.state.passwordHashRounds}): ` +
        `total ${fmt(phases.total)} (p95 ${quantile(sorted(phases.total), 0.95).toFixed(1)} ms) = auth ${fmt(phases.auth)}, assignment ${fmt(phases.assignment)}, ` +
        `manifest ${fmt(phases.manifest)}, key ${fmt(phases.key)}; vs curl of the whole image ${(curl * 1000).toFixed(0)} ms`,
    );
    await operator.revokeNode(node.nodeId).catch(() => undefined);
    return lines;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
