// The instrumented transport against a local HTTP server that misbehaves on purpose:
// retries on 5xx and connection resets (with backoff), never on 4xx; one record per attempt.
// NO_RETRY (node clients): one attempt, one record; only a reset reused socket is retried, recorded.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  buildUrl,
  CallRecorder,
  ConnectionError,
  controlErrorKind,
  HttpError,
  isRetryableNetworkError,
  NO_RETRY,
  ResponseLengthError,
  Transport,
  toControlError,
} from '../../../adapters/transport/index.js';
import { OpenStackNodeClient } from '../../../control-openstack/client/node.js';
import { TestPlaneClient } from '../../../control-test-plane/client.js';

let server: Server;
let base: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const n = (hits.get(req.url!) ?? 0) + 1;
    hits.set(req.url!, n);
    if (req.url === '/flaky-500' && n < 3) return void res.writeHead(503).end('busy');
    if (req.url === '/reset' && n < 2) return void req.socket.destroy();
    if (req.url === '/forbidden') return void res.writeHead(403).end(JSON.stringify({ error: { message: 'You are not authorized' } }));
    if (req.url === '/always-500') return void res.writeHead(500).end('boom');
    if (req.url?.startsWith('/down-503')) return void res.writeHead(503).end('down');
    if (req.url?.startsWith('/range')) {
      const body = Buffer.alloc(1000, 7);
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      if (m) return void res.writeHead(206).end(body.subarray(Number(m[1]), Number(m[2]) + 1));
      return void res.writeHead(200).end(body);
    }
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: true, size })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const fast = { maxAttempts: 4, baseMs: 1, capMs: 5 };

describe('Transport', () => {
  it('retries 5xx with backoff and records each attempt', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    const res = await t.request(base, { op: 'x.flaky', method: 'GET', path: '/flaky-500' });
    expect(res.status).toBe(200);
    expect(recorder.records().map((r) => [r.status, r.attempt])).toEqual([
      [503, 1],
      [503, 2],
      [200, 3],
    ]);
  });

  it('retries a connection reset', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    await t.request(base, { op: 'x.reset', method: 'GET', path: '/reset' });
    expect(recorder.records().map((r) => r.status)).toEqual([0, 200]);
  });

  it('never retries a 4xx, and reports it as HttpError with a body excerpt', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    const err = await t.request(base, { op: 'x.forbidden', method: 'GET', path: '/forbidden' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(403);
    expect((err as HttpError).bodyExcerpt).toContain('not authorized');
    expect(recorder.records()).toHaveLength(1);
    expect(toControlError(err).kind).toBe('forbidden');
  });

  it('gives up after maxAttempts on 5xx', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    const err = await t.request(base, { op: 'x.down', method: 'GET', path: '/always-500' }).catch((e: unknown) => e);
    expect((err as HttpError).status).toBe(500);
    expect(recorder.records()).toHaveLength(4);
    expect(controlErrorKind(err)).toBe('unavailable');
  });

  it('counts bytes out and in, keeps the path template', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    const r = await t.json(base, { op: 'x.post', method: 'POST', path: '/things/{thing_id}', params: { thing_id: 'a b' }, body: Buffer.alloc(500) }, (d) => d as { size: number });
    expect(r.size).toBe(500);
    expect(recorder.records()[0]).toMatchObject({ path: '/things/{thing_id}', url: `${base}/things/a%20b`, bytesOut: 500 });
    expect(recorder.records()[0]!.bytesIn).toBeGreaterThan(10);
  });

  it('ranged GET returns 206 bytes', async () => {
    const t = new Transport({ plane: 'openstack', retry: fast });
    const res = await t.request(base, { op: 'x.range', method: 'GET', path: '/range', headers: { Range: 'bytes=10-19' }, expect: [206] });
    expect(res.body.length).toBe(10);
  });

  it('a refused connection is unavailable after the attempts', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: { maxAttempts: 2, baseMs: 1, capMs: 1 } });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await t.request(`http://127.0.0.1:${port}`, { op: 'x.refused', method: 'GET', path: '/' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(toControlError(err).kind).toBe('unavailable');
    expect(recorder.records().map((r) => r.status)).toEqual([0, 0]);
  });

  it('NO_RETRY: a 503 is one attempt and one record', async () => {
    expect(NO_RETRY.maxAttempts).toBe(1);
    const recorder = new CallRecorder();
    const sleeps: number[] = [];
    const t = new Transport({ plane: 'openstack', recorder, retry: NO_RETRY, sleep: async (ms) => void sleeps.push(ms) });
    const err = await t.request(base, { op: 'x.down', method: 'GET', path: '/down-503' }).catch((e: unknown) => e);
    expect((err as HttpError).status).toBe(503);
    expect(controlErrorKind(err)).toBe('unavailable');
    expect(recorder.records().map((r) => [r.status, r.attempt])).toEqual([[503, 1]]);
    expect(sleeps).toEqual([]);
  });

  it('NO_RETRY: a refused connection (ECONNREFUSED) is one attempt and one record', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: NO_RETRY });
    const err = await t.request(await refusedUrl(), { op: 'x.refused', method: 'GET', path: '/' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).attempts).toBe(1);
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(recorder.records().map((r) => [r.status, r.attempt])).toEqual([[0, 1]]);
  });

  it('node clients default to NO_RETRY: one call per attempt of the machine', async () => {
    const tp = new TestPlaneClient({ url: `${base}/down-503`, node: 'edge-1', token: 't'.repeat(32) });
    await expect(tp.login()).rejects.toBeInstanceOf(HttpError);
    expect(tp.recorder.records().map((r) => [r.op, r.status, r.attempt])).toEqual([['test-plane.login', 503, 1]]);
    const os = new OpenStackNodeClient({
      authUrl: `${base}/down-503/v3`,
      projectId: 'p',
      credentials: { kind: 'password', userId: 'u', password: 'x', projectId: 'p' },
      reportCredentialId: 'c',
    });
    await expect(os.login()).rejects.toBeInstanceOf(HttpError);
    expect(os.recorder.records().map((r) => [r.op, r.status, r.attempt])).toEqual([['keystone.token.issue', 503, 1]]);
  });
});

/** A URL nothing listens on (a port just released). */
async function refusedUrl(): Promise<string> {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

// The data path (`range`, `stream`): node:http with keep-alive, one preallocated buffer per range.
describe('Transport data path (node:http)', () => {
  const BLOB = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
  let data: Server;
  let dataBase: string;
  const sockets = new Set<Socket>();
  const served = new WeakMap<Socket, number>();
  const dataHits = new Map<string, number>();
  let killReused = 0;

  beforeAll(async () => {
    data = createServer((req, res) => {
      const path = req.url!.split('?')[0]!;
      const n = (dataHits.get(req.url!) ?? 0) + 1;
      dataHits.set(req.url!, n);
      const before = served.get(req.socket) ?? 0;
      served.set(req.socket, before + 1);
      // a keep-alive socket the server has dropped: the client's reused socket gets reset
      if (path.startsWith('/stale') && before > 0 && killReused > 0) {
        killReused--;
        return void req.socket.destroy();
      }
      // serves once (to leave a kept-alive socket), then is down
      if (path === '/stale-down' && n > 1) return void res.writeHead(503).end('down');
      if (path === '/down') return void res.writeHead(503).end('down');
      if (path === '/forbidden') return void res.writeHead(403).end('{"error": "not yours"}');
      if (path === '/norange') return void res.writeHead(200, { 'Content-Length': BLOB.length }).end(BLOB);
      if (path === '/flaky' && n < 2) return void res.writeHead(503).end('busy');
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      if (!m) return void res.writeHead(200, { 'Content-Length': BLOB.length }).end(BLOB);
      const [a, b] = [Number(m[1]), Math.min(Number(m[2]), BLOB.length - 1)];
      const part = BLOB.subarray(a, b + 1);
      if (path === '/short') return void res.writeHead(206, { 'Content-Range': `bytes ${a}-${b - 10}/${BLOB.length}` }).end(part.subarray(0, part.length - 10));
      if (path === '/long') return void res.writeHead(206).end(Buffer.concat([part, Buffer.alloc(10)]));
      if (path === '/other-range') return void res.writeHead(206, { 'Content-Range': `bytes ${a + 1}-${b + 1}/${BLOB.length}` }).end(BLOB.subarray(a + 1, b + 2));
      if (path === '/cut' && n < 2) {
        // headers and half the body, then the connection dies
        res.writeHead(206, { 'Content-Length': part.length, 'Content-Range': `bytes ${a}-${b}/${BLOB.length}` });
        res.write(part.subarray(0, part.length >> 1));
        return void setTimeout(() => req.socket.destroy(), 20);
      }
      // chunked (no Content-Length) in small writes, to exercise the copy into one buffer
      res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${BLOB.length}` });
      for (let off = 0; off < part.length; off += 10_000) res.write(part.subarray(off, off + 10_000));
      res.end();
    });
    data.on('connection', (s: Socket) => sockets.add(s));
    await new Promise<void>((r) => data.listen(0, '127.0.0.1', r));
    dataBase = `http://127.0.0.1:${(data.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    data.closeAllConnections();
    return new Promise<void>((r) => data.close(() => r()));
  });

  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('ranges are byte-exact and recorded (status, bytes, path template, attempt)', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    const cases: [number, number][] = [
      [0, 1],
      [0, 4096],
      [12_345, 100_000],
      [BLOB.length - 777, 777],
      [0, BLOB.length],
    ];
    for (const [off, len] of cases) {
      const got = await t.range(dataBase, { op: 'x.range', path: '/blobs/{ref}', params: { ref: 'a@1' }, headers: { 'X-Auth-Token': 't' } }, off, len);
      expect(got.length).toBe(len);
      expect(sha(got)).toBe(sha(BLOB.subarray(off, off + len)));
    }
    expect(recorder.records().map((r) => [r.op, r.method, r.path, r.status, r.bytesIn, r.bytesOut, r.attempt])).toEqual(cases.map(([, len]) => ['x.range', 'GET', '/blobs/{ref}', 206, len, 0, 1]));
    expect(recorder.records()[0]!.url).toBe(`${dataBase}/blobs/a%401`);
    expect(await t.range(dataBase, { op: 'x.range', path: '/blobs' }, 5, 0)).toHaveLength(0);
    t.close();
  });

  it('keeps connections alive: sequential ranges share one socket, parallel ones stay within maxSockets', async () => {
    const t = new Transport({ plane: 'openstack', retry: fast, maxSockets: 3 });
    const before = sockets.size;
    for (let i = 0; i < 10; i++) await t.range(dataBase, { op: 'x.seq', path: '/seq' }, i * 1000, 1000);
    expect(sockets.size - before).toBe(1);
    const parts = await Promise.all(Array.from({ length: 12 }, (_, i) => t.range(dataBase, { op: 'x.par', path: '/par' }, i * 65_536, 65_536)));
    expect(sha(Buffer.concat(parts))).toBe(sha(BLOB.subarray(0, 12 * 65_536)));
    expect(sockets.size - before).toBeLessThanOrEqual(3);
    t.close();
  });

  it('a reset of a reused keep-alive socket is retried once at once, outside the attempt budget', async () => {
    const recorder = new CallRecorder();
    const sleeps: number[] = [];
    const t = new Transport({ plane: 'openstack', recorder, retry: { maxAttempts: 1, baseMs: 1, capMs: 1 }, sleep: async (ms) => void sleeps.push(ms) });
    await t.range(dataBase, { op: 'x.stale', path: '/stale' }, 0, 100);
    killReused = 1;
    const got = await t.range(dataBase, { op: 'x.stale', path: '/stale' }, 100, 100);
    expect(got.equals(BLOB.subarray(100, 200))).toBe(true);
    expect(recorder.records().map((r) => [r.status, r.attempt])).toEqual([
      [206, 1],
      [0, 1],
      [206, 2],
    ]);
    expect(sleeps).toEqual([]);
    t.close();
  });

  it('NO_RETRY: the free retry of a reset reused socket is recorded (status 0, attempt numbering goes on), one per call', async () => {
    const recorder = new CallRecorder();
    const sleeps: number[] = [];
    const t = new Transport({ plane: 'openstack', recorder, retry: NO_RETRY, sleep: async (ms) => void sleeps.push(ms) });
    await t.range(dataBase, { op: 'x.stale', path: '/stale-down' }, 0, 100);
    killReused = 1;
    // the reused socket is reset; the free retry (a new socket) meets a 503, which NO_RETRY does not retry
    const err = await t.range(dataBase, { op: 'x.stale', path: '/stale-down' }, 100, 100).catch((e: unknown) => e);
    expect((err as HttpError).status).toBe(503);
    expect(recorder.records().map((r) => [r.status, r.attempt, r.bytesIn])).toEqual([
      [206, 1, 100],
      [0, 1, 0],
      [503, 2, 4],
    ]);
    // every request the server saw is a record
    expect(recorder.records()).toHaveLength(dataHits.get('/stale-down')!);
    expect(sleeps).toEqual([]);
    t.close();
  });

  it('NO_RETRY on the data path: one attempt and one record on 503 and on ECONNREFUSED', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: NO_RETRY });
    const down = await t.range(dataBase, { op: 'x.down', path: '/down' }, 0, 10).catch((e: unknown) => e);
    expect((down as HttpError).status).toBe(503);
    expect(recorder.records().map((r) => [r.status, r.attempt])).toEqual([[503, 1]]);
    recorder.clear();
    const refused = await t.range(await refusedUrl(), { op: 'x.refused', path: '/' }, 0, 10).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectionError);
    expect((refused as ConnectionError).attempts).toBe(1);
    expect((refused as Error).message).toContain('ECONNREFUSED');
    expect(recorder.records().map((r) => [r.status, r.attempt])).toEqual([[0, 1]]);
    t.close();
  });

  it('a connection cut in the middle of a body is retried with backoff; the partial bytes are recorded', async () => {
    const recorder = new CallRecorder();
    const sleeps: number[] = [];
    const t = new Transport({ plane: 'openstack', recorder, retry: fast, sleep: async (ms) => void sleeps.push(ms) });
    const got = await t.range(dataBase, { op: 'x.cut', path: '/cut' }, 1000, 200_000);
    expect(got.equals(BLOB.subarray(1000, 201_000))).toBe(true);
    const [first, second] = recorder.records();
    expect([first!.status, first!.attempt, second!.status, second!.attempt, second!.bytesIn]).toEqual([206, 1, 206, 2, 200_000]);
    expect(first!.bytesIn).toBeGreaterThan(0);
    expect(first!.bytesIn).toBeLessThan(200_000);
    expect(sleeps).toHaveLength(1);
    t.close();
  });

  it('5xx is retried, 4xx never (HttpError with a body excerpt)', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    expect((await t.range(dataBase, { op: 'x.flaky', path: '/flaky' }, 0, 10)).equals(BLOB.subarray(0, 10))).toBe(true);
    expect(recorder.records().map((r) => r.status)).toEqual([503, 206]);
    recorder.clear();
    const err = await t.range(dataBase, { op: 'x.forbidden', path: '/forbidden' }, 0, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(403);
    expect((err as HttpError).bodyExcerpt).toContain('not yours');
    expect(toControlError(err).kind).toBe('forbidden');
    expect(recorder.records()).toHaveLength(1);
    // a server that ignores Range (200, whole body) is not what was asked for
    const whole = await t.range(dataBase, { op: 'x.norange', path: '/norange' }, 0, 10).catch((e: unknown) => e);
    expect(whole).toBeInstanceOf(HttpError);
    expect((whole as HttpError).status).toBe(200);
    t.close();
  });

  it('a body of another length or another range is a ResponseLengthError, not retried', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    for (const path of ['/short', '/long', '/other-range']) {
      recorder.clear();
      const err = await t.range(dataBase, { op: 'x.len', path }, 0, 1000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResponseLengthError);
      expect(toControlError(err).kind).toBe('unavailable');
      expect(recorder.records()).toHaveLength(1);
    }
    // still usable afterwards
    expect((await t.range(dataBase, { op: 'x.ok', path: '/ok' }, 0, 1000)).equals(BLOB.subarray(0, 1000))).toBe(true);
    t.close();
  });

  it('stream: whole body through a byte-counting stream, recorded when it ends', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: fast });
    const res = await t.stream(dataBase, { op: 'x.stream', method: 'GET', path: '/whole', expect: [200] });
    expect(res.headers.get('content-length')).toBe(String(BLOB.length));
    const parts: Buffer[] = [];
    for await (const c of res.stream) parts.push(c as Buffer);
    expect(sha(Buffer.concat(parts))).toBe(sha(BLOB));
    expect(recorder.records().map((r) => [r.status, r.bytesIn])).toEqual([[200, BLOB.length]]);
    t.close();
  });

  it('a refused connection on the data path is a ConnectionError after the attempts', async () => {
    const recorder = new CallRecorder();
    const t = new Transport({ plane: 'openstack', recorder, retry: { maxAttempts: 2, baseMs: 1, capMs: 1 } });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await t.range(`http://127.0.0.1:${port}`, { op: 'x.refused', path: '/' }, 0, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(recorder.records().map((r) => r.status)).toEqual([0, 0]);
  });
});

describe('retry policy', () => {
  it('full jitter under a capped exponential ceiling', () => {
    const p = { maxAttempts: 5, baseMs: 100, capMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(p, a, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelayMs(p, 3, () => 0)).toBe(0);
  });

  it('classifies network errors through their cause chain', () => {
    expect(isRetryableNetworkError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }))).toBe(true);
    expect(isRetryableNetworkError(new Error('socket hang up'))).toBe(true);
    expect(isRetryableNetworkError(new Error('nope'))).toBe(false);
  });

  it('maps statuses to control error kinds', () => {
    const e = (s: number) => controlErrorKind(new HttpError('x', 'GET', 'u', s, ''));
    expect([401, 403, 404, 400, 503, 409].map(e)).toEqual(['unauthorized', 'forbidden', 'notFound', 'invalid', 'unavailable', 'unavailable']);
    expect(controlErrorKind({ controlErrorKind: 'notFound' })).toBe('notFound');
  });

  it('builds URLs from templates and drops undefined query values', () => {
    expect(buildUrl('http://h:1/v3/', { path: '/projects/{project_id}/tags/{tag}', params: { project_id: 'p', tag: 'edgeplane:pin=a@1' }, query: { x: undefined, y: 2 } })).toBe(
      'http://h:1/v3/projects/p/tags/edgeplane%3Apin%3Da%401?y=2',
    );
  });
});
