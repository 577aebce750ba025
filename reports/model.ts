// Organises a flat list of samples into what the report shows: per scenario, the series
// (one plane run in one mode/strategy/env, from one source when sources overlap), per fleet size.
import type { Meta } from './meta.js';
import { type PlaneStyle, type ReportPlane, resolvePlanes } from './planes.js';
import type { Labels, Sample } from './sample.js';

/** A plane's name as the results carry it (`labels.plane`); reports/ knows no concrete plane. */
export type Plane = Labels['plane'];

export interface Series {
  id: string;
  label: string;
  plane: Plane;
  /** the plane's colour (every series of a plane shares it) */
  colour: string;
  mode: Labels['mode'];
  strategy: Labels['strategy'];
  env: Labels['env'];
  source?: string;
  /** index among the series of the same plane (drives the dash pattern) */
  variant: number;
}

export interface FaultWindow {
  kind: string;
  t: number;
  tEnd: number;
}

/** One series at one fleet size, across its repeats. */
export interface Run {
  nodes: number;
  repeats: number[];
  seeds: number[];
  /** per-node deploy latencies, all repeats pooled (seconds) */
  latencies: number[];
  /** first repeat only: when each node started and finished (seconds from rollout start) */
  starts: number[];
  finishes: number[];
  faults: FaultWindow[];
  /** run/all-scope metrics: key = metric or metric[sub-label], values over repeats */
  metrics: Map<string, number[]>;
  /** per-node phase durations pooled, by phase (fallback when deploy_phase_mean is absent) */
  nodePhases: Map<string, number[]>;
}

export interface SeriesData {
  series: Series;
  runs: Map<number, Run>;
}

export interface ScenarioData {
  name: string;
  series: SeriesData[];
  fleetSizes: number[];
  /** the largest fleet size: what the per-scenario charts and tables show */
  mainNodes: number;
}

export interface ReportModel {
  /** the planes present in the results, in display order, with their colours */
  planes: PlaneStyle[];
  scenarios: ScenarioData[];
  /** plane-scope (complexity_*) samples by plane */
  complexity: Map<Plane, Sample[]>;
  metas: Meta[];
}

const SUB_LABELS = ['phase', 'kind', 'feature', 'service'] as const;

/** `metric` or `metric[sub]` when the sample carries a phase/kind/feature/service label. */
export function metricKey(s: Sample): string {
  for (const l of SUB_LABELS) {
    const v = s.labels[l];
    if (v !== undefined) return `${s.metric}[${v}]`;
  }
  return s.metric;
}

const NODE_METRICS = new Set(['deploy_latency', 'deploy_phase', 'deploy_start', 'deploy_failed', 'placed_on_intended']);

/**
 * `planes` gives the display order and colours (see resolvePlanes); without it the planes come in
 * the order the results first name them.
 */
export function buildModel(samples: Sample[], metas: Meta[], planes?: readonly ReportPlane[]): ReportModel {
  const styles = resolvePlanes(planes, new Set(samples.map((s) => s.labels.plane)));
  const complexity = new Map<Plane, Sample[]>();
  const byScenario = new Map<string, Sample[]>();
  for (const s of samples) {
    if (s.metric.startsWith('complexity_')) {
      push(complexity, s.labels.plane, s);
      continue;
    }
    push(byScenario, s.labels.scenario, s);
  }
  const scenarios = [...byScenario.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, list]) => buildScenario(name, list, styles));
  return { planes: styles, scenarios, complexity, metas };
}

function buildScenario(name: string, samples: Sample[], planes: PlaneStyle[]): ScenarioData {
  const rank = new Map(planes.map((p, i) => [p.name, i]));
  const colour = new Map(planes.map((p) => [p.name, p.colour]));
  const baseKey = (l: Labels) => `${l.plane}|${l.mode}|${l.strategy}|${l.env}`;
  // a source only matters when two sources hold the same series
  const sourcesPerBase = new Map<string, Set<string>>();
  for (const s of samples) addTo(sourcesPerBase, baseKey(s.labels), String(s.labels.source ?? ''));
  const needsSource = [...sourcesPerBase.values()].some((set) => set.size > 1);
  const seriesKey = (l: Labels) => (needsSource ? `${baseKey(l)}|${l.source ?? ''}` : baseKey(l));

  const grouped = new Map<string, Sample[]>();
  for (const s of samples) push(grouped, seriesKey(s.labels), s);
  const series = [...grouped.values()].map((list) => {
    const l = list[0].labels;
    const s: Series = {
      id: seriesKey(l),
      label: '',
      plane: l.plane,
      colour: colour.get(l.plane)!,
      mode: l.mode,
      strategy: l.strategy,
      env: l.env,
      source: needsSource ? String(l.source ?? '') : undefined,
      variant: 0,
    };
    return { series: s, runs: buildRuns(list) };
  });
  series.sort((a, b) => rank.get(a.series.plane)! - rank.get(b.series.plane)! || a.series.id.localeCompare(b.series.id));
  labelSeries(series.map((d) => d.series));
  const fleetSizes = [...new Set(series.flatMap((d) => [...d.runs.keys()]))].sort((a, b) => a - b);
  return { name, series, fleetSizes, mainNodes: fleetSizes[fleetSizes.length - 1] ?? 0 };
}

/** Labels say only what differs between the series of a scenario. */
function labelSeries(list: Series[]): void {
  const varying = (['mode', 'strategy', 'env', 'source'] as const).filter((k) => new Set(list.map((s) => s[k])).size > 1);
  const perPlane = new Map<Plane, number>();
  for (const s of list) {
    s.variant = perPlane.get(s.plane) ?? 0;
    perPlane.set(s.plane, s.variant + 1);
    const extra = varying.map((k) => (k === 'source' ? shortSource(s.source ?? '') : String(s[k])));
    s.label = [s.plane, ...extra].join(' · ');
  }
}

function shortSource(path: string): string {
  return path.replace(/^(\.\/)+/, '').replace(/\.ndjson$/, '');
}

function buildRuns(samples: Sample[]): Map<number, Run> {
  const runs = new Map<number, Run>();
  const firstRepeat = new Map<number, number>();
  for (const s of samples) {
    if (typeof s.labels.repeat === 'number') {
      const cur = firstRepeat.get(s.labels.nodes);
      if (cur === undefined || s.labels.repeat < cur) firstRepeat.set(s.labels.nodes, s.labels.repeat);
    }
  }
  for (const s of samples) {
    const nodes = s.labels.nodes;
    let run = runs.get(nodes);
    if (!run) {
      run = { nodes, repeats: [], seeds: [], latencies: [], starts: [], finishes: [], faults: [], metrics: new Map(), nodePhases: new Map() };
      runs.set(nodes, run);
    }
    const repeat = s.labels.repeat;
    if (typeof repeat === 'number' && !run.repeats.includes(repeat)) run.repeats.push(repeat);
    if (!run.seeds.includes(s.labels.seed)) run.seeds.push(s.labels.seed);
    const isFirst = repeat === firstRepeat.get(nodes);
    switch (s.metric) {
      case 'deploy_latency':
        run.latencies.push(s.value);
        if (isFirst) run.finishes.push(s.t ?? s.value);
        break;
      case 'deploy_start':
        if (isFirst) run.starts.push(s.t ?? s.value);
        break;
      case 'deploy_phase':
        if (s.labels.phase) push(run.nodePhases, s.labels.phase, s.value);
        break;
      case 'fault_window':
        if (isFirst && s.t !== undefined) {
          run.faults.push({ kind: s.labels.kind ?? 'fault', t: s.t, tEnd: s.tEnd ?? s.t + s.value });
        }
        break;
      default:
        if (!NODE_METRICS.has(s.metric)) push(run.metrics, metricKey(s), s.value);
    }
  }
  return runs;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
