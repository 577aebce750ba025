// `edgeplane agent --config agent.yaml [more.yaml ...]`: the edge agent on a node. Several
// configurations: one process drives several agent machines (an emulated site's agent host,
// docs/emulate.md), each with its own state directory, plane client (sockets) and log.
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createAgent, loadAgentConfig } from '../../agent/index.js';
import { createLogger, EnvironmentError, InputError } from '../../common/index.js';
import { nodeClients } from '../../planes/index.js';
import { untilSignal } from '../signals.js';

export function register(program: Command): void {
  program
    .command('agent')
    .description('run the edge agent: keep the assigned VM running (see docs/agent.md)')
    .requiredOption('--config <file...>', 'agent configuration (YAML); several: one process runs one agent machine per file, each with its own state directory')
    .option('--verbose', 'also log to stderr')
    .action(async (f: { config: string[]; verbose?: boolean }) => {
      const configs = await Promise.all(f.config.map((file) => loadAgentConfig(file, nodeClients)));
      const dirs = configs.map((c) => resolve(c.stateDir));
      const shared = dirs.find((d, i) => dirs.indexOf(d) !== i);
      if (shared !== undefined) throw new InputError(`two agent configurations share the state directory ${shared}: each agent machine needs its own`);
      const signal = untilSignal();
      const agents = [];
      for (const config of configs) {
        const log = createLogger({ file: join(config.stateDir, 'agent.log'), verbose: f.verbose });
        const agent = await createAgent(config, log, nodeClients);
        await agent.start();
        log.info({ node: config.node, plane: config.plane.kind, pid: process.pid, machines: configs.length }, 'agent started');
        agents.push({ config, log, agent });
      }
      const halts: string[] = [];
      await Promise.all(
        agents.map(async ({ config, log, agent }) => {
          const outcome = await Promise.race([agent.wait().then(() => null), signal, agent.gaveUp()]);
          if (typeof outcome === 'object' && outcome !== null) {
            // the workload keeps running; the next agent start reaps or restores it
            await agent.stop({ stopVm: false });
            halts.push(`edgeplane agent ${config.node}: ${outcome.message}`);
            if (agents.length > 1) process.stderr.write(`${halts[halts.length - 1]}\n`);
            return;
          }
          if (outcome !== null) log.info({ signal: outcome }, 'stopping');
          await agent.stop();
          await agent.wait();
        }),
      );
      // every machine gave up: the process ends as one agent's would (exit 3)
      if (halts.length === agents.length) throw new EnvironmentError(halts.join('\n'));
    });
}
