// `edgeplane agent --config agent.yaml`: the edge agent on a node.
import { join } from 'node:path';
import type { Command } from 'commander';
import { createAgent, loadAgentConfig } from '../../agent/index.js';
import { createLogger, EnvironmentError } from '../../common/index.js';
import { nodeClients } from '../../planes/index.js';
import { untilSignal } from '../signals.js';

export function register(program: Command): void {
  program
    .command('agent')
    .description('run the edge agent: keep the assigned VM running (see docs/agent.md)')
    .requiredOption('--config <file>', 'agent configuration (YAML)')
    .option('--verbose', 'also log to stderr')
    .action(async (f: { config: string; verbose?: boolean }) => {
      const config = await loadAgentConfig(f.config, nodeClients);
      const log = createLogger({ file: join(config.stateDir, 'agent.log'), verbose: f.verbose });
      const agent = await createAgent(config, log, nodeClients);
      await agent.start();
      log.info({ node: config.node, plane: config.plane.kind, pid: process.pid }, 'agent started');
      const outcome = await Promise.race([agent.wait().then(() => null), untilSignal(), agent.gaveUp()]);
      if (typeof outcome === 'object' && outcome !== null) {
        // the workload keeps running; the next agent start reaps or restores it
        await agent.stop({ stopVm: false });
        throw new EnvironmentError(`edgeplane agent ${config.node}: ${outcome.message}`);
      }
      if (outcome !== null) log.info({ signal: outcome }, 'stopping');
      await agent.stop();
      await agent.wait();
    });
}
