// `edgeplane run <scenario...>`: simulate scenarios, write results.ndjson, print a summary
// table and render the comparison report.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { parseCalibration, type Calibration } from '../../adapters/index.js';
import { createLogger, EXIT, InputError, NotSupportedError, packageVersion } from '../../common/index.js';
import { MAX_REAL_NODES, OPENSTACK_STATE_DIR, runRealScenario, type RealRunResult } from '../../control-openstack/index.js';
import { simulateScenario, type SuiteResult } from '../../edge-sim/index.js';
import { formatValue, renderReport, type Sample } from '../../reports/index.js';
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
  state?: string;
  hypervisor: 'sim' | 'qemu';
  nodes?: number;
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
    .option('--state <dir>', `--env real: the OpenStack stack's state directory (default ${OPENSTACK_STATE_DIR})`)
    .addOption(new Option('--hypervisor <kind>', '--env real: the agents\' hypervisor').choices(['sim', 'qemu']).default('sim'))
    .option('--nodes <n>', `--env real: run the scenario's first N nodes (at most ${MAX_REAL_NODES}; default: all, if that many)`, integerOption('--nodes', 1))
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
  if (flags.env === 'real') return runReal(names, flags);
  if (flags.env !== 'sim') throw new NotSupportedError(`--env ${flags.env} for \`edgeplane run\` (the simulator, --env sim, and the real OpenStack, --env real, are implemented)`);
  for (const [flag, set] of [['--state', flags.state !== undefined], ['--nodes', flags.nodes !== undefined]] as const) {
    if (set) throw new InputError(`${flag} applies to --env real only`);
  }
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

/** `--env real`: each scenario's rollout by real agents against the local OpenStack stack. */
async function runReal(names: string[], flags: RunFlags): Promise<number> {
  if (flags.calibration) throw new InputError('--calibration feeds the simulator; it does not apply to --env real');
  if (flags.plane && !(flags.plane.length === 1 && flags.plane[0] === 'openstack')) {
    throw new NotSupportedError(`--env real with --plane ${flags.plane.join(',')}: only the OpenStack plane runs for real (--plane openstack)`);
  }
  if (flags.nodes !== undefined && flags.nodes > MAX_REAL_NODES) {
    throw new InputError(`--nodes ${flags.nodes}: a real run starts one agent process per node on this machine; at most ${MAX_REAL_NODES}`);
  }
  const loaded = [];
  for (const name of names) loaded.push(await loadScenario(name));
  for (const { scenario, path } of loaded) {
    const p = scenario.planes.find((x) => x.name === 'openstack');
    if (!p) throw new InputError(`${path}: the scenario has no openstack plane, the only one --env real runs`);
    if (p.mode !== 'agent') throw new NotSupportedError(`${path}: openstack in ${p.mode} mode for real (the real edge agent is agent mode)`);
    const size = scenario.fleet.sites * scenario.fleet.nodesPerSite;
    if (flags.nodes === undefined && size > MAX_REAL_NODES) {
      throw new InputError(`${path}: ${size} nodes; a real run starts one agent process per node on this machine: give --nodes N (at most ${MAX_REAL_NODES})`);
    }
  }
  const outDir = resolve(flags.out ?? join('out', `${loaded[0].scenario.name}-real`));
  mkdirSync(outDir, { recursive: true });
  const log = createLogger({ file: join(outDir, 'edgeplane.log'), verbose: flags.verbose });
  const stackDir = resolve(flags.state ?? OPENSTACK_STATE_DIR);
  const say = (m: string) => {
    if (!flags.json) process.stderr.write(`${m}\n`);
  };
  const runs: { scenario: Scenario; result: RealRunResult }[] = [];
  for (const { scenario: original, text, path } of loaded) {
    const scenario = applyOverrides(original, { ...flags, plane: undefined }, path);
    const nodes = flags.nodes ?? scenario.fleet.sites * scenario.fleet.nodesPerSite;
    log.info({ scenario: scenario.name, path, nodes, hypervisor: flags.hypervisor, stackDir, repeat: scenario.repeat }, 'running for real');
    const result = await runRealScenario({
      scenario,
      scenarioText: text,
      stackDir,
      workDir: join(outDir, 'work', scenario.name),
      hypervisor: flags.hypervisor,
      nodes,
      version: packageVersion(),
      logger: log,
      onProgress: (m) => say(`${scenario.name}: ${m}`),
    });
    runs.push({ scenario, result });
  }
  const resultsPath = join(outDir, 'results.ndjson');
  writeFileSync(resultsPath, runs.flatMap((r) => r.result.lines).join('\n') + '\n');
  const samples = runs.flatMap((r) => r.result.samples);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ results: resultsPath, runs: runs.map((r) => ({ scenario: r.scenario.name, nodes: r.result.nodes.length, image: r.result.image, metrics: meanRunMetrics(r.result.samples) })) }, null, 2) + '\n');
  } else {
    for (const r of runs) printRealSummary(r.scenario, r.result);
  }
  let reportPath: string | null = null;
  if (flags.report) reportPath = (await renderReport({ samples, metas: runs.flatMap((r) => r.result.metas) }, outDir)).html;
  if (!flags.json) {
    process.stdout.write(`\nresults: ${resultsPath}\n`);
    if (reportPath) process.stdout.write(`report:  ${reportPath}\n`);
    process.stdout.write(`log:     ${join(outDir, 'edgeplane.log')}\n`);
  }
  const missed = samples.filter((s) => s.metric === 'sla_missed' && s.value > 0);
  if (missed.length > 0) {
    const which = [...new Set(missed.map((s) => `${s.labels.scenario} ${s.labels.plane}/${s.labels.mode} (real): ${s.labels.kind}`))];
    process.stderr.write(`edgeplane: SLA missed (${which.length}):\n${which.map((w) => `  ${w}`).join('\n')}\n`);
    return EXIT.FAILED_CHECK;
  }
  return EXIT.OK;
}

/** Mean over repeats of each per-run metric (no sub-labels). */
function meanRunMetrics(samples: Sample[]): Record<string, number> {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const s of samples) {
    if (s.labels.repeat === 'all' || s.labels.node !== undefined || s.labels.phase !== undefined || s.labels.kind !== undefined) continue;
    const e = sums.get(s.metric) ?? { sum: 0, n: 0 };
    e.sum += s.value;
    e.n++;
    sums.set(s.metric, e);
  }
  return Object.fromEntries([...sums].map(([m, e]) => [m, e.sum / e.n]));
}

function printRealSummary(scenario: Scenario, r: RealRunResult): void {
  const m = meanRunMetrics(r.samples);
  const unit = (metric: string) => r.samples.find((s) => s.metric === metric)?.unit ?? '';
  const cell = (metric: string) =>
    m[metric] === undefined ? '-' : metric === 'placement_accuracy' ? `${(m[metric] * 100).toFixed(1)}%` : formatValue(m[metric], unit(metric));
  const rows = [
    ['plane', 'p50', 'p95', 'p99', 'makespan', 'API calls/node', 'control B/node', 'origin egress', 'placement', 'failures'],
    ['openstack/agent (real)', ...['deploy_latency_p50', 'deploy_latency_p95', 'deploy_latency_p99', 'makespan', 'api_calls_per_deploy', 'control_bytes_per_deploy', 'origin_egress_bytes', 'placement_accuracy', 'failures'].map(cell)],
  ];
  process.stdout.write(
    `\n${scenario.name} (real): ${r.nodes.length} node(s), ${r.image.bytes} B image (${r.image.chunks} chunks), ${scenario.repeat} repeat(s) (mean over repeats)\n`,
  );
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  rows.forEach((row, k) => {
    process.stdout.write(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ') + '\n');
    if (k === 0) process.stdout.write(widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
  });
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
