// The data path's whole-body GET over a plain socket (adapters/transport/raw-get.ts) against a raw
// TCP server that answers exactly what each case needs: the bytes and the call record of a
// complete body, a body cut short, a malformed head, a bad Content-Length, an error status, a
// chunked answer (carried by node:http instead), and headers that would split the request.
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallRecorder, HttpError, NO_RETRY, parseResponseHead, Transport } from '../../../adapters/transport/index.js';

const BODY = Buffer.alloc(3 * 1024 * 1024 + 17);
for (let i = 0; i < BODY.length; i++) BODY[i] = (i * 7919) & 0xff;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let server: Server;
let base = '';
const requests: string[] = [];

function answer(sock: Socket, path: string): void {
  const head = (status: string, headers: string[]) => `HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
  switch (path) {
    case '/whole':
      sock.write(head('200 OK', [`Content-Length: ${BODY.length}`, 'Content-Type: application/octet-stream']));
      // in pieces, so the body arrives over many reads
      for (let at = 0; at < BODY.length; at += 200_000) sock.write(BODY.subarray(at, at + 200_000));
      return void sock.end();
    case '/cut':
      sock.write(head('200 OK', [`Content-Length: ${BODY.length}`]));
      sock.write(BODY.subarray(0, 1_000_000));
      return void sock.destroy();
    case '/until-close':
      sock.write(head('200 OK', []));
      sock.write(BODY.subarray(0, 123_456));
      return void sock.end();
    case '/split-head':
      // the head in two reads (the first read's bytes must survive the buffer's reuse)
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Le');
      return void setTimeout(() => sock.end('ngth: 11\r\n\r\nhello world'), 30);
    case '/garbage':
      return void sock.end('HTTX/9 what\r\n\r\n');
    case '/bad-length':
      return void sock.end(head('200 OK', ['Content-Length: 12abc']));
    case '/missing':
      return void sock.end(`${head('404 Not Found', ['Content-Length: 21', 'Content-Type: text/plain'])}no such image: img-x.`);
    case '/chunked':
      return void sock.end(`${head('200 OK', ['Transfer-Encoding: chunked'])}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`);
    default:
      return void sock.end(head('500 Internal Server Error', ['Content-Length: 0']));
  }
}

beforeAll(async () => {
  server = createServer((sock) => {
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      requests.push(got.slice(0, end));
      answer(sock, got.split(' ')[1]!);
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const read = async (s: AsyncIterable<Buffer>): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const p of s) parts.push(p);
  return Buffer.concat(parts);
};

function transport(): { t: Transport; rec: CallRecorder } {
  const rec = new CallRecorder();
  return { t: new Transport({ plane: 'openstack', recorder: rec, retry: NO_RETRY, timeoutMs: 5_000 }), rec };
}

describe('whole-body GET over a plain socket', () => {
  it('reads a body over many reads, byte-identical, one complete record; the request carries the headers and Connection: close', async () => {
    const { t, rec } = transport();
    const res = await t.stream(base, { op: 'x.whole', method: 'GET', path: '/whole', headers: { 'X-Auth-Token': 'tok' }, expect: [200] });
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(sha(await read(res.stream))).toBe(sha(BODY));
    await expect.poll(() => rec.records()).toHaveLength(1);
    expect(rec.records()[0]).toMatchObject({ op: 'x.whole', status: 200, bytesIn: BODY.length });
    expect(rec.records()[0]!.error).toBeUndefined();
    const sent = requests.find((r) => r.startsWith('GET /whole '))!;
    expect(sent).toMatch(/^GET \/whole HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(sent).toContain('\r\nX-Auth-Token: tok\r\n');
    expect(sent).toContain('\r\nConnection: close');
  });
  it('a head split over two reads', async () => {
    const { t } = transport();
    const res = await t.stream(base, { op: 'x.split', method: 'GET', path: '/split-head', expect: [200] });
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect((await read(res.stream)).toString()).toBe('hello world');
  });
  it('a body without a length ends with its connection', async () => {
    const { t } = transport();
    const res = await t.stream(base, { op: 'x.close', method: 'GET', path: '/until-close', expect: [200] });
    expect((await read(res.stream)).length).toBe(123_456);
  });
  it('a body cut short fails the reader and is recorded as a failure with the bytes that came', async () => {
    const { t, rec } = transport();
    const res = await t.stream(base, { op: 'x.cut', method: 'GET', path: '/cut', expect: [200] });
    await expect(read(res.stream)).rejects.toThrow(/body bytes to come/);
    await expect.poll(() => rec.records()).toHaveLength(1);
    expect(rec.records()[0]!.error).toMatch(/cut short|short read|not read to its end/);
    expect(rec.records()[0]!.bytesIn).toBeLessThanOrEqual(1_000_000);
  });
  it('a malformed status line or Content-Length is an error, not a guess', async () => {
    const { t } = transport();
    await expect(t.stream(base, { op: 'x.g', method: 'GET', path: '/garbage', expect: [200] })).rejects.toThrow(/HTTP\/1\.x status line/);
    await expect(t.stream(base, { op: 'x.l', method: 'GET', path: '/bad-length', expect: [200] })).rejects.toThrow(/Content-Length/);
    expect(() => parseResponseHead('HTTP/1.1 200 OK\r\n folded: no')).toThrow(/malformed header/);
    expect(parseResponseHead('HTTP/1.0 206 Partial\r\nA: 1\r\nB:2').headers.get('b')).toBe('2');
  });
  it('an error status is an HttpError with the body excerpt', async () => {
    const { t } = transport();
    const err = await t.stream(base, { op: 'x.m', method: 'GET', path: '/missing', expect: [200] }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(404);
    expect((err as Error).message).toContain('no such image: img-x.');
  });
  it('a chunked answer is fetched again through node:http, which decodes it', async () => {
    const { t } = transport();
    const before = requests.filter((r) => r.startsWith('GET /chunked ')).length;
    const res = await t.stream(base, { op: 'x.c', method: 'GET', path: '/chunked', expect: [200] });
    expect((await read(res.stream)).toString()).toBe('hello world');
    expect(requests.filter((r) => r.startsWith('GET /chunked ')).length - before).toBe(2);
  });
  it('refuses a header value that would split the request', async () => {
    const { t } = transport();
    await expect(t.stream(base, { op: 'x.h', method: 'GET', path: '/whole', headers: { 'X-Auth-Token': 'a\r\nEvil: 1' }, expect: [200] })).rejects.toThrow(/CR or LF/);
  });
});

/** Reads a body into fixed regions of `size` bytes, pausing after every `pauseEvery`-th fill and resuming on a timer. */
function readIntoRegions(
  res: { readInto?: (sink: import('../../../adapters/index.js').BlobSink) => import('../../../adapters/index.js').BlobReads },
  size: number,
  pauseEvery: number,
): Promise<{ bytes: Buffer; err: Error | null; pauses: number }> {
  return new Promise((resolve) => {
    const regions: Buffer[] = [];
    let cur = Buffer.alloc(size);
    let at = 0;
    let fills = 0;
    let pauses = 0;
    const reads = res.readInto!({
      target: () => cur.subarray(at),
      filled(n) {
        at += n;
        if (at === cur.length) {
          regions.push(cur);
          cur = Buffer.alloc(size);
          at = 0;
        }
        if (++fills % pauseEvery === 0) {
          pauses++;
          setTimeout(() => reads.resume(), 5);
          return false;
        }
        return true;
      },
      end(err) {
        resolve({ bytes: Buffer.concat([...regions, cur.subarray(0, at)]), err, pauses });
      },
    });
  });
}

describe("whole-body GET read straight into the caller's regions (readInto)", () => {
  it('fills the regions in order across pauses and resumes, byte-identical, one complete record', async () => {
    const { t, rec } = transport();
    const res = await t.stream(base, { op: 'x.into', method: 'GET', path: '/whole', expect: [200] });
    expect(res.readInto).toBeTypeOf('function');
    const got = await readIntoRegions(res, 1_000_003, 3);
    expect(got.err).toBeNull();
    expect(got.pauses).toBeGreaterThan(0);
    expect(sha(got.bytes)).toBe(sha(BODY));
    await expect.poll(() => rec.records()).toHaveLength(1);
    expect(rec.records()[0]).toMatchObject({ op: 'x.into', status: 200, bytesIn: BODY.length });
    expect(rec.records()[0]!.error).toBeUndefined();
  });
  it("the bytes of the head's last read are not lost (a head split over reads, then into the sink)", async () => {
    const { t } = transport();
    const res = await t.stream(base, { op: 'x.into-split', method: 'GET', path: '/split-head', expect: [200] });
    const got = await readIntoRegions(res, 4, 1);
    expect(got.bytes.toString()).toBe('hello world');
  });
  it('a body cut short ends the sink with an error and is recorded as a failure', async () => {
    const { t, rec } = transport();
    const res = await t.stream(base, { op: 'x.into-cut', method: 'GET', path: '/cut', expect: [200] });
    const got = await readIntoRegions(res, 65_536, 1_000_000);
    expect(got.err).toBeInstanceOf(Error);
    expect(got.bytes.length).toBeLessThanOrEqual(1_000_000);
    expect(sha(got.bytes)).toBe(sha(BODY.subarray(0, got.bytes.length)));
    await expect.poll(() => rec.records()).toHaveLength(1);
    expect(rec.records()[0]!.error).toMatch(/cut short|short read|not read to its end/);
  });
  it('stop() ends the reads deliberately: the sink hears nothing more', async () => {
    const { t } = transport();
    const res = await t.stream(base, { op: 'x.into-stop', method: 'GET', path: '/whole', expect: [200] });
    let ended = false;
    let seen = 0;
    await new Promise<void>((resolve) => {
      const buf = Buffer.alloc(100_000);
      res.readInto!({
        target: () => buf,
        filled(n) {
          seen += n;
          if (seen >= 300_000) {
            res.stop();
            setTimeout(resolve, 50);
            return false;
          }
          return true;
        },
        end: () => {
          ended = true;
        },
      });
    });
    expect(seen).toBeGreaterThanOrEqual(300_000);
    expect(seen).toBeLessThan(BODY.length);
    expect(ended).toBe(false);
  });
});
