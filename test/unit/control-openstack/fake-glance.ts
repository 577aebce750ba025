// A fake Keystone + Glance on loopback that behaves as Glance on Ceph RBD does for a node: any
// ranged GET of /v2/images/{id}/file is answered 400 with glance_store's text, a plain GET streams
// the whole image (200, Content-Length), and an image is readable only by the projects it was
// shared with (404 to others, as Glance answers a non-member). Faults for the tests: cut a stream
// after N bytes (the socket is destroyed), serve a corrupted byte in the next stream(s).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeConfig } from '../../../control-openstack/client/index.js';

/** glance_store's 400 body for a ranged GET on a store without READ_RANDOM (as webob renders it) */
export const RBD_RANGE_400 = (offset: number, length: number) =>
  `<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n  <h1>400 Bad Request</h1>\n  Getting images randomly from this store is not supported. Offset: ${offset}, length: ${length}<br /><br />\n\n\n\n </body>\n</html>`;

export interface FakeRequest {
  method: string;
  path: string;
  range: string | null;
  project: string | null;
  status: number;
}

export class FakeGlance {
  private server: Server | null = null;
  url = '';
  readonly requests: FakeRequest[] = [];
  private readonly images = new Map<string, { data: Buffer; members: Set<string> }>();
  private readonly tokens = new Map<string, string>();
  /** cut the next `cutStreams` whole-image streams after `cutAfter` bytes */
  cut: { after: number; streams: number } | null = null;
  /** stall the next `streams` whole-image streams after `after` bytes (nothing more is sent; the connection stays open) */
  stall: { after: number; streams: number } | null = null;
  /** serve byte `at` flipped in the next `streams` whole-image streams */
  corrupt: { at: number; streams: number } | null = null;
  /** bytes per write of a stream (the stream is paced by the socket's backpressure) */
  writeBytes = 64 * 1024;

  addImage(id: string, data: Buffer, members: string[]): void {
    this.images.set(id, { data, members: new Set(members) });
  }

  /** A node's configuration for this fake (any password is accepted; the project is the node's identity here). */
  nodeConfig(project: string): NodeConfig {
    return { authUrl: `${this.url}/v3`, projectId: project, credentials: { kind: 'password', userId: `user-${project}`, password: 'pw', projectId: project }, reportCredentialId: `cred-${project}` };
  }

  streams(id?: string): FakeRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/file') && r.range === null && (id === undefined || r.path === `/v2/images/${id}/file`));
  }

  ranges(id?: string): FakeRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/file') && r.range !== null && (id === undefined || r.path === `/v2/images/${id}/file`));
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => res.destroy());
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', this.url).pathname);
    const project = this.tokens.get(String(req.headers['x-auth-token'] ?? '')) ?? null;
    const entry: FakeRequest = { method: req.method ?? 'GET', path, range: (req.headers.range as string | undefined) ?? null, project, status: 0 };
    this.requests.push(entry);
    const answer = (status: number, body: string | Buffer = '', headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    if (req.method === 'POST' && path === '/v3/auth/tokens') {
      const body = JSON.parse(await readBody(req)) as { auth: { scope?: { project?: { id?: string } } } };
      const p = body.auth.scope?.project?.id ?? 'none';
      const token = `tok-${this.tokens.size + 1}`;
      this.tokens.set(token, p);
      const expires = new Date(Date.now() + 3600_000).toISOString();
      const catalog = [{ type: 'image', endpoints: [{ interface: 'public', url: this.url }] }];
      answer(201, JSON.stringify({ token: { expires_at: expires, methods: ['password'], user: { id: `user-${p}` }, project: { id: p }, catalog } }), { 'X-Subject-Token': token, 'Content-Type': 'application/json' });
      return;
    }
    const m = /^\/v2\/images\/([^/]+)\/file$/.exec(path);
    if (!m || req.method !== 'GET') return answer(404, 'not found');
    if (project === null) return answer(401, 'The request you have made requires authentication.');
    const image = this.images.get(m[1]);
    if (!image?.members.has(project)) return answer(404, `No image found with ID ${m[1]}`);
    const range = req.headers.range;
    if (range !== undefined) {
      const r = /bytes=(\d+)-(\d+)/.exec(range);
      const offset = r ? Number(r[1]) : 0;
      return answer(400, RBD_RANGE_400(offset, r ? Number(r[2]) - offset + 1 : 0), { 'Content-Type': 'text/html; charset=UTF-8' });
    }
    let data = image.data;
    if (this.corrupt && this.corrupt.streams > 0) {
      this.corrupt.streams--;
      data = Buffer.from(data);
      data[this.corrupt.at] ^= 0xff;
    }
    let cutAfter = Number.POSITIVE_INFINITY;
    if (this.cut && this.cut.streams > 0) {
      this.cut.streams--;
      cutAfter = this.cut.after;
    }
    if (this.stall && this.stall.streams > 0) {
      this.stall.streams--;
      const stallAt = this.stall.after;
      entry.status = 200;
      res.writeHead(200, { 'Content-Length': String(data.length), 'Content-Type': 'application/octet-stream' });
      res.write(data.subarray(0, stallAt));
      await once(res, 'close');
      return;
    }
    entry.status = 200;
    res.writeHead(200, { 'Content-Length': String(data.length), 'Content-Type': 'application/octet-stream' });
    for (let at = 0; at < data.length; at += this.writeBytes) {
      if (res.destroyed) return;
      const end = Math.min(data.length, at + this.writeBytes, cutAfter);
      if (end > at && !res.write(data.subarray(at, end))) await once(res, 'drain').catch(() => undefined);
      if (end >= cutAfter) {
        // the store dies mid-image: the connection drops before Content-Length bytes
        await new Promise((r) => setTimeout(r, 5));
        res.destroy();
        return;
      }
    }
    res.end();
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}
