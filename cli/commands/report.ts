// `edgeplane report <results.ndjson...> --out DIR`: one comparison report from any set of results.
import type { Command } from 'commander';
import { reportPlanes } from '../../planes/index.js';
import { readResults, renderReport } from '../../reports/index.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('render results (from one or several runs, machines or versions) into one HTML + Markdown report')
    .argument('<results...>', 'results files (NDJSON samples and meta lines)')
    .option('-o, --out <dir>', 'output folder for index.html, report.md and charts/', 'out/report')
    .addHelpText('after', '\nExit codes: 0 written, 2 a results file is missing or malformed (file:line).')
    .action(async (paths: string[], opts: { out: string }) => {
      const results = await readResults(paths);
      const out = await renderReport(results, opts.out, { planes: reportPlanes });
      process.stdout.write(`report: ${out.html}\nmarkdown: ${out.markdown} (${out.charts.length} charts)\n`);
    });
}
