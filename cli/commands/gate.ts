// `edgeplane gate --baseline A --current B`: did the current run regress? Exit 0 no, 1 yes, 2 bad input.
import { type Command, InvalidArgumentError } from 'commander';
import { checkOutputFile, EXIT, writeOutputFile } from '../../common/index.js';
import { DEFAULT_GATE_METRICS, gateJUnit, gateMarkdown, readResults, runGate } from '../../reports/index.js';

interface GateFlags {
  baseline: string;
  current: string;
  alpha?: number;
  minEffect?: number;
  tolerance: Record<string, number>;
  metrics: string[];
  markdown?: string;
  junit?: string;
  failOnInconclusive?: boolean;
}

export function register(program: Command): void {
  program
    .command('gate')
    .description('compare a current run with a baseline and fail on a regression (for CI)')
    .requiredOption('--baseline <results>', 'baseline results file (NDJSON)')
    .requiredOption('--current <results>', 'current results file (NDJSON)')
    .option('--alpha <p>', 'significance level of the Mann-Whitney test for noisy metrics (default 0.05)', fraction('alpha'))
    .option('--min-effect <fraction>', 'smallest median change that can fail noisy metrics, e.g. 0.05 or 5% (default 5%)', fraction('min-effect'))
    .option('--tolerance <[metric=]fraction>', 'allowed worsening of simulated metrics, e.g. 0.01, 1% or makespan=2% (repeatable; default 0)', tolerance, {})
    .option('--metrics <names>', `gate only these metrics (comma-separated; default: ${DEFAULT_GATE_METRICS.length} run aggregates)`, list, [])
    .option('--markdown <file>', 'also write the Markdown summary to this file')
    .option('--junit <file>', 'write a JUnit XML report (one test case per metric)')
    .option('--fail-on-inconclusive', 'fail when there are too few repeats to decide')
    .addHelpText('after', '\nExit codes: 0 no regression, 1 regression (or a metric missing from the current run), 2 bad or mismatched input.')
    .action(async (flags: GateFlags) => {
      if (flags.markdown) checkOutputFile(flags.markdown, { what: '--markdown file' });
      if (flags.junit) checkOutputFile(flags.junit, { what: '--junit file' });
      const [baseline, current] = [await readResults([flags.baseline]), await readResults([flags.current])];
      const result = runGate(baseline.samples, current.samples, {
        alpha: flags.alpha,
        minEffect: flags.minEffect,
        tolerance: Object.keys(flags.tolerance).length ? flags.tolerance : undefined,
        metrics: flags.metrics.length ? flags.metrics : undefined,
        failOnInconclusive: flags.failOnInconclusive,
      });
      const markdown = gateMarkdown(result);
      process.stdout.write(markdown);
      if (flags.markdown) writeOutputFile(flags.markdown, markdown, { what: '--markdown file' });
      if (flags.junit) writeOutputFile(flags.junit, gateJUnit(result), { what: '--junit file' });
      process.exitCode = result.ok ? EXIT.OK : EXIT.FAILED_CHECK;
    });
}

function parseFraction(text: string, what: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e-?\d+)?)\s*(%?)\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError(`${what}: expected a fraction like 0.05 or a percentage like 5%`);
  return Number(m[1]) / (m[2] ? 100 : 1);
}

function fraction(what: string): (text: string) => number {
  return (text) => parseFraction(text, what);
}

function tolerance(text: string, prev: Record<string, number>): Record<string, number> {
  const eq = text.indexOf('=');
  const metric = eq < 0 ? '*' : text.slice(0, eq).trim();
  return { ...prev, [metric]: parseFraction(eq < 0 ? text : text.slice(eq + 1), `tolerance ${metric}`) };
}

function list(text: string, prev: string[]): string[] {
  return [
    ...prev,
    ...text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}
