// `edgeplane calibrate <plane>`: measure each agent-path operation's service time on the running
// plane and write a calibration file for `edgeplane run --calibration FILE`.
import type { Command } from 'commander';
import { checkOutputFile, createLogger, writeOutputFile } from '../../common/index.js';
import { planes } from '../../planes/index.js';
import { integerOption } from '../options.js';

interface CalibrateFlags {
  state?: string;
  cloud?: string;
  openrc?: string;
  samples: number;
  out?: string;
  verbose?: boolean;
}

export function register(program: Command): void {
  const able = planes.descriptors.filter((d) => d.calibrate !== undefined).map((d) => d.name);
  program
    .command('calibrate')
    .description('measure the service time of each agent-path API operation on the running plane; write a calibration file')
    .argument('[plane]', `control plane (${able.join(', ')})`, able[0] ?? 'openstack')
    .option('--state <dir>', "state dir given to `edgeplane up` (default: the plane's)")
    .option('--cloud <name>', 'openstack: a cloud of clouds.yaml (os-client-config search path; default $OS_CLOUD) instead of the local stack')
    .option('--openrc <file>', 'openstack: an openrc file instead of the local stack')
    .option('--samples <n>', 'samples per operation', integerOption('--samples', 1), 30)
    .option('--out <file>', 'calibration file to write (default: calibration-<plane>.json)')
    .option('-v, --verbose', 'logs to stderr as well')
    .addHelpText(
      'after',
      '\nUse the file with `edgeplane run <scenario> --calibration <file>`: the same file gives the same simulated results.\n' + 'Exit codes: 0 ok, 2 bad usage, 3 the stack is not running or a call failed.',
    )
    .action(async (plane: string, flags: CalibrateFlags) => {
      const d = planes.with(plane, 'calibrate', '`edgeplane calibrate`');
      const stateDir = flags.state ?? d.server?.defaultStateDir ?? '.';
      const outPath = flags.out ?? `calibration-${plane}.json`;
      checkOutputFile(outPath, { what: 'calibration file' }); // before measuring, not after
      const started = performance.now();
      const calibration = await d.calibrate({
        stateDir,
        cloud: flags.cloud,
        openrc: flags.openrc,
        samples: flags.samples,
        openLog: () => createLogger({ file: `${stateDir}/logs/edgeplane-calibrate.log`, verbose: flags.verbose }),
        onProgress: (m) => process.stderr.write(`${m}\n`),
      });
      const out = writeOutputFile(outPath, `${JSON.stringify(calibration, null, 2)}\n`, { what: 'calibration file' });
      const rows = Object.entries(calibration.ops).map(
        ([op, m]) => `  ${op.padEnd(30)} median ${(m.medianUs / 1000).toFixed(2).padStart(8)} ms   p95 ${(m.p95Us / 1000).toFixed(2).padStart(8)} ms   (${m.samples} samples)`,
      );
      process.stdout.write(`${rows.join('\n')}\n`);
      process.stdout.write(`calibration: ${out} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    });
}
