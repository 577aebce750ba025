// The budget of a simulated run: what a scenario will cost, estimated before anything runs
// (estimateRun), and the limits it is held to (checkBudget up front; the engine enforces the
// event figures while running, see edge-sim/engine.ts). `edgeplane run --budget key=value,...`
// raises a limit on purpose.
//
// Defaults, measured on the 2-core, 24 GiB development machine under load (`node dist/bench/sim-one.js`):
//   rollout-100k (100,000 nodes, 2 GiB in 16 MiB chunks, 1 plane, 1 repeat): 3.70 M events,
//     ~21 s CPU, 1.03 GiB peak RSS; rollout-10k (10,000 nodes x 3 planes): 0.48 M events, 0.27 GiB.
//   Events per node and run: 37 (agent, rollout-100k), 32 (agent, default), 15 and 8 (native).
// The defaults leave the shipped scenarios more than 7x room and stop what would take hours or
// more memory than a developer machine has: 10^8 events in one run (~27x rollout-100k, ~10 min of
// CPU), 10^9 events in all (~1.5 h), 10^9 node x chunk pairs, 10,000 runs (repeats x planes) and
// an 8 GiB memory estimate (a third of this machine; rollout-100k is estimated at ~1.1 GiB).
import { getHeapStatistics } from 'node:v8';
import { DEFAULT_SIMULATOR_LIMITS, MAX_VIRTUAL_US, setSimulatorLimits } from '../edge-sim/index.js';
import { InputError } from '../common/index.js';
import { PER_NODE_DETAIL_MAX_NODES } from '../reports/index.js';
import { parseSize, type Scenario } from '../scenarios/index.js';

export interface RunEstimate {
  nodes: number;
  chunks: number;
  /** nodes x chunks of one run */
  nodeChunks: number;
  /** repeats x planes: simulated runs, one after another */
  runs: number;
  /** crash cycles (crash, reboot, next) per node in one run from faults.crashRate */
  crashesPerNode: number;
  /** events of the largest single run */
  eventsPerRun: number;
  /** events of all runs */
  events: number;
  /** peak memory of the whole `run`, bytes */
  memoryBytes: number;
}

export interface Budget {
  /** events of one simulated run (also enforced while running) */
  events: number;
  /** events of all runs together */
  totalEvents: number;
  /** events in a row at one virtual instant before the run counts as a zero-delay loop (enforced while running) */
  instantEvents: number;
  nodeChunks: number;
  runs: number;
  memoryBytes: number;
}

export const DEFAULT_BUDGET: Readonly<Budget> = {
  events: DEFAULT_SIMULATOR_LIMITS.maxEvents,
  totalEvents: 1_000_000_000,
  instantEvents: DEFAULT_SIMULATOR_LIMITS.maxEventsPerInstant,
  nodeChunks: 1_000_000_000,
  runs: 10_000,
  memoryBytes: 8 * 2 ** 30,
};

/** `--budget` keys, as written on the command line. */
const KEYS: Record<string, keyof Budget> = {
  events: 'events',
  'total-events': 'totalEvents',
  'instant-events': 'instantEvents',
  'node-chunks': 'nodeChunks',
  runs: 'runs',
  memory: 'memoryBytes',
};
const FLAG_OF = Object.fromEntries(Object.entries(KEYS).map(([k, v]) => [v, k])) as Record<keyof Budget, string>;

// Estimate constants (see the measurements above), rounded up.
/** events per node in one run, before faults: measured at most 37 (agent), 8 (CloudStack native, rollout-1m) */
const EVENTS_PER_NODE = 40;
/** events one crash cycle costs: the crash, the reboot and the next crash, plus the agent's restart work */
const EVENTS_PER_CRASH = 8;
/** the process before any scenario: Node, the code, the plane registry */
const BASE_BYTES = 64 * 2 ** 20;
/** per node during a run: fleet entry, RunRecords (typed arrays per node and per node x phase), agent state, network flows */
const BYTES_PER_NODE = 4096;
/** the same for a native-mode run (no agent state): 100,000 nodes of rollout-1m's fleet peaked at 741 MiB with the report */
const BYTES_PER_NATIVE_NODE = 2048;
/** per result sample kept in memory until the end: the sample object with its labels (measured ~2.4 KB, rollout-1m's fleet at 100,000 nodes) */
const BYTES_PER_SAMPLE = 2560;
/** samples per node and run: deploy_start and deploy_latency (or deploy_failed); for fleets <= 5000 nodes also placed_on_intended and one deploy_phase per phase */
const SAMPLES_PER_NODE = 2;
const DETAIL_SAMPLES_PER_NODE = 1 + 8;

/**
 * Virtual time a run may take, for counting random crashes: a generous multiple of the transfer's
 * lower bound, at most the simulator's cap. When nodes crash more often than one node needs to
 * fetch the image, they rarely finish and the run goes on to the cap.
 */
function horizonUs(s: Scenario, nodes: number, upUs: number): number {
  const bits = s.image.sizeBytes * 8;
  const perNodeUs = (bits / Math.max(1, s.fleet.node.access.downBitsPerS)) * 1e6;
  if (upUs < perNodeUs) return MAX_VIRTUAL_US;
  const copies = s.strategy === 'origin' ? nodes : s.strategy === 'site-cache' ? s.fleet.sites : 1;
  const originUs = ((copies * bits) / Math.max(1, s.origin.uplinkBitsPerS)) * 1e6;
  return Math.min(MAX_VIRTUAL_US, 4 * Math.max(perNodeUs, originUs) + 3600e6);
}

export function estimateRun(s: Scenario): RunEstimate {
  const nodes = s.fleet.sites * s.fleet.nodesPerSite;
  const chunks = Math.ceil(s.image.sizeBytes / Math.max(1, s.image.chunkBytes));
  const runs = s.repeat * s.planes.length;
  let crashesPerNode = 0;
  const rate = s.faults.crashRate;
  if (rate && rate.perNodePerHour > 0) {
    // each cycle takes the time to the next crash plus the downtime; a cycle of 0 µs never ends
    const upUs = 3600e6 / rate.perNodePerHour;
    const cycleUs = upUs + rate.downForUs;
    crashesPerNode = cycleUs > 0 ? horizonUs(s, nodes, upUs) / cycleUs : Infinity;
  }
  const scheduled = s.faults.crashes.length * 2 * nodes + 2 * (s.faults.linkDown.length + s.faults.partitions.length) * s.fleet.sites + 2 * s.faults.controlOutages.length;
  const eventsPerRun = nodes * (EVENTS_PER_NODE + EVENTS_PER_CRASH * crashesPerNode) + scheduled;
  const samplesPerNode = SAMPLES_PER_NODE + (nodes <= PER_NODE_DETAIL_MAX_NODES ? DETAIL_SAMPLES_PER_NODE : 0);
  const perNode = s.planes.every((p) => p.mode === 'native') ? BYTES_PER_NATIVE_NODE : BYTES_PER_NODE;
  const memoryBytes = BASE_BYTES + nodes * perNode + runs * nodes * samplesPerNode * BYTES_PER_SAMPLE;
  return { nodes, chunks, nodeChunks: nodes * chunks, runs, crashesPerNode, eventsPerRun, events: runs * eventsPerRun, memoryBytes };
}

const count = (n: number): string => (!Number.isFinite(n) ? 'unbounded' : n < 1e15 ? Math.round(n).toLocaleString('en-US') : n.toPrecision(3));
const gib = (b: number): string => (!Number.isFinite(b) ? 'unbounded' : b < 2 ** 60 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 30).toPrecision(3)} GiB`);

/**
 * Throws an InputError (exit 2) naming the first figure over its limit, then arms the simulator's
 * run-time limits (events per run, events per instant) with the same budget.
 */
export function checkBudget(e: RunEstimate, budget: Partial<Budget> = {}, where?: string): void {
  const b = { ...DEFAULT_BUDGET, ...budget };
  const over = (what: string, value: number, limit: number, key: keyof Budget, show = count, why = ''): never => {
    const shown = key === 'memoryBytes' ? gib : show;
    throw new InputError(
      `${where ? `${where}: ` : ''}the run is over budget: ${what} is ${shown(value)}, the limit is ${shown(limit)}${why}; raise it on purpose with --budget ${FLAG_OF[key]}=${key === 'memoryBytes' ? 'SIZE (e.g. 16GiB)' : 'N'}`,
    );
  };
  const crashNote = e.crashesPerNode > 0 ? ` (${count(e.crashesPerNode)} random crashes per node from faults.crashRate)` : '';
  if (!(e.runs <= b.runs)) over('repeats x planes', e.runs, b.runs, 'runs');
  if (!(e.nodeChunks <= b.nodeChunks)) over(`nodes x chunks (${count(e.nodes)} x ${count(e.chunks)})`, e.nodeChunks, b.nodeChunks, 'nodeChunks');
  if (!(e.eventsPerRun <= b.events)) over('the estimated events of one run', e.eventsPerRun, b.events, 'events', count, crashNote);
  if (!(e.events <= b.totalEvents)) over(`the estimated events of all ${count(e.runs)} runs`, e.events, b.totalEvents, 'totalEvents', count, crashNote);
  if (!(e.memoryBytes <= b.memoryBytes)) over(`the memory estimate (${count(e.nodes)} nodes, ${count(e.runs)} runs)`, e.memoryBytes, b.memoryBytes, 'memoryBytes');
  // the samples live on the main thread's heap: past its limit the run would die out of memory late
  // (unless the memory budget was raised on purpose: then the caller knows what it runs on)
  const heapLimit = getHeapStatistics().heap_size_limit;
  if (budget.memoryBytes === undefined && e.memoryBytes > heapLimit) {
    throw new InputError(
      `${where ? `${where}: ` : ''}the memory estimate (${gib(e.memoryBytes)} for ${count(e.nodes)} nodes, ${count(e.runs)} runs) is above this Node's heap limit (${gib(heapLimit)}); ` +
        `run it with a larger heap, e.g. NODE_OPTIONS=--max-old-space-size=${Math.ceil((e.memoryBytes * 1.15) / 2 ** 30) * 1024}`,
    );
  }
  setSimulatorLimits({ maxEvents: b.events, maxEventsPerInstant: b.instantEvents });
}

/** `--budget events=2e8,memory=16GiB`: commander's parser; repeated flags add up. */
export function parseBudget(value: string, previous: Partial<Budget> = {}): Partial<Budget> {
  const out = { ...previous };
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = KEYS[eq > 0 ? part.slice(0, eq).trim() : part];
    if (eq <= 0 || !key) throw new InputError(`--budget takes key=value pairs (${Object.keys(KEYS).join(', ')}), got "${part}"`);
    const text = part.slice(eq + 1).trim();
    let n: number;
    if (key === 'memoryBytes' && !/^\d+(\.\d+)?(e\d+)?$/i.test(text)) {
      try {
        n = parseSize(text);
      } catch {
        n = Number.NaN;
      }
    } else n = /^\d+(\.\d+)?(e\d+)?$/i.test(text) ? Number(text) : Number.NaN;
    if (!Number.isFinite(n) || n < 1 || !Number.isSafeInteger(Math.round(n))) {
      throw new InputError(`--budget ${part}: ${FLAG_OF[key]} must be a whole number >= 1${key === 'memoryBytes' ? ' (bytes, or a size such as 16GiB)' : ''}, at most ${Number.MAX_SAFE_INTEGER}`);
    }
    out[key] = Math.round(n);
  }
  return out;
}
