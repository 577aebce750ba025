// The instrumented HTTP transport every real control-plane client goes through. Each attempt of
// each call becomes one CallRecord (op, plane, method, path template, status, bytes, ms), so API
// calls and bytes per deployment come from records, never from hand counts.
// Retries: capped exponential backoff with full jitter on 5xx and connection failures (uwsgi's
// http-socket closes connections, so a reused socket may be reset); never on 4xx (a 401 re-auth is
// the session's business, one level up).
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
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
  /** per attempt, until response headers (and the body for buffered calls) */
  timeoutMs?: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
}

const EXCERPT_CHARS = 300;

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

export class Transport {
  readonly plane: PlaneName;
  readonly recorder: CallRecorder;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(opts: TransportOptions) {
    this.plane = opts.plane;
    this.recorder = opts.recorder ?? new CallRecorder();
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.log = opts.logger ?? silentLogger;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** One call, body read into memory. Throws HttpError on an unexpected status. */
  async request(baseUrl: string, spec: RequestSpec): Promise<BufferedResponse> {
    return this.withRetries(baseUrl, spec, async (res, record) => {
      const body = Buffer.from(await res.arrayBuffer());
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

  /** A call whose body is handed out as a byte-counting stream (whole-file downloads). */
  async stream(baseUrl: string, spec: RequestSpec): Promise<StreamedResponse> {
    return this.withRetries(baseUrl, spec, async (res, record) => {
      if (!res.body) {
        record(0);
        return { status: res.status, headers: res.headers, stream: Readable.from([]) };
      }
      let bytes = 0;
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
      const source = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
      source.on('error', (err) => {
        record(bytes);
        counter.destroy(err);
      });
      return { status: res.status, headers: res.headers, stream: source.pipe(counter) };
    }, false);
  }

  private async withRetries<T>(
    baseUrl: string,
    spec: RequestSpec,
    consume: (res: Response, record: (bytesIn: number) => void) => Promise<T>,
    bodyTimeout = true,
  ): Promise<T> {
    const url = buildUrl(baseUrl, spec);
    const method = spec.method.toUpperCase();
    for (let attempt = 1; ; attempt++) {
      // stream bodies are factories, so every attempt sends a fresh one
      const { body, headers, bytesOut } = prepareBody(spec);
      const started = performance.now();
      let recorded = false;
      const record = (status: number, bytesIn: number): void => {
        if (recorded) return;
        recorded = true;
        const ms = performance.now() - started;
        this.recorder.record({ op: spec.op, plane: this.plane, method, path: spec.path, url, status, bytesOut, bytesIn, ms, attempt });
      };
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs);
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: { ...headers, ...spec.headers },
          body,
          signal: abort.signal,
          ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        clearTimeout(timer);
        record(0, 0);
        if (isRetryableNetworkError(err) && attempt < this.retry.maxAttempts) {
          await this.backoff(spec.op, attempt, String((err as Error).cause ?? err));
          continue;
        }
        throw new ConnectionError(spec.op, url, attempt, err);
      }
      const ok = spec.expect ? spec.expect.includes(res.status) : res.status >= 200 && res.status < 300;
      if (!ok) {
        const text = await res.text().catch(() => '');
        clearTimeout(timer);
        record(res.status, Buffer.byteLength(text));
        if (isRetryableStatus(res.status) && attempt < this.retry.maxAttempts) {
          await this.backoff(spec.op, attempt, `HTTP ${res.status}`);
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
        if (isRetryableNetworkError(err) && attempt < this.retry.maxAttempts) {
          await this.backoff(spec.op, attempt, String(err));
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

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat;
}

function prepareBody(spec: RequestSpec): { body: BodyInit | undefined; headers: Record<string, string>; bytesOut: number } {
  const b = spec.body;
  if (b === undefined) return { body: undefined, headers: {}, bytesOut: 0 };
  if (typeof b === 'string') return { body: b, headers: {}, bytesOut: Buffer.byteLength(b) };
  if (Buffer.isBuffer(b)) return { body: b as unknown as BodyInit, headers: { 'Content-Type': 'application/octet-stream' }, bytesOut: b.length };
  if ('json' in b) {
    const text = JSON.stringify(b.json);
    return { body: text, headers: { 'Content-Type': 'application/json' }, bytesOut: Buffer.byteLength(text) };
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (b.length !== undefined) headers['Content-Length'] = String(b.length);
  return { body: Readable.toWeb(b.stream()) as unknown as ReadableStream, headers, bytesOut: b.length ?? 0 };
}
