// The gate's verdict for people (Markdown, fit for a pull-request comment) and for CI (JUnit XML).
import { XMLBuilder } from 'fast-xml-parser';
import { formatValue } from './format.js';
import { type CheckStatus, type GateCheck, type GateResult, pct } from './gate.js';
import { median } from './stats.js';

const ICON: Record<CheckStatus, string> = {
  regression: '❌',
  missing: '❌',
  inconclusive: '⚠️',
  improved: '🟢',
  new: '🆕',
  pass: '✅',
};

export function gateMarkdown(r: GateResult): string {
  const { counts, options } = r;
  const failed = counts.regression + counts.missing + (options.failOnInconclusive ? counts.inconclusive : 0);
  const headline = r.ok ? `### ✅ edgeplane gate: no regression (${r.checks.length} checks)` : `### ❌ edgeplane gate: ${failed} of ${r.checks.length} checks failed`;
  const tally = (['regression', 'missing', 'inconclusive', 'improved', 'new', 'pass'] as CheckStatus[])
    .filter((s) => counts[s] > 0)
    .map((s) => `${ICON[s]} ${counts[s]} ${s}`)
    .join(' · ');
  const tol =
    typeof options.tolerance === 'number'
      ? pct(options.tolerance)
      : Object.entries(options.tolerance)
          .map(([m, t]) => `${m} ${pct(t)}`)
          .join(', ');
  const out = [headline, '', tally, '', `Simulated metrics: exact, tolerance ${tol}. Emulated/real metrics: Mann-Whitney U over repeats, α = ${options.alpha}, minimum effect ${pct(options.minEffect)}.`, ''];
  const notable = r.checks.filter((c) => c.status !== 'pass' && c.status !== 'new');
  if (notable.length > 0) out.push(...checkTable(notable), '');
  if (r.warnings.length > 0) out.push('**Warnings**', '', ...r.warnings.map((w) => `- ${w}`), '');
  const rest = r.checks.filter((c) => c.status === 'pass' || c.status === 'new');
  if (rest.length > 0) {
    out.push(`<details><summary>${rest.length} passing or new checks</summary>`, '', ...checkTable(rest), '', '</details>', '');
  }
  return out.join('\n');
}

function checkTable(checks: GateCheck[]): string[] {
  const rows = checks.map((c) =>
    [`${ICON[c.status]} ${c.status}`, c.group, `\`${c.metric}\``, summary(c.baseline, c.unit), summary(c.current, c.unit), c.change === undefined ? '—' : pct(c.change), c.reason]
      .map((s) => s.replace(/\|/g, '\\|'))
      .join(' | '),
  );
  return ['| status | run | metric | baseline | current | change | why |', '|---|---|---|---:|---:|---:|---|', ...rows.map((r) => `| ${r} |`)];
}

function summary(values: number[], unit: string): string {
  if (values.length === 0) return '—';
  const m = formatValue(median(values), unit);
  return values.length > 1 ? `${m} (median of ${values.length})` : m;
}

/** JUnit XML: one test suite per scenario, one test case per check. */
export function gateJUnit(r: GateResult): string {
  const suites = new Map<string, GateCheck[]>();
  for (const c of r.checks) {
    const list = suites.get(c.labels.scenario) ?? [];
    list.push(c);
    suites.set(c.labels.scenario, list);
  }
  const failing = (c: GateCheck) => c.status === 'regression' || c.status === 'missing' || (c.status === 'inconclusive' && r.options.failOnInconclusive);
  const testsuite = [...suites.entries()].map(([scenario, checks]) => ({
    '@_name': `edgeplane gate: ${scenario}`,
    '@_tests': checks.length,
    '@_failures': checks.filter(failing).length,
    '@_skipped': checks.filter((c) => !failing(c) && c.status === 'inconclusive').length,
    '@_errors': 0,
    testcase: checks.map((c) => {
      const tc: Record<string, unknown> = {
        '@_classname': `${c.labels.scenario}.${c.labels.plane}.${c.labels.mode}.${c.labels.strategy}.${c.labels.env}.n${c.labels.nodes}`,
        '@_name': c.metric,
        '@_time': 0,
      };
      const detail = `baseline ${summary(c.baseline, c.unit)}, current ${summary(c.current, c.unit)}: ${c.reason}`;
      if (failing(c)) tc.failure = { '@_type': c.status, '@_message': c.reason, '#text': detail };
      else if (c.status === 'inconclusive') tc.skipped = { '@_message': c.reason };
      else tc['system-out'] = detail;
      return tc;
    }),
  }));
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });
  const xml = builder.build({
    testsuites: {
      '@_name': 'edgeplane gate',
      '@_tests': r.checks.length,
      '@_failures': r.checks.filter(failing).length,
      testsuite,
    },
  }) as string;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
}
