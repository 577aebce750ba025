// `edgeplane report <results.ndjson...> --out DIR`: one comparison report from any set of results.
import type { Command } from 'commander';
import { asOutputError, openOutput } from '../../common/index.js';
import { reportPlanes } from '../../planes/index.js';
import { readResults, renderReport } from '../../reports/index.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('render results (from one or several runs, machines or versions) into one HTML + Markdown report')
    .argument('<results...>', 'results files (NDJSON samples and meta lines)')
    .option('-o, --out <dir>', 'output folder for index.html, report.md and charts/', 'out/report')
    .addHelpText('after', '\nExit codes: 0 written, 2 a results file is missing or malformed (file:line), or the output folder cannot be written there; 3 the disk is full or failing.')
    .action(async (paths: string[], opts: { out: string }) => {
      // checked before the results are read; written into a staging folder, moved into place when complete
      const out = openOutput(opts.out, { what: 'report folder', owns: { 'index.html': 'file', 'report.md': 'file', charts: 'dir' } });
      let rendered: Awaited<ReturnType<typeof renderReport>>;
      try {
        const results = await readResults(paths);
        rendered = await renderReport(results, out.staging, { planes: reportPlanes }).catch((err) => {
          throw asOutputError(err, out.dir, 'report in');
        });
        out.commit();
      } catch (err) {
        const kept = out.abort();
        if (kept) process.stderr.write(`edgeplane: report not finished; partial output kept in ${kept}\n`);
        throw err;
      }
      process.stdout.write(`report: ${out.final(rendered.html)}\nmarkdown: ${out.final(rendered.markdown)} (${rendered.charts.length} charts)\n`);
    });
}
