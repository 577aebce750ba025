// The scenario file format. Users write YAML with human units ("100Mbit", "40ms", "4MiB", "1%");
// parsing with ScenarioSchema validates it and transforms it into plain numbers under the field
// names of `Scenario`, which the rest of edgeplane codes against.
import { z } from 'zod';
import { nodeExists, nodeId, siteId, siteIndexOf } from './ids.js';
import { checkRange, parseBandwidth, parseDuration, parseFraction, parseSize, RANGES, rangeText, UNIT_PATTERNS, type UnitRange } from './units.js';

export interface LinkParams {
  downBitsPerS: number;
  upBitsPerS: number;
  rttUs: number;
  loss: number;
}
export type BootDist = { kind: 'fixed'; us: number } | { kind: 'lognormal'; medianUs: number; p99Us: number };
export interface NodeParams {
  access: LinkParams;
  diskBitsPerS: number;
  boot: BootDist;
}
export interface SiteParams {
  wan: LinkParams;
  lanBitsPerS: number;
}
export interface SwarmParams {
  /** 0: one chunk per piece */
  pieceBytes: number;
  uploadSlots: number;
  downloadSlots: number;
  selection: 'rarest-first' | 'in-order';
  scope: 'site' | 'fleet';
  /** 0: enough to fill the origin's uplink at the receivers' download shares */
  originSlots: number;
  /** finished nodes keep serving (the agent keeps its verified chunks) */
  seedAfterDone: boolean;
}
export type NodeSelector = { count: number } | { fraction: number } | { ids: string[] } | { sites: string[] };

/** a plane's name; which names exist comes from the plane registry (planes/index.ts) */
export type PlaneName = string;
export const PLANE_MODES = ['agent', 'native'] as const;
export const PLACEMENTS = ['pinned', 'scheduler'] as const;
export const STRATEGIES = ['origin', 'site-cache', 'peer'] as const;
export interface PlaneConfig {
  name: PlaneName;
  mode: (typeof PLANE_MODES)[number];
  placement: (typeof PLACEMENTS)[number];
  /** the plane's own options (its descriptor's), every one set */
  flags: Record<string, boolean>;
}

/** What the scenario format needs to know of a plane: its descriptor, in part (adapters/descriptor.ts). */
export interface ScenarioPlane {
  name: string;
  modes: readonly PlaneConfig['mode'][];
  missingModes?: Partial<Record<PlaneConfig['mode'], string>>;
  options: Readonly<Record<string, { description: string; modes: readonly PlaneConfig['mode'][] }>>;
  services: readonly string[];
}

export interface SiteOverride {
  sites: string[];
  wan?: Partial<LinkParams>;
  lanBitsPerS?: number;
}
export interface NodeOverride {
  select: NodeSelector;
  access?: Partial<LinkParams>;
  diskBitsPerS?: number;
  boot?: BootDist;
}
export interface Crash {
  at: number;
  select: NodeSelector;
  downForUs: number;
}
export interface SiteWindow {
  sites: string[];
  fromUs: number;
  toUs: number;
}
export interface ControlOutage {
  service: string;
  fromUs: number;
  toUs: number;
}
export interface Faults {
  crashes: Crash[];
  crashRate: null | { perNodePerHour: number; downForUs: number };
  linkDown: SiteWindow[];
  partitions: SiteWindow[];
  controlOutages: ControlOutage[];
  chunkCorruption: number;
}

export const MAX_FLEET_NODES = 1_000_000;

/** Limits of the counts in a scenario (README, "Limits"). */
export const COUNT_LIMITS = {
  /** runs of each plane: beyond 1,000 the mean does not move, the run takes hours */
  repeat: 1000,
  /** range requests in flight per node (the real agent's limit too: agent/runtime/config.ts) */
  rangesInFlight: 64,
  /** chunks of one image: 1 TiB in 1 MiB chunks; the simulator keeps per-node chunk state */
  chunksPerImage: 2 ** 20,
  /** entries in each list of overrides or faults */
  listEntries: 10_000,
  /** random crashes per node per hour: more than one a minute is not a rollout one can measure */
  crashesPerNodePerHour: 60,
} as const;

const fmtCount = (n: number): string => n.toLocaleString('en-US');

/** An integer from min to max; out of range (or not finite) gets "allowed min to max". */
function count(min: number, max: number) {
  const allowed = `allowed ${fmtCount(min)} to ${fmtCount(max)}`;
  const outOf = (iss: { input?: unknown }) => `${typeof iss.input === 'number' ? fmtCount(iss.input) : String(iss.input)} is out of range: ${allowed}`;
  const notAnInteger = (iss: { input?: unknown }) => {
    if (typeof iss.input !== 'number') return undefined;
    if (!Number.isFinite(iss.input)) return `${iss.input} is not a finite number: ${allowed}`;
    return Number.isInteger(iss.input) ? outOf(iss) : `expected an integer, got ${iss.input}: ${allowed}`;
  };
  const int = z.int({ error: notAnInteger }).min(min, { error: outOf });
  // z.int() already stops at Number.MAX_SAFE_INTEGER: a second check would repeat the message
  return max >= Number.MAX_SAFE_INTEGER ? int : int.max(max, { error: outOf });
}

/** A list of at most COUNT_LIMITS.listEntries entries. */
function boundedList<T extends z.ZodType>(item: T) {
  return z.array(item).max(COUNT_LIMITS.listEntries, `at most ${fmtCount(COUNT_LIMITS.listEntries)} entries`);
}

/** "downstream bandwidth (1kbit/s to 10Tbit/s)" */
const ranged = (description: string, range: UnitRange): string => `${description} (${rangeText(range)})`;

// ---- unit fields ------------------------------------------------------------------------------

function unitString(kind: string, parse: (text: string) => number, pattern: string, example: string, range?: UnitRange) {
  return z
    .string({ error: `expected a ${kind} with a unit, e.g. ${example}` })
    .transform((text, ctx) => {
      try {
        const value = parse(text);
        return range ? checkRange(value, range, kind, text) : value;
      } catch (err) {
        ctx.issues.push({ code: 'custom', message: (err as Error).message, input: text });
        return z.NEVER;
      }
    })
    .meta({ pattern });
}

const bandwidth = () => unitString('bandwidth', parseBandwidth, UNIT_PATTERNS.bandwidth, '100Mbit or 50MB/s', RANGES.bandwidth);
const duration = (range: UnitRange = RANGES.duration) => unitString('duration', parseDuration, UNIT_PATTERNS.duration, '40ms', range);
const rtt = () => duration(RANGES.rtt);
const size = (range: UnitRange) => unitString('size', parseSize, UNIT_PATTERNS.size, '4MiB', range);
const percent = () => unitString('percentage', (text) => parseFraction(text), UNIT_PATTERNS.percent, '1%');
const fraction = () =>
  z
    .union([z.string().meta({ pattern: UNIT_PATTERNS.percent }), z.number().meta({ minimum: 0, maximum: 1 })], {
      error: 'expected a percentage like 0.5% or a number from 0 to 1',
    })
    .transform((value, ctx) => {
      try {
        return parseFraction(value);
      } catch (err) {
        ctx.issues.push({ code: 'custom', message: (err as Error).message, input: value });
        return z.NEVER;
      }
    });

const siteList = () => z.array(z.string()).min(1, 'list at least one site id').describe('site ids, e.g. [site-000, site-003]');

// ---- links, nodes, sites ----------------------------------------------------------------------

interface LinkDefaults {
  down: string;
  up: string;
  rtt: string;
}

function linkSchema(d: LinkDefaults) {
  return z
    .strictObject({
      down: bandwidth().prefault(d.down).describe(ranged('downstream bandwidth', RANGES.bandwidth)),
      up: bandwidth().prefault(d.up).describe(ranged('upstream bandwidth', RANGES.bandwidth)),
      rtt: rtt().prefault(d.rtt).describe(ranged('round-trip time', RANGES.rtt)),
      loss: fraction().prefault(0).describe('packet loss (0% to 100%)'),
    })
    .transform((l): LinkParams => ({ downBitsPerS: l.down, upBitsPerS: l.up, rttUs: l.rtt, loss: l.loss }));
}

const partialLinkSchema = z
  .strictObject({
    down: bandwidth().optional().describe(ranged('downstream bandwidth', RANGES.bandwidth)),
    up: bandwidth().optional().describe(ranged('upstream bandwidth', RANGES.bandwidth)),
    rtt: rtt().optional().describe(ranged('round-trip time', RANGES.rtt)),
    loss: fraction().optional().describe('packet loss (0% to 100%)'),
  })
  .transform((l): Partial<LinkParams> => withoutUndefined({ downBitsPerS: l.down, upBitsPerS: l.up, rttUs: l.rtt, loss: l.loss }));

const bootSchema = z
  .union([
    duration(RANGES.boot).transform((us): BootDist => ({ kind: 'fixed', us })),
    z
      .strictObject({ median: duration(RANGES.bootMedian), p99: duration(RANGES.boot) })
      .refine((b) => b.p99 >= b.median, { message: 'p99 must be at least the median', path: ['p99'] })
      .transform((b): BootDist => ({ kind: 'lognormal', medianUs: b.median, p99Us: b.p99 })),
  ])
  .describe(`boot time: a fixed duration (8s; ${rangeText(RANGES.boot)}) or a lognormal {median: 8s, p99: 20s} (median ${rangeText(RANGES.bootMedian)}, p99 at most ${RANGES.boot.format(RANGES.boot.max)})`);

const nodeSchema = z
  .strictObject({
    access: linkSchema({ down: '100Mbit', up: '20Mbit', rtt: '40ms' }).prefault({}).describe("the node's access link"),
    disk: bandwidth().prefault('200MB/s').describe(ranged('disk write bandwidth', RANGES.bandwidth)),
    boot: bootSchema.prefault({ median: '8s', p99: '20s' }),
  })
  .transform((n): NodeParams => ({ access: n.access, diskBitsPerS: n.disk, boot: n.boot }));

const siteSchema = z
  .strictObject({
    wan: linkSchema({ down: '1Gbit', up: '1Gbit', rtt: '10ms' }).prefault({}).describe("the site's WAN uplink"),
    lan: bandwidth().prefault('1Gbit').describe(ranged('site LAN bandwidth', RANGES.bandwidth)),
  })
  .transform((s): SiteParams => ({ wan: s.wan, lanBitsPerS: s.lan }));

// ---- node selection ---------------------------------------------------------------------------

const nodesValue = z
  .union([
    count(1, MAX_FLEET_NODES).transform((count): NodeSelector => ({ count })),
    percent().transform((fraction): NodeSelector => ({ fraction })),
    z
      .array(z.string())
      .min(1, 'list at least one node id')
      .transform((ids): NodeSelector => ({ ids })),
  ])
  .describe('a node count (10), a percentage of the fleet ("1%") or a list of node ids');

/** YAML keys `nodes` or `sites` (exactly one), parsed into a NodeSelector. */
const selectorFields = { nodes: nodesValue.optional(), sites: siteList().optional() };

function checkOneSelector(value: { nodes?: unknown; sites?: unknown }, ctx: z.RefinementCtx): void {
  if ((value.nodes === undefined) === (value.sites === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'give exactly one of "nodes" or "sites"' });
  }
}

function selectorOf(value: { nodes?: NodeSelector; sites?: string[] }): NodeSelector {
  return value.nodes ?? { sites: value.sites ?? [] };
}

const siteOverrideSchema = z
  .strictObject({ sites: siteList(), wan: partialLinkSchema.optional(), lan: bandwidth().optional().describe(ranged('site LAN bandwidth', RANGES.bandwidth)) })
  .transform((o): SiteOverride => withoutUndefined({ sites: o.sites, wan: o.wan, lanBitsPerS: o.lan }));

const nodeOverrideSchema = z
  .strictObject({ ...selectorFields, access: partialLinkSchema.optional(), disk: bandwidth().optional().describe(ranged('disk write bandwidth', RANGES.bandwidth)), boot: bootSchema.optional() })
  .superRefine(checkOneSelector)
  .transform((o): NodeOverride => withoutUndefined({ select: selectorOf(o), access: o.access, diskBitsPerS: o.disk, boot: o.boot }));

// ---- fleet ------------------------------------------------------------------------------------

const fleetSchema = z
  .strictObject({
    sites: count(1, MAX_FLEET_NODES)
      .default(1)
      .describe(`number of sites (site-000, site-001, ...; 1 to ${fmtCount(MAX_FLEET_NODES)}, at most ${fmtCount(MAX_FLEET_NODES)} nodes in all)`),
    nodesPerSite: count(1, MAX_FLEET_NODES)
      .default(10)
      .describe(`nodes per site (site-000/node-0000, ...; 1 to ${fmtCount(MAX_FLEET_NODES)}, at most ${fmtCount(MAX_FLEET_NODES)} nodes in all)`),
    node: nodeSchema.prefault({}).describe('defaults for every node'),
    site: siteSchema.prefault({}).describe('defaults for every site'),
    siteOverrides: boundedList(siteOverrideSchema).default([]),
    nodeOverrides: boundedList(nodeOverrideSchema).default([]),
  })
  .superRefine(
    (fleet, ctx) => {
      const total = fleet.sites * fleet.nodesPerSite;
      if (total > MAX_FLEET_NODES) {
        ctx.addIssue({
          code: 'custom',
          path: ['nodesPerSite'],
          message: `the fleet has ${total.toLocaleString('en-US')} nodes; edgeplane simulates at most ${MAX_FLEET_NODES.toLocaleString('en-US')}`,
        });
        return;
      }
      const refs = new FleetRefs(fleet.sites, fleet.nodesPerSite, ctx);
      fleet.siteOverrides.forEach((o, i) => refs.checkSites(o.sites, ['siteOverrides', i, 'sites']));
      fleet.nodeOverrides.forEach((o, i) => refs.checkSelector(o.select, ['nodeOverrides', i]));
    },
    { when: noIssuesYet },
  );

// ---- origin, image, planes --------------------------------------------------------------------

const originSchema = z
  .strictObject({
    uplink: bandwidth().prefault('10Gbit').describe(ranged('origin / control-plane uplink bandwidth', RANGES.bandwidth)),
    rtt: rtt().prefault('1ms').describe(ranged('round-trip time to the origin from the WAN', RANGES.rtt)),
  })
  .transform((o) => ({ uplinkBitsPerS: o.uplink, rttUs: o.rtt }));

const imageSchema = z
  .strictObject({
    size: size(RANGES.imageSize).prefault('512MiB').describe(ranged('image size', RANGES.imageSize)),
    chunk: size(RANGES.chunkSize)
      .prefault('4MiB')
      .describe(`${ranged('chunk size', RANGES.chunkSize)}; at most the image size and at most ${fmtCount(COUNT_LIMITS.chunksPerImage)} chunks per image`),
    previous: z
      .strictObject({ shared: fraction().describe('fraction of chunks shared with the previous version (0% to 100%)') })
      .transform((p) => ({ sharedFraction: p.shared }))
      .nullable()
      .default(null)
      .describe('deploy as a delta update from an older version already on the nodes'),
  })
  .superRefine((img, ctx) => {
    if (img.size <= 0) ctx.addIssue({ code: 'custom', path: ['size'], message: 'image size must be greater than zero' });
    if (img.chunk <= 0) ctx.addIssue({ code: 'custom', path: ['chunk'], message: 'chunk size must be greater than zero' });
    else if (img.chunk > img.size) {
      ctx.addIssue({ code: 'custom', path: ['chunk'], message: 'chunk size must not exceed the image size' });
    } else if (Math.ceil(img.size / img.chunk) > COUNT_LIMITS.chunksPerImage) {
      const chunks = Math.ceil(img.size / img.chunk);
      ctx.addIssue({
        code: 'custom',
        path: ['chunk'],
        message: `the image is ${fmtCount(chunks)} chunks of this size; allowed at most ${fmtCount(COUNT_LIMITS.chunksPerImage)} chunks per image (use a chunk of at least ${RANGES.chunkSize.format(Math.ceil(img.size / COUNT_LIMITS.chunksPerImage))})`,
      });
    }
  })
  .transform((img) => ({ sizeBytes: img.size, chunkBytes: img.chunk, previous: img.previous }));

function planesSchemaFor(planes: readonly ScenarioPlane[]) {
  const byName = new Map(planes.map((p) => [p.name, p]));
  const names = planes.map((p) => p.name) as [string, ...string[]];
  const allOptions = new Map<string, { description: string; owners: { plane: string; modes: readonly string[] }[] }>();
  for (const p of planes) {
    for (const [key, spec] of Object.entries(p.options)) {
      const entry = allOptions.get(key) ?? { description: spec.description, owners: [] };
      entry.owners.push({ plane: p.name, modes: spec.modes });
      allOptions.set(key, entry);
    }
  }
  const optionFields = Object.fromEntries([...allOptions].map(([key, o]) => [key, z.boolean().default(false).describe(o.description)]));
  const defaultModes = planes.map((p) => `${p.modes[0]} for ${p.name}`).join(', ');
  const flagsOf = (p: ScenarioPlane, set: Record<string, unknown>) => Object.fromEntries(Object.keys(p.options).map((k) => [k, set[k] === true]));

  const planeObjectSchema = z
    .strictObject({
      name: z.enum(names),
      mode: z.enum(PLANE_MODES).optional().describe(`default: ${defaultModes}`),
      placement: z.enum(PLACEMENTS).default('pinned'),
      ...optionFields,
    })
    .superRefine((entry, ctx) => {
      const p = byName.get(entry.name)!;
      const mode = entry.mode ?? p.modes[0];
      if (!p.modes.includes(mode)) {
        const why = p.missingModes?.[mode];
        ctx.addIssue({ code: 'custom', path: ['mode'], message: `${p.name} has no ${mode} mode here${why ? `: ${why}` : ` (modes: ${p.modes.join(', ')})`}` });
      }
      for (const [key, o] of allOptions) {
        if ((entry as Record<string, unknown>)[key] !== true) continue;
        if (o.owners.some((w) => w.plane === p.name && w.modes.includes(mode))) continue;
        const where = o.owners.map((w) => `${w.plane} in ${w.modes.join('/')} mode`).join(' or ');
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is only available for ${where}` });
      }
      if (entry.placement === 'scheduler' && mode !== 'native') {
        ctx.addIssue({
          code: 'custom',
          path: ['placement'],
          message: 'placement: scheduler needs a plane in native mode (in agent mode the agent on the pinned node deploys its own VM)',
        });
      }
    })
    .transform((entry): PlaneConfig => {
      const p = byName.get(entry.name)!;
      return { name: p.name, mode: entry.mode ?? p.modes[0], placement: entry.placement, flags: flagsOf(p, entry) };
    });

  const planeSchema = z.union([
    z.enum(names).transform((name): PlaneConfig => {
      const p = byName.get(name)!;
      return { name, mode: p.modes[0], placement: 'pinned', flags: flagsOf(p, {}) };
    }),
    planeObjectSchema,
  ]);

  return z
    .array(planeSchema)
    .min(1, 'list at least one control plane')
    .superRefine((list, ctx) => {
      const seen = new Map<string, number>();
      list.forEach((p, i) => {
        const key = JSON.stringify([p.name, p.mode, p.placement, p.flags]);
        const first = seen.get(key);
        if (first === undefined) seen.set(key, i);
        else ctx.addIssue({ code: 'custom', path: [i], message: `duplicate plane: same as planes[${first}]` });
      });
    })
    .describe(`control planes to compare: a name, or {name, mode, placement${[...allOptions.keys()].map((k) => `, ${k}`).join('')}}`);
}

// ---- faults, SLA ------------------------------------------------------------------------------

const crashSchema = z
  .strictObject({ at: duration().describe(ranged('when the nodes crash', RANGES.duration)), ...selectorFields, downFor: duration().describe(ranged('how long they stay down', RANGES.duration)) })
  .superRefine(checkOneSelector)
  .transform((c): Crash => ({ at: c.at, select: selectorOf(c), downForUs: c.downFor }));

const crashRateOutOfRange = (iss: { input?: unknown }) =>
  iss.input === undefined ? undefined : `${String(iss.input)} is out of range: allowed more than 0 and at most ${COUNT_LIMITS.crashesPerNodePerHour} crashes per node per hour`;
const crashRateSchema = z
  .strictObject({
    perNodePerHour: z
      .number({ error: (iss) => (typeof iss.input === 'number' ? crashRateOutOfRange(iss) : undefined) })
      .positive({ error: crashRateOutOfRange })
      .max(COUNT_LIMITS.crashesPerNodePerHour, { error: crashRateOutOfRange })
      .describe(`crashes per node per hour (more than 0, at most ${COUNT_LIMITS.crashesPerNodePerHour})`),
    downFor: duration().describe(ranged('how long a crashed node stays down', RANGES.duration)),
  })
  .transform((c) => ({ perNodePerHour: c.perNodePerHour, downForUs: c.downFor }));

const fromTo = { from: duration().describe(ranged('start', RANGES.duration)), to: duration().describe(ranged('end', RANGES.duration)) };

function checkFromBeforeTo(w: { from: number; to: number }, ctx: z.RefinementCtx): void {
  if (w.from >= w.to) ctx.addIssue({ code: 'custom', path: ['to'], message: '"to" must be later than "from"' });
}

const siteWindow = (description: string) =>
  z
    .strictObject({ sites: siteList(), ...fromTo })
    .superRefine(checkFromBeforeTo)
    .transform((w): SiteWindow => ({ sites: w.sites, fromUs: w.from, toUs: w.to }))
    .describe(description);

const controlOutageSchema = z
  .strictObject({ service: z.string().min(1), ...fromTo })
  .superRefine(checkFromBeforeTo)
  .transform((w): ControlOutage => ({ service: w.service, fromUs: w.from, toUs: w.to }))
  .describe('a control-plane service (keystone, glance, barbican, oned, management, ...) or "all" is down in [from, to)');

const faultsSchema = z.strictObject({
  crashes: boundedList(crashSchema).default([]),
  crashRate: crashRateSchema.nullable().default(null).describe('random crashes: a rate per node per hour'),
  linkDown: boundedList(siteWindow('the site WAN link is down in [from, to)')).default([]),
  partitions: boundedList(siteWindow('the sites cannot reach the origin or control plane in [from, to)')).default([]),
  controlOutages: boundedList(controlOutageSchema).default([]),
  chunkCorruption: fraction().prefault(0).describe('probability that a fetched chunk fails verification (0% to 100%)'),
});

const slaSchema = z
  .strictObject({
    deployP99: duration().nullable().optional().describe(ranged('p99 deploy latency must not exceed this', RANGES.duration)),
    makespan: duration().nullable().optional().describe(ranged('the whole rollout must finish within this', RANGES.duration)),
    failureRate: fraction().nullable().optional().describe('at most this fraction of deployments may fail (0% to 100%)'),
  })
  .transform((s) => ({ deployP99Us: s.deployP99 ?? null, makespanUs: s.makespan ?? null, failureRate: s.failureRate ?? null }));

// ---- swarm, caches, clients, servers -------------------------------------------------------------

export const SWARM_SELECTIONS = ['rarest-first', 'in-order'] as const;
export const SWARM_SCOPES = ['site', 'fleet'] as const;

/** Limits of the swarm's counts. */
export const SWARM_LIMITS = { slots: 256, originSlots: 100_000 } as const;

const swarmSchema = z
  .strictObject({
    piece: z
      .union([z.literal('chunk'), size(RANGES.chunkSize)])
      .default('chunk')
      .describe(`the unit peers exchange and serve once verified: "chunk" (default) or a size, rounded to whole chunks (${rangeText(RANGES.chunkSize)}); larger pieces, fewer events (rollout-1m)`),
    uploadSlots: count(1, SWARM_LIMITS.slots).default(2).describe(`pieces a node uploads at once (1 to ${SWARM_LIMITS.slots})`),
    downloadSlots: count(1, SWARM_LIMITS.slots).default(4).describe(`pieces a node downloads at once (1 to ${SWARM_LIMITS.slots})`),
    selection: z.enum(SWARM_SELECTIONS).default('rarest-first').describe('which piece a node asks for next: the rarest in its scope, or the next in order'),
    scope: z.enum(SWARM_SCOPES).default('site').describe('peers of one site, or the whole fleet (cross-site pieces cross both sites’ WAN links)'),
    originSlots: count(0, SWARM_LIMITS.originSlots)
      .default(0)
      .describe(`pieces the origin seeds at once, rarest in the receiver's scope first; 0: enough to fill its uplink at the receivers' download shares (0 to ${fmtCount(SWARM_LIMITS.originSlots)})`),
    seedAfterDone: z.boolean().default(true).describe('a node that has the whole image keeps serving it'),
  })
  .describe('strategy peer: how nodes share pieces')
  .transform((w) => ({
    pieceBytes: w.piece === 'chunk' ? 0 : w.piece,
    uploadSlots: w.uploadSlots,
    downloadSlots: w.downloadSlots,
    selection: w.selection,
    scope: w.scope,
    originSlots: w.originSlots,
    seedAfterDone: w.seedAfterDone,
  }));

const cacheSchema = z
  .strictObject({
    cutThrough: z.boolean().default(true).describe('agent mode, strategy site-cache: the cache serves nodes while it fills (never ahead of the fill)'),
  })
  .describe('strategy site-cache');

/** The agent's poll interval (agent/machine DEFAULT_AGENT_CONFIG.pollIntervalUs, agent.yaml pollIntervalS). */
export const DEFAULT_POLL_INTERVAL = '10s';
/** The real agent's request timeout (agent.yaml fetch.requestTimeoutS): no byte for this long fails the request. */
export const DEFAULT_REQUEST_TIMEOUT = '60s';
/** The agent's longest retry backoff (agent/machine DEFAULT_AGENT_CONFIG.backoffCapUs, agent.yaml machine.backoffCapS). */
export const DEFAULT_BACKOFF_CAP = '30s';

const clientsSchema = z
  .strictObject({
    pollInterval: duration()
      .refine((us) => us >= 1_000_000, 'a poll interval is at least 1s')
      .prefault(DEFAULT_POLL_INTERVAL)
      .describe(`how often an agent reads its assignment when it has nothing to do (the agent's own default: ${DEFAULT_POLL_INTERVAL}); a large fleet's idle polls load the control plane (${rangeText(RANGES.duration)})`),
    startJitter: duration()
      .optional()
      .describe(`agents see the rollout at a uniformly spread moment within this (their poll phase); default one poll interval, 0s: all at once (${rangeText(RANGES.duration)})`),
    requestTimeout: duration()
      .prefault(DEFAULT_REQUEST_TIMEOUT)
      .describe(`a request (control call, or a transfer stalled by a cut link) with no answer for this long fails and is retried with the agent's backoff; 0s: wait forever (${rangeText(RANGES.duration)})`),
    backoffCap: duration()
      .refine((us) => us >= 1_000_000, 'a backoff cap is at least 1s')
      .prefault(DEFAULT_BACKOFF_CAP)
      .describe(
        `the longest wait between an agent's retries (it doubles from 0.5s up to this; the agent's own default: ${DEFAULT_BACKOFF_CAP}); a large fleet retrying a saturated service every few seconds keeps it saturated (${rangeText(RANGES.duration)})`,
      ),
  })
  .transform((c) => ({ pollIntervalUs: c.pollInterval, startJitterUs: c.startJitter ?? c.pollInterval, requestTimeoutUs: c.requestTimeout, backoffCapUs: c.backoffCap }))
  .describe('how the fleet agents behave (agent mode)');

const serversSchema = z
  .strictObject({
    queueLimit: z
      .union([z.literal('plane'), count(0, MAX_FLEET_NODES)])
      .default('plane')
      .describe(`requests a service queues before it refuses more (listen backlog): "plane" (each service's own figure), 0 = unlimited, or a count (0 to ${fmtCount(MAX_FLEET_NODES)})`),
  })
  .describe('control-plane services');

// ---- the scenario -----------------------------------------------------------------------------

/** The scenario schema for these planes (the registry's simulated planes: planes/index.ts). */
export function scenarioSchemaFor(planes: readonly ScenarioPlane[]) {
  if (planes.length === 0) throw new Error('a scenario schema needs at least one plane');
  const services = new Map(planes.map((p) => [p.name, p.services]));
  return z
    .strictObject({
      $schema: z.string().optional().describe('JSON Schema for editor completion; ignored'),
      name: z.string().min(1).describe('scenario name'),
      description: z.string().default('').describe('one sentence about what the scenario shows'),
      seed: count(0, Number.MAX_SAFE_INTEGER)
        .default(1)
        .describe(`random seed; same seed, same results (0 to ${fmtCount(Number.MAX_SAFE_INTEGER)})`),
      repeat: count(1, COUNT_LIMITS.repeat)
        .default(1)
        .describe(`how many times to run each plane (1 to ${fmtCount(COUNT_LIMITS.repeat)})`),
      fleet: fleetSchema.prefault({}),
      origin: originSchema.prefault({}),
      image: imageSchema.prefault({}),
      planes: planesSchemaFor(planes),
      strategy: z.enum(STRATEGIES).default('origin').describe('where nodes fetch chunks from'),
      concurrency: z
        .strictObject({
          maxConcurrentDeploys: count(0, MAX_FLEET_NODES)
            .default(0)
            .describe(`deploys in progress at once; 0 = unlimited (0 to ${fmtCount(MAX_FLEET_NODES)})`),
          rangesInFlight: count(1, COUNT_LIMITS.rangesInFlight).default(4).describe(`chunk range requests in flight per node (1 to ${COUNT_LIMITS.rangesInFlight})`),
          wholeStreamAt: z
            .union([z.literal('never'), fraction()])
            .prefault(0.5)
            .describe("a node streams the image whole in one GET when at least this fraction of it is missing and the plane can (the agent's fetch.wholeStreamAt); 'never': always ranges"),
        })
        .prefault({}),
      swarm: swarmSchema.prefault({}),
      cache: cacheSchema.prefault({}),
      clients: clientsSchema.prefault({}),
      servers: serversSchema.prefault({}),
      faults: faultsSchema.prefault({}),
      sla: slaSchema.prefault({}),
    })
    .superRefine((s, ctx) => checkFaultReferences(s, ctx, services), { when: noIssuesYet })
    .transform(({ $schema: _ignored, ...scenario }) => scenario);
}

export type ScenarioSchema = ReturnType<typeof scenarioSchemaFor>;
export type Scenario = z.output<ScenarioSchema>;
/** What users may write (before units are parsed and defaults applied). */
export type ScenarioInput = z.input<ScenarioSchema>;

function checkFaultReferences(
  s: { fleet: { sites: number; nodesPerSite: number }; planes: PlaneConfig[]; faults: Pick<Faults, 'crashes' | 'linkDown' | 'partitions' | 'controlOutages'> },
  ctx: z.RefinementCtx,
  servicesOf: ReadonlyMap<string, readonly string[]>,
): void {
  const refs = new FleetRefs(s.fleet.sites, s.fleet.nodesPerSite, ctx);
  s.faults.crashes.forEach((c, i) => refs.checkSelector(c.select, ['faults', 'crashes', i]));
  s.faults.linkDown.forEach((w, i) => refs.checkSites(w.sites, ['faults', 'linkDown', i, 'sites']));
  s.faults.partitions.forEach((w, i) => refs.checkSites(w.sites, ['faults', 'partitions', i, 'sites']));
  const services = new Set(s.planes.flatMap((p) => servicesOf.get(p.name) ?? []));
  s.faults.controlOutages.forEach((o, i) => {
    if (o.service !== 'all' && !services.has(o.service)) {
      ctx.addIssue({
        code: 'custom',
        path: ['faults', 'controlOutages', i, 'service'],
        message: `unknown service "${o.service}" for the planes of this scenario; expected "all" or one of: ${[...services].join(', ')}`,
      });
    }
  });
}

/** Checks that site and node ids, counts and fractions refer to what exists in the fleet. */
class FleetRefs {
  constructor(
    private readonly sites: number,
    private readonly nodesPerSite: number,
    private readonly ctx: z.RefinementCtx,
  ) {}

  checkSites(ids: string[], path: PropertyKey[]): void {
    ids.forEach((id, j) => {
      if (siteIndexOf(id, this.sites) === undefined) {
        this.issue([...path, j], `no site "${id}" in this fleet (sites are ${siteId(0, this.sites)} to ${siteId(this.sites - 1, this.sites)})`);
      }
    });
  }

  checkSelector(select: NodeSelector, path: PropertyKey[]): void {
    const total = this.sites * this.nodesPerSite;
    if ('sites' in select) this.checkSites(select.sites, [...path, 'sites']);
    else if ('ids' in select) {
      select.ids.forEach((id, j) => {
        if (!nodeExists(id, this.sites, this.nodesPerSite)) {
          const first = nodeId(0, 0, this.sites, this.nodesPerSite);
          const last = nodeId(this.sites - 1, this.nodesPerSite - 1, this.sites, this.nodesPerSite);
          this.issue([...path, 'nodes', j], `no node "${id}" in this fleet (nodes are ${first} to ${last})`);
        }
      });
    } else if ('count' in select) {
      if (select.count > total) this.issue([...path, 'nodes'], `${select.count} nodes asked for but the fleet has ${total}`);
    } else if (select.fraction <= 0) {
      this.issue([...path, 'nodes'], 'the percentage of nodes must be greater than 0%');
    }
  }

  private issue(path: PropertyKey[], message: string): void {
    this.ctx.addIssue({ code: 'custom', path, message });
  }
}

function noIssuesYet(payload: { issues: unknown[] }): boolean {
  return payload.issues.length === 0;
}

/** Drops keys whose value is undefined, so optional overrides are absent rather than undefined. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

// ---- the parsed shape, spelled out ------------------------------------------------------------
// Other folders code against these field names; the compile-time check below fails `tsc` if the
// schema's output drifts from them.
interface ScenarioShape {
  name: string;
  description: string;
  seed: number;
  repeat: number;
  fleet: {
    sites: number;
    nodesPerSite: number;
    node: NodeParams;
    site: SiteParams;
    siteOverrides: SiteOverride[];
    nodeOverrides: NodeOverride[];
  };
  origin: { uplinkBitsPerS: number; rttUs: number };
  image: { sizeBytes: number; chunkBytes: number; previous: null | { sharedFraction: number } };
  planes: PlaneConfig[];
  strategy: (typeof STRATEGIES)[number];
  concurrency: { maxConcurrentDeploys: number; rangesInFlight: number; wholeStreamAt: number | 'never' };
  swarm: SwarmParams;
  cache: { cutThrough: boolean };
  clients: { pollIntervalUs: number; startJitterUs: number; requestTimeoutUs: number; backoffCapUs: number };
  servers: { queueLimit: 'plane' | number };
  faults: Faults;
  sla: { deployP99Us: number | null; makespanUs: number | null; failureRate: number | null };
}

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const scenarioShapeMatches: Equals<Scenario, ScenarioShape> = true;
void scenarioShapeMatches;
