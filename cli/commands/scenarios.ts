// `edgeplane validate` and `edgeplane list`.
import type { Command } from 'commander';
import { EdgeplaneError, EXIT } from '../../common/index.js';
import { scenarios } from '../../planes/index.js';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check scenario files against the schema; errors as file:line:col')
    .argument('<scenario...>', 'shipped scenario name or path to a YAML file')
    .addHelpText('after', '\nExit codes: 0 all valid, 2 at least one invalid.')
    .action(async (names: string[]) => {
      let failed = 0;
      for (const name of names) {
        try {
          const { scenario, path } = await scenarios.load(name);
          const nodes = scenario.fleet.sites * scenario.fleet.nodesPerSite;
          process.stdout.write(`ok  ${path} (${scenario.name}: ${nodes} nodes, ${scenario.planes.length} plane(s))\n`);
        } catch (err) {
          if (!(err instanceof EdgeplaneError)) throw err;
          failed++;
          process.stderr.write(`${err.message}\n`);
          for (const d of err.details) process.stderr.write(`  ${d}\n`);
        }
      }
      process.exitCode = failed > 0 ? EXIT.INVALID_INPUT : EXIT.OK;
    });

  program
    .command('list')
    .description('list the shipped scenarios')
    .action(async () => {
      const shipped = await scenarios.listShipped();
      const width = Math.max(...shipped.map((s) => s.name.length));
      for (const s of shipped) process.stdout.write(`${s.name.padEnd(width)}  ${s.description}\n`);
    });
}
