// `edgeplane calibrate openstack` on the real stack: the file it writes validates, has every
// agent-path op with at least N samples and the live profile; `edgeplane run --calibration` uses
// it (the meta line names it) and the results differ from the uncalibrated model's; the same
// file gives byte-identical results.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseCalibration } from '../../../adapters/index.js';
import { CALIBRATED_OPS } from '../../../control-openstack/index.js';
import { acquireStack, type TestStack } from './stack.js';

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const SAMPLES = 8;
const work = mkdtempSync(join(tmpdir(), 'edgeplane-cal-'));
let ts: TestStack;

const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false, env: { NO_COLOR: '1' } });

beforeAll(async () => {
  ts = await acquireStack();
});

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await ts?.release();
});

it('calibrates every agent-path op and feeds the simulator', async () => {
  const file = join(work, 'cal.json');
  const cal = await cli('calibrate', 'openstack', '--state', ts.stack.stateDir, '--samples', String(SAMPLES), '--out', file);
  expect(cal.exitCode, cal.stderr).toBe(0);
  const c = parseCalibration(readFileSync(file, 'utf8'), file);
  expect(c.plane).toBe('openstack');
  expect(c.source).toMatch(/password_hash_rounds = \d+/);
  expect(c.source).not.toMatch(/\d{4}-\d{2}-\d{2}/);
  for (const op of CALIBRATED_OPS) {
    expect(c.ops[op], op).toBeDefined();
    expect(c.ops[op]!.samples).toBeGreaterThanOrEqual(SAMPLES);
    expect(c.ops[op]!.p95Us).toBeGreaterThanOrEqual(c.ops[op]!.medianUs);
  }
  expect(c.profile?.services.map((s) => s.name)).toEqual(['mariadb', 'keystone', 'glance', 'barbican']);

  const runs: Record<string, string> = {};
  for (const [name, extra] of [
    ['plain', []],
    ['cal1', ['--calibration', file]],
    ['cal2', ['--calibration', file]],
  ] as const) {
    const out = join(work, name);
    const r = await cli('run', 'default', '--plane', 'openstack', '--repeat', '1', '--no-report', '--out', out, ...extra);
    expect(r.exitCode, r.stderr).toBe(0);
    runs[name] = readFileSync(join(out, 'results.ndjson'), 'utf8');
  }
  expect(runs.cal1).toBe(runs.cal2);
  expect(runs.cal1).not.toBe(runs.plain);
  const meta = JSON.parse(runs.cal1!.split('\n')[0]!) as { type: string; calibration?: string };
  expect(meta.type).toBe('meta');
  expect(meta.calibration).toBe(c.source);
  // the calibrated model's assumptions cite the measurement
  expect(runs.cal1).toContain('"name":"service time of keystone.token.issue"');

  // a missing or invalid file is bad input (exit 2), without a stack trace
  const bad = join(work, 'bad.json');
  writeFileSync(bad, JSON.stringify({ plane: 'openstack', ops: { x: { medianUs: 5, p95Us: 1, samples: 1 } } }));
  for (const f of [join(work, 'missing.json'), bad]) {
    const r = await cli('run', 'default', '--plane', 'openstack', '--no-report', '--out', join(work, 'bad-run'), '--calibration', f);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }
});
