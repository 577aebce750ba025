// The two HTTP stacks a Transport sends one attempt through. JSON/control calls go through Node's
// `fetch`; the binary data path (ranges, whole-file streams) goes through node:http/node:https with
// keep-alive agents, and a range is read into one preallocated Buffer of the expected length. Why:
// Node 20's fetch (undici web streams) spent ~1.0-1.3 CPU-s per 256 MiB of 4 MiB ranges here,
// node:http 0.36-0.55 s.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { isRetryableNetworkError, ResponseLengthError } from './errors.js';
import type { PreparedBody } from './request.js';

/** how much of an unexpected answer's body is read for the error excerpt */
const EXCERPT_READ_BYTES = 64 * 1024;

/** What one attempt got back, whichever stack carried it. */
export interface Answer<R> {
  status: number;
  headers: Headers;
  raw: R;
  /** the body as text, for an error excerpt (never fails) */
  errorText(): Promise<string>;
}

export type Sender<R> = (url: string, method: string, headers: Record<string, string>, body: PreparedBody, signal: AbortSignal) => Promise<Answer<R>>;

/** One attempt on `fetch` (control calls). */
export const sendFetch: Sender<Response> = async (url, method, headers, body, signal) => {
  const data = body.data;
  const init: RequestInit & { duplex?: 'half' } = {
    method,
    headers,
    body: typeof data === 'function' ? (Readable.toWeb(data()) as unknown as ReadableStream) : (data as BodyInit | undefined),
    signal,
  };
  if (typeof data === 'function') init.duplex = 'half';
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, raw: res, errorText: () => res.text().catch(() => '') };
};

/**
 * One attempt on node:http/node:https (the data path), over keep-alive agents of its own. It
 * remembers which request errors happened on a reused keep-alive socket before any answer (the
 * server had closed it already: `isStaleSocketError`), so the caller may retry those at once.
 */
export class NodeHttpSender {
  private httpAgent: http.Agent | null = null;
  private httpsAgent: https.Agent | null = null;
  private readonly staleSocketErrors = new WeakSet<object>();

  /** keep-alive sockets per host */
  constructor(private readonly maxSockets: number) {}

  readonly send: Sender<IncomingMessage> = (url, method, headers, body, signal) =>
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      const outHeaders: Record<string, string> = { ...headers };
      const data = body.data;
      if ((typeof data === 'string' || Buffer.isBuffer(data)) && !hasHeader(outHeaders, 'content-length')) outHeaders['Content-Length'] = String(Buffer.byteLength(data));
      const req = (secure ? https : http).request(target, { method, headers: outHeaders, agent: secure ? this.agentHttps() : this.agentHttp() });
      let res: IncomingMessage | undefined;
      const onAbort = (): void => {
        const reason: unknown = signal.reason;
        const err = reason instanceof Error ? reason : new Error(String(reason));
        req.destroy(err);
        res?.destroy(err);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      req.on('response', (r: IncomingMessage) => {
        res = r;
        resolve({ status: r.statusCode ?? 0, headers: toHeaders(r.headers), raw: r, errorText: () => readText(r, EXCERPT_READ_BYTES) });
      });
      req.on('error', (err: Error) => {
        if (res) {
          if (!res.destroyed) res.destroy(err);
          return;
        }
        if (req.reusedSocket && isRetryableNetworkError(err)) this.staleSocketErrors.add(err);
        reject(err);
      });
      if (typeof data === 'function') {
        const src = data();
        src.on('error', (err) => req.destroy(err));
        src.pipe(req);
      } else req.end(data);
    });

  /** `err` came from a reused keep-alive socket that was reset before any answer. */
  isStaleSocketError(err: unknown): boolean {
    return typeof err === 'object' && err !== null && this.staleSocketErrors.has(err);
  }

  /** Closes the kept-alive connections (idle ones do not keep the process alive anyway). */
  close(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
    this.httpAgent = this.httpsAgent = null;
  }

  private agentHttp(): http.Agent {
    this.httpAgent ??= new http.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    return this.httpAgent;
  }

  private agentHttps(): https.Agent {
    this.httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    return this.httpsAgent;
  }
}

/**
 * The body into one preallocated Buffer of `length` bytes: no per-chunk concatenation. Records
 * the bytes that arrived (also on failure); more or fewer than `length` is a ResponseLengthError.
 */
export function readExactly(res: IncomingMessage, length: number, op: string, url: string, record: (bytesIn: number, error?: string) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = res.headers['content-length'];
    if (declared !== undefined && Number(declared) !== length) {
      res.destroy();
      record(0, `Content-Length ${declared}, asked ${length} bytes`);
      reject(new ResponseLengthError(op, url, length, Number(declared), 'Content-Length'));
      return;
    }
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      // a 206 whose body stops early is a failed call, not a success with fewer bytes
      record(got, got < length ? `short read: ${got} of ${length} bytes` : `long read: ${got} bytes, asked ${length}`);
      reject(err);
    };
    res.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (got + chunk.length > length) {
        got += chunk.length;
        fail(new ResponseLengthError(op, url, length, got, 'body longer than asked'));
        res.destroy();
        return;
      }
      chunk.copy(out, got);
      got += chunk.length;
    });
    res.on('error', fail);
    res.on('close', () => fail(Object.assign(new Error(`${op}: connection closed after ${got} of ${length} bytes`), { code: 'ECONNRESET' })));
    res.on('end', () => {
      if (settled) return;
      if (got !== length) return fail(new ResponseLengthError(op, url, length, got, 'body shorter than asked'));
      settled = true;
      record(got);
      resolve(out);
    });
  });
}

/** At most `max` bytes of a body as text; the rest is not read (the connection is dropped). */
export function readText(res: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = (): void => resolve(Buffer.concat(parts).toString('utf8'));
    res.on('data', (chunk: Buffer) => {
      if (size >= max) return;
      parts.push(chunk);
      size += chunk.length;
      if (size >= max) {
        res.destroy();
        done();
      }
    });
    res.on('end', done);
    res.on('error', done);
    res.on('close', done);
  });
}

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) h.append(k, one);
    else h.set(k, v);
  }
  return h;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}
