// The edge agent as an SSH node runs it (`node agent.mjs --config agent.yaml`): the same agent as
// `edgeplane agent`, bundled into one file by environments/ssh/bundle.ts (only the agent, the
// node clients and the logger: none of the CLI's reporting packages). It also stops (and stops
// its VM) when its stdin closes: edgeplane holds that stdin through the SSH channel that started
// it, so when edgeplane goes away (Ctrl-C, a crash, a cut connection), so does the agent.
import { join } from 'node:path';
import { createAgent, loadAgentConfig } from '../agent/index.js';
import { createLogger, EdgeplaneError } from '../common/index.js';
import { nodeClients } from '../planes/index.js';
import { untilSignal } from './signals.js';

async function main(args: string[]): Promise<number> {
  const at = args.indexOf('--config');
  const file = at >= 0 ? args[at + 1] : undefined;
  if (!file) {
    process.stderr.write('usage: agent.mjs --config <agent.yaml>\n');
    return 2;
  }
  const config = await loadAgentConfig(file, nodeClients);
  const log = createLogger({ file: join(config.stateDir, 'agent.log') });
  const agent = await createAgent(config, log, nodeClients);
  await agent.start();
  log.info({ node: config.node, plane: config.plane.kind, pid: process.pid, remote: true }, 'agent started');
  process.stdout.write(`EPAGENT ${process.pid}\n`);
  const stdinClosed = new Promise<'stdin closed'>((resolve) => {
    process.stdin.on('end', () => resolve('stdin closed'));
    process.stdin.on('error', () => resolve('stdin closed'));
    process.stdin.resume();
  });
  const outcome = await Promise.race([agent.wait().then(() => null), untilSignal(), stdinClosed, agent.gaveUp()]);
  if (typeof outcome === 'object' && outcome !== null) {
    await agent.stop({ stopVm: false });
    process.stderr.write(`agent ${config.node}: ${outcome.message}\n`);
    return 3;
  }
  if (outcome !== null) log.info({ reason: outcome }, 'stopping');
  await agent.stop();
  await agent.wait();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`agent: ${(err as Error).message}\n`);
    process.exit(err instanceof EdgeplaneError ? err.exitCode : 1);
  },
);
