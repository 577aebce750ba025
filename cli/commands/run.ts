// `edgeplane run <scenario...>`: run scenarios in an environment (sim, emulate, real), write
// results.ndjson, print a summary table and render the comparison report. One path
// for every environment: environments/run.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { LineWriter } from '../../common/index.js';
import { createLineWriter, createLogger, EXIT, InputError, NotSupportedError, openOutput, asOutputError, packageVersion, safeFolderName } from '../../common/index.js';
import {
  checkBudget,
  configureSimThreads,
  emulateEnvironment,
  emulateScenario,
  estimateRun,
  MAX_EMULATED_NODES,
  parseBudget,
  MAX_REAL_NODES,
  loadInventory,
  realEnvironment,
  realScenario,
  sshHosts,
  runScenario,
  simEnvironment,
  type Budget,
  type EnvName,
  type Environment,
  type Inventory,
  type ScenarioResult,
} from '../../environments/index.js';
import { containerLauncher } from '../../environments/containers/index.js';
import { planes, reportPlanes, scenarios, simWorkerEntry } from '../../planes/index.js';
import { renderReport } from '../../reports/index.js';
import { COUNT_LIMITS, type Scenario } from '../../scenarios/index.js';
import { integerOption, planeFilter, readCalibration } from '../options.js';
import { ProgressReporter } from '../progress.js';
import { printSummary, summaryJson } from '../summary.js';

/** What `run` writes at the top of its output folder (an older folder holding only these is replaced whole). */
const RUN_OUTPUT = { 'results.ndjson': 'file', 'index.html': 'file', 'report.md': 'file', charts: 'dir', 'edgeplane.log': 'file', work: 'dir' } as const;

interface RunFlags {
  plane?: string[];
  seed?: number;
  repeat?: number;
  out?: string;
  json?: boolean;
  verbose?: boolean;
  env: EnvName;
  report: boolean;
  calibration?: string;
  state?: string;
  cloud?: string;
  openrc?: string;
  hypervisor: 'sim' | 'qemu';
  nodes?: number;
  agentsPerProcess?: number;
  runtime: 'processes' | 'containers';
  engine?: string[];
  inventory?: string;
  standIn?: 'test-plane';
  nodeSide?: 'stand-in' | 'plane';
  budget?: Partial<Budget>;
  threads?: number;
  assertFidelity?: boolean;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run scenarios (shipped names or YAML files) and write results.ndjson, a summary and a report')
    .argument('<scenario...>', 'shipped scenario name (see `edgeplane list`) or path to a YAML file')
    .option('--plane <name...>', `only these planes (${planes.simulated.map((d) => d.name).join(', ')})`, planeFilter)
    .option('--seed <n>', 'override the scenario seed', integerOption('--seed', 0))
    .option('--repeat <n>', 'override the number of repeats', integerOption('--repeat', 1, COUNT_LIMITS.repeat))
    .option('--out <dir>', 'output folder (default: out/<first scenario name>, with -<env> for other environments than sim)')
    .addOption(new Option('--env <env>', 'where to run').choices(['sim', 'emulate', 'real']).default('sim'))
    .option('--calibration <file>', 'service times measured by `edgeplane calibrate` (applies to that plane)')
    .option('--state <dir>', "--env real, and --env emulate in native mode or with --node-side plane: the plane's state directory (default: the one `edgeplane up <plane>` uses)")
    .option('--cloud <name>', '--env real, openstack: a cloud of clouds.yaml (default $OS_CLOUD) instead of the local stack')
    .option('--openrc <file>', '--env real, openstack: an openrc file instead of the local stack')
    .addOption(new Option('--hypervisor <kind>', "--env real: the agents' hypervisor").choices(['sim', 'qemu']).default('sim'))
    .option(
      '--nodes <n>',
      `--env real, emulate: run the scenario's first N nodes (real: at most ${MAX_REAL_NODES}, emulate: at most ${MAX_EMULATED_NODES}; default: all, if that many)`,
      integerOption('--nodes', 1, MAX_EMULATED_NODES),
    )
    .addOption(new Option('--runtime <kind>', '--env emulate: run each agent process as a plain process or in a container (Docker Engine API, see --engine)').choices(['processes', 'containers']).default('processes'))
    .option('--engine <url...>', '--runtime containers: Docker Engine API endpoints on this machine (Docker, or `podman system service`), e.g. unix:///run/podman/podman.sock; agents are spread over them')
    .option(
      '--agents-per-process <n>',
      '--env emulate: agent machines per agent process (1: a process per node; default 1 up to 50 nodes, 20 above; nodes a crash fault hits run alone)',
      integerOption('--agents-per-process', 1, 253),
    )
    .option('--inventory <file>', '--env real: run the agents on the SSH nodes of this inventory (YAML, see README "SSH nodes") instead of this machine')
    .addOption(
      new Option('--node-side <side>', "--env emulate, agent mode: the agents' plane: the test plane standing in (default), or the plane's own running services (openstack: `up openstack`; --state)").choices([
        'stand-in',
        'plane',
      ]),
    )
    .addOption(new Option('--stand-in <plane>', "--env real: serve the plane's node side with a test plane edgeplane starts (no cloud needed)").choices(['test-plane']))
    .option('--json', 'print the summary as JSON instead of a table')
    .option('--no-report', 'do not render the HTML/Markdown report')
    .option('--verbose', 'logs to stderr as well as to the log file')
    .option('--budget <key=value,...>', 'raise the simulated run budget on purpose: events, total-events, instant-events, node-chunks, runs, memory (e.g. events=2e8,memory=16GiB)', parseBudget)
    .option('--threads <n>', 'simulator threads for repeats and planes (default: one per CPU; 1: main thread only; same results for any N)', integerOption('--threads', 1, 256))
    .option('--assert-fidelity', 'sim: stop with exit 1 if a run breaks a physics or causality invariant (they are checked and reported on every run)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 an SLA in a scenario was missed, 2 bad usage, invalid scenario or inventory, 3 environment error (e.g. an SSH node unreachable, refusing the key, or without Node.js >= 20).',
    )
    .action(async (names: string[], flags: RunFlags) => {
      process.exitCode = await run(names, flags);
    });
}

/** The environment the flags ask for; flags that do not apply to it are usage errors. */
function environmentFor(flags: RunFlags, outDir: string, inventory: Inventory | undefined): Environment {
  const realOnly = [
    ['--inventory', flags.inventory !== undefined],
    ['--stand-in', flags.standIn !== undefined],
    ['--state', flags.state !== undefined],
    ['--nodes', flags.nodes !== undefined],
    ['--cloud', flags.cloud !== undefined],
    ['--openrc', flags.openrc !== undefined],
  ] as const;
  if (flags.env !== 'emulate' && (flags.agentsPerProcess !== undefined || flags.runtime !== 'processes' || flags.engine !== undefined || flags.nodeSide !== undefined)) {
    throw new InputError('--agents-per-process, --runtime, --engine and --node-side apply to --env emulate only');
  }
  if (flags.env === 'real') {
    if (flags.calibration) throw new InputError('--calibration feeds the simulator; it does not apply to --env real');
    if (flags.standIn && flags.state !== undefined) throw new InputError('--stand-in serves its own test plane: --state does not apply');
    return realEnvironment({
      stateDir: flags.state,
      cloud: flags.cloud,
      openrc: flags.openrc,
      workDir: outDir,
      hypervisor: flags.hypervisor,
      nodes: flags.nodes,
      ...(inventory ? { hosts: sshHosts(inventory) } : {}),
      ...(flags.standIn ? { standIn: flags.standIn } : {}),
    });
  }
  if (flags.env === 'emulate') {
    if (flags.inventory !== undefined || flags.standIn !== undefined) throw new InputError('--inventory and --stand-in apply to --env real only');
    if (flags.hypervisor !== 'sim') throw new NotSupportedError('--env emulate with --hypervisor qemu (emulated nodes run the sim hypervisor: one qemu per node does not fit 2 cores)');
    if (flags.engine !== undefined && flags.runtime !== 'containers') throw new InputError('--engine applies to --runtime containers');
    return emulateEnvironment({
      workDir: outDir,
      nodes: flags.nodes,
      ...(flags.state !== undefined ? { stateDir: flags.state } : {}),
      ...(flags.agentsPerProcess !== undefined ? { agentsPerProcess: flags.agentsPerProcess } : {}),
      ...(flags.nodeSide !== undefined ? { nodeSide: flags.nodeSide } : {}),
      ...(flags.runtime === 'containers' ? { launcher: containerLauncher({ engines: flags.engine ?? [] }) } : {}),
    });
  }
  for (const [flag, set] of realOnly) if (set) throw new InputError(`${flag} applies to --env real only`);
  return simEnvironment;
}

async function run(names: string[], flags: RunFlags): Promise<number> {
  configureSimThreads({ threads: flags.threads, workerEntry: simWorkerEntry });
  const calibration = flags.calibration ? await readCalibration(flags.calibration) : undefined;
  const inventory = flags.env === 'real' && flags.inventory ? await loadInventory(flags.inventory) : undefined;
  const loaded = [];
  for (const name of names) loaded.push(await scenarios.load(name));
  const prepared = loaded.map(({ scenario, text, path }) => {
    const s = applyOverrides(scenario, flags, path);
    if (flags.env === 'sim') checkBudget(estimateRun(s), flags.budget, path);
    if (flags.env === 'emulate') return { scenario: emulateScenario(s, path, { nodes: flags.nodes, registry: planes }), text, path };
    if (flags.env !== 'real') return { scenario: s, text, path };
    const real = realScenario(s, path, { registry: planes, nodes: flags.nodes, explicitPlanes: flags.plane !== undefined, hostNodes: inventory?.nodes.length, standIn: flags.standIn });
    const left = s.planes.filter((p) => !real.planes.includes(p)).map((p) => p.name);
    if (left.length > 0 && !flags.json) process.stderr.write(`${path}: left out of the real run (not runnable for real yet): ${[...new Set(left)].join(', ')}\n`);
    return { scenario: real, text, path };
  });
  if (flags.env === 'emulate' && flags.state !== undefined && flags.nodeSide !== 'plane' && !prepared.some((p) => p.scenario.planes.some((x) => x.mode === 'native'))) {
    throw new InputError('--state applies to --env real, and to --env emulate with --node-side plane or a plane in native mode (otherwise the agents of an emulation talk to its own stand-in plane)');
  }
  const folder = safeFolderName(loaded[0].scenario.name);
  const out = openOutput(flags.out ?? join('out', flags.env === 'sim' ? folder : `${folder}-${flags.env}`), { what: 'output folder', owns: RUN_OUTPUT });
  const outDir = out.dir;
  let env: Environment;
  try {
    env = environmentFor(flags, out.path('work'), inventory);
  } catch (err) {
    out.discard();
    throw err;
  }
  const log = createLogger({ file: out.path('edgeplane.log'), verbose: flags.verbose });
  const version = packageVersion();
  const progress = new ProgressReporter(!flags.json && process.stderr.isTTY === true);
  const say = (m: string) => {
    if (!flags.json && env.name !== 'sim') process.stderr.write(`${m}\n`);
  };
  const results: { scenario: Scenario; result: ScenarioResult }[] = [];
  const resultsPath = join(outDir, 'results.ndjson');
  let writer: LineWriter | undefined;
  // where the run is, for the message when it fails part-way
  let at = 'before the first plane';
  let reportPath: string | null = null;
  try {
    const lines = createLineWriter(out.path('results.ndjson'), { what: 'results file' });
    writer = lines;
    try {
      for (const { scenario, text, path } of prepared) {
        log.info({ scenario: scenario.name, path, env: env.name, planes: scenario.planes.length, seed: scenario.seed, repeat: scenario.repeat }, 'running');
        const wallStart = performance.now();
        const result = await runScenario({
          env,
          scenario,
          scenarioText: text,
          registry: planes,
          version,
          calibration,
          logger: log,
          say,
          onProgress: (l, f, t) => progress.update(l, f, t),
          sink: (line) => lines.line(line),
          assertFidelity: flags.assertFidelity === true,
          onStep: ({ label, repeat }) => {
            at = `scenario ${scenario.name}, plane ${label}, repeat ${repeat + 1}/${scenario.repeat}`;
          },
        });
        log.info({ scenario: scenario.name, planes: result.planes.map((p) => p.counters), wallMs: Math.round(performance.now() - wallStart) }, 'ran');
        results.push({ scenario, result });
      }
    } finally {
      progress.stop();
    }
    lines.close();
    at = 'after the results were written';

    if (flags.json) process.stdout.write(`${JSON.stringify(summaryJson(results, resultsPath, env.name), null, 2)}\n`);
    else for (const r of results) printSummary(r.scenario, r.result, env.name);
    if (flags.report) {
      at = 'while rendering the report';
      const report = await renderReport({ samples: results.flatMap((r) => r.result.samples), metas: results.flatMap((r) => r.result.metas) }, out.staging, { planes: reportPlanes }).catch((err) => {
        throw asOutputError(err, outDir, 'report in');
      });
      reportPath = out.final(report.html);
    }
    out.commit();
  } catch (err) {
    const written = writer?.lines ?? 0;
    try {
      writer?.close();
    } catch {
      // the error being reported is the one that matters
    }
    log.error({ at, err: (err as Error)?.message }, 'run failed');
    const where = at.startsWith('scenario ') ? `at ${at}` : at;
    if (written === 0 && !existsSync(out.path('work'))) {
      // nothing worth keeping: no results, no agent work files (the error says what went wrong)
      out.discard();
      process.stderr.write(`edgeplane: run stopped ${where}; no output written\n`);
    } else {
      const kept = out.abort();
      process.stderr.write(`edgeplane: run stopped ${where}; partial output kept in ${kept} (results.ndjson: ${written} lines, from the planes finished before)\n`);
    }
    throw err;
  }
  if (!flags.json) {
    process.stdout.write(`\nresults: ${resultsPath}\n`);
    if (reportPath) process.stdout.write(`report:  ${reportPath}\n`);
    process.stdout.write(`log:     ${join(outDir, 'edgeplane.log')}\n`);
  }
  const missed = results.flatMap((r) => r.result.samples).filter((s) => s.metric === 'sla_missed' && s.value > 0);
  if (missed.length > 0) {
    const where = env.name === 'sim' ? '' : ` (${env.name})`;
    const which = [...new Set(missed.map((s) => `${s.labels.scenario} ${s.labels.plane}/${s.labels.mode}${where}: ${s.labels.kind}`))];
    process.stderr.write(`edgeplane: SLA missed (${which.length}):\n${which.map((w) => `  ${w}`).join('\n')}\n`);
    log.warn({ missed: which }, 'SLA missed');
    return EXIT.FAILED_CHECK;
  }
  return EXIT.OK;
}

function applyOverrides(scenario: Scenario, flags: RunFlags, path: string): Scenario {
  let s = scenario;
  if (flags.seed !== undefined) s = { ...s, seed: flags.seed };
  if (flags.repeat !== undefined) s = { ...s, repeat: flags.repeat };
  if (flags.plane) {
    const chosen = s.planes.filter((p) => flags.plane!.includes(p.name));
    if (chosen.length === 0) {
      throw new InputError(`${path}: --plane ${flags.plane.join(',')} matches none of the scenario's planes (${s.planes.map((p) => p.name).join(', ')})`);
    }
    s = { ...s, planes: chosen };
  }
  return s;
}
