// `edgeplane calibrate openstack`: measure each agent-path operation's service time on the running
// stack and write a calibration file for `edgeplane run --calibration FILE`.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger, InputError, NotSupportedError } from '../../common/index.js';
import { calibrateOpenStack, loadOpenStackStack, OPENSTACK_STATE_DIR } from '../../control-openstack/index.js';
import { integerOption } from '../options.js';

interface CalibrateFlags {
  state: string;
  samples: number;
  out: string;
  verbose?: boolean;
}

export function register(program: Command): void {
  program
    .command('calibrate')
    .description('measure the service time of each agent-path API operation on the running stack; write a calibration file')
    .argument('[plane]', 'control plane (only openstack runs real services)', 'openstack')
    .option('--state <dir>', 'state dir given to `edgeplane up`', OPENSTACK_STATE_DIR)
    .option('--samples <n>', 'samples per operation', integerOption('--samples', 1), 30)
    .option('--out <file>', 'calibration file to write', 'calibration-openstack.json')
    .option('-v, --verbose', 'logs to stderr as well')
    .addHelpText(
      'after',
      '\nUse the file with `edgeplane run <scenario> --calibration <file>`: the same file gives the same simulated results.\n' +
        'Exit codes: 0 ok, 2 bad usage, 3 the stack is not running or a call failed.',
    )
    .action(async (plane: string, flags: CalibrateFlags) => {
      if (plane === 'opennebula' || plane === 'cloudstack') throw new NotSupportedError(`calibrate ${plane}: only openstack runs as real local services`);
      if (plane !== 'openstack') throw new InputError(`unknown control plane ${JSON.stringify(plane)} (expected openstack)`);
      loadOpenStackStack(flags.state); // no stack: exit 3 before anything is written into the state dir
      const logger = createLogger({ file: `${flags.state}/logs/edgeplane-calibrate.log`, verbose: flags.verbose });
      const started = performance.now();
      const calibration = await calibrateOpenStack({ stateDir: flags.state, samples: flags.samples, logger, onProgress: (m) => process.stderr.write(`${m}\n`) });
      const out = resolve(flags.out);
      writeFileSync(out, `${JSON.stringify(calibration, null, 2)}\n`);
      const rows = Object.entries(calibration.ops).map(
        ([op, m]) => `  ${op.padEnd(30)} median ${(m.medianUs / 1000).toFixed(2).padStart(8)} ms   p95 ${(m.p95Us / 1000).toFixed(2).padStart(8)} ms   (${m.samples} samples)`,
      );
      process.stdout.write(`${rows.join('\n')}\n`);
      process.stdout.write(`calibration: ${out} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    });
}
