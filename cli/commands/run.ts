// `edgeplane run <scenario...>`: simulate scenarios, write results.ndjson, print a summary
// table and render the comparison report.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { parseCalibration, type Calibration } from '../../adapters/index.js';
import { createLogger, EXIT, InputError, NotSupportedError, packageVersion } from '../../common/index.js';
import { simulateScenario, type SuiteResult } from '../../edge-sim/index.js';
import { renderReport } from '../../reports/index.js';
import type { Scenario } from '../../scenarios/index.js';
import { loadScenario } from '../../scenarios/index.js';
import { integerOption, planeFilter } from '../options.js';
import { ProgressReporter } from '../progress.js';
import { printSummary, summaryJson } from '../summary.js';

interface RunFlags {
  plane?: string[];
  seed?: number;
  repeat?: number;
  out?: string;
  json?: boolean;
  verbose?: boolean;
  env: 'sim' | 'emulate' | 'real';
  report: boolean;
  calibration?: string;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run scenarios (shipped names or YAML files) and write results.ndjson, a summary and a report')
    .argument('<scenario...>', 'shipped scenario name (see `edgeplane list`) or path to a YAML file')
    .option('--plane <name...>', 'only these planes (openstack, opennebula, cloudstack)', planeFilter)
    .option('--seed <n>', 'override the scenario seed', integerOption('--seed', 0))
    .option('--repeat <n>', 'override the number of repeats', integerOption('--repeat', 1))
    .option('--out <dir>', 'output folder (default: out/<first scenario name>)')
    .addOption(new Option('--env <env>', 'where to run').choices(['sim', 'emulate', 'real']).default('sim'))
    .option('--calibration <file>', 'service times measured by `edgeplane calibrate` (applies to that plane)')
    .option('--json', 'print the summary as JSON instead of a table')
    .option('--no-report', 'do not render the HTML/Markdown report')
    .option('--verbose', 'logs to stderr as well as to the log file')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 an SLA in a scenario was missed, 2 bad usage or invalid scenario, 3 environment error.',
    )
    .action(async (names: string[], flags: RunFlags) => {
      process.exitCode = await run(names, flags);
    });
}

async function run(names: string[], flags: RunFlags): Promise<number> {
  if (flags.env !== 'sim') throw new NotSupportedError(`--env ${flags.env} for \`edgeplane run\` (only the simulator, --env sim, is implemented so far)`);
  const calibration = flags.calibration ? readCalibration(flags.calibration) : undefined;
  const loaded = [];
  for (const name of names) loaded.push(await loadScenario(name));
  const outDir = resolve(flags.out ?? join('out', loaded[0].scenario.name));
  mkdirSync(outDir, { recursive: true });
  const log = createLogger({ file: join(outDir, 'edgeplane.log'), verbose: flags.verbose });
  const version = packageVersion();
  const progress = new ProgressReporter(!flags.json && process.stderr.isTTY === true);
  const results: { scenario: Scenario; result: SuiteResult }[] = [];
  const lines: string[] = [];
  for (const { scenario: original, text, path } of loaded) {
    const scenario = applyOverrides(original, flags, path);
    log.info({ scenario: scenario.name, path, planes: scenario.planes.length, seed: scenario.seed, repeat: scenario.repeat }, 'simulating');
    const wallStart = performance.now();
    const result = simulateScenario({ scenario, scenarioText: text, version, calibration, onProgress: (l, f, t) => progress.update(l, f, t) });
    const wallMs = performance.now() - wallStart;
    log.info({ scenario: scenario.name, events: result.events, wallMs: Math.round(wallMs) }, 'simulated');
    results.push({ scenario, result });
    for (const line of result.lines) lines.push(line);
  }
  progress.stop();
  const resultsPath = join(outDir, 'results.ndjson');
  writeFileSync(resultsPath, lines.join('\n') + '\n');

  if (flags.json) process.stdout.write(JSON.stringify(summaryJson(results, resultsPath), null, 2) + '\n');
  else for (const r of results) printSummary(r.scenario, r.result);
  let reportPath: string | null = null;
  if (flags.report) {
    const report = await renderReport(
      { samples: results.flatMap((r) => r.result.samples), metas: results.flatMap((r) => r.result.metas) },
      outDir,
    );
    reportPath = report.html;
  }
  if (!flags.json) {
    process.stdout.write(`\nresults: ${resultsPath}\n`);
    if (reportPath) process.stdout.write(`report:  ${reportPath}\n`);
    process.stdout.write(`log:     ${join(outDir, 'edgeplane.log')}\n`);
  }
  const missed = results.flatMap((r) => r.result.samples).filter((s) => s.metric === 'sla_missed' && s.value > 0);
  if (missed.length > 0) {
    const which = [...new Set(missed.map((s) => `${s.labels.scenario} ${s.labels.plane}/${s.labels.mode}: ${s.labels.kind}`))];
    process.stderr.write(`edgeplane: SLA missed (${which.length}):\n${which.map((w) => `  ${w}`).join('\n')}\n`);
    log.warn({ missed: which }, 'SLA missed');
    return EXIT.FAILED_CHECK;
  }
  return EXIT.OK;
}

function readCalibration(path: string): Calibration {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read calibration file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseCalibration(text, path);
}

function applyOverrides(scenario: Scenario, flags: RunFlags, path: string): Scenario {
  let s = scenario;
  if (flags.seed !== undefined) s = { ...s, seed: flags.seed };
  if (flags.repeat !== undefined) s = { ...s, repeat: flags.repeat };
  if (flags.plane) {
    const planes = s.planes.filter((p) => flags.plane!.includes(p.name));
    if (planes.length === 0) {
      throw new InputError(`${path}: --plane ${flags.plane.join(',')} matches none of the scenario's planes (${s.planes.map((p) => p.name).join(', ')})`);
    }
    s = { ...s, planes };
  }
  return s;
}
