// Figures on the real services: per-op latency p50 from the transport's own records, and the
// download throughput of a 256 MiB image through the client (ranged 4 MiB chunks, and one stream)
// against curl on the same URL. Printed, and written to out/openstack-figures.json.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CallRecorder } from '../../../adapters/transport/index.js';
import { OpenStackNodeClient, OpenStackOperator, type EnrolledNode, type PublishedImage } from '../../../control-openstack/client/index.js';
import { acquireStack, type TestStack } from './stack.js';

const MiB = 1024 * 1024;
const IMAGE_BYTES = 256 * MiB;
const CHUNK = 4 * MiB;
const REPEATS = 15;

let ts: TestStack;
let node: EnrolledNode;
let image: PublishedImage;
const work = mkdtempSync(join(tmpdir(), 'edgeplane-figures-'));

function p50(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

beforeAll(async () => {
  ts = await acquireStack();
  const { endpoints, admin } = ts.stack;
  const operator = new OpenStackOperator({ authUrl: endpoints.identity, username: admin.username, password: admin.password, projectName: admin.projectName });
  const file = join(work, 'image.raw');
  const out = createWriteStream(file);
  for (let i = 0; i < IMAGE_BYTES / (16 * MiB); i++) if (!out.write(randomBytes(16 * MiB))) await new Promise<void>((r) => out.once('drain', r));
  await new Promise<void>((r) => out.end(r));
  const run = randomBytes(4).toString('hex');
  node = await operator.enrollNode(`fig-${run}`);
  image = await operator.publishImage({ name: `fig-${run}`, version: '1', image: { file }, manifest: Buffer.from('m'), key: randomBytes(32) });
  await operator.pin(node.nodeId, image);
});

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await ts?.release();
});

it('measures per-op latency and 256 MiB download throughput', async () => {
  const recorder = new CallRecorder();
  const client = new OpenStackNodeClient(node.config, { recorder });
  for (let i = 0; i < REPEATS; i++) {
    await client.login();
    const a = (await client.getAssignment())!;
    const m = await client.getManifest(a);
    await client.getKey(m.keyRef);
  }
  const latency: Record<string, number> = {};
  for (const op of ['keystone.token.issue', 'keystone.project.show', 'glance.image.show', 'barbican.secret.payload']) {
    latency[op] =
      Math.round(
        p50(
          recorder
            .records()
            .filter((r) => r.op === op && r.attempt === 1)
            .map((r) => r.ms),
        ) * 10,
      ) / 10;
  }

  recorder.clear();
  let t = performance.now();
  for (let off = 0; off < IMAGE_BYTES; off += CHUNK) await client.downloadRange(image.imageId, off, CHUNK);
  const rangedS = (performance.now() - t) / 1000;
  const rangedBytes = recorder.records().reduce((s, r) => s + r.bytesIn, 0);
  expect(rangedBytes).toBe(IMAGE_BYTES);

  recorder.clear();
  t = performance.now();
  let streamed = 0;
  await pipeline(
    await client.downloadImage(image.imageId),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        streamed += chunk.length;
        cb();
      },
    }),
  );
  const streamS = (performance.now() - t) / 1000;
  expect(streamed).toBe(IMAGE_BYTES);
  expect(recorder.records()[0]?.bytesIn).toBe(IMAGE_BYTES);

  const token = await client.session.token();
  t = performance.now();
  execFileSync('curl', ['-sf', '-o', '/dev/null', '-H', `X-Auth-Token: ${token}`, `${ts.stack.endpoints.image}/v2/images/${image.imageId}/file`]);
  const curlS = (performance.now() - t) / 1000;

  const mbps = (s: number) => Math.round(IMAGE_BYTES / MiB / s);
  const figures = {
    measuredAt: new Date().toISOString(),
    passwordHashRounds: ts.stack.state.passwordHashRounds,
    coldStartMs: ts.stack.coldStartMs,
    latencyP50Ms: latency,
    repeats: REPEATS,
    download256MiB: {
      clientRanged4MiB: { seconds: rangedS, MiBps: mbps(rangedS) },
      clientStream: { seconds: streamS, MiBps: mbps(streamS) },
      curl: { seconds: curlS, MiBps: mbps(curlS) },
    },
  };
  console.log(`openstack figures: ${JSON.stringify(figures, null, 2)}`);
  mkdirSync('out', { recursive: true });
  writeFileSync('out/openstack-figures.json', `${JSON.stringify(figures, null, 2)}\n`);
  for (const v of Object.values(latency)) expect(v).toBeGreaterThan(0);
});
