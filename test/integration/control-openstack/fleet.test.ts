// `edgeplane fleet publish|enroll|assign|revoke|status` through the CLI against the real stack:
// a raw image is sealed and published, nodes are enrolled with agent configs, pinned
// deterministically, a node deploys with its written config, and revocation cuts it off.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HttpError } from '../../../adapters/transport/index.js';
import { OpenStackNodeClient, type NodeStatus, type OpenStackAgentFile, type PublishResult } from '../../../control-openstack/index.js';
import { readPublicKey, verifyChunk, verifyManifest } from '../../../pipeline/index.js';
import { acquireStack, type TestStack } from './stack.js';

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const run = randomUUID().slice(0, 8);
const work = mkdtempSync(join(tmpdir(), 'edgeplane-fleet-'));
let ts: TestStack;

async function cli(...args: string[]) {
  const r = await execa(process.execPath, [CLI, ...args, '--state', ts.stack.stateDir], { reject: false, env: { NO_COLOR: '1' }, cwd: work });
  return r;
}

async function ok(...args: string[]): Promise<string> {
  const r = await cli(...args);
  expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  ts = await acquireStack();
});

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await ts?.release();
});

it('publishes, enrolls, assigns, reports status and revokes through the CLI', async () => {
  const raw = join(work, 'image.raw');
  writeFileSync(raw, randomBytes(9 * 1024 * 1024 + 77));
  const nodes = [`f2-${run}`, `f1-${run}`];

  // publish a raw image: keys generated, sealed, uploaded
  const pub = JSON.parse(await ok('fleet', 'publish', raw, '--id', `app-${run}`, '--image-version', '1.0', '--keys', 'keys', '--sealed-out', 'sealed', '--json')) as PublishResult;
  expect(pub.keysGenerated).toBe(true);
  expect(pub.chunks).toBe(3);
  // a sealed directory with the same keys publishes too (a second Glance image, same manifest)
  const again = JSON.parse(await ok('fleet', 'publish', 'sealed', '--id', `app-${run}`, '--image-version', '1.0', '--keys', 'keys', '--json')) as PublishResult;
  expect(again.sealed).toBe(false);
  expect(again.blobBytes).toBe(pub.blobBytes);
  // a sealed directory under another id is refused (exit 2)
  expect((await cli('fleet', 'publish', 'sealed', '--id', 'other', '--image-version', '1.0', '--keys', 'keys')).exitCode).toBe(2);

  // enroll: one agent config per node, private
  await ok('fleet', 'enroll', ...nodes, nodes[0]!, '--out', 'agents');
  const configs: Record<string, OpenStackAgentFile> = {};
  for (const n of nodes) {
    const file = join(work, 'agents', `${n}.agent.yaml`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    configs[n] = parseYaml(readFileSync(file, 'utf8')) as OpenStackAgentFile;
    expect(configs[n]!.node).toBe(n);
    expect(configs[n]!.plane.kind).toBe('openstack');
  }

  // assign: sorted node order, the same pins when repeated
  const assignment = `${pub.imageId}@1.0`;
  const first = await ok('fleet', 'assign', assignment, ...nodes);
  expect(
    first
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[0]),
  ).toEqual([...nodes].sort());
  expect(await ok('fleet', 'assign', assignment, ...[...nodes].reverse())).toBe(first);

  // a node deploys with the config it was given
  const c = configs[nodes[0]!]!;
  const { kind: _kind, ...nodeConfig } = c.plane;
  const client = new OpenStackNodeClient(nodeConfig);
  await client.login();
  const a = await client.getAssignment();
  expect(a).toEqual({ imageId: pub.imageId, version: '1.0' });
  const m = await client.getManifest(a!);
  const manifest = verifyManifest(m.bytes, [await readPublicKey(join(work, 'keys', 'publisher.pub'))]);
  let offset = 0;
  for (const chunk of manifest.chunks) {
    expect(verifyChunk(chunk, await client.downloadRange(pub.imageId, offset, chunk.size))).toBe(true);
    offset += chunk.size;
  }
  expect((await client.getKey(m.keyRef)).equals(readFileSync(join(work, 'keys', 'data.key')))).toBe(true);
  await client.report({ status: 'RUNNING', image: a, failure: null, seq: 3 });

  // status: pins and the last report
  let st = JSON.parse(await ok('fleet', 'status', ...nodes, '--json')) as NodeStatus[];
  expect(st.map((s) => s.nodeId)).toEqual([...nodes].sort());
  for (const s of st) expect(s.pin).toEqual({ imageId: pub.imageId, version: '1.0' });
  expect(st.find((s) => s.nodeId === nodes[0])!.report).toMatchObject({ status: 'RUNNING', seq: 3 });
  expect(st.find((s) => s.nodeId === nodes[1])!.report).toMatchObject({ status: 'INIT', seq: 0 });
  expect(await ok('fleet', 'status')).toContain(nodes[0]);

  // revoke: disabled, unpinned, and the node's token and login stop working
  await ok('fleet', 'revoke', nodes[0]!);
  st = JSON.parse(await ok('fleet', 'status', ...nodes, '--json')) as NodeStatus[];
  const revoked = st.find((s) => s.nodeId === nodes[0])!;
  expect(revoked.enabled).toBe(false);
  expect(revoked.pin).toBeNull();
  expect(st.find((s) => s.nodeId === nodes[1])!.pin).not.toBeNull();
  await expect(new OpenStackNodeClient(nodeConfig).login()).rejects.toSatisfy((e: unknown) => e instanceof HttpError && e.status === 401);

  // bad input: exit 2, no stack trace
  for (const args of [
    ['fleet', 'assign', 'no-version', nodes[1]!],
    ['fleet', 'status', `ghost-${run}`],
    ['fleet', 'enroll', 'Bad_Id'],
  ]) {
    const r = await cli(...args);
    expect(r.exitCode, args.join(' ')).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }
});
