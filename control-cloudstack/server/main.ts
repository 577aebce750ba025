// The CloudStack emulator's background process (started by `edgeplane up cloudstack`): runs the
// emulator and its built-in KVM agents until SIGTERM, then stops them and writes the database.
import { parseArgs } from 'node:util';
import { createLogger, EdgeplaneError } from '../../common/index.js';
import { markRunning, paths, runEmulator } from './stack.js';

const { values } = parseArgs({
  options: {
    state: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'core-hosts': { type: 'string' },
    'edge-hosts': { type: 'string' },
    'external-agents': { type: 'boolean' },
  },
});
const stateDir = values.state ?? '.edgeplane/cloudstack';
const logger = createLogger({ file: paths.log(stateDir) });
const running = await runEmulator({
  stateDir,
  port: Number(values.port ?? 48080),
  host: values.host,
  coreHosts: Number(values['core-hosts'] ?? 1),
  edgeHosts: Number(values['edge-hosts'] ?? 3),
  builtinAgents: !values['external-agents'],
  logger,
}).catch((err: unknown) => {
  // one line for `up` to show (it prints the log's last lines), and the documented exit code
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(err instanceof EdgeplaneError ? err.exitCode : 1);
});
markRunning(stateDir, { pid: process.pid, port: Number(new URL(running.emulator.url).port), url: running.emulator.url, builtinAgents: !values['external-agents'] });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  logger.info('stopping the CloudStack emulator');
  await running.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
