// The `report` and `gate` commands, driven through commander as the CLI does (cli/main.ts exits the
// process on import, so the commands are registered on a fresh program here).
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EdgeplaneError } from '../../../common/index.js';
import * as gate from '../../../cli/commands/gate.js';
import * as report from '../../../cli/commands/report.js';
import { makeResults, toNdjson } from './fixtures.js';

let dir: string;
let baseline: string;
let regressed: string;
let rerun: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeplane-cli-'));
  const write = async (name: string, r: ReturnType<typeof makeResults>) => {
    const p = join(dir, name);
    await writeFile(p, toNdjson(r));
    return p;
  };
  baseline = await write('baseline.ndjson', makeResults({ nodes: [60] }));
  rerun = await write('rerun.ndjson', makeResults({ nodes: [60] }));
  regressed = await write('regressed.ndjson', makeResults({ nodes: [60], latencyFactor: 1.2 }));
});

afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

/** Runs the command; returns the exit code the CLI would use and what it printed. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; message?: string }> {
  const program = new Command('edgeplane').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  report.register(program);
  gate.register(program);
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    process.exitCode = undefined;
    await program.parseAsync(args, { from: 'user' });
    return { code: typeof process.exitCode === 'number' ? process.exitCode : 0, stdout };
  } catch (err) {
    if (err instanceof EdgeplaneError) return { code: err.exitCode, stdout, message: err.message };
    if ((err as { code?: string }).code?.startsWith('commander.')) return { code: 2, stdout, message: (err as Error).message };
    throw err;
  } finally {
    vi.restoreAllMocks();
  }
}

describe('edgeplane gate', () => {
  it('exits 0 on an identical rerun and prints a Markdown summary', async () => {
    const r = await cli(['gate', '--baseline', baseline, '--current', rerun]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^### ✅ edgeplane gate: no regression/);
  });

  it('exits 1 on a 20% latency regression and writes Markdown and JUnit files', async () => {
    const md = join(dir, 'out', 'gate.md');
    const junit = join(dir, 'out', 'junit.xml');
    const r = await cli(['gate', '--baseline', baseline, '--current', regressed, '--markdown', md, '--junit', junit]);
    expect(r.code).toBe(1);
    expect(await readFile(md, 'utf8')).toBe(r.stdout);
    expect(await readFile(junit, 'utf8')).toMatch(/<failure type="regression"/);
  });

  it('--metrics narrows and --tolerance relaxes', async () => {
    const narrowed = await cli(['gate', '--baseline', baseline, '--current', regressed, '--metrics', 'api_calls_per_deploy,placement_accuracy']);
    expect(narrowed.code).toBe(0);
    expect(narrowed.stdout).toMatch(/no regression \(6 checks\)/);
    const tolerant = await cli(['gate', '--baseline', baseline, '--current', regressed, '--tolerance', '25%']);
    expect(tolerant.code).toBe(0);
  });

  it('exits 2 with a clear message on bad or mismatched input', async () => {
    const missing = await cli(['gate', '--baseline', join(dir, 'nope.ndjson'), '--current', rerun]);
    expect(missing).toMatchObject({ code: 2, message: expect.stringMatching(/nope\.ndjson: no such results file/) });
    const bad = join(dir, 'bad.ndjson');
    await writeFile(bad, '{"metric":"makespan"}\n');
    expect(await cli(['gate', '--baseline', bad, '--current', rerun])).toMatchObject({ code: 2, message: expect.stringMatching(/bad\.ndjson:1: invalid sample/) });
    const other = join(dir, 'other.ndjson');
    await writeFile(other, toNdjson(makeResults({ nodes: [60], scenario: 'other' })));
    expect(await cli(['gate', '--baseline', baseline, '--current', other])).toMatchObject({ code: 2, message: expect.stringMatching(/nothing in common/) });
    expect((await cli(['gate', '--baseline', baseline, '--current', rerun, '--alpha', 'lots'])).code).toBe(2);
    expect((await cli(['gate', '--baseline', baseline])).code).toBe(2);
  });
});

describe('edgeplane report', () => {
  it('renders several results files into one report and prints its path', async () => {
    const out = join(dir, 'report');
    const r = await cli(['report', baseline, regressed, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(join(out, 'index.html'));
    const html = await readFile(join(out, 'index.html'), 'utf8');
    expect(html).toContain('openstack · ');
    expect(html).toContain('regressed');
  });

  it('exits 2 on a malformed line', async () => {
    const bad = join(dir, 'bad2.ndjson');
    await writeFile(bad, `${toNdjson(makeResults({ nodes: [5], planes: ['openstack'], perNode: false }))}oops\n`);
    const r = await cli(['report', bad, '--out', join(dir, 'r2')]);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(/bad2\.ndjson:\d+: not valid JSON/);
  });
});
