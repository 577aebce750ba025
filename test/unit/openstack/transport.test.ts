// The instrumented transport against a local HTTP server that misbehaves on purpose:
// retries on 5xx and connection resets (with backoff), never on 4xx; one record per attempt.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelayMs, buildUrl, CallRecorder, ConnectionError, controlErrorKind, HttpError, isRetryableNetworkError, Transport, toControlError } from '../../../adapters/transport.js';

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
    expect(recorder.records().map((r) => [r.status, r.attempt])).toEqual([[503, 1], [503, 2], [200, 3]]);
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
