// `edgeplane agreement <scenario>`: the scenario run emulated (real agents on emulated links), the
// simulator calibrated to the plane the agents talked to (from their own call records), the
// scenario simulated, and makespan and p50 deploy latency compared side by side with the
// difference. Writes results.ndjson (both environments), agreement.md/.json and the report.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { Calibration } from '../../adapters/index.js';
import { createLineWriter, createLogger, EXIT, InputError, openOutput, packageVersion, safeFolderName } from '../../common/index.js';
import { agreementMarkdown, calibratablePlanes, compareRuns, standInCalibration, type MeasuredCall } from '../../environments/emulate/index.js';
import { emulatedClients, emulateEnvironment, emulateScenario, runScenario, simEnvironment, type ScenarioResult } from '../../environments/index.js';
import { planes, reportPlanes, scenarios } from '../../planes/index.js';
import { renderReport } from '../../reports/index.js';
import { COUNT_LIMITS } from '../../scenarios/index.js';
import { integerOption, readCalibration } from '../options.js';

interface AgreementFlags {
  out?: string;
  repeat?: number;
  tolerance: number;
  report: boolean;
  verbose?: boolean;
  nodeSide: 'stand-in' | 'plane';
  state?: string;
  calibration?: string;
}

const OWNS = {
  'results.ndjson': 'file',
  'agreement.md': 'file',
  'agreement.json': 'file',
  'calibration.json': 'file',
  'index.html': 'file',
  'report.md': 'file',
  charts: 'dir',
  'edgeplane.log': 'file',
  work: 'dir',
} as const;

export function register(program: Command): void {
  program
    .command('agreement')
    .description('run a scenario emulated (--env emulate, needs root) and simulated, the simulator calibrated to the emulated plane; compare makespan and p50')
    .argument('<scenario>', 'shipped scenario name or YAML file (its whole fleet is emulated)')
    .option('--out <dir>', 'output folder (default: out/<scenario>-agreement)')
    .option('--repeat <n>', 'override the number of repeats', integerOption('--repeat', 1, COUNT_LIMITS.repeat))
    .option('--tolerance <percent>', 'largest |emulate - sim| / sim that agrees', integerOption('--tolerance', 0, 1000), 10)
    .option('--no-report', 'do not render the HTML/Markdown report')
    .option('--verbose', 'logs to stderr as well as to the log file')
    .addOption(
      new Option(
        '--node-side <side>',
        "the agents' plane: the test plane standing in, the simulator calibrated from the emulated calls (default); or the plane's own running services (openstack), the simulator calibrated on them as `edgeplane calibrate` does",
      )
        .choices(['stand-in', 'plane'])
        .default('stand-in'),
    )
    .option('--state <dir>', "--node-side plane: the plane's state directory (default: the one `edgeplane up <plane>` uses)")
    .option('--calibration <file>', '--node-side plane: a file `edgeplane calibrate` wrote, instead of measuring the running plane first')
    .addHelpText('after', '\nExit codes: 0 every metric agrees, 1 a metric differs by more than the tolerance, 2 bad usage or scenario, 3 environment error (not root, no ip/tc, the plane not running).')
    .action(async (name: string, flags: AgreementFlags) => {
      process.exitCode = await agreement(name, flags);
    });
}

async function agreement(name: string, flags: AgreementFlags): Promise<number> {
  const own = flags.nodeSide === 'plane';
  if (!own && (flags.state !== undefined || flags.calibration !== undefined)) throw new InputError('--state and --calibration apply to --node-side plane');
  const loaded = await scenarios.load(name);
  let scenario = flags.repeat !== undefined ? { ...loaded.scenario, repeat: flags.repeat } : loaded.scenario;
  scenario = emulateScenario(scenario, loaded.path, { registry: planes });
  // native planes deploy with their own services in the emulation: the simulator runs their own model, uncalibrated
  const unable = scenario.planes.filter((p) => p.mode !== 'native' && !calibratablePlanes().includes(p.name)).map((p) => p.name);
  if (unable.length > 0 && !own) throw new InputError(`${loaded.path}: the stand-in calibrates ${calibratablePlanes().join(', ')} only, not ${unable.join(', ')}`);
  const agentPlanes = [...new Set(scenario.planes.filter((p) => p.mode !== 'native').map((p) => p.name))];
  if (own && (agentPlanes.length !== 1 || scenario.planes.length !== 1))
    throw new InputError(`${loaded.path}: --node-side plane compares one plane in agent mode, not ${scenario.planes.map((p) => `${p.name}/${p.mode}`).join(', ')}`);
  const calibrateOwn = own ? planes.with(agentPlanes[0]!, 'calibrate', '`edgeplane agreement --node-side plane`') : null;
  const given = flags.calibration !== undefined ? await readCalibration(flags.calibration) : null;
  if (given && given.plane !== agentPlanes[0]) throw new InputError(`${flags.calibration}: a calibration of ${given.plane}, not of ${agentPlanes[0]}`);
  const out = openOutput(flags.out ?? join('out', `${safeFolderName(scenario.name)}-agreement`), { what: 'output folder', owns: OWNS });
  const log = createLogger({ file: out.path('edgeplane.log'), verbose: flags.verbose });
  const version = packageVersion();
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const lines = createLineWriter(out.path('results.ndjson'), { what: 'results file' });
  try {
    const calls = new Map<string, MeasuredCall[]>();
    const emulateEnv = emulateEnvironment({
      workDir: out.path('work'),
      onCalls: (plane, c) => calls.set(plane, [...(calls.get(plane) ?? []), ...c]),
      ...(own ? { nodeSide: 'plane' as const, ...(flags.state !== undefined ? { stateDir: flags.state } : {}) } : {}),
    });
    say(`${scenario.name}: emulating ${scenario.fleet.sites * scenario.fleet.nodesPerSite} nodes, ${scenario.repeat} repeat(s)`);
    const emulated = await runScenario({ env: emulateEnv, scenario, scenarioText: loaded.text, registry: planes, version, logger: log, say, sink: (l) => lines.line(l) });
    const results: { env: string; result: ScenarioResult; calibration: Calibration | null }[] = [{ env: 'emulate', result: emulated, calibration: null }];
    for (const plane of [...new Set(scenario.planes.filter((p) => p.mode === 'native').map((p) => p.name))]) {
      const one = { ...scenario, planes: scenario.planes.filter((p) => p.name === plane && p.mode === 'native') };
      say(`${scenario.name}: simulating ${plane} native with its own model`);
      const simulated = await runScenario({ env: simEnvironment, scenario: one, scenarioText: loaded.text, registry: planes, version, logger: log, sink: (l) => lines.line(l) });
      results.push({ env: 'sim', result: simulated, calibration: null });
    }
    for (const plane of agentPlanes) {
      let calibration: Calibration | null;
      if (calibrateOwn) {
        // the plane itself, measured as `edgeplane calibrate` measures it (after the emulation: its load is gone)
        say(`${scenario.name}: ${given ? `calibration from ${flags.calibration}` : `calibrating the simulator on the running ${plane}`}`);
        calibration =
          given ??
          (await calibrateOwn.calibrate!({
            stateDir: flags.state ?? calibrateOwn.server?.defaultStateDir ?? '.',
            samples: 30,
            openLog: () => log,
            onProgress: (m) => log.info(m),
          }));
      } else
        calibration = standInCalibration(
          plane,
          calls.get(plane) ?? [],
          `the test plane standing in for ${plane} in the emulated run of ${scenario.name} (${(calls.get(plane) ?? []).length} calls, path round trip removed)`,
        );
      if (calibration) writeFileSync(out.path('calibration.json'), `${JSON.stringify(calibration, null, 2)}\n`);
      // the simulated agents behave as the emulated ones did (their poll, start-up spread and backoff)
      const one = { ...scenario, planes: scenario.planes.filter((p) => p.name === plane && p.mode !== 'native'), clients: emulatedClients(scenario.fleet.sites * scenario.fleet.nodesPerSite) };
      say(`${scenario.name}: simulating ${plane}, calibrated to ${own ? 'the plane itself' : 'the stand-in'}`);
      const simulated = await runScenario({ env: simEnvironment, scenario: one, scenarioText: loaded.text, registry: planes, version, logger: log, calibration: calibration ?? undefined, sink: (l) => lines.line(l) });
      results.push({ env: 'sim', result: simulated, calibration });
    }
    lines.close();
    const flat = (env: string) =>
      results
        .filter((r) => r.env === env)
        .flatMap((r) => r.result.planes)
        .map((p) => ({ plane: p.plane.name, strategy: scenario.strategy, metrics: p.metrics }));
    const rows = compareRuns(flat('sim'), flat('emulate'), flags.tolerance);
    const notes = [
      own
        ? `both columns are means over the repeats; sim: the simulator with the service times of ${agentPlanes[0]}'s running services (${given ? flags.calibration : '`edgeplane calibrate`, measured after the emulated run'}); emulate: real agents with ${agentPlanes[0]}'s own node client, in network namespaces on tbf-shaped links, calling those services through their site routers`
        : 'both columns are means over the repeats; sim: the simulator with the service times measured from the emulated agents (native planes: their own model, uncalibrated); emulate: real agents (native planes: the plane itself) in network namespaces on tbf-shaped links',
      ...emulated.metas.flatMap((m) =>
        m.assumptions.filter((a) => ['network', 'control plane', 'agent private memory (mean)'].includes(a.name)).map((a) => `${a.name}: ${a.value}${a.unit ? ` ${a.unit}` : ''} (${a.source})`),
      ),
      ...(emulated.metas[0]?.machine ? [`machine: ${JSON.stringify(emulated.metas[0].machine)}`] : []),
    ];
    const md = agreementMarkdown({ scenario: scenario.name, rows, tolerancePct: flags.tolerance, notes });
    writeFileSync(out.path('agreement.md'), md);
    writeFileSync(out.path('agreement.json'), `${JSON.stringify({ scenario: scenario.name, tolerancePct: flags.tolerance, rows, calibrations: results.map((r) => r.calibration).filter(Boolean) }, null, 2)}\n`);
    if (flags.report) {
      await renderReport({ samples: results.flatMap((r) => r.result.samples), metas: results.flatMap((r) => r.result.metas) }, out.staging, { planes: reportPlanes });
    }
    out.commit();
    process.stdout.write(`${md}\nresults: ${join(out.dir, 'results.ndjson')}\nagreement: ${join(out.dir, 'agreement.md')}\n`);
    return rows.length > 0 && rows.every((r) => r.within) ? EXIT.OK : EXIT.FAILED_CHECK;
  } catch (err) {
    try {
      lines.close();
    } catch {
      // the error being reported is the one that matters
    }
    process.stderr.write(`edgeplane: agreement stopped; partial output kept in ${out.abort()}\n`);
    throw err;
  }
}
