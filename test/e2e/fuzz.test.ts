// Hostile input, generated: scenarios, flags, results files and sealed images made bad in many
// ways (fast-check, fixed seed), fed to the built CLI as a user would. Every case must end within
// its time limit with a documented exit code, one clear message (`edgeplane: ...`), no stack trace,
// no "internal error", and no file written outside its own folder.
// EDGEPLANE_FUZZ_RUNS=N raises the cases per family (CI's long mode); the default keeps `npm test` quick.
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const CLI = join(__dirname, '../../dist/cli/main.js');
const RUNS = Number(process.env.EDGEPLANE_FUZZ_RUNS ?? 8);
const CASE_TIMEOUT_MS = 45_000;
// a family's ceiling grows with its cases (a loaded CI machine runs a CLI call in seconds, not the
// ~0.7 s of a quiet one); each case still has its own CASE_TIMEOUT_MS per call
const FAMILY_TIMEOUT_MS = Math.max(600_000, RUNS * 2 * 20_000);
const SEED = 20261201;
const DOCUMENTED = [0, 1, 2, 3];

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'edgeplane-fuzz-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let caseNo = 0;
/** A fresh folder for one case; everything the case writes must stay inside it. */
function caseDir(): string {
  const dir = join(root, `case-${++caseNo}`);
  mkdirSync(dir);
  return dir;
}

async function edgeplane(cwd: string, args: string[]) {
  const r = await execa(process.execPath, [CLI, ...args], { cwd, reject: false, timeout: CASE_TIMEOUT_MS, env: { NO_COLOR: '1' }, stdin: 'ignore' });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr), timedOut: r.timedOut, args };
}

/** What every case must satisfy, whatever the input. */
function wellBehaved(r: Awaited<ReturnType<typeof edgeplane>>, allowed: number[] = DOCUMENTED): void {
  const what = `edgeplane ${r.args.map((a) => JSON.stringify(a).slice(0, 80)).join(' ')}\n${r.stderr.slice(0, 2000)}`;
  expect(r.timedOut, `hang: ${what}`).toBe(false);
  expect(allowed, `exit ${r.code}: ${what}`).toContain(r.code);
  expect(r.stderr, `stack trace: ${what}`).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);
  expect(r.stderr, `internal error: ${what}`).not.toMatch(/internal error/);
  if (r.code === 2 || r.code === 3) expect(r.stderr.split('\n')[0], `a clear message: ${what}`).toMatch(/^(edgeplane: |error: |invalid scenario |scenario )\S/);
}

/** Nothing appeared in the fuzz root but the case folders. */
function nothingOutsideCases(): void {
  const stray = readdirSync(root).filter((f) => !/^case-\d+$/.test(f) && f !== 'fixtures');
  expect(stray, 'files written outside the case folder').toEqual([]);
}

const hostileNumbers = fc.constantFrom<unknown>(1e300, -1, 0, -0.5, 1.5, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1e-300, '', null, [], {}, 'NaN', 'Infinity', '-Infinity', true);
const hostileUnit = (unit: string) =>
  fc.constantFrom<unknown>(`1${'0'.repeat(400)}${unit}`, `1e30${unit}`, `0.000000001${unit}`, `-5${unit}`, `NaN${unit}`, `Infinity${unit}`, `0${unit}`, `${'9'.repeat(40)}${unit}`, unit, `1 ${unit} 2`);
const hostileName = fc.oneof(
  fc.constantFrom('../escaped', '../../escaped', '/tmp/edgeplane-fuzz-abs', '..', '.', 'a\u0000b', 'x'.repeat(300), 'con\nsole', '\u001b[31mred', 'sp ace/sl/ash'),
  fc.string({ maxLength: 40 }),
);

/** [path in the scenario, generator of a hostile value] */
const SCENARIO_FIELDS: [string[], fc.Arbitrary<unknown>][] = [
  [['name'], hostileName],
  [['seed'], hostileNumbers],
  [['repeat'], fc.oneof(hostileNumbers, fc.constant(100_000))],
  [['fleet', 'sites'], fc.oneof(hostileNumbers, fc.constant(1_000_000))],
  [['fleet', 'nodesPerSite'], fc.oneof(hostileNumbers, fc.constant(1_000_000))],
  [['fleet', 'node', 'access', 'down'], hostileUnit('Mbit')],
  [['fleet', 'node', 'access', 'rtt'], hostileUnit('ms')],
  [['fleet', 'node', 'access', 'loss'], hostileUnit('%')],
  [['fleet', 'node', 'disk'], hostileUnit('MB/s')],
  [['fleet', 'site', 'lan'], hostileUnit('Gbit')],
  [['origin', 'uplink'], hostileUnit('Gbit')],
  [['image', 'size'], hostileUnit('GiB')],
  [['image', 'chunk'], hostileUnit('MiB')],
  [['concurrency', 'rangesInFlight'], hostileNumbers],
  [['concurrency', 'maxConcurrentDeploys'], hostileNumbers],
  [['faults', 'crashRate'], fc.record({ perNodePerHour: fc.constantFrom<unknown>(1e300, 1e9, -1, 0), downFor: hostileUnit('s') })],
  [['faults', 'chunkCorruption'], hostileUnit('%')],
  [['sla', 'deployP99'], hostileUnit('s')],
];

function baseScenario(): Record<string, unknown> {
  return { name: 'fuzz', fleet: { sites: 2, nodesPerSite: 2 }, image: { size: '8MiB', chunk: '1MiB' }, planes: ['openstack', 'cloudstack'] };
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]!] = value;
}

const badScenario = fc
  .array(fc.tuple(fc.integer({ min: 0, max: SCENARIO_FIELDS.length - 1 }), fc.nat()), { minLength: 1, maxLength: 3 })
  .chain((picks) => fc.tuple(...picks.map(([i]) => SCENARIO_FIELDS[i]![1].map((v) => [SCENARIO_FIELDS[i]![0], v] as const))))
  .map((edits) => {
    const s = baseScenario();
    for (const [path, value] of edits) setPath(s, path, value);
    return s;
  });

describe('fuzz: hostile input to the built CLI', { timeout: FAMILY_TIMEOUT_MS }, () => {
  it(`scenarios (${RUNS} cases): validate and run agree, exit 0-2, clear message, nothing written outside`, async () => {
    await fc.assert(
      fc.asyncProperty(badScenario, async (s) => {
        const dir = caseDir();
        const file = join(dir, 'scenario.yaml');
        writeFileSync(file, stringify(s));
        const v = await edgeplane(dir, ['validate', file]);
        wellBehaved(v, [0, 2]);
        const r = await edgeplane(dir, ['run', file, '--no-report', '--repeat', '1']);
        wellBehaved(r, [0, 1, 2]);
        // what validate refuses, run refuses too (both exit 2)
        if (v.code === 2) expect(r.code, `validate said 2, run said ${r.code}: ${r.stderr.slice(0, 500)}`).toBe(2);
        nothingOutsideCases();
        expect(existsSync('/tmp/edgeplane-fuzz-abs')).toBe(false);
      }),
      { numRuns: RUNS * 2, seed: SEED, endOnFailure: true },
    );
  });

  it(`input files that are not scenarios (${RUNS} cases): exit 2 at once`, async () => {
    const kinds = fc.constantFrom('dir', 'fifo', 'dev-zero', 'huge', 'binary', 'yaml-bomb', 'empty', 'not-mapping');
    await fc.assert(
      fc.asyncProperty(kinds, fc.uint8Array({ minLength: 1, maxLength: 512 }), async (kind, bytes) => {
        const dir = caseDir();
        let path = join(dir, 'in.yaml');
        if (kind === 'dir') mkdirSync(path);
        else if (kind === 'fifo') await execa('mkfifo', [path]);
        else if (kind === 'dev-zero') path = '/dev/zero';
        else if (kind === 'huge') writeFileSync(path, `name: x\nplanes: [openstack]\ndescription: "${'y'.repeat(20 * 1024 * 1024)}"\n`);
        else if (kind === 'binary') writeFileSync(path, Buffer.from(bytes));
        else if (kind === 'yaml-bomb')
          writeFileSync(
            path,
            `a: &a ["x","x","x","x","x","x","x","x","x"]\n${Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`).join('\n')}\nname: x\nplanes: [openstack]\n`,
          );
        else if (kind === 'empty') writeFileSync(path, '');
        else writeFileSync(path, '- just\n- a list\n');
        const r = await edgeplane(dir, ['validate', path]);
        wellBehaved(r, [2]);
        nothingOutsideCases();
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it(`flags (${RUNS} cases): bad values are usage errors (exit 2), never a crash`, async () => {
    const dir0 = caseDir();
    const scenario = join(dir0, 'ok.yaml');
    writeFileSync(scenario, stringify(baseScenario()));
    const flag = fc.oneof(
      fc.constantFrom<string[]>(
        ['--seed', '-1'],
        ['--seed', '1e99'],
        ['--seed', '99999999999999999999'],
        ['--repeat', '0'],
        ['--repeat', '100000'],
        ['--plane', 'nova'],
        ['--plane', ''],
        ['--env', 'bogus'],
        ['--env', 'emulate'],
        ['--nodes', '0'],
        ['--nodes', '5'],
        ['--calibration', '/dev/zero'],
        ['--calibration', '/nonexistent/x.json'],
        ['--out', '/proc/edgeplane-fuzz'],
        ['--out', '/sys/edgeplane-fuzz'],
        ['--out', '/dev/null'],
        ['--out', scenario],
        ['--hypervisor', 'xen'],
        ['--bogus-flag'],
      ),
      fc.string({ maxLength: 20 }).map((s) => ['--seed', s]),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(flag, { minLength: 1, maxLength: 3 }), async (flags) => {
        const dir = caseDir();
        const r = await edgeplane(dir, ['run', scenario, '--no-report', ...flags.flat()]);
        wellBehaved(r, [0, 1, 2]);
        nothingOutsideCases();
        expect(existsSync('/proc/edgeplane-fuzz')).toBe(false);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it(`results files (${RUNS} cases): report and gate refuse bad lines with exit 2`, async () => {
    const value = fc.constantFrom<unknown>(1, -1, 1e308, 'NaN', null, 'x', [], {}, true);
    const line = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .record({
          metric: fc.constantFrom('deploy_latency', 'makespan', '', 'x'.repeat(300)),
          value,
          unit: fc.constantFrom('s', 'B', ''),
          labels: fc.constantFrom<unknown>({}, null, { scenario: 'x', plane: 'openstack', mode: 'agent', strategy: 'origin', env: 'sim', seed: 1, repeat: 0, nodes: 1 }),
        })
        .map((o) => JSON.stringify(o)),
      fc.constant('{"type":"meta"}'),
      fc.constant(`{"metric":"x","value":1,"unit":"s","labels":${'['.repeat(5000)}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 20 }), async (lines) => {
        const dir = caseDir();
        const file = join(dir, 'results.ndjson');
        writeFileSync(file, lines.join('\n'));
        wellBehaved(await edgeplane(dir, ['report', file, '--out', join(dir, 'report')]), [0, 2]);
        wellBehaved(await edgeplane(dir, ['gate', '--baseline', file, '--current', file]), [0, 1, 2]);
        nothingOutsideCases();
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it(`sealed images (${RUNS} cases): a tampered manifest or chunk is refused (exit 2), never opened`, async () => {
    const fx = join(root, 'fixtures');
    mkdirSync(fx, { recursive: true });
    const keys = join(fx, 'keys');
    wellBehaved(await edgeplane(fx, ['image', 'keygen', '--out', keys]), [0]);
    writeFileSync(join(fx, 'raw.img'), randomBytes(3 * 65536 + 123));
    const seal = await edgeplane(fx, [
      'image',
      'seal',
      join(fx, 'raw.img'),
      '--out',
      join(fx, 'sealed'),
      '--signing-key',
      join(keys, 'publisher.key'),
      '--data-key',
      join(keys, 'data.key'),
      '--id',
      'fuzz',
      '--image-version',
      '1',
      '--chunk-size',
      '64KiB',
    ]);
    wellBehaved(seal, [0]);
    const chunks = readdirSync(join(fx, 'sealed', 'chunks'), { recursive: true })
      .map(String)
      .filter((f) => statSync(join(fx, 'sealed', 'chunks', f)).isFile());
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    const tamper = fc.oneof(
      fc.record({ where: fc.constant('manifest' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ where: fc.constant('chunk' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ where: fc.constant('truncate' as const), at: fc.nat(), xor: fc.constant(0) }),
    );
    await fc.assert(
      fc.asyncProperty(tamper, async (t) => {
        const dir = caseDir();
        const sealed = join(dir, 'sealed');
        cpSync(join(fx, 'sealed'), sealed, { recursive: true });
        copyFileSync(join(keys, 'data.key'), join(dir, 'data.key'));
        const target = t.where === 'manifest' ? join(sealed, 'manifest.json') : join(sealed, 'chunks', chunks[t.at % chunks.length]!);
        const bytes = readFileSync(target);
        if (t.where === 'truncate') writeFileSync(target, bytes.subarray(0, t.at % bytes.length));
        else {
          bytes[t.at % bytes.length] ^= t.xor;
          writeFileSync(target, bytes);
        }
        const r = await edgeplane(dir, ['image', 'open', sealed, '--out', join(dir, 'opened.img'), '--data-key', join(dir, 'data.key'), '--trust', join(keys, 'publisher.pub')]);
        // a flip inside the manifest's JSON whitespace (\n to \r, space to tab) changes nothing it says
        wellBehaved(r, t.where === 'manifest' ? [0, 2] : [2]);
        if (r.code === 0) expect(readFileSync(join(dir, 'opened.img')).equals(readFileSync(join(fx, 'raw.img'))), 'an image opened from a tampered manifest').toBe(true);
        nothingOutsideCases();
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });
});
