// The user-space relay on the emulated path: a TCP forwarder in each site router that adds the
// path's one-way propagation delay in each direction (this kernel has no netem) and flips a byte
// in the body of a chunk response with the scenario's chunkCorruption probability (the agent's
// SHA-256 check must catch it). It forwards bytes as they come: bandwidth is the tc shaping on the
// links either side; backpressure is kept (a source is paused while too much waits for its sink).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { z } from 'zod';
import { streamRng, type Rng } from '../../edge-sim/index.js';

export const relayConfigSchema = z.strictObject({
  listen: z.strictObject({ host: z.string(), port: z.number().int().min(0).max(65535) }),
  target: z.strictObject({ host: z.string(), port: z.number().int().min(1).max(65535) }),
  /** one-way delay per client address (µs); clients not listed get `defaultDelayUs` */
  delayUs: z.record(z.string(), z.number().int().nonnegative()),
  defaultDelayUs: z.number().int().nonnegative(),
  /** probability that a 206 response body (a chunk) gets one byte flipped */
  corruption: z.number().min(0).max(1),
  /**
   * a 200 body at least this long is a whole-image stream (a plane's own download): each piece of
   * this many bytes gets one byte flipped with the same probability; absent: 200 bodies pass
   */
  streamPieceBytes: z.number().int().positive().optional(),
  seed: z.number().int(),
  /** the stream's name for the corruption draws (site and repeat) */
  stream: z.string(),
});
export type RelayConfig = z.infer<typeof relayConfigSchema>;

/** Bytes waiting for one sink before its source is paused. */
const HIGH_WATER = 1024 * 1024;

export interface RelayCounters {
  connections: number;
  bytesDown: number;
  bytesUp: number;
  responses: number;
  corrupted: number;
}

/**
 * Tracks HTTP/1.1 responses in the server-to-client stream (status line, Content-Length, body) so
 * a byte can be flipped inside a 206 body, never in a header. Anything it cannot follow (chunked
 * bodies, no length) turns it off for the rest of the connection: the bytes pass unchanged.
 */
export class ResponseCorrupter {
  private head = '';
  private bodyLeft = 0;
  /** offset in the current body of the byte to flip, or -1 */
  private flipAt = -1;
  private bodyPos = 0;
  /** a whole-image stream: where the current piece ends (its flip drawn at its start); 0: not one */
  private pieceEnd = 0;
  private lost = false;

  constructor(
    private readonly p: number,
    private readonly rng: Rng,
    private readonly counters: RelayCounters,
    private readonly streamPieceBytes = 0,
  ) {}

  /** Returns the buffer (modified in place when a byte is flipped). */
  pass(buf: Buffer): Buffer {
    if (this.lost || this.p <= 0) return buf;
    let i = 0;
    while (i < buf.length && !this.lost) {
      if (this.bodyLeft > 0) {
        if (this.pieceEnd > 0 && this.bodyPos === this.pieceEnd) this.nextPiece();
        const n = Math.min(this.bodyLeft, buf.length - i, this.pieceEnd > 0 ? this.pieceEnd - this.bodyPos : Number.POSITIVE_INFINITY);
        if (this.flipAt >= this.bodyPos && this.flipAt < this.bodyPos + n) {
          const at = i + (this.flipAt - this.bodyPos);
          buf[at] = buf[at]! ^ 0x5a;
          this.counters.corrupted++;
          this.flipAt = -1;
        }
        this.bodyPos += n;
        this.bodyLeft -= n;
        i += n;
        continue;
      }
      // in a head: read to the blank line (which may straddle pieces)
      const seen = this.head.length;
      const combined = this.head + buf.toString('latin1', i, Math.min(buf.length, i + 64 * 1024));
      const end = combined.indexOf('\r\n\r\n', Math.max(0, seen - 3));
      if (end === -1) {
        this.head = combined;
        i += combined.length - seen;
        if (this.head.length > 64 * 1024) this.lost = true;
        continue;
      }
      i += end + 4 - seen;
      this.head = combined.slice(0, end + 4);
      this.startBody(this.head);
      this.head = '';
    }
    return buf;
  }

  private startBody(head: string): void {
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? Number.NaN);
    if (!Number.isFinite(status)) {
      this.lost = true;
      return;
    }
    this.counters.responses++;
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (/\r\ntransfer-encoding:/i.test(head)) {
      this.lost = true;
      return;
    }
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) return;
    if (!length) {
      this.lost = true;
      return;
    }
    this.bodyLeft = Number(length[1]);
    this.bodyPos = 0;
    this.pieceEnd = 0;
    this.flipAt = -1;
    if (status === 206 && this.bodyLeft > 0 && this.rng.bernoulli(this.p)) this.flipAt = this.rng.int(0, this.bodyLeft - 1);
    else if (status === 200 && this.streamPieceBytes > 0 && this.bodyLeft >= this.streamPieceBytes) this.nextPiece();
  }

  /** The next piece of a whole-image stream starts at bodyPos: draw whether (and where) it is hit. */
  private nextPiece(): void {
    const len = Math.min(this.streamPieceBytes, this.bodyLeft);
    this.pieceEnd = this.bodyPos + len;
    this.flipAt = this.rng.bernoulli(this.p) ? this.bodyPos + this.rng.int(0, len - 1) : -1;
  }
}

/** src → dst with `delayMs` added to every piece; src paused while more than HIGH_WATER waits. */
function pipeDelayed(src: Socket, dst: Socket, delayMs: number, count: (n: number) => void, transform: (b: Buffer) => Buffer = (b) => b): void {
  let waiting = 0;
  let ended = false;
  const flush = (buf: Buffer) => {
    waiting -= buf.length;
    if (!dst.destroyed) dst.write(buf);
    count(buf.length);
    if (waiting + dst.writableLength < HIGH_WATER && src.isPaused()) src.resume();
    if (ended && waiting === 0) dst.end();
  };
  src.on('data', (b: Buffer) => {
    const buf = transform(b);
    waiting += buf.length;
    if (delayMs > 0) setTimeout(flush, delayMs, buf);
    else flush(buf);
    if (waiting + dst.writableLength >= HIGH_WATER) src.pause();
  });
  dst.on('drain', () => {
    if (waiting + dst.writableLength < HIGH_WATER && src.isPaused()) src.resume();
  });
  src.on('end', () => {
    ended = true;
    if (waiting === 0) dst.end();
  });
}

export class Relay {
  readonly counters: RelayCounters = { connections: 0, bytesDown: 0, bytesUp: 0, responses: 0, corrupted: 0 };
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly rng: Rng;

  constructor(private readonly c: RelayConfig) {
    this.rng = streamRng(c.seed, 'emulate-corruption', c.stream);
  }

  async start(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.c.listen.port, this.c.listen.host, () => resolve());
    });
    this.server = server;
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : this.c.listen.port;
  }

  private accept(client: Socket): void {
    this.counters.connections++;
    const addr = (client.remoteAddress ?? '').replace(/^::ffff:/, '');
    const delayMs = (this.c.delayUs[addr] ?? this.c.defaultDelayUs) / 1000;
    client.setNoDelay(true);
    client.pause();
    const upstream = connect({ host: this.c.target.host, port: this.c.target.port });
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    }
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    // a side's FIN reaches the other side through pipeDelayed, after the bytes still delayed
    // the connection itself takes the path's round trip (SYN out, SYN-ACK back)
    upstream.once('connect', () =>
      setTimeout(() => {
        const corrupter = new ResponseCorrupter(this.c.corruption, this.rng, this.counters, this.c.streamPieceBytes);
        pipeDelayed(client, upstream, delayMs, (n) => (this.counters.bytesUp += n));
        pipeDelayed(
          upstream,
          client,
          delayMs,
          (n) => (this.counters.bytesDown += n),
          (b) => corrupter.pass(b),
        );
        client.resume();
      }, 2 * delayMs),
    );
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
