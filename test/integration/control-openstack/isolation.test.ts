// Isolation and revocation against the real Keystone, Glance and Barbican, with raw HTTP and one
// node's own credentials:
// - a node can create, upload, publish, share or delete nothing in Glance, nor store a secret
//   in Barbican (Glance policy: writes need the operator role);
// - a disabled node's existing token is refused (401) by Glance and Barbican within seconds
//   (keystonemiddleware's token_cache_time), not after the default 300 s;
// - assigning an image to a revoked node is refused (exit 2), through the CLI too;
// - a range cut short on the wire (a proxy in front of the real Glance drops the connection)
//   is recorded as a failed call, not as a successful 206.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CallRecorder, NO_RETRY, Transport } from '../../../adapters/transport/index.js';
import { assignFleet, enrollFleet, GlanceApi, openFleet, publishToFleet, type Fleet, type EnrollResult, type PublishResult } from '../../../control-openstack/index.js';
import { TOKEN_CACHE_SECONDS } from '../../../control-openstack/server/configs.js';
import { MiB } from '../../../pipeline/index.js';
import { acquireStack, type TestStack } from './stack.js';

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const run = randomUUID().slice(0, 6);
const work = mkdtempSync(join(tmpdir(), 'edgeplane-isolation-'));
let ts: TestStack;
let fleet: Fleet;
let pub: PublishResult;
let nodes: EnrollResult[];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function nodeToken(e: EnrollResult): Promise<string> {
  const res = await fetch(`${ts.stack.endpoints.identity}/auth/tokens?nocatalog`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: { identity: { methods: ['password'], password: { user: { id: e.node.userId, password: e.node.password } } }, scope: { project: { id: e.node.projectId } } },
    }),
  });
  expect(res.status).toBe(201);
  return res.headers.get('x-subject-token')!;
}

async function call(base: string, token: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<number> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'X-Auth-Token': token, ...(body === undefined ? {} : { 'Content-Type': contentType }) },
    body: body === undefined ? undefined : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

beforeAll(async () => {
  ts = await acquireStack();
  fleet = openFleet(ts.stack.stateDir);
  const raw = join(work, 'image.raw');
  writeFileSync(raw, randomBytes(2 * MiB + 5));
  pub = await publishToFleet(fleet.operator, { source: raw, imageId: `iso-${run}`, version: '1', keysDir: join(work, 'keys'), chunking: { algorithm: 'fixed', size: MiB } });
  nodes = await enrollFleet(fleet.operator, [`iso-${run}-a`, `iso-${run}-b`]);
  await assignFleet(
    fleet.operator,
    { imageId: pub.imageId, version: '1' },
    nodes.map((n) => n.node.nodeId),
  );
}, 300_000);

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await ts?.release();
});

it("a node's credentials create, upload, publish, share and delete nothing", async () => {
  const glance = ts.stack.endpoints.image;
  const barbican = ts.stack.endpoints.keyManager;
  const a = nodes[0]!;
  const b = nodes[1]!;
  const token = await nodeToken(a);
  // reads of what was shared with it still work
  expect(await call(glance, token, 'GET', `/v2/images/${pub.imageId}`)).toBe(200);
  expect(await call(glance, token, 'GET', `/v2/images/${pub.imageId}/file`)).toBe(200);
  const denied = {
    'create an image': await call(glance, token, 'POST', '/v2/images', { name: `abuse-${run}`, disk_format: 'raw', container_format: 'bare' }),
    'create a community image': await call(glance, token, 'POST', '/v2/images', { name: `abuse-${run}`, disk_format: 'raw', container_format: 'bare', visibility: 'community' }),
    'upload over the shared image': await call(glance, token, 'PUT', `/v2/images/${pub.imageId}/file`, Buffer.from('x'), 'application/octet-stream'),
    'make the shared image community': await call(glance, token, 'PATCH', `/v2/images/${pub.imageId}`, [{ op: 'replace', path: '/visibility', value: 'community' }], 'application/openstack-images-v2.1-json-patch'),
    'delete the shared image': await call(glance, token, 'DELETE', `/v2/images/${pub.imageId}`),
    'share it with another node': await call(glance, token, 'POST', `/v2/images/${pub.imageId}/members`, { member: b.node.projectId }),
    'change its own membership': await call(glance, token, 'PUT', `/v2/images/${pub.imageId}/members/${a.node.projectId}`, { status: 'rejected' }),
    'deactivate it': await call(glance, token, 'POST', `/v2/images/${pub.imageId}/actions/deactivate`),
    'store a secret': await call(barbican, token, 'POST', '/v1/secrets', { name: `abuse-${run}`, payload: 'x', payload_content_type: 'text/plain' }),
    "change the key's ACL": await call(barbican, token, 'PUT', `/v1/secrets/${pub.keySecretId}/acl`, { read: { users: [b.node.userId], 'project-access': false } }),
  };
  expect(denied).toEqual(Object.fromEntries(Object.keys(denied).map((k) => [k, 403])));
  // nothing the node tried exists
  const list = await fetch(`${glance}/v2/images?name=abuse-${run}`, { headers: { 'X-Auth-Token': await fleet.operator.session.token() } });
  expect(((await list.json()) as { images: unknown[] }).images).toEqual([]);
});

it("a disabled node's existing token is refused by Glance and Barbican within seconds", async () => {
  const c = (await enrollFleet(fleet.operator, [`iso-${run}-c`]))[0]!;
  await assignFleet(fleet.operator, { imageId: pub.imageId, version: '1' }, [c.node.nodeId]);
  const token = await nodeToken(c);
  const glance = ts.stack.endpoints.image;
  const barbican = ts.stack.endpoints.keyManager;
  const reads = {
    glance: () => call(glance, token, 'GET', `/v2/images/${pub.imageId}`),
    barbican: async () => {
      const res = await fetch(`${barbican}/v1/secrets/${pub.keySecretId}/payload`, { headers: { 'X-Auth-Token': token, Accept: 'application/octet-stream' } });
      await res.arrayBuffer();
      return res.status;
    },
  };
  // warm every worker's token cache (2 workers per service)
  for (let i = 0; i < 6; i++) expect([await reads.glance(), await reads.barbican()]).toEqual([200, 200]);
  // disable only (no unpin): a refusal can then only come from the token, not from lost access
  await fleet.operator.revokeNode(c.node.nodeId);
  const revokedAt = performance.now();
  // each service polled on its own from the revocation; the time is that of the first of 6 refusals in a row
  const refusedAfter: Record<string, number> = {};
  await Promise.all(
    Object.entries(reads).map(async ([service, read]) => {
      let streak = 0;
      let firstRefusal = 0;
      while (streak < 6) {
        const sent = performance.now();
        const status = await read();
        expect([200, 401]).toContain(status);
        if (status === 401 && streak === 0) firstRefusal = sent;
        streak = status === 401 ? streak + 1 : 0;
        if (performance.now() - revokedAt > 60_000) throw new Error(`${service} still accepts the revoked token after 60 s`);
        if (streak === 0) await sleep(100);
      }
      refusedAfter[service] = (firstRefusal - revokedAt) / 1000;
    }),
  );
  console.log(`revoked token refused (then 6 calls in a row) after: glance ${refusedAfter.glance!.toFixed(1)} s, barbican ${refusedAfter.barbican!.toFixed(1)} s (token_cache_time ${TOKEN_CACHE_SECONDS} s)`);
  expect(refusedAfter.glance).toBeLessThan(TOKEN_CACHE_SECONDS + 5);
  expect(refusedAfter.barbican).toBeLessThan(TOKEN_CACHE_SECONDS + 5);

  // assigning anything to it is refused with exit 2, before any pin or share is made
  await expect(assignFleet(fleet.operator, { imageId: pub.imageId, version: '1' }, [c.node.nodeId, nodes[0]!.node.nodeId])).rejects.toMatchObject({ exitCode: 2 });
  const r = await execa(process.execPath, [CLI, 'fleet', 'assign', `${pub.imageId}@1`, c.node.nodeId, '--state', ts.stack.stateDir], { reject: false, env: { NO_COLOR: '1' } });
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stderr).toContain(`revoked node ${c.node.nodeId}`);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}, 120_000);

/** A TCP proxy to Glance that forwards the request and cuts each response after `keep` bytes. */
function cuttingProxy(target: URL, keep: number): Promise<{ server: Server; url: string }> {
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    client.pipe(upstream);
    let passed = 0;
    upstream.on('data', (d: Buffer) => {
      const room = keep - passed;
      if (room > 0) client.write(d.subarray(0, room));
      passed += d.length;
      if (passed >= keep) {
        upstream.destroy();
        client.destroy();
      }
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

it('a range cut short on the wire is recorded as a failed call', async () => {
  const token = await nodeToken(nodes[0]!);
  const proxy = await cuttingProxy(new URL(ts.stack.endpoints.image), 600 * 1024);
  try {
    const recorder = new CallRecorder();
    const api = new GlanceApi(new Transport({ plane: 'openstack', recorder, retry: NO_RETRY }), proxy.url);
    await expect(api.downloadRange(token, pub.imageId, 0, MiB)).rejects.toThrow();
    const records = recorder.records();
    expect(records).toHaveLength(1);
    expect(records[0]!.status).toBe(206); // the status line did arrive ...
    expect(records[0]!.bytesIn).toBeLessThan(MiB);
    expect(records[0]!.error).toMatch(/^short read: \d+ of 1048576 bytes$/); // ... but the call failed
    // the same image through the real Glance, not cut: a clean record
    const direct = new CallRecorder();
    const ok = new GlanceApi(new Transport({ plane: 'openstack', recorder: direct, retry: NO_RETRY }), ts.stack.endpoints.image);
    expect((await ok.downloadRange(token, pub.imageId, 0, MiB)).length).toBe(MiB);
    expect(direct.records()[0]).toMatchObject({ status: 206, bytesIn: MiB });
    expect(direct.records()[0]!.error).toBeUndefined();
  } finally {
    proxy.server.close();
  }
});
