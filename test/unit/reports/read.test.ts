import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../common/index.js';
import { readResults } from '../../../reports/index.js';
import { makeResults, toNdjson } from './fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeplane-read-'));
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function inputError(p: Promise<unknown>): Promise<InputError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  expect((err as InputError).exitCode).toBe(2);
  return err as InputError;
}

describe('readResults', () => {
  it('reads samples and meta lines, tagging each with its source file', async () => {
    const r = makeResults({ planes: ['openstack', 'cloudstack'], nodes: [20], perNode: true });
    const a = await file('a.ndjson', toNdjson(r));
    const b = await file('b.ndjson', `\n${toNdjson(makeResults({ planes: ['opennebula'], nodes: [20] }))}\n\n`);
    const got = await readResults([a, b]);
    expect(got.metas.map((m) => m.plane)).toEqual(['openstack', 'cloudstack', 'opennebula']);
    expect(got.samples.length).toBe(r.samples.length + makeResults({ planes: ['opennebula'], nodes: [20] }).samples.length);
    expect(new Set(got.samples.map((s) => s.labels.source))).toEqual(new Set([a, b]));
    expect(got.metas[0].source).toBe(a);
    expect(got.metas[0].assumptions.length).toBeGreaterThan(0);
  });

  it('rejects malformed lines with file:line and a reason, listing several', async () => {
    const good = JSON.stringify(makeResults({ planes: ['openstack'], nodes: [5], perNode: false }).samples[0]);
    const path = await file('bad.ndjson', [good, '{not json', good, JSON.stringify({ metric: 'makespan', value: 'fast', unit: 's' }), '[1,2]', JSON.stringify({ type: 'meta', seed: 1 })].join('\n'));
    const err = await inputError(readResults([path]));
    expect(err.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not valid JSON`));
    expect(err.message).toContain('(4 malformed lines)');
    const details = err.details.join('\n');
    expect(details).toContain(`${path}:4: invalid sample: value:`);
    expect(details).toContain(`${path}:5: expected a JSON object`);
    expect(details).toMatch(/:6: invalid meta line: scenario/);
  });

  it('accepts any plane name but rejects an empty one', async () => {
    const s = makeResults({ planes: ['openstack'], nodes: [5], perNode: false }).samples[0];
    const other = await file('other-plane.ndjson', `${JSON.stringify({ ...s, labels: { ...s.labels, plane: 'nova' } })}\n`);
    expect((await readResults([other])).samples[0].labels.plane).toBe('nova');
    const path = await file('plane.ndjson', `${JSON.stringify({ ...s, labels: { ...s.labels, plane: '' } })}\n`);
    expect((await inputError(readResults([path]))).message).toMatch(/plane\.ndjson:1: invalid sample: labels\.plane/);
  });

  it('says which file is missing', async () => {
    const missing = join(dir, 'nope.ndjson');
    expect((await inputError(readResults([missing]))).message).toBe(`${missing}: no such results file`);
    expect((await inputError(readResults([dir]))).message).toMatch(/is a directory/);
    await inputError(readResults([]));
  });
});
