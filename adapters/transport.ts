// The instrumented HTTP transport every real control-plane client goes through. Each attempt of
// each call becomes one CallRecord (op, plane, method, path template, status, bytes, ms), so API
// calls and bytes per deployment come from records, never from hand counts.
// Retries: capped exponential backoff with full jitter on 5xx and connection failures (uwsgi's
// http-socket closes connections, so a reused socket may be reset); never on 4xx (a 401 re-auth is
// the session's business, one level up). A reset of a reused keep-alive socket before any answer
// is retried once at once, without backoff and outside the attempt budget.
// Two HTTP stacks, one retry loop: JSON/control calls (`request`, `json`) go through Node's
// `fetch`; the binary data path (`range`, `stream`) goes through node:http/node:https with a
// keep-alive Agent per transport, and `range` reads the body into one preallocated Buffer of the
// expected length. Why: Node 20's fetch (undici web streams) spent ~1.0-1.3 CPU-s per 256 MiB of
// 4 MiB ranges here, node:http 0.36-0.55 s.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable, Transform } from 'node:stream';
import type { ControlError, ControlErrorKind } from '../agent/machine/types.js';
import { silentLogger, type Logger } from '../common/index.js';
import type { PlaneName } from './model.js';

export interface CallRecord {
  op: string;
  plane: PlaneName;
  method: string;
  /** path template, e.g. `/v2/images/{image_id}` */
  path: string;
  url: string;
  /** HTTP status, or 0 when no response arrived (connection refused/reset, timeout) */
  status: number;
  bytesOut: number;
  bytesIn: number;
  ms: number;
  /** 1 for the first attempt */
  attempt: number;
}

export class CallRecorder {
  private readonly list: CallRecord[] = [];
  onRecord?: (record: CallRecord) => void;

  constructor(onRecord?: (record: CallRecord) => void) {
    this.onRecord = onRecord;
  }

  record(r: CallRecord): void {
    this.list.push(r);
    this.onRecord?.(r);
  }

  records(): readonly CallRecord[] {
    return this.list;
  }

  clear(): void {
    this.list.length = 0;
  }
}

export interface RetryPolicy {
  /** total attempts including the first (1 = never retry) */
  maxAttempts: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseMs: 100, capMs: 3_000 };

/** Delay before attempt `attempt + 1` after `attempt` failed: full jitter in [0, min(cap, base·2^(attempt-1))]. */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 && status <= 599;
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Connection-level failures worth another attempt (fetch wraps them: look at `cause`). */
export function isRetryableNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /socket hang up|other side closed|ECONNRESET/i.test(message)) return true;
    if ((e as { name?: unknown }).name === 'TimeoutError') return true;
  }
  return false;
}

/** A non-2xx answer from a service. */
export class HttpError extends Error {
  constructor(
    readonly op: string,
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly bodyExcerpt: string,
  ) {
    super(`${op}: ${method} ${url} -> HTTP ${status}${bodyExcerpt ? `: ${bodyExcerpt}` : ''}`);
    this.name = 'HttpError';
  }
}

/** The connection failed on every attempt (refused, reset, timed out). */
export class ConnectionError extends Error {
  constructor(
    readonly op: string,
    readonly url: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`${op}: ${url} unreachable after ${attempts} attempt(s): ${describeCause(cause)}`);
    this.name = 'ConnectionError';
  }
}

/** A response arrived but did not have the expected shape. */
export class ResponseShapeError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`${op}: unexpected response: ${message}`);
    this.name = 'ResponseShapeError';
  }
}

/** A body of another length (or another byte range) than the one asked for. */
export class ResponseLengthError extends Error {
  readonly controlErrorKind = 'unavailable';
  constructor(
    readonly op: string,
    readonly url: string,
    readonly expected: number,
    readonly got: number,
    detail = '',
  ) {
    super(`${op}: ${url}: ${got} bytes, expected ${expected}${detail ? ` (${detail})` : ''}`);
    this.name = 'ResponseLengthError';
  }
}

function describeCause(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    parts.push([typeof code === 'string' ? code : '', typeof message === 'string' ? message : String(e)].filter(Boolean).join(' '));
  }
  return parts.join(' <- ');
}

/** Map any client error to the agent contract's error kinds. */
export function toControlError(err: unknown): ControlError {
  const message = err instanceof Error ? err.message : String(err);
  return { kind: controlErrorKind(err), message };
}

export function controlErrorKind(err: unknown): ControlErrorKind {
  if (err instanceof HttpError) {
    if (err.status === 401) return 'unauthorized';
    if (err.status === 403) return 'forbidden';
    if (err.status === 404) return 'notFound';
    if (isRetryableStatus(err.status) || err.status === 409 || err.status === 429) return 'unavailable';
    return 'invalid';
  }
  if (err instanceof ConnectionError || isRetryableNetworkError(err)) return 'unavailable';
  const kind = (err as { controlErrorKind?: unknown }).controlErrorKind;
  if (typeof kind === 'string' && ['unavailable', 'unauthorized', 'forbidden', 'notFound', 'invalid'].includes(kind)) {
    return kind as ControlErrorKind;
  }
  return 'invalid';
}

export type RequestBody = Buffer | string | { json: unknown } | { stream: () => Readable; length?: number };

export interface RequestSpec {
  op: string;
  method: string;
  /** path template relative to the base URL, e.g. `/v2/images/{image_id}` */
  path: string;
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** statuses that count as success (default: any 2xx) */
  expect?: number[];
}

/** A ranged GET: the transport adds the Range header; success is 206 unless `expect` says otherwise. */
export type RangeSpec = Omit<RequestSpec, 'method' | 'body'>;

export interface BufferedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface StreamedResponse {
  status: number;
  headers: Headers;
  /** counts bytes; the call is recorded when the stream ends or fails */
  stream: Readable;
}

export interface TransportOptions {
  plane: PlaneName;
  recorder?: CallRecorder;
  retry?: RetryPolicy;
  /** per attempt, until response headers (and the body for buffered calls and ranges) */
  timeoutMs?: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** keep-alive sockets per host for the data path (`range`, `stream`); at least the ranges in flight (default 32) */
  maxSockets?: number;
}

const EXCERPT_CHARS = 300;
/** how much of an unexpected answer's body is read for the error excerpt */
const EXCERPT_READ_BYTES = 64 * 1024;

export function expandPath(template: string, params: Record<string, string> = {}): string {
  return template.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`path ${template}: missing parameter ${name}`);
    return encodeURIComponent(value);
  });
}

export function buildUrl(baseUrl: string, spec: Pick<RequestSpec, 'path' | 'params' | 'query'>): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + expandPath(spec.path, spec.params));
  for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

/** A request body in a form both HTTP stacks take; stream bodies stay factories (one per attempt). */
interface PreparedBody {
  data: Buffer | string | (() => Readable) | undefined;
  headers: Record<string, string>;
  bytesOut: number;
}

/** What one attempt got back, whichever stack carried it. */
interface Answer<R> {
  status: number;
  headers: Headers;
  raw: R;
  /** the body as text, for an error excerpt (never fails) */
  errorText(): Promise<string>;
}

type Sender<R> = (url: string, method: string, headers: Record<string, string>, body: PreparedBody, signal: AbortSignal) => Promise<Answer<R>>;

export class Transport {
  readonly plane: PlaneName;
  readonly recorder: CallRecorder;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxSockets: number;
  private httpAgent: http.Agent | null = null;
  private httpsAgent: https.Agent | null = null;
  /** request errors that happened on a reused keep-alive socket before any answer */
  private readonly staleSocketErrors = new WeakSet<object>();

  constructor(opts: TransportOptions) {
    this.plane = opts.plane;
    this.recorder = opts.recorder ?? new CallRecorder();
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.log = opts.logger ?? silentLogger;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.maxSockets = opts.maxSockets ?? 32;
  }

  /** One call, body read into memory. Throws HttpError on an unexpected status. */
  async request(baseUrl: string, spec: RequestSpec): Promise<BufferedResponse> {
    return this.withRetries(baseUrl, spec, this.sendFetch, async (res, record) => {
      const body = Buffer.from(await res.raw.arrayBuffer());
      record(body.length);
      return { status: res.status, headers: res.headers, body };
    });
  }

  /** A call whose JSON answer is parsed by `parse` (a zod schema's `parse`, typically). */
  async json<T>(baseUrl: string, spec: RequestSpec, parse: (data: unknown) => T): Promise<T> {
    const res = await this.request(baseUrl, { ...spec, headers: { Accept: 'application/json', ...spec.headers } });
    let data: unknown;
    try {
      data = res.body.length === 0 ? null : JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new ResponseShapeError(spec.op, `not JSON: ${res.body.subarray(0, 80).toString('utf8')}`);
    }
    try {
      return parse(data);
    } catch (err) {
      throw new ResponseShapeError(spec.op, err instanceof Error ? err.message.slice(0, EXCERPT_CHARS) : String(err));
    }
  }

  /**
   * Bytes [offset, offset+length) via a ranged GET on the data path (node:http, keep-alive), read
   * into one Buffer of exactly `length` bytes. A body of another length (Content-Length, bytes
   * received, or a Content-Range that names other bytes) is a ResponseLengthError, not retried.
   */
  async range(baseUrl: string, spec: RangeSpec, offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) throw new RangeError(`${spec.op}: bad range ${offset}+${length}`);
    if (length === 0) return Buffer.alloc(0);
    const last = offset + length - 1;
    const full: RequestSpec = { ...spec, method: 'GET', headers: { ...spec.headers, Range: `bytes=${offset}-${last}` }, expect: spec.expect ?? [206] };
    const url = buildUrl(baseUrl, spec);
    return this.withRetries(baseUrl, full, this.sendHttp, (res, record) => {
      const contentRange = res.headers.get('content-range');
      const m = contentRange === null ? null : /^bytes\s+(\d+)-(\d+)\//i.exec(contentRange.trim());
      if (contentRange !== null && (!m || Number(m[1]) !== offset || Number(m[2]) !== last)) {
        res.raw.destroy();
        record(0);
        throw new ResponseLengthError(spec.op, url, length, m ? Number(m[2]) - Number(m[1]) + 1 : 0, `Content-Range ${contentRange}, asked bytes=${offset}-${last}`);
      }
      return readExactly(res.raw, length, spec.op, url, record);
    });
  }

  /** A call whose body is handed out as a byte-counting stream (whole-file downloads); data path (node:http). */
  async stream(baseUrl: string, spec: RequestSpec): Promise<StreamedResponse> {
    return this.withRetries(
      baseUrl,
      spec,
      this.sendHttp,
      async (res, record) => {
        let bytes = 0;
        const source = res.raw;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            bytes += chunk.length;
            cb(null, chunk);
          },
          flush(cb) {
            record(bytes);
            cb();
          },
        });
        source.on('error', (err) => {
          record(bytes);
          counter.destroy(err);
        });
        // a consumer that gives up early releases the connection and still leaves a record
        counter.on('close', () => {
          if (!source.complete) {
            record(bytes);
            source.destroy();
          }
        });
        return { status: res.status, headers: res.headers, stream: source.pipe(counter) };
      },
      false,
    );
  }

  /** Closes the kept-alive data connections (idle ones do not keep the process alive anyway). */
  close(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
    this.httpAgent = this.httpsAgent = null;
  }

  private readonly sendFetch: Sender<Response> = async (url, method, headers, body, signal) => {
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

  private readonly sendHttp: Sender<IncomingMessage> = (url, method, headers, body, signal) =>
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

  private agentHttp(): http.Agent {
    this.httpAgent ??= new http.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    return this.httpAgent;
  }

  private agentHttps(): https.Agent {
    this.httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    return this.httpsAgent;
  }

  private async withRetries<R, T>(
    baseUrl: string,
    spec: RequestSpec,
    send: Sender<R>,
    consume: (res: Answer<R>, record: (bytesIn: number) => void) => Promise<T>,
    bodyTimeout = true,
  ): Promise<T> {
    const url = buildUrl(baseUrl, spec);
    const method = spec.method.toUpperCase();
    // one free, immediate retry for a reset of a reused keep-alive socket (it was dead already)
    let freeRetries = 0;
    for (let attempt = 1; ; attempt++) {
      const budgetUsed = attempt - freeRetries;
      const body = prepareBody(spec);
      const started = performance.now();
      let recorded = false;
      const record = (status: number, bytesIn: number): void => {
        if (recorded) return;
        recorded = true;
        const ms = performance.now() - started;
        this.recorder.record({ op: spec.op, plane: this.plane, method, path: spec.path, url, status, bytesOut: body.bytesOut, bytesIn, ms, attempt });
      };
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs);
      let res: Answer<R>;
      try {
        res = await send(url, method, { ...body.headers, ...spec.headers }, body, abort.signal);
      } catch (err) {
        clearTimeout(timer);
        record(0, 0);
        if (freeRetries === 0 && typeof err === 'object' && err !== null && this.staleSocketErrors.has(err)) {
          freeRetries++;
          this.log.debug({ op: spec.op, attempt, why: describeCause(err) }, 'reused connection was closed: retrying at once');
          continue;
        }
        if (isRetryableNetworkError(err) && budgetUsed < this.retry.maxAttempts) {
          await this.backoff(spec.op, budgetUsed, describeCause(err));
          continue;
        }
        throw new ConnectionError(spec.op, url, attempt, err);
      }
      const ok = spec.expect ? spec.expect.includes(res.status) : res.status >= 200 && res.status < 300;
      if (!ok) {
        const text = await res.errorText();
        clearTimeout(timer);
        record(res.status, Buffer.byteLength(text));
        if (isRetryableStatus(res.status) && budgetUsed < this.retry.maxAttempts) {
          await this.backoff(spec.op, budgetUsed, `HTTP ${res.status}`);
          continue;
        }
        throw new HttpError(spec.op, method, url, res.status, excerpt(text));
      }
      if (!bodyTimeout) clearTimeout(timer);
      try {
        const out = await consume(res, (bytesIn) => record(res.status, bytesIn));
        clearTimeout(timer);
        return out;
      } catch (err) {
        clearTimeout(timer);
        record(res.status, 0);
        if (isRetryableNetworkError(err) && budgetUsed < this.retry.maxAttempts) {
          await this.backoff(spec.op, budgetUsed, describeCause(err));
          continue;
        }
        throw isRetryableNetworkError(err) ? new ConnectionError(spec.op, url, attempt, err) : err;
      }
    }
  }

  private async backoff(op: string, attempt: number, why: string): Promise<void> {
    const delay = backoffDelayMs(this.retry, attempt);
    this.log.debug({ op, attempt, delay, why }, 'retrying');
    await this.sleep(delay);
  }
}

/**
 * The body into one preallocated Buffer of `length` bytes: no per-chunk concatenation. Records
 * the bytes that arrived (also on failure); more or fewer than `length` is a ResponseLengthError.
 */
function readExactly(res: IncomingMessage, length: number, op: string, url: string, record: (bytesIn: number) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = res.headers['content-length'];
    if (declared !== undefined && Number(declared) !== length) {
      res.destroy();
      record(0);
      reject(new ResponseLengthError(op, url, length, Number(declared), 'Content-Length'));
      return;
    }
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      record(got);
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
function readText(res: IncomingMessage, max: number): Promise<string> {
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

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat;
}

function prepareBody(spec: RequestSpec): PreparedBody {
  const b = spec.body;
  if (b === undefined) return { data: undefined, headers: {}, bytesOut: 0 };
  if (typeof b === 'string') return { data: b, headers: {}, bytesOut: Buffer.byteLength(b) };
  if (Buffer.isBuffer(b)) return { data: b, headers: { 'Content-Type': 'application/octet-stream' }, bytesOut: b.length };
  if ('json' in b) {
    const text = JSON.stringify(b.json);
    return { data: text, headers: { 'Content-Type': 'application/json' }, bytesOut: Buffer.byteLength(text) };
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (b.length !== undefined) headers['Content-Length'] = String(b.length);
  return { data: b.stream, headers, bytesOut: b.length ?? 0 };
}
