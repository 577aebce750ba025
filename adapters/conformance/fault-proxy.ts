// A small fault-injecting HTTP proxy on 127.0.0.1 for the conformance suite (I/O: node:http).
// It forwards every request to one upstream origin, unless a fault is set: then it answers the
// request itself with the chosen status (401, 403, 404, 500, 503, ...) or resets the connection,
// without forwarding it. It can rewrite upstream origins in JSON answers (a service catalog that
// hands out other services' URLs), so that a client follows them back through other proxies.
// Bounded: at most `maxSockets` client connections, `maxRewriteBytes` of a rewritten answer in
// memory, and it closes itself after `lifetimeMs` (unref'd timer) if nobody closes it first.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** An HTTP status the proxy answers with, or `reset`: the client's connection is reset (RST). */
export type Fault = number | 'reset';

export interface FaultProxyOptions {
  /** upstream origin, e.g. http://127.0.0.1:9292 (a path, if any, is ignored) */
  target: string;
  /** in JSON answers, every `from` origin becomes `to` (e.g. a real service's origin → its proxy's) */
  rewrite?: readonly (readonly [from: string, to: string])[];
  /** default 64 */
  maxSockets?: number;
  /** default 4 MiB: a larger JSON answer that should be rewritten is a 502 */
  maxRewriteBytes?: number;
  /** default 10 minutes */
  lifetimeMs?: number;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate']);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k.toLowerCase()) && v !== undefined) out[k] = v;
  return out;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class FaultProxy {
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly upstream: URL;
  // a fresh upstream connection per request: a kept-alive one the upstream closed (uwsgi does)
  // would turn into a 502 the client did not earn
  private readonly agent = new http.Agent({ keepAlive: false, maxSockets: 16 });
  private readonly rewrites: { re: RegExp; to: string }[];
  private readonly maxSockets: number;
  private readonly maxRewriteBytes: number;
  private readonly lifetimeMs: number;
  private lifetime: NodeJS.Timeout | null = null;
  private current: Fault | null = null;
  private port = 0;
  /** requests forwarded upstream */
  forwarded = 0;
  /** requests answered (or reset) by the fault instead */
  faulted = 0;

  constructor(opts: FaultProxyOptions) {
    this.upstream = new URL(opts.target);
    if (this.upstream.protocol !== 'http:') throw new Error(`fault proxy: only http upstreams, got ${opts.target}`);
    // an origin followed by a digit is another port: not rewritten
    this.rewrites = (opts.rewrite ?? []).map(([from, to]) => ({ re: new RegExp(`${escapeRe(from.replace(/\/+$/, ''))}(?![0-9])`, 'g'), to: to.replace(/\/+$/, '') }));
    this.maxSockets = opts.maxSockets ?? 64;
    this.maxRewriteBytes = opts.maxRewriteBytes ?? 4 * 1024 * 1024;
    this.lifetimeMs = opts.lifetimeMs ?? 10 * 60_000;
  }

  /** the upstream origin it forwards to */
  get target(): string {
    return this.upstream.origin;
  }

  /** the proxy's origin, e.g. http://127.0.0.1:41234 */
  get url(): string {
    if (!this.server) throw new Error('fault proxy is not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** From now on every request gets `fault` (null: forwarded again). */
  setFault(fault: Fault | null): void {
    if (typeof fault === 'number' && (!Number.isInteger(fault) || fault < 200 || fault > 599)) throw new Error(`fault proxy: bad status ${fault}`);
    this.current = fault;
  }

  get fault(): Fault | null {
    return this.current;
  }

  async start(): Promise<string> {
    if (this.server) return this.url;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.maxConnections = this.maxSockets;
    server.keepAliveTimeout = 5_000;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    this.lifetime = setTimeout(() => void this.close(), this.lifetimeMs);
    this.lifetime.unref();
    return this.url;
  }

  /** Stops listening and drops every connection (idempotent). */
  async close(): Promise<void> {
    if (this.lifetime) clearTimeout(this.lifetime);
    this.lifetime = null;
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const fault = this.current;
    if (fault !== null) {
      this.faulted++;
      if (fault === 'reset') {
        const socket = req.socket as Socket & { resetAndDestroy?: () => void };
        if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
        else socket.destroy();
        return;
      }
      const body = JSON.stringify({ error: { code: fault, message: 'injected by the conformance fault proxy' } });
      const answer = (): void => {
        if (res.headersSent) return;
        res.writeHead(fault, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      };
      req.on('end', answer);
      req.on('error', () => res.destroy());
      req.resume();
      return;
    }
    this.forwarded++;
    this.forward(req, res);
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const headers = endToEnd(req.headers);
    headers.host = this.upstream.host;
    // a compressed answer could not be rewritten
    if (this.rewrites.length > 0) delete headers['accept-encoding'];
    const up = http.request({ protocol: 'http:', hostname: this.upstream.hostname, port: this.upstream.port || 80, method: req.method, path: req.url, headers, agent: this.agent });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('fault proxy: upstream failed');
      else res.destroy();
    });
    up.on('response', (answer) => {
      const out = endToEnd(answer.headers);
      const json = /json/i.test(String(answer.headers['content-type'] ?? ''));
      if (this.rewrites.length === 0 || !json || answer.headers['content-encoding']) {
        res.writeHead(answer.statusCode ?? 502, out);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
        return;
      }
      const parts: Buffer[] = [];
      let size = 0;
      answer.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.maxRewriteBytes) {
          answer.destroy();
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('fault proxy: answer too large to rewrite');
          return;
        }
        parts.push(chunk);
      });
      answer.on('error', () => res.destroy());
      answer.on('end', () => {
        if (res.headersSent) return;
        let text = Buffer.concat(parts).toString('utf8');
        for (const r of this.rewrites) text = text.replace(r.re, r.to);
        const body = Buffer.from(text, 'utf8');
        delete out['content-length'];
        res.writeHead(answer.statusCode ?? 502, { ...out, 'content-length': body.length }).end(body);
      });
    });
    req.pipe(up);
    req.on('error', () => up.destroy());
  }
}
