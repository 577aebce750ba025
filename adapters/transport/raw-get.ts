// Whole-body GETs over a plain socket, for the data path's long streams (a whole image file).
// Why not node:http: on this machine its client spent 0.57-0.67 CPU-s receiving 256 MiB from
// Glance (a fresh 64 KiB buffer, parser callback and stream push per read), where a socket reading
// into one reused 1 MiB buffer (`onread`) spends 0.07 s and the same bytes copied out into a
// Readable 0.11-0.25 s; curl 0.17 s. Every response is read with `Connection: close` on its own
// connection, so there is no keep-alive state. What this parser does not do is left to node:http:
// https, a request with a body, and an answer with a Transfer-Encoding (the request is sent
// again there; it is a GET). Anything malformed is an error, never a guess. A reader that has
// memory of its own for the bytes (the agent's crypto leases) takes them with `readInto`: the
// socket then reads into that memory, and no byte of the body is copied on the way.
import net from 'node:net';
import { Readable } from 'node:stream';
import type { BlobReads, BlobSink } from '../node-plane.js';
import type { PreparedBody } from './request.js';
import type { Answer, NodeHttpSender, Sender } from './senders.js';

/** socket reads land here (one buffer per connection, reused for every read) */
const READ_BUFFER_BYTES = 1024 * 1024;
/** status line + headers */
const MAX_HEAD_BYTES = 64 * 1024;
/** how much of an unexpected answer's body is read for the error excerpt */
const EXCERPT_READ_BYTES = 64 * 1024;

interface BodyHooks {
  resume(): void;
  pause(): void;
  fail(err: Error): void;
  destroy(): void;
}

/**
 * The body of a raw GET: a Readable of copies of what the socket read, `complete` once it all
 * arrived; or, after `readInto`, the socket reads straight into the sink's regions (the bytes read
 * before it, and a read that was under way while the sink could take no more, are copied in).
 */
export class RawBody extends Readable {
  complete = false;
  private sink: BlobSink | null = null;
  private sinkOpen = false;
  /** the sink takes bytes (its last `filled` did not say stop) */
  private ready = false;
  /** bytes read but not yet in the sink, in order */
  private backlog: Buffer[] = [];

  constructor(private readonly hooks: BodyHooks) {
    super({ highWaterMark: 4 * READ_BUFFER_BYTES });
  }
  override _read(): void {
    this.hooks.resume();
  }

  get direct(): boolean {
    return this.sink !== null;
  }

  readInto(sink: BlobSink): BlobReads {
    if (this.sink !== null) throw new Error('readInto: the body is already read into a sink');
    this.hooks.pause();
    for (let c = this.read() as Buffer | null; c !== null; c = this.read() as Buffer | null) this.backlog.push(c);
    this.sink = sink;
    this.sinkOpen = true;
    this.resumeReads();
    return { resume: () => this.resumeReads(), abort: (err) => this.hooks.fail(err) };
  }

  /** Where the socket's next read goes: the sink's region when it takes bytes and nothing waits before them. */
  directTarget(): Buffer | null {
    return this.sinkOpen && this.ready && this.backlog.length === 0 ? this.sink!.target() : null;
  }

  /** `n` bytes the socket read into the last `directTarget()`; false pauses the socket. */
  filledDirect(n: number): boolean {
    if (!this.sinkOpen) return false;
    if (!this.sink!.filled(n)) this.ready = false;
    return this.ready && this.sinkOpen;
  }

  /** Bytes read into the socket's own buffer while a sink is attached: copied into it in order. */
  copyIn(bytes: Buffer): boolean {
    if (bytes.length > 0) this.backlog.push(Buffer.from(bytes));
    this.pump();
    return this.sinkOpen && this.ready && this.backlog.length === 0;
  }

  /** The body arrived whole. */
  finish(): void {
    this.complete = true;
    if (this.sink) this.pump();
    else this.push(null);
  }

  /** The body failed: the sink is told, or the stream errors. */
  failReads(err: Error): void {
    if (this.sink) this.endSink(err);
    else if (!this.complete && !this.destroyed) this.destroy(err);
  }

  /** The reader stopped (BlobStream.stop): the sink hears nothing more. */
  stopReads(): void {
    this.sinkOpen = false;
    this.hooks.destroy();
  }

  private resumeReads(): void {
    if (!this.sinkOpen) return;
    this.ready = true;
    this.pump();
    if (this.sinkOpen && this.ready && this.backlog.length === 0 && !this.complete) this.hooks.resume();
  }

  private pump(): void {
    while (this.sinkOpen && this.ready && this.backlog.length > 0) {
      const b = this.backlog[0]!;
      const n = b.copy(this.sink!.target());
      if (n === b.length) this.backlog.shift();
      else this.backlog[0] = b.subarray(n);
      if (!this.sink!.filled(n)) this.ready = false;
    }
    if (this.sinkOpen && this.complete && this.backlog.length === 0) this.endSink(null);
  }

  private endSink(err: Error | null): void {
    if (!this.sinkOpen) return;
    this.sinkOpen = false;
    this.sink!.end(err);
  }
}

interface Head {
  status: number;
  headers: Headers;
}

/** Status line and headers of an HTTP/1.x response head (without the blank line). */
export function parseResponseHead(text: string): Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) throw Object.assign(new Error(`not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`), { code: 'HPE_INVALID_CONSTANT' });
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const at = line.indexOf(':');
    if (at <= 0 || /^[ \t]/.test(line)) throw Object.assign(new Error(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`), { code: 'HPE_INVALID_HEADER_TOKEN' });
    headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

function requestHead(target: URL, headers: Record<string, string>): string {
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`];
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new TypeError(`header ${k}: CR or LF in a header`);
    if (/^(host|connection|content-length|transfer-encoding)$/i.test(k)) continue;
    lines.push(`${k}: ${v}`);
  }
  lines.push('Connection: close', '', '');
  return lines.join('\r\n');
}

/** One GET on its own connection; resolves with the head, or `null` when node:http must carry it (a Transfer-Encoding). */
function rawGet(target: URL, headers: Record<string, string>, signal: AbortSignal): Promise<Answer<RawBody> | null> {
  const request = requestHead(target, headers);
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    let head: Buffer | null = Buffer.alloc(0);
    let remaining = Number.POSITIVE_INFINITY; // body bytes still to come (Infinity: until close)
    let settled = false;
    let handedOut = false; // the body is the caller's: its errors go to it
    const body = new RawBody({ resume: () => socket.resume(), pause: () => socket.pause(), fail: (err) => fail(err), destroy: () => socket.destroy() });
    const fail = (err: Error): void => {
      if (!settled) {
        settled = true;
        reject(err);
      } else if (handedOut && !body.complete) body.failReads(err);
      socket.destroy();
    };
    const deliver = (bytes: Buffer): boolean => {
      if (bytes.length === 0) return true;
      const take = Math.min(bytes.length, remaining);
      remaining -= take;
      const more = body.direct ? body.copyIn(bytes.subarray(0, take)) : body.push(Buffer.from(bytes.subarray(0, take)));
      if (remaining === 0) finish();
      return more;
    };
    /** a read straight into the sink's region */
    const landed = (n: number): boolean => {
      const take = Math.min(n, remaining);
      remaining -= take;
      const more = body.filledDirect(take);
      if (remaining === 0) finish();
      return more;
    };
    const finish = (): void => {
      if (body.complete) return;
      body.finish();
      socket.destroy();
    };
    const onHead = (bytes: Buffer): boolean => {
      const at = bytes.indexOf('\r\n\r\n');
      if (at < 0) {
        if (bytes.length > MAX_HEAD_BYTES) fail(Object.assign(new Error(`response head longer than ${MAX_HEAD_BYTES} bytes`), { code: 'HPE_HEADER_OVERFLOW' }));
        else head = Buffer.from(bytes); // a copy: `bytes` is the reused read buffer
        return true;
      }
      head = null;
      let parsed: Head;
      try {
        parsed = parseResponseHead(bytes.subarray(0, at).toString('latin1'));
      } catch (err) {
        fail(err as Error);
        return false;
      }
      settled = true;
      if (parsed.headers.has('transfer-encoding')) {
        socket.destroy();
        resolve(null);
        return false;
      }
      const declared = parsed.headers.get('content-length');
      if (declared !== null) {
        if (!/^\d+$/.test(declared)) {
          settled = false;
          fail(Object.assign(new Error(`bad Content-Length ${JSON.stringify(declared)}`), { code: 'HPE_INVALID_CONTENT_LENGTH' }));
          return false;
        }
        remaining = Number(declared);
      }
      handedOut = true;
      resolve({ status: parsed.status, headers: parsed.headers, raw: body, errorText: () => readText(body, EXCERPT_READ_BYTES) });
      if (remaining === 0) finish();
      return deliver(bytes.subarray(at + 4));
    };
    const socket = net.connect({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(target.port || 80),
      onread: {
        // asked after every read for the next one's memory: the sink's region once it reads direct
        buffer: () => body.directTarget() ?? buffer,
        callback: (n: number, buf: Uint8Array) => {
          if (body.complete) return false;
          if (buf !== buffer) return landed(n);
          const bytes = Buffer.from(buf.buffer, buf.byteOffset, n);
          if (head !== null) return onHead(head.length === 0 ? bytes : Buffer.concat([head, bytes]));
          return deliver(bytes);
        },
      },
    });
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(request));
    socket.on('error', (err) => fail(err));
    socket.on('end', () => {
      // a body without a length ends with its connection; any other end before it is complete is a cut
      if (handedOut && remaining === Number.POSITIVE_INFINITY) finish();
    });
    socket.on('close', () => fail(Object.assign(new Error(settled ? `connection closed with ${remaining} body bytes to come` : 'connection closed before a response head'), { code: 'ECONNRESET' })));
    body.on('close', () => {
      if (!body.complete) socket.destroy();
    });
    const onAbort = (): void => {
      const reason: unknown = signal.reason;
      fail(reason instanceof Error ? reason : new Error(String(reason)));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** At most `max` bytes of a body as text; the rest is not read. */
function readText(body: RawBody, max: number): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    const done = (): void => {
      body.destroy();
      resolve(Buffer.concat(parts).toString('utf8'));
    };
    body.on('data', (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= max) done();
    });
    body.on('end', done);
    body.on('error', done);
  });
}

/**
 * The data path's sender for whole-body GETs: plain-socket reads for http: GETs without a body,
 * node:http (`fallback`) for everything else, and for answers with a Transfer-Encoding.
 */
export function rawGetSender(fallback: NodeHttpSender): Sender<RawBody | import('node:http').IncomingMessage> {
  return async (url: string, method: string, headers: Record<string, string>, body: PreparedBody, signal: AbortSignal) => {
    const target = new URL(url);
    if (target.protocol !== 'http:' || method !== 'GET' || body.data !== undefined) return fallback.send(url, method, headers, body, signal);
    return (await rawGet(target, headers, signal)) ?? fallback.send(url, method, headers, body, signal);
  };
}
