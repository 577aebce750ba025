// The CI gate: compares a current run with a baseline, like with like, and says whether it regressed.
// Deterministic (sim) metrics are compared exactly (per-metric relative tolerance, default 0);
// noisy (emulate/real) ones with a two-sided Mann-Whitney U test over the repeats plus a minimum
// relative effect on the median.
import { InputError } from '../common/index.js';
import { formatP, formatPercent } from './format.js';
import { metricKey } from './model.js';
import { METRICS, type Labels, type MetricName, type Sample } from './sample.js';
import { mannWhitneyU, median, minimumAttainableP } from './stats.js';

export interface GateOptions {
  /** significance level of the Mann-Whitney test (noisy metrics); default 0.05 */
  alpha?: number;
  /** smallest relative change of the median that can fail a build (noisy metrics); default 0.05 */
  minEffect?: number;
  /** allowed relative worsening of deterministic metrics: one number for all, or per metric; default 0 */
  tolerance?: number | Record<string, number>;
  /** gate only these metric names (default: DEFAULT_GATE_METRICS) */
  metrics?: string[];
  /** count "too few samples to decide" as a failure; default false (reported, not failed) */
  failOnInconclusive?: boolean;
}

export type CheckStatus = 'regression' | 'missing' | 'inconclusive' | 'improved' | 'new' | 'pass';

export interface GateCheck {
  /** scenario · plane · mode · strategy · env · N nodes */
  group: string;
  /** metric, with its phase/kind/feature/service in brackets */
  metric: string;
  labels: Pick<Labels, 'scenario' | 'plane' | 'mode' | 'strategy' | 'env' | 'nodes'>;
  unit: string;
  better: 'lower' | 'higher';
  method: 'exact' | 'mann-whitney';
  baseline: number[];
  current: number[];
  /** signed relative change of the median (or, exact: the largest per-repeat change), current vs baseline */
  change?: number;
  p?: number;
  status: CheckStatus;
  reason: string;
}

export interface GateResult {
  ok: boolean;
  checks: GateCheck[];
  counts: Record<CheckStatus, number>;
  warnings: string[];
  options: Required<Omit<GateOptions, 'tolerance'>> & { tolerance: number | Record<string, number> };
}

/**
 * Gated by default: per-run aggregates with a direction (latency percentiles, phase means, makespan,
 * ratios to the bound, API calls and bytes per deployment, egress, placement accuracy, failures, SLA
 * misses). Per-node samples are not gated: their run aggregates are, and
 * in noisy environments the repeats (not the nodes, which share a run and are not independent) are the
 * samples of the Mann-Whitney test.
 */
export const DEFAULT_GATE_METRICS: string[] = Object.entries(METRICS)
  .filter(([, d]) => d.scope === 'run' && d.better !== 'none')
  .map(([name]) => name);

const DEFAULTS = { alpha: 0.05, minEffect: 0.05, tolerance: 0, failOnInconclusive: false };

export function runGate(baseline: Sample[], current: Sample[], opts: GateOptions = {}): GateResult {
  const options = resolveOptions(opts);
  const selected = new Set(options.metrics);
  const base = groupByKey(baseline.filter((s) => selected.has(s.metric)));
  const cur = groupByKey(current.filter((s) => selected.has(s.metric)));
  if (base.size === 0) throw new InputError(`the baseline has none of the gated metrics (${describeSelection(options.metrics)})`);
  if (cur.size === 0) throw new InputError(`the current results have none of the gated metrics (${describeSelection(options.metrics)})`);
  const common = [...base.keys()].filter((k) => cur.has(k));
  if (common.length === 0) throw new InputError('baseline and current results have nothing in common to compare', mismatchDetails(base, cur));

  const warnings: string[] = [];
  const checks: GateCheck[] = [];
  for (const [key, b] of base) {
    const c = cur.get(key);
    checks.push(c ? compare(b, c, options, warnings) : missing(b));
  }
  for (const [key, c] of cur) if (!base.has(key)) checks.push(added(c));
  checks.sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status) || a.group.localeCompare(b.group) || a.metric.localeCompare(b.metric));

  const counts = Object.fromEntries(STATUS_ORDER.map((s) => [s, 0])) as Record<CheckStatus, number>;
  for (const c of checks) counts[c.status]++;
  const ok = counts.regression === 0 && counts.missing === 0 && !(options.failOnInconclusive && counts.inconclusive > 0);
  return { ok, checks, counts, warnings: [...new Set(warnings)], options };
}

export const STATUS_ORDER: CheckStatus[] = ['regression', 'missing', 'inconclusive', 'improved', 'new', 'pass'];

function resolveOptions(opts: GateOptions): GateResult['options'] {
  const alpha = opts.alpha ?? DEFAULTS.alpha;
  const minEffect = opts.minEffect ?? DEFAULTS.minEffect;
  const tolerance = opts.tolerance ?? DEFAULTS.tolerance;
  if (!(alpha > 0 && alpha < 1)) throw new InputError(`alpha must be between 0 and 1 (exclusive), got ${alpha}`);
  if (!(minEffect >= 0)) throw new InputError(`the minimum effect must be a non-negative fraction, got ${minEffect}`);
  const tolerances = typeof tolerance === 'number' ? { '*': tolerance } : tolerance;
  for (const [m, t] of Object.entries(tolerances)) {
    if (!(t >= 0)) throw new InputError(`tolerance for ${m} must be a non-negative fraction, got ${t}`);
    if (m !== '*' && !(m in METRICS)) throw new InputError(`tolerance given for unknown metric "${m}"`);
  }
  const metrics = opts.metrics && opts.metrics.length > 0 ? opts.metrics : DEFAULT_GATE_METRICS;
  for (const m of metrics) {
    const def = (METRICS as Record<string, { scope: string; better: string }>)[m];
    if (!def) throw new InputError(`unknown metric "${m}"`, [`gateable metrics: ${gateable().join(', ')}`]);
    if (def.scope === 'node') throw new InputError(`per-node metric "${m}" is not gated; gate its run aggregates instead (e.g. deploy_latency_p95)`);
    if (def.better === 'none') throw new InputError(`metric "${m}" has no better direction, so it cannot regress`);
  }
  return { alpha, minEffect, tolerance, metrics, failOnInconclusive: opts.failOnInconclusive ?? DEFAULTS.failOnInconclusive };
}

function gateable(): string[] {
  return Object.entries(METRICS)
    .filter(([, d]) => d.scope !== 'node' && d.better !== 'none')
    .map(([n]) => n);
}

function describeSelection(metrics: string[]): string {
  return metrics.length > 6 ? `${metrics.slice(0, 6).join(', ')}, ...` : metrics.join(', ');
}

interface Group {
  group: string;
  metric: string;
  name: MetricName;
  labels: GateCheck['labels'];
  /** value per repeat, in repeat order */
  values: Map<number | 'all', number>;
  seeds: Set<number>;
}

/** Like with like: scenario, plane, mode, strategy, env, fleet size, metric (+ phase/kind/...). */
function groupByKey(samples: Sample[]): Map<string, Group> {
  const out = new Map<string, Group>();
  for (const s of samples) {
    const l = s.labels;
    const group = `${l.scenario} · ${l.plane} · ${l.mode} · ${l.strategy} · ${l.env} · ${l.nodes} nodes`;
    const metric = metricKey(s);
    const key = `${group} · ${metric}`;
    let g = out.get(key);
    if (!g) {
      g = {
        group,
        metric,
        name: s.metric as MetricName,
        labels: { scenario: l.scenario, plane: l.plane, mode: l.mode, strategy: l.strategy, env: l.env, nodes: l.nodes },
        values: new Map(),
        seeds: new Set(),
      };
      out.set(key, g);
    }
    // several samples for one repeat (e.g. files concatenated twice) keep the last
    g.values.set(l.repeat, s.value);
    g.seeds.add(l.seed);
  }
  return out;
}

function base(g: Group, status: CheckStatus, reason: string, current: number[] = []): GateCheck {
  const def = METRICS[g.name];
  return {
    group: g.group,
    metric: g.metric,
    labels: g.labels,
    unit: def.unit,
    better: def.better === 'higher' ? 'higher' : 'lower',
    method: g.labels.env === 'sim' ? 'exact' : 'mann-whitney',
    baseline: [...g.values.values()],
    current,
    status,
    reason,
  };
}

function missing(b: Group): GateCheck {
  return base(b, 'missing', 'in the baseline but not in the current results');
}

function added(c: Group): GateCheck {
  const check = base(c, 'new', 'not in the baseline', [...c.values.values()]);
  check.baseline = [];
  // a newly missed SLA is a regression even without a baseline value to compare with
  if (c.name === 'sla_missed' && check.current.some((v) => v > 0)) {
    check.status = 'regression';
    check.reason = 'SLA missed in the current run (not missed in the baseline)';
  }
  return check;
}

function compare(b: Group, c: Group, o: GateResult['options'], warnings: string[]): GateCheck {
  return b.labels.env === 'sim' ? compareExact(b, c, o, warnings) : compareNoisy(b, c, o);
}

function toleranceFor(o: GateResult['options'], metric: MetricName): number {
  if (typeof o.tolerance === 'number') return o.tolerance;
  return o.tolerance[metric] ?? o.tolerance['*'] ?? 0;
}

/** Signed relative change from a to b; ±Infinity from zero. */
export function relativeChange(a: number, b: number): number {
  if (a === b) return 0;
  if (a === 0) return b > 0 ? Infinity : -Infinity;
  return (b - a) / Math.abs(a);
}

function compareExact(b: Group, c: Group, o: GateResult['options'], warnings: string[]): GateCheck {
  const check = base(b, 'pass', '', [...c.values.values()]);
  if (!sameSet(b.seeds, c.seeds)) {
    warnings.push(`${b.group}: baseline seed ${[...b.seeds].join(',')} vs current seed ${[...c.seeds].join(',')}: exact comparison of different seeds`);
  }
  let pairs = [...b.values.keys()].filter((r) => c.values.has(r)).map((r) => [b.values.get(r)!, c.values.get(r)!] as const);
  if (pairs.length === 0) pairs = [[median(check.baseline), median(check.current)]];
  const tol = toleranceFor(o, b.name);
  const worse = (d: number) => (check.better === 'lower' ? d > 0 : d < 0);
  // the change that matters most: the worst one if any repeat got worse, else the largest improvement
  const changes = pairs.map(([x, y]) => relativeChange(x, y));
  const worst = changes.filter(worse).sort((x, y) => Math.abs(y) - Math.abs(x))[0];
  const bestGain = changes.filter((d) => d !== 0 && !worse(d)).sort((x, y) => Math.abs(y) - Math.abs(x))[0];
  check.change = worst ?? bestGain ?? 0;
  if (worst !== undefined && Math.abs(worst) > tol) {
    check.status = 'regression';
    check.reason = `deterministic metric got worse by ${pct(worst)} (tolerance ${pct(tol)})`;
  } else if (worst === undefined && bestGain !== undefined && Math.abs(bestGain) > tol) {
    check.status = 'improved';
    check.reason = `deterministic metric improved by ${pct(bestGain)}`;
  } else {
    check.reason = check.change === 0 ? 'identical' : `within tolerance (${pct(check.change)}, tolerance ${pct(tol)})`;
  }
  return check;
}

function compareNoisy(b: Group, c: Group, o: GateResult['options']): GateCheck {
  const check = base(b, 'pass', '', [...c.values.values()]);
  const m = check.baseline.length;
  const n = check.current.length;
  const effect = relativeChange(median(check.baseline), median(check.current));
  check.change = effect;
  const floor = minimumAttainableP(m, n);
  if (check.baseline.concat(check.current).every((v) => v === check.baseline[0])) {
    check.reason = 'identical in every repeat';
    return check;
  }
  if (floor > o.alpha) {
    check.status = 'inconclusive';
    check.reason = `too few samples to decide: ${m} baseline vs ${n} current repeats cannot reach p < ${o.alpha} (smallest possible ${formatP(floor)}); median change ${pct(effect)}`;
    return check;
  }
  const test = mannWhitneyU(check.current, check.baseline);
  check.p = test.p;
  const worse = check.better === 'lower' ? effect > 0 : effect < 0;
  if (test.p < o.alpha && Math.abs(effect) >= o.minEffect) {
    check.status = worse ? 'regression' : 'improved';
    check.reason = `median ${worse ? 'worse' : 'better'} by ${pct(effect)} (Mann-Whitney ${formatP(test.p)} < ${o.alpha})`;
  } else if (test.p < o.alpha) {
    check.reason = `significant (${formatP(test.p)}) but the median change ${pct(effect)} is below the minimum effect ${pct(o.minEffect)}`;
  } else {
    check.reason = `no significant difference (${formatP(test.p)}, median change ${pct(effect)})`;
  }
  return check;
}

function sameSet<T>(a: Set<T>, b: Set<T>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/** A signed relative change as a percentage (+5%, -2.5%, +∞%), never in exponent form. */
export function pct(fraction: number): string {
  return formatPercent(fraction);
}

function mismatchDetails(base: Map<string, Group>, cur: Map<string, Group>): string[] {
  const describe = (m: Map<string, Group>) => {
    const groups = [...new Set([...m.values()].map((g) => g.group))];
    return groups.length > 4 ? `${groups.slice(0, 4).join('; ')}; ... (${groups.length} in all)` : groups.join('; ');
  };
  return [`baseline: ${describe(base)}`, `current:  ${describe(cur)}`, 'runs are compared by scenario, plane, mode, strategy, env and fleet size'];
}
