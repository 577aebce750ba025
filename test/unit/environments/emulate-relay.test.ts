// The relay of the emulated path, on loopback: it adds the configured one-way delay each way,
// keeps bytes intact (or flips exactly one byte inside a 206 body), and keeps backpressure.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { streamRng } from '../../../edge-sim/index.js';
import { Relay, ResponseCorrupter, type RelayCounters } from '../../../environments/emulate/index.js';

const counters = (): RelayCounters => ({ connections: 0, bytesDown: 0, bytesUp: 0, responses: 0, corrupted: 0 });

function response(status: number, body: Buffer, extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status} X\r\ncontent-type: application/octet-stream\r\ncontent-length: ${body.length}\r\n${extra}\r\n`, 'latin1'), body]);
}

describe('ResponseCorrupter', () => {
  it('flips exactly one byte inside each 206 body at p = 1, never in a header, however the stream is cut', () => {
    const bodies = [Buffer.alloc(5000, 1), Buffer.alloc(3, 2), Buffer.alloc(7000, 3)];
    const stream = Buffer.concat([response(206, bodies[0]!), response(200, Buffer.from('{"a":1}')), response(206, bodies[1]!), response(204, Buffer.alloc(0)), response(206, bodies[2]!)]);
    for (const cut of [1, 7, 100, 4096, stream.length]) {
      const c = counters();
      const k = new ResponseCorrupter(1, streamRng(1, 'test', String(cut)), c);
      const out = Buffer.concat(Array.from({ length: Math.ceil(stream.length / cut) }, (_, i) => k.pass(Buffer.from(stream.subarray(i * cut, (i + 1) * cut)))));
      expect(out.length).toBe(stream.length);
      const diff = [...out].flatMap((b, i) => (b !== stream[i] ? [i] : []));
      expect(diff).toHaveLength(3);
      expect(c.corrupted).toBe(3);
      expect(c.responses).toBe(5);
      // every flipped byte lies in a body, headers untouched
      expect(out.toString('latin1')).toContain('HTTP/1.1 200 X');
      expect(out.toString('latin1').match(/content-length: \d+/g)).toHaveLength(5);
    }
  });

  it('a whole-image 200 stream (streamPieceBytes): one byte flipped in each piece at p = 1, short 200 bodies (manifests, keys, JSON) untouched', () => {
    const image = Buffer.alloc(10_000, 7);
    const manifest = Buffer.from('{"manifest":"short"}');
    const stream = Buffer.concat([response(200, manifest), response(200, image), response(206, Buffer.alloc(50, 1))]);
    for (const cut of [3, 999, stream.length]) {
      const c = counters();
      const k = new ResponseCorrupter(1, streamRng(2, 'stream', String(cut)), c, 4096);
      const out = Buffer.concat(Array.from({ length: Math.ceil(stream.length / cut) }, (_, i) => k.pass(Buffer.from(stream.subarray(i * cut, (i + 1) * cut)))));
      const diff = [...out].flatMap((b, i) => (b !== stream[i] ? [i] : []));
      // pieces of 4096, 4096 and 1808 bytes of the image, and the 206 body: four flips
      expect(diff).toHaveLength(4);
      const imageStart = response(200, manifest).length + response(200, image).length - image.length;
      const inImage = diff.filter((d) => d >= imageStart && d < imageStart + image.length).map((d) => Math.floor((d - imageStart) / 4096));
      expect(inImage).toEqual([0, 1, 2]);
      expect(out.subarray(0, response(200, manifest).length).equals(response(200, manifest))).toBe(true);
      expect(c.corrupted).toBe(4);
    }
    // without streamPieceBytes a 200 passes unchanged
    const plain = new ResponseCorrupter(1, streamRng(2, 'plain'), counters());
    const only = response(200, image);
    expect(plain.pass(Buffer.from(only)).equals(only)).toBe(true);
  });

  it('passes bytes unchanged at p = 0, and after a chunked response (it cannot follow one)', () => {
    const c = counters();
    const k = new ResponseCorrupter(1, streamRng(1, 'x'), c);
    const chunked = Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 'latin1');
    const after = response(206, Buffer.alloc(100, 9));
    const out = Buffer.concat([k.pass(Buffer.from(chunked)), k.pass(Buffer.from(after))]);
    expect(out.equals(Buffer.concat([chunked, after]))).toBe(true);
    const z = new ResponseCorrupter(0, streamRng(1, 'y'), counters());
    const data = response(206, Buffer.alloc(1000, 4));
    expect(z.pass(Buffer.from(data)).equals(data)).toBe(true);
  });
});

describe('Relay', () => {
  let server: Server | null = null;
  let relay: Relay | null = null;
  afterEach(async () => {
    await relay?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = relay = null;
  });

  async function setup(delayUs: number, corruption: number, body: Buffer): Promise<string> {
    server = createServer((req, res) => {
      res.writeHead(req.headers.range ? 206 : 200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    relay = new Relay({ listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port }, delayUs: { '127.0.0.1': delayUs }, defaultDelayUs: 0, corruption, seed: 1, stream: 't' });
    return `http://127.0.0.1:${await relay.start()}/blob`;
  }

  it('adds the one-way delay each way (a new connection pays one more round trip), bytes intact', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 7);
    const url = await setup(100_000, 0, body);
    const t = performance.now();
    const got = Buffer.from(await (await fetch(url, { headers: { range: 'bytes=0-' } })).arrayBuffer());
    const ms = performance.now() - t;
    expect(got.equals(body)).toBe(true);
    // connect (2 x 100 ms) + request (100 ms) + response (100 ms)
    expect(ms).toBeGreaterThanOrEqual(395);
    expect(relay!.counters.bytesDown).toBeGreaterThan(body.length);
  });

  it('flips one byte of a chunk response at corruption 1: the body no longer matches', async () => {
    const body = Buffer.alloc(64 * 1024, 1);
    const url = await setup(0, 1, body);
    const got = Buffer.from(await (await fetch(url, { headers: { range: 'bytes=0-' } })).arrayBuffer());
    expect(got.length).toBe(body.length);
    expect([...got].filter((b, i) => b !== body[i])).toHaveLength(1);
    expect(relay!.counters.corrupted).toBe(1);
  });
});
