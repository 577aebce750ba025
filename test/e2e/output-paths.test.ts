// Output locations through the built CLI: names from input stay under out/, system paths and
// non-directories are refused at once (exit 2), an earlier good output survives a refused run.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const CLI = join(__dirname, '../../dist/cli/main.js');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'edgeplane-out-e2e-'));

function edgeplane(cwd: string, ...args: string[]) {
  return execa(process.execPath, [CLI, ...args], { cwd, reject: false, timeout: 30_000, env: { NO_COLOR: '1' } });
}

const scenario = (name: string): string => `
name: ${JSON.stringify(name)}
fleet: {sites: 1, nodesPerSite: 3}
image: {size: 8MiB, chunk: 1MiB}
planes: [openstack]
`;

function noStack(text: string): void {
  expect(text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
  expect(text).not.toContain('internal error');
}

describe('output paths', () => {
  it('a scenario named "../escaped" writes only under out/', async () => {
    const root = tmp();
    const cwd = join(root, 'work');
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'esc.yaml'), scenario('../escaped'));
    const r = await edgeplane(cwd, 'run', 'esc.yaml', '--no-report');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readdirSync(root)).toEqual(['work']);
    expect(readdirSync(cwd).sort()).toEqual(['esc.yaml', 'out']);
    expect(readdirSync(join(cwd, 'out'))).toEqual(['escaped']);
    expect(readdirSync(join(cwd, 'out', 'escaped')).sort()).toEqual(['edgeplane.log', 'results.ndjson']);
  });

  it('names with NUL or 300 characters become bounded folder names under out/', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'nul.yaml'), scenario('a\0b'));
    writeFileSync(join(cwd, 'long.yaml'), scenario('n'.repeat(300)));
    for (const f of ['nul.yaml', 'long.yaml']) {
      const r = await edgeplane(cwd, 'run', f, '--no-report');
      expect(r.exitCode, r.stderr).toBe(0);
      noStack(r.stderr);
    }
    const names = readdirSync(join(cwd, 'out'));
    expect(names).toContain('a-b');
    for (const n of names) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(100);
  });

  it('--out under /proc, /sys, /dev or onto a file exits 2 at once', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'ok.yaml'), scenario('ok'));
    for (const out of ['/proc/x', '/sys/x', '/dev/null', join(cwd, 'ok.yaml')]) {
      const started = performance.now();
      const r = await edgeplane(cwd, 'run', 'ok.yaml', '--out', out);
      expect(r.exitCode, `${out}: ${r.stderr}`).toBe(2);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(r.stderr).toContain(out);
      noStack(r.stderr);
    }
    expect(readdirSync(cwd)).toEqual(['ok.yaml']);
  });

  it('report and gate refuse the same places', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'ok.yaml'), scenario('ok'));
    expect((await edgeplane(cwd, 'run', 'ok.yaml', '--out', 'good', '--no-report')).exitCode).toBe(0);
    const results = join(cwd, 'good', 'results.ndjson');
    const report = await edgeplane(cwd, 'report', results, '--out', '/dev/null');
    expect(report.exitCode, report.stderr).toBe(2);
    noStack(report.stderr);
    const gate = await edgeplane(cwd, 'gate', '--baseline', results, '--current', results, '--markdown', '/proc/x');
    expect(gate.exitCode, gate.stderr).toBe(2);
    noStack(gate.stderr);
    const junit = await edgeplane(cwd, 'gate', '--baseline', results, '--current', results, '--junit', join(cwd, 'good'));
    expect(junit.exitCode, junit.stderr).toBe(2);
  });

  it('index.html being a directory exits 2 and leaves the earlier good output intact', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'ok.yaml'), scenario('ok'));
    const first = await edgeplane(cwd, 'run', 'ok.yaml', '--out', 'good');
    expect(first.exitCode, first.stderr).toBe(0);
    const before = readFileSync(join(cwd, 'good', 'results.ndjson'), 'utf8');
    const charts = readdirSync(join(cwd, 'good', 'charts'));
    rmSync(join(cwd, 'good', 'index.html'));
    mkdirSync(join(cwd, 'good', 'index.html'));
    const r = await edgeplane(cwd, 'run', 'ok.yaml', '--out', 'good', '--seed', '9');
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('index.html');
    noStack(r.stderr);
    expect(readFileSync(join(cwd, 'good', 'results.ndjson'), 'utf8')).toBe(before);
    expect(readdirSync(join(cwd, 'good', 'charts'))).toEqual(charts);
    expect(readdirSync(cwd).sort()).toEqual(['good', 'ok.yaml']);
  });

  it('a second run replaces the output folder as a whole, leaving no staging folders', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'ok.yaml'), scenario('ok'));
    expect((await edgeplane(cwd, 'run', 'ok.yaml', '--out', 'o')).exitCode).toBe(0);
    const r = await edgeplane(cwd, 'run', 'ok.yaml', '--out', 'o', '--seed', '2', '--no-report');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readdirSync(cwd).sort()).toEqual(['o', 'ok.yaml']);
    expect(readdirSync(join(cwd, 'o')).sort()).toEqual(['edgeplane.log', 'results.ndjson']);
    expect(readFileSync(join(cwd, 'o', 'results.ndjson'), 'utf8')).toContain('"seed":2');
  });
});
