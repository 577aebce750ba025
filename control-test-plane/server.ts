// The TEST PLANE server: serves a test-plane directory (layout.ts) over HTTP on loopback with
// Range support and per-node sessions. It is a stand-in for tests and local runs, not a control
// plane: no users, no KMS, no persistence of sessions. A node may read only its own assignment
// and the image its pin names (403 otherwise). It can be stopped and started again on the same
// port, made to answer 503 (an outage), and logs every range request it answers.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenTracked, type TrackedServer } from '../common/http/index.js';
import { dirname } from 'node:path';
import { z } from 'zod';
import { silentLogger, type Logger } from '../common/index.js';
import { imageRef, parseImageRef, readNodeRecord, testPlanePaths } from './layout.js';

export const TEST_PLANE_PREFIX = '/test-plane/v1';

/** One answered range (or whole-blob) request. */
export interface RangeLogEntry {
  seq: number;
  node: string;
  blobRef: string;
  offset: number;
  length: number;
  status: number;
  at: number;
}

export interface TestPlaneServerOptions {
  dir: string;
  host?: string;
  /** 0 picks a free port on the first start; later starts reuse it */
  port?: number;
  logger?: Logger;
  /** also append every range log entry to this NDJSON file */
  rangeLogFile?: string;
  /** delay each range response by this long (to widen windows in crash tests) */
  rangeDelayMs?: number;
}

const loginSchema = z.strictObject({ node: z.string().min(1).max(128), token: z.string().min(1).max(512) });
const reportSchema = z.strictObject({
  status: z.string().min(1).max(64),
  image: z.strictObject({ imageId: z.string(), version: z.string() }).nullable(),
  failure: z.string().max(64).optional(),
});

class Reply extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class TestPlaneServer {
  readonly rangeLog: RangeLogEntry[] = [];
  private server: TrackedServer | null = null;
  private readonly sessions = new Map<string, string>();
  private port: number;
  private outage = false;
  private rangeFile: WriteStream | null = null;
  private readonly log: Logger;

  constructor(private readonly opts: TestPlaneServerOptions) {
    this.port = opts.port ?? 0;
    this.log = opts.logger ?? silentLogger;
  }

  get url(): string {
    return `http://${this.opts.host ?? '127.0.0.1'}:${this.port}${TEST_PLANE_PREFIX}`;
  }

  async start(): Promise<string> {
    if (this.server) return this.url;
    if (this.opts.rangeLogFile && !this.rangeFile) {
      await mkdir(dirname(this.opts.rangeLogFile), { recursive: true });
      this.rangeFile = createWriteStream(this.opts.rangeLogFile, { flags: 'a' });
    }
    const server = await listenTracked((req, res) => void this.handle(req, res), { port: this.port, host: this.opts.host });
    this.port = server.port;
    this.server = server;
    this.log.info({ url: this.url }, 'test plane listening');
    return this.url;
  }

  /** Stops listening and drops every open connection (an outage the agent sees as refused/reset). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await server.close();
  }

  async close(): Promise<void> {
    await this.stop();
    const file = this.rangeFile;
    this.rangeFile = null;
    if (file) await new Promise<void>((resolve) => file.end(() => resolve()));
  }

  /** While on, every request gets 503. */
  setOutage(on: boolean): void {
    this.outage = on;
  }

  /** Forgets every session: the nodes' next calls get 401 and they must log in again. */
  revokeSessions(): void {
    this.sessions.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.outage) throw new Reply(503, 'test plane outage');
      const url = new URL(req.url ?? '/', 'http://test-plane');
      if (!url.pathname.startsWith(`${TEST_PLANE_PREFIX}/`)) throw new Reply(404, 'not a test plane path');
      const parts = url.pathname
        .slice(TEST_PLANE_PREFIX.length + 1)
        .split('/')
        .map(decodeURIComponent);
      const route = `${req.method} ${parts[0]}`;
      if (route === 'POST login' && parts.length === 1) return await this.login(req, res);
      const node = this.sessionNode(req);
      if (route === 'GET nodes' && parts[2] === 'assignment' && parts.length === 3) return await this.assignment(node, parts[1], res);
      if (route === 'POST nodes' && parts[2] === 'report' && parts.length === 3) return await this.report(node, parts[1], req, res);
      if (route === 'GET manifests' && parts.length === 2) return await this.manifest(node, parts[1], res);
      if (route === 'GET keys' && parts.length === 2) return await this.key(node, parts[1], res);
      if (route === 'GET blobs' && parts.length === 2) return await this.blob(node, parts[1], req, res);
      throw new Reply(404, `no route ${req.method} ${url.pathname}`);
    } catch (err) {
      const status = err instanceof Reply ? err.status : 500;
      if (status === 500) this.log.error({ err }, 'test plane internal error');
      if (!res.headersSent) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: (err as Error).message }));
      } else res.destroy();
    }
  }

  private sessionNode(req: IncomingMessage): string {
    const auth = req.headers.authorization ?? '';
    const node = auth.startsWith('Bearer ') ? this.sessions.get(auth.slice(7)) : undefined;
    if (node === undefined) throw new Reply(401, 'no valid test plane session: log in');
    return node;
  }

  private async pinOf(node: string): Promise<string | null> {
    const record = await readNodeRecord(this.opts.dir, node);
    return record?.pin ? imageRef(record.pin) : null;
  }

  /** The session's node may read `ref` only while its pin names it. */
  private async requirePinned(node: string, ref: string): Promise<void> {
    if (parseImageRef(ref) === null) throw new Reply(404, `not an image ref: ${ref}`);
    if ((await this.pinOf(node)) !== ref) throw new Reply(403, `${ref} is not assigned to node ${node}`);
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = loginSchema.safeParse(await readJson(req));
    if (!body.success) throw new Reply(400, 'login takes {node, token}');
    const record = await readNodeRecord(this.opts.dir, body.data.node).catch(() => null);
    if (!record || !sameSecret(record.token, body.data.token)) throw new Reply(401, 'unknown node or wrong token');
    const session = randomBytes(24).toString('hex');
    this.sessions.set(session, body.data.node);
    sendJson(res, 200, { session });
  }

  private async assignment(node: string, wanted: string, res: ServerResponse): Promise<void> {
    if (wanted !== node) throw new Reply(403, `node ${node} may not read the assignment of ${wanted}`);
    const record = await readNodeRecord(this.opts.dir, node);
    sendJson(res, 200, { assignment: record?.pin ?? null });
  }

  private async report(node: string, wanted: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (wanted !== node) throw new Reply(403, `node ${node} may not report for ${wanted}`);
    const body = reportSchema.safeParse(await readJson(req));
    if (!body.success) throw new Reply(400, 'report takes {status, image, failure?}');
    const path = testPlanePaths.reports(this.opts.dir, node);
    await mkdir(dirname(path), { recursive: true });
    await appendFile(path, `${JSON.stringify({ at: Date.now(), ...body.data })}\n`);
    res.writeHead(204).end();
  }

  private async manifest(node: string, ref: string, res: ServerResponse): Promise<void> {
    await this.requirePinned(node, ref);
    const bytes = await readFile(testPlanePaths.manifest(this.opts.dir, ref)).catch(() => {
      throw new Reply(404, `no image ${ref}`);
    });
    sendJson(res, 200, { manifest: bytes.toString('base64'), keyRef: ref, blobRef: ref });
  }

  private async key(node: string, ref: string, res: ServerResponse): Promise<void> {
    await this.requirePinned(node, ref);
    const key = await readFile(testPlanePaths.key(this.opts.dir, ref)).catch(() => {
      throw new Reply(404, `no key ${ref}`);
    });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': key.length }).end(key);
  }

  private async blob(node: string, ref: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    await this.requirePinned(node, ref);
    const path = testPlanePaths.blob(this.opts.dir, ref);
    const size = (
      await stat(path).catch(() => {
        throw new Reply(404, `no blob ${ref}`);
      })
    ).size;
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      this.logRange(node, ref, 0, 0, 416);
      return;
    }
    const [start, end] = range ?? [0, size - 1];
    const length = Math.max(0, end - start + 1);
    if (this.opts.rangeDelayMs) await new Promise((r) => setTimeout(r, this.opts.rangeDelayMs));
    const status = range ? 206 : 200;
    this.logRange(node, ref, start, length, status);
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': length, 'accept-ranges': 'bytes' };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (length === 0) {
      res.end();
      return;
    }
    const stream = createReadStream(path, { start, end, highWaterMark: 1024 * 1024 });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  private logRange(node: string, blobRef: string, offset: number, length: number, status: number): void {
    const entry: RangeLogEntry = { seq: this.rangeLog.length, node, blobRef, offset, length, status, at: Date.now() };
    this.rangeLog.push(entry);
    this.rangeFile?.write(`${JSON.stringify(entry)}\n`);
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `bytes=a-b` / `bytes=a-` / `bytes=-n` (one range only); null when absent. */
export function parseRange(header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'unsatisfiable';
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const part of req) {
    total += (part as Buffer).length;
    if (total > 64 * 1024) throw new Reply(413, 'body too large');
    parts.push(part as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw new Reply(400, 'body is not JSON');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
