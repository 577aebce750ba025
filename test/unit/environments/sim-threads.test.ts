// Repeats and planes on worker threads (the built CLI, as a user runs it; npm test builds dist/
// first): results.ndjson is byte-identical for any --threads, faults and corruption included.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const CLI = join(__dirname, '../../../dist/cli/main.js');

const yaml = `
name: threads
seed: 11
repeat: 3
fleet:
  sites: 3
  nodesPerSite: 8
  node: {access: {down: 100Mbit, up: 20Mbit, rtt: 30ms, loss: 0.01%}, boot: {median: 5s, p99: 15s}}
image: {size: 32MiB, chunk: 4MiB}
planes: [openstack, {name: opennebula, mode: native, placement: scheduler}, {name: cloudstack, mode: native}]
faults:
  crashes: [{at: 3s, nodes: 2, downFor: 5s}]
  linkDown: [{sites: [site-001], from: 2s, to: 6s}]
  chunkCorruption: 1%
`;

async function results(dir: string, file: string, threads: string): Promise<string> {
  const out = join(dir, `out-${threads}`);
  const r = await execa(process.execPath, [CLI, 'run', file, '--out', out, '--no-report', '--json', '--threads', threads], { reject: false });
  expect(r.exitCode, r.stderr).toBeLessThanOrEqual(1); // 1: an SLA missed is still a complete run
  return readFileSync(join(out, 'results.ndjson'), 'utf8');
}

describe('run --threads', () => {
  it('gives byte-identical results on 1, 2 and 4 threads (9 runs: 3 planes x 3 repeats)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeplane-threads-'));
    const file = join(dir, 'threads.yaml');
    writeFileSync(file, yaml);
    const one = await results(dir, file, '1');
    expect(one.split('\n').filter((l) => l.includes('"deploy_latency"')).length).toBeGreaterThan(0);
    expect(await results(dir, file, '2')).toBe(one);
    expect(await results(dir, file, '4')).toBe(one);
  });

  it('refuses a thread count that is not a whole number >= 1 (exit 2)', async () => {
    const r = await execa(process.execPath, [CLI, 'run', 'default', '--threads', '0', '--no-report'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--threads/);
  });
});
