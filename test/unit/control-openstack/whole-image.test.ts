// The OpenStack node plane on a Glance whose store refuses ranges (Ceph RBD): the refusal (400,
// glance_store's text) is learnt once per image and plane (concurrent ranges wait for the first
// one's answer: one 400 on the wire), later ranges of that image are refused without a call, and
// the image is read whole through `downloadBlob`, recorded in the instrumented transport: complete,
// stopped on purpose (not a failure), or cut short (a failure). Another project's image: 404.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRangesRefused } from '../../../adapters/index.js';
import { controlErrorKind } from '../../../adapters/transport/index.js';
import { OpenStackNodePlane, RangesRefusedError } from '../../../control-openstack/client/index.js';
import { FakeGlance } from './fake-glance.js';

const MiB = 1024 * 1024;
const data = Buffer.alloc(3 * MiB + 4321);
for (let i = 0; i < data.length; i += 32) createHash('sha256').update(String(i)).digest().copy(data, i);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let glance: FakeGlance;
beforeAll(async () => {
  glance = new FakeGlance();
  await glance.start();
  glance.addImage('img-a', data, ['proj-a']);
  glance.addImage('img-a2', data, ['proj-a']);
  glance.addImage('img-b', data, ['proj-b']);
});
afterAll(() => glance.stop());

async function node(project: string): Promise<OpenStackNodePlane> {
  const p = new OpenStackNodePlane(glance.nodeConfig(project));
  await p.login();
  return p;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

describe('OpenStack node plane: Glance refusing ranges (RBD store)', () => {
  it('learns the refusal once per image: concurrent ranges make one call, later ones none', async () => {
    const p = await node('proj-a');
    expect(p.rangesRefused('img-a')).toBe(false);
    const outcomes = await Promise.allSettled([0, 1, 2, 3].map((i) => p.downloadRange('img-a', i * MiB, MiB)));
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      const err = (o as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(RangesRefusedError);
      expect(isRangesRefused(err)).toBe(true);
      expect(controlErrorKind(err)).toBe('invalid');
    }
    expect((outcomes[0] as PromiseRejectedResult).reason.message).toMatch(/HTTP 400.*Getting images randomly from this store is not supported/);
    expect(glance.ranges('img-a')).toHaveLength(1);
    expect(p.rangesRefused('img-a')).toBe(true);
    await expect(p.downloadRange('img-a', 0, 10)).rejects.toBeInstanceOf(RangesRefusedError);
    expect(glance.ranges('img-a')).toHaveLength(1);
    // one 400 recorded, as Glance answered it
    expect(
      p.recorder
        .records()
        .filter((r) => r.op === 'glance.image.download_range')
        .map((r) => r.status),
    ).toEqual([400]);
    // another image is probed on its own (a multi-store Glance may hold it elsewhere)
    expect(p.rangesRefused('img-a2')).toBe(false);
    await expect(p.downloadRange('img-a2', 0, 10)).rejects.toBeInstanceOf(RangesRefusedError);
    expect(glance.ranges('img-a2')).toHaveLength(1);
    // a fresh plane (a restarted agent) learns it again, with one call
    const again = await node('proj-a');
    await expect(again.downloadRange('img-a', 0, 10)).rejects.toBeInstanceOf(RangesRefusedError);
    expect(glance.ranges('img-a')).toHaveLength(2);
  });

  it('streams the image whole, byte-identical, recorded as one complete download', async () => {
    const p = await node('proj-a');
    const blob = await p.downloadBlob('img-a');
    expect(sha(await readAll(blob.stream))).toBe(sha(data));
    await expect.poll(() => p.recorder.records().filter((r) => r.op === 'glance.image.download_whole')).toHaveLength(1);
    const [rec] = p.recorder.records().filter((r) => r.op === 'glance.image.download_whole');
    expect(rec).toMatchObject({ status: 200, bytesIn: data.length, path: '/v2/images/{image_id}/file' });
    expect(rec.error).toBeUndefined();
    expect(rec.stopped).toBeUndefined();
  });

  it('a stream stopped by the reader is recorded as stopped, not failed', async () => {
    const p = await node('proj-a');
    const blob = await p.downloadBlob('img-a');
    let got = 0;
    for await (const part of blob.stream as AsyncIterable<Buffer>) {
      got += part.length;
      if (got >= MiB) {
        blob.stop();
        break;
      }
    }
    await expect.poll(() => p.recorder.records().filter((r) => r.op === 'glance.image.download_whole')).toHaveLength(1);
    const [rec] = p.recorder.records().filter((r) => r.op === 'glance.image.download_whole');
    expect(rec.status).toBe(200);
    expect(rec.error).toBeUndefined();
    expect(rec.stopped).toMatch(/stopped by the reader after \d+ bytes/);
    expect(rec.bytesIn).toBeLessThan(data.length);
  });

  it('a stream cut short by the server fails the reader and is recorded as a failure', async () => {
    const p = await node('proj-a');
    glance.cut = { after: MiB + 17, streams: 1 };
    const blob = await p.downloadBlob('img-a');
    await expect(readAll(blob.stream)).rejects.toThrow();
    await expect.poll(() => p.recorder.records().filter((r) => r.op === 'glance.image.download_whole')).toHaveLength(1);
    const [rec] = p.recorder.records().filter((r) => r.op === 'glance.image.download_whole');
    expect(rec.status).toBe(200);
    expect(rec.error).toMatch(/cut short|short read|not read to its end/);
    expect(rec.bytesIn).toBeLessThan(data.length);
  });

  it("a node cannot stream another node's image (Glance's membership check: 404)", async () => {
    const p = await node('proj-a');
    const err = await p.downloadBlob('img-b').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).not.toBeNull();
    expect(controlErrorKind(err)).toBe('notFound');
    await expect(p.downloadRange('img-b', 0, 10)).rejects.toThrow(/HTTP 404/);
    expect(p.rangesRefused('img-b')).toBe(false);
  });
});
