import { describe, expect, it } from 'vitest';
import { chunkFile, fastcdcSpec, validateChunking, type ChunkingSpec } from '../../../pipeline/index.js';
import { InputError } from '../../../common/index.js';
import { bytes, tempDir, writeTemp } from './helpers.js';
import { createHash } from 'node:crypto';

async function chunks(data: Buffer, spec: ChunkingSpec): Promise<Buffer[]> {
  const dir = await tempDir();
  const path = await writeTemp(dir, 'img', data);
  const out: Buffer[] = [];
  for await (const c of chunkFile(path, spec)) out.push(Buffer.from(c));
  return out;
}

const digests = (cs: Buffer[]) => cs.map((c) => createHash('sha256').update(c).digest('hex'));

describe('fixed chunking', () => {
  it('cuts at multiples of the size and keeps the tail', async () => {
    const data = bytes(3 * 65536 + 100);
    const cs = await chunks(data, { algorithm: 'fixed', size: 65536 });
    expect(cs.map((c) => c.length)).toEqual([65536, 65536, 65536, 100]);
    expect(Buffer.concat(cs).equals(data)).toBe(true);
  });

  it('yields nothing for an empty file', async () => {
    expect(await chunks(Buffer.alloc(0), { algorithm: 'fixed', size: 65536 })).toEqual([]);
  });

  it('rejects silly sizes', () => {
    expect(() => validateChunking({ algorithm: 'fixed', size: 10 })).toThrow(InputError);
    expect(() => validateChunking({ algorithm: 'fastcdc', min: 4096, avg: 6000, max: 65536 })).toThrow(/power of two/);
  });
});

describe('FastCDC chunking', () => {
  const spec = fastcdcSpec(16384) as Extract<ChunkingSpec, { algorithm: 'fastcdc' }>;

  it('reassembles to the input with sizes within min/max', async () => {
    const data = bytes(1_000_000);
    const cs = await chunks(data, spec);
    expect(Buffer.concat(cs).equals(data)).toBe(true);
    for (const c of cs.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(spec.min);
      expect(c.length).toBeLessThanOrEqual(spec.max);
    }
    const mean = data.length / cs.length;
    expect(mean).toBeGreaterThan(spec.avg / 2);
    expect(mean).toBeLessThan(spec.avg * 2);
  });

  it('resynchronises after an insertion: most chunks are shared, unlike fixed chunking', async () => {
    const v1 = bytes(1_000_000);
    const v2 = Buffer.concat([v1.subarray(0, 300_000), Buffer.from('inserted bytes!'), v1.subarray(300_000)]);
    const share = async (s: ChunkingSpec) => {
      const a = new Set(digests(await chunks(v1, s)));
      const b = digests(await chunks(v2, s));
      return b.filter((d) => a.has(d)).length / b.length;
    };
    expect(await share(spec)).toBeGreaterThan(0.85);
    expect(await share({ algorithm: 'fixed', size: 16384 })).toBeLessThan(0.4);
  });

  it('is deterministic', async () => {
    const data = bytes(300_000, 'other');
    expect(digests(await chunks(data, spec))).toEqual(digests(await chunks(data, spec)));
  });
});
