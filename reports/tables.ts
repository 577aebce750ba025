// The report's tables as plain data, rendered by both the HTML and the Markdown writers.
import { sampleStandardDeviation } from 'simple-statistics';
import { runValue } from './charts/data.js';
import { formatMeanSpread, formatValue, isSpread } from './format.js';
import type { Meta } from './meta.js';
import type { Plane, ReportModel, Run, ScenarioData } from './model.js';
import { METRICS, type MetricName, type Sample } from './sample.js';
import { mean, quantile, sortedAscending } from './stats.js';

export interface Cell {
  text: string;
  /** the best value of its row */
  best?: boolean;
}

export interface Row {
  label: string;
  /** a row that starts a group gets the group's name */
  group?: string;
  cells: Cell[];
}

export interface Table {
  id: string;
  title: string;
  columns: string[];
  rows: Row[];
  note?: string;
}

const COMPARISON_ROWS: { group: string; metrics: MetricName[] }[] = [
  { group: 'Latency', metrics: ['deploy_latency_p50', 'deploy_latency_p95', 'deploy_latency_p99', 'deploy_latency_max', 'makespan'] },
  {
    group: 'Complexity',
    metrics: [
      'complexity_services',
      'complexity_processes',
      'complexity_memory',
      'complexity_ports',
      'complexity_config_lines',
      'api_calls_per_deploy',
      'control_bytes_per_deploy',
      'round_trips_per_deploy',
      'complexity_push_coupling',
    ],
  },
  {
    group: 'Determinism',
    metrics: ['placement_accuracy', 'deploy_latency_cv', 'deploy_latency_p99_over_p50', 'deploy_latency_spread', 'makespan_cv', 'failure_rate', 'sla_missed'],
  },
  { group: 'Efficiency', metrics: ['makespan_ratio_to_bound', 'origin_egress_bytes', 'origin_egress_ratio', 'bytes_saved_cache', 'bytes_saved_delta'] },
];

const ROW_LABELS: Partial<Record<MetricName, string>> = {
  deploy_latency_p50: 'deploy latency p50',
  deploy_latency_p95: 'deploy latency p95',
  deploy_latency_p99: 'deploy latency p99',
  deploy_latency_max: 'deploy latency max',
  makespan: 'makespan (last node running)',
  complexity_services: 'control-plane services',
  complexity_processes: 'processes',
  complexity_memory: 'memory',
  complexity_ports: 'listening ports',
  complexity_config_lines: 'config lines',
  api_calls_per_deploy: 'API calls per deployment',
  control_bytes_per_deploy: 'control bytes per deployment',
  round_trips_per_deploy: 'round trips per deployment',
  complexity_push_coupling: 'centre must reach the edge (push)',
  placement_accuracy: 'placed on the intended node',
  deploy_latency_cv: 'latency CV across repeats',
  deploy_latency_p99_over_p50: 'latency p99 / p50',
  deploy_latency_spread: 'latency (max−min)/median',
  makespan_cv: 'makespan CV across repeats',
  failure_rate: 'failed deployments',
  sla_missed: 'SLAs missed',
  makespan_ratio_to_bound: 'makespan ÷ lower bound',
  origin_egress_bytes: 'origin egress',
  origin_egress_ratio: 'origin egress ÷ N·S',
  bytes_saved_cache: 'saved by caches/peers',
  bytes_saved_delta: 'saved by delta',
};

/** fractions read better as percentages */
const PERCENT_METRICS = new Set<MetricName>(['placement_accuracy', 'failure_rate', 'deploy_latency_cv', 'makespan_cv']);

const NODE_FALLBACK: Partial<Record<MetricName, number>> = {
  deploy_latency_p50: 0.5,
  deploy_latency_p95: 0.95,
  deploy_latency_p99: 0.99,
  deploy_latency_max: 1,
};

/** Side by side: one column per series of the scenario, at its largest fleet size. */
export function comparisonTable(sc: ScenarioData, model: ReportModel, id: string): Table {
  const runs = sc.series.map((d) => d.runs.get(sc.mainNodes));
  const rows: Row[] = [];
  for (const { group, metrics } of COMPARISON_ROWS) {
    let first = true;
    for (const metric of metrics) {
      const values = sc.series.map((d, i) => (metric.startsWith('complexity_') ? complexityValue(model.complexity.get(d.series.plane) ?? [], metric) : seriesValue(runs[i], metric)));
      if (values.every((v) => v === undefined)) continue;
      const def = METRICS[metric];
      const unit = PERCENT_METRICS.has(metric) ? 'percent' : def.unit;
      const best = bestIndices(
        values.map((v) => v?.mean),
        def.better,
      );
      rows.push({
        label: ROW_LABELS[metric] ?? metric,
        group: first ? group : undefined,
        cells: values.map((v, i) => ({ text: v ? cellText(v, unit) : '—', best: best.has(i) })),
      });
      first = false;
    }
  }
  const binding = runs.map((r) => subLabels(r, 'bound_binding'));
  if (binding.some((b) => b.length > 0)) rows.push({ label: 'bound that binds', cells: binding.map((b) => ({ text: b.length ? b.join('; ') : '—' })) });
  const fidelity = runs.map((r) => fidelityText(r));
  if (fidelity.some((f) => f !== undefined)) rows.push({ label: 'fidelity (invariants checked)', cells: fidelity.map((f) => ({ text: f ?? '—' })) });
  return {
    id,
    title: `Side by side — ${sc.name} (${sc.mainNodes.toLocaleString('en-US')} nodes)`,
    columns: ['', ...sc.series.map((d) => d.series.label)],
    rows,
    note: 'Mean over repeats (± sample standard deviation when repeats differ). ★ marks the best value of each row.',
  };
}

interface Value {
  mean: number;
  sd?: number;
}

function seriesValue(run: Run | undefined, metric: MetricName): Value | undefined {
  const values = run?.metrics.get(metric);
  if (values && values.length > 0) {
    const m = mean(values);
    const sd = values.length > 1 ? sampleStandardDeviation(values) : undefined;
    // identical repeats can still differ in the last bit: that is no spread
    return { mean: m, sd: isSpread(m, sd) ? sd : undefined };
  }
  const q = NODE_FALLBACK[metric];
  if (q !== undefined && run && run.latencies.length > 0) return { mean: quantile(sortedAscending(run.latencies), q) };
  if (metric === 'sla_missed' && run) {
    const missed = [...run.metrics.entries()].filter(([k]) => k.startsWith('sla_missed['));
    if (missed.length > 0) return { mean: missed.reduce((s, [, v]) => s + mean(v), 0) };
  }
  return undefined;
}

/** The `kind` labels a run's samples of `metric` carry (e.g. which link's bound binds), over its repeats. */
function subLabels(run: Run | undefined, metric: string): string[] {
  if (!run) return [];
  const prefix = `${metric}[`;
  return [...run.metrics.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length, -1));
}

/** "5 checked, none failed" or "5 checked, 1 failed: <which>" (the simulator checks physics and causality on every run). */
function fidelityText(run: Run | undefined): string | undefined {
  const checks = run?.metrics.get('fidelity_checks');
  if (!run || !checks || checks.length === 0) return undefined;
  const failed = subLabels(run, 'fidelity_violation');
  const n = Math.max(...checks);
  return failed.length === 0 ? `${n} checked, none failed` : `${n} checked, ${failed.length} failed: ${failed.join('; ')}`;
}

/** A plane's total: the sample without a service label, else the sum over its services. */
function complexityValue(samples: Sample[], metric: string): Value | undefined {
  const mine = samples.filter((s) => s.metric === metric);
  if (mine.length === 0) return undefined;
  const totals = mine.filter((s) => s.labels.service === undefined && s.labels.feature === undefined);
  if (totals.length > 0) return { mean: mean(totals.map((s) => s.value)) };
  const perService = new Map<string, number>();
  for (const s of mine) perService.set(String(s.labels.service ?? s.labels.feature), s.value);
  return { mean: [...perService.values()].reduce((a, b) => a + b, 0) };
}

function cellText(v: Value, unit: string): string {
  return formatMeanSpread(v.mean, v.sd, unit);
}

/**
 * Indices holding the best value (ties all count, and values equal up to floating-point rounding
 * tie); none when there is nothing to choose between.
 */
export function bestIndices(values: (number | undefined)[], better: 'lower' | 'higher' | 'none'): Set<number> {
  const defined = values.filter((v): v is number => v !== undefined);
  if (better === 'none' || defined.length < 2 || defined.every((v) => same(v, defined[0]))) return new Set();
  const target = better === 'lower' ? Math.min(...defined) : Math.max(...defined);
  return new Set(values.flatMap((v, i) => (v !== undefined && same(v, target) ? [i] : [])));
}

function same(a: number, b: number): boolean {
  return a === b || !isSpread(a, Math.abs(a - b));
}

/** One row per plane, in the report's plane order: what it takes to run it and what it lacks natively. */
export function complexityTable(model: ReportModel): Table {
  const planes = model.planes.map((p) => p.name).filter((p) => model.complexity.has(p) || model.scenarios.some((sc) => sc.series.some((d) => d.series.plane === p)));
  const rows: Row[] = planes.map((plane) => {
    const samples = model.complexity.get(plane) ?? [];
    const services = [...new Set(samples.filter((s) => s.labels.service !== undefined).map((s) => String(s.labels.service)))];
    const total = (m: string, unit: string) => {
      const v = complexityValue(samples, m);
      return v ? formatValue(v.mean, unit) : '—';
    };
    const count = complexityValue(samples, 'complexity_services');
    const lacks = samples.filter((s) => s.metric === 'complexity_lacks' && s.value > 0 && s.labels.feature).map((s) => String(s.labels.feature));
    const push = complexityValue(samples, 'complexity_push_coupling');
    const api = apiCallsPerDeploy(model, plane);
    return {
      label: plane,
      cells: [
        { text: count ? `${formatValue(count.mean, 'count')}${services.length ? ` (${services.join(', ')})` : ''}` : services.join(', ') || '—' },
        { text: total('complexity_processes', 'count') },
        { text: total('complexity_memory', 'MiB') },
        { text: total('complexity_ports', 'count') },
        { text: total('complexity_config_lines', 'count') },
        { text: api === undefined ? '—' : formatValue(api, 'count') },
        { text: push === undefined ? '—' : push.mean > 0 ? 'push' : 'pull' },
        { text: lacks.length ? [...new Set(lacks)].join(', ') : samples.length ? 'nothing' : '—' },
      ],
    };
  });
  return {
    id: 'complexity',
    title: 'Complexity profile per plane',
    columns: ['plane', 'services', 'processes', 'memory', 'ports', 'config lines', 'API calls / deployment', 'coupling', 'lacks natively'],
    rows,
    note: 'API calls per deployment are the mean over every scenario run of the plane; coupling: push = the centre must open connections to edge nodes, pull = edge nodes only call the centre.',
  };
}

function apiCallsPerDeploy(model: ReportModel, plane: Plane): number | undefined {
  const values = model.scenarios.flatMap((sc) =>
    sc.series
      .filter((d) => d.series.plane === plane)
      .flatMap((d) => {
        const v = runValue(d.runs.get(sc.mainNodes), 'api_calls_per_deploy');
        return v === undefined ? [] : [v];
      }),
  );
  return values.length ? mean(values) : undefined;
}

export function assumptionsTable(metas: Meta[]): Table {
  const seen = new Set<string>();
  const rows: Row[] = [];
  for (const m of metas) {
    for (const a of m.assumptions) {
      const key = JSON.stringify([a.plane, a.name, a.value, a.unit, a.source]);
      if (seen.has(key)) continue;
      seen.add(key);
      const value = typeof a.value === 'number' && a.unit ? formatValue(a.value, a.unit) : `${a.value}${a.unit && typeof a.value !== 'number' ? ` ${a.unit}` : ''}`;
      rows.push({ label: a.plane, cells: [{ text: a.name }, { text: value }, { text: a.source }] });
    }
  }
  rows.sort((a, b) => a.label.localeCompare(b.label) || a.cells[0].text.localeCompare(b.cells[0].text));
  return {
    id: 'assumptions',
    title: 'Model assumptions and their sources',
    columns: ['plane', 'assumption', 'value', 'source'],
    rows,
    note: rows.length ? undefined : 'The results carry no meta lines with assumptions.',
  };
}

/** Which scenario, seed, version and machine produced the results. */
export function provenanceTable(model: ReportModel): Table {
  const rows: Row[] = model.metas.map((m) => ({
    label: m.scenario.name,
    cells: [
      { text: [m.plane, m.mode, m.strategy, m.env].filter(Boolean).join(' · ') || '—' },
      { text: String(m.seed) },
      { text: m.version },
      { text: machineText(m.machine) },
      { text: calibrationText(m.calibration) },
      { text: m.source ?? '—' },
    ],
  }));
  if (rows.length === 0) {
    // no meta lines: say what the samples themselves tell
    for (const sc of model.scenarios) {
      for (const d of sc.series) {
        const seeds = [...new Set([...d.runs.values()].flatMap((r) => r.seeds))].sort((a, b) => a - b);
        rows.push({
          label: sc.name,
          cells: [
            { text: `${d.series.plane} · ${d.series.mode} · ${d.series.strategy} · ${d.series.env}` },
            { text: seeds.join(', ') || '—' },
            { text: 'not recorded' },
            { text: 'not recorded' },
            { text: '—' },
            { text: d.series.source ?? '—' },
          ],
        });
      }
    }
  }
  return {
    id: 'provenance',
    title: 'What produced these results',
    columns: ['scenario', 'run', 'seed', 'edgeplane', 'machine', 'calibration', 'results file'],
    rows,
  };
}

function calibrationText(c: Meta['calibration']): string {
  if (c === undefined) return 'defaults';
  if (typeof c === 'string') return c;
  return Object.entries(c)
    .slice(0, 6)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
}

function machineText(m: Meta['machine']): string {
  if (!m) return 'not recorded';
  return `${m.os}${m.arch ? `/${m.arch}` : ''}, ${m.cpus} CPUs${m.cpuModel ? ` (${m.cpuModel})` : ''}, Node ${m.node}`;
}
