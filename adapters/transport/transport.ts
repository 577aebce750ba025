// The instrumented HTTP transport every real control-plane client goes through: one retry loop
// over the senders (senders.ts: `fetch` for JSON/control calls, node:http keep-alive for ranges;
// raw-get.ts: a plain socket for whole-body streams). Each attempt of each call becomes one CallRecord (records.ts).
// Retries (retry.ts): on 5xx and connection failures, capped exponential backoff with full jitter,
// up to the policy's maxAttempts; never on 4xx (a 401 re-auth is the session's business, one level
// up). Node clients pass NO_RETRY (the agent's machine retries); operator-side ones DEFAULT_RETRY.
// Stale sockets: a reset of a REUSED keep-alive socket before any answer (uwsgi's http-socket
// closes kept-alive sockets: not a fault of the service) is retried once at once, without backoff
// and outside the attempt budget, also under NO_RETRY. That reset attempt IS recorded, like every
// attempt: status 0, bytesIn 0, and the retry that follows has the next `attempt` number, so call
// counts and reports include it (a real run may show one more call than a simulated one per stale
// socket, visibly, never silently).
import { Transform, type Readable } from 'node:stream';
import { silentLogger, type Logger } from '../../common/index.js';
import type { PlaneName } from '../model.js';
import type { BlobReads, BlobSink } from '../node-plane.js';
import { ConnectionError, describeCause, HttpError, isRetryableNetworkError, ResponseLengthError, ResponseShapeError } from './errors.js';
import { CallRecorder } from './records.js';
import { buildUrl, prepareBody, type RangeSpec, type RequestSpec } from './request.js';
import { backoffDelayMs, DEFAULT_RETRY, isRetryableStatus, type RetryPolicy } from './retry.js';
import { RawBody, rawGetSender } from './raw-get.js';
import { NodeHttpSender, readExactly, sendFetch, type Answer, type Sender } from './senders.js';

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
  /**
   * The reader has every byte it wanted: the rest is not read and the connection is dropped. The
   * call is recorded with `stopped` (not a failure); a stream destroyed any other way before its
   * end is recorded with `error`.
   */
  stop(): void;
  /** whole-body GETs over a plain socket: the body read straight into the caller's memory instead (BlobStream.readInto) */
  readInto?(sink: BlobSink): BlobReads;
}

export interface TransportOptions {
  plane: PlaneName;
  recorder?: CallRecorder;
  /** default DEFAULT_RETRY; node clients pass NO_RETRY */
  retry?: RetryPolicy;
  /** per attempt, until response headers (and the body for buffered calls and ranges) */
  timeoutMs?: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** keep-alive sockets per host for the data path (`range`, `stream`); at least the ranges in flight (default 32) */
  maxSockets?: number;
}

const EXCERPT_CHARS = 300;

export class Transport {
  readonly plane: PlaneName;
  readonly recorder: CallRecorder;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly http: NodeHttpSender;
  private readonly rawGet: ReturnType<typeof rawGetSender>;

  constructor(opts: TransportOptions) {
    this.plane = opts.plane;
    this.recorder = opts.recorder ?? new CallRecorder();
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.log = opts.logger ?? silentLogger;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.http = new NodeHttpSender(opts.maxSockets ?? 32);
    this.rawGet = rawGetSender(this.http);
  }

  /** One call, body read into memory. Throws HttpError on an unexpected status. */
  async request(baseUrl: string, spec: RequestSpec): Promise<BufferedResponse> {
    return this.withRetries(baseUrl, spec, sendFetch, async (res, record) => {
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
    return this.withRetries(baseUrl, full, this.http.send, (res, record) => {
      const contentRange = res.headers.get('content-range');
      const m = contentRange === null ? null : /^bytes\s+(\d+)-(\d+)\//i.exec(contentRange.trim());
      if (contentRange !== null && (!m || Number(m[1]) !== offset || Number(m[2]) !== last)) {
        res.raw.destroy();
        record(0, `Content-Range ${contentRange}, asked bytes=${offset}-${last}`);
        throw new ResponseLengthError(spec.op, url, length, m ? Number(m[2]) - Number(m[1]) + 1 : 0, `Content-Range ${contentRange}, asked bytes=${offset}-${last}`);
      }
      return readExactly(res.raw, length, spec.op, url, record);
    });
  }

  /** A call whose body is handed out as a byte-counting stream (whole-file downloads); data path (raw-get.ts: a plain socket for http: GETs, else node:http). */
  async stream(baseUrl: string, spec: RequestSpec): Promise<StreamedResponse> {
    return this.withRetries(
      baseUrl,
      spec,
      this.rawGet,
      async (res, record) => {
        let bytes = 0;
        const source = res.raw;
        const declared = Number(res.headers.get('content-length') ?? Number.NaN);
        const shortRead = (): string | undefined => (Number.isFinite(declared) && declared !== bytes ? `short read: ${bytes} of ${declared} bytes` : undefined);
        // a consumer that gives up early releases the connection and still leaves a record
        let stopped = false;
        // stopped once the body had fully arrived: a plain success (nothing was left unread)
        const recordStopped = (): void => (source.complete ? record(bytes) : record(bytes, undefined, `stopped by the reader after ${bytes} bytes`));
        let counter: Transform | null = null;
        let direct = false;
        const piped = (): Transform => {
          if (counter) return counter;
          if (direct) throw new Error('the body is read into a sink: it has no stream');
          const c = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              bytes += chunk.length;
              cb(null, chunk);
            },
            flush(cb) {
              record(bytes, shortRead());
              cb();
            },
          });
          c.on('close', () => {
            if (stopped) recordStopped();
            else if (!source.complete) record(bytes, `body not read to its end (${bytes} bytes)`);
            if (!source.complete) source.destroy();
          });
          counter = source.pipe(c);
          if (failed) c.destroy(failed);
          return c;
        };
        // from the answer on (a stream not yet read can fail too)
        let failed: Error | null = null;
        source.on('error', (err) => {
          failed = err;
          record(bytes, `body cut short after ${bytes} bytes: ${describeCause(err)}`);
          counter?.destroy(err);
        });
        const stop = (): void => {
          stopped = true;
          if (!direct) return void piped().destroy();
          recordStopped();
          (source as RawBody).stopReads(); // only a RawBody reads into a sink
        };
        const readInto =
          source instanceof RawBody
            ? (sink: BlobSink): BlobReads => {
                if (counter) throw new Error('the body is read as a stream: it cannot be read into a sink');
                direct = true;
                return source.readInto({
                  target: () => sink.target(),
                  filled: (n) => {
                    bytes += n;
                    return sink.filled(n);
                  },
                  end: (err) => {
                    if (err) record(bytes, `body cut short after ${bytes} bytes: ${describeCause(err)}`);
                    else record(bytes, shortRead());
                    sink.end(err);
                  },
                });
              }
            : undefined;
        return {
          status: res.status,
          headers: res.headers,
          get stream() {
            return piped();
          },
          stop,
          ...(readInto ? { readInto } : {}),
        };
      },
      false,
    );
  }

  /** Closes the kept-alive data connections (idle ones do not keep the process alive anyway). */
  close(): void {
    this.http.close();
  }

  private async withRetries<R, T>(
    baseUrl: string,
    spec: RequestSpec,
    send: Sender<R>,
    consume: (res: Answer<R>, record: (bytesIn: number, error?: string, stopped?: string) => void) => Promise<T>,
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
      const record = (status: number, bytesIn: number, error?: string, stopped?: string): void => {
        if (recorded) return;
        recorded = true;
        const ms = performance.now() - started;
        this.recorder.record({ op: spec.op, plane: this.plane, method, path: spec.path, url, status, bytesOut: body.bytesOut, bytesIn, ms, attempt, ...(error ? { error } : {}), ...(stopped ? { stopped } : {}) });
      };
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs);
      let res: Answer<R>;
      try {
        res = await send(url, method, { ...body.headers, ...spec.headers }, body, abort.signal);
      } catch (err) {
        clearTimeout(timer);
        // recorded like any failed attempt (status 0), also when the free retry follows
        record(0, 0, describeCause(err));
        if (freeRetries === 0 && this.http.isStaleSocketError(err)) {
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
        const out = await consume(res, (bytesIn, error, stopped) => record(res.status, bytesIn, error, stopped));
        clearTimeout(timer);
        return out;
      } catch (err) {
        clearTimeout(timer);
        record(res.status, 0, describeCause(err));
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

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat;
}
