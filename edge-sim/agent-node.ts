// Runs the ONE edge agent (agent/machine) for every node in virtual time: the simulator is the
// agent's runtime here, executing its actions against the simulated world and feeding results
// back as events. The same machine runs on real nodes with real I/O.
//
// Client behaviour is simulated as a real agent has it: a control request that gets no answer
// within the request timeout fails (`unavailable`, the machine backs off and retries); a service
// whose backlog is full refuses at once; services that check tokens with the identity service
// (keystonemiddleware) do so per worker process with that process's cache.
import type { Action, AgentConfig, AgentState, Assignment, ChunkRef, ControlOp, ControlResult, Event, ManifestInfo, PersistedState } from '../agent/machine/index.js';
import { initialState, step } from '../agent/machine/index.js';
import type { ApiOp, TokenValidation } from '../adapters/index.js';
import type { RunRecords } from '../reports/index.js';
import { stagingUs, type NodeInfo } from './fleet.js';
import { streamsWhole } from './images.js';
import { NodeStreams } from './rng.js';
import type { StationSim } from './stations.js';
import { drawServiceUs } from './stations.js';
import { Swarm } from './swarm.js';
import { CONNECT_TIMEOUT_US, LAN_RTT_US, type Transfer, type World } from './world.js';
import { mathisCapBitsPerS } from './network.js';

export interface AgentRunContext {
  world: World;
  rec: RunRecords;
  repeat: number;
  config: AgentConfig;
  manifest: ManifestInfo;
  /** the chunks a node without any previous chunk must fetch (what a site cache holds when full) */
  fetchList: ChunkRef[];
  fullFetchBytes: number;
  rangesInFlight: number;
  /** the agent's fetch.wholeStreamAt: one whole GET when at least this fraction of the blob is missing (the plane must have a `wholeOp`) */
  wholeStreamAt: number | 'never';
  chunkCorruption: number;
  /** the node's assignment as the control plane has it right now (null: nothing pinned) */
  assignmentFor(node: number): Assignment | null;
  /** persisted state of a node before the rollout (previous version installed), or null */
  initialPersisted(node: number): PersistedState | null;
  /** called once when a node's deployment ends */
  onFinished(node: number, ok: boolean): void;
}

interface ActiveFetch {
  reqId: number;
  chunks: ChunkRef[];
  transfer: Transfer | null;
  /** set while waiting for a source: undo the wait */
  cancelWait: (() => void) | null;
  /** called on interruption: delivered bytes of the current transfer */
  interrupt: (delivered: number) => void;
  /** the transfer crosses the site's WAN link (origin pulls) */
  crossesWan: boolean;
  /** peer strategy: the fetch is a member of the swarm */
  inSwarm: boolean;
  /** one GET of the whole blob: delivered bytes count from the blob's start (held chunks are read past) */
  whole: boolean;
}

class SimAgent {
  state!: AgentState;
  persisted: PersistedState | null;
  gen = 0;
  /** the agent process runs */
  up = false;
  /** the host is crashed (until it reboots) */
  down = false;
  fetch: ActiveFetch | null = null;
  /** when the node's current token was issued (a new login: every cache misses) */
  tokenAtUs = -1;
  readonly rng: NodeStreams;
  constructor(
    readonly info: NodeInfo,
    rng: NodeStreams,
    persisted: PersistedState | null,
  ) {
    this.rng = rng;
    this.persisted = persisted;
  }
}

/** One validating station's token caches, one per worker process: when each node's token was cached there (µs; NaN: never). */
class TokenCaches {
  private readonly at: (Float64Array | undefined)[] = [];

  constructor(
    private readonly nodes: number,
    private readonly ttlUs: number,
  ) {}

  private slot(process: number): Float64Array {
    let a = this.at[process];
    if (!a) {
      a = new Float64Array(this.nodes).fill(Number.NaN);
      this.at[process] = a;
    }
    return a;
  }

  hit(process: number, node: number, tokenAtUs: number, nowUs: number): boolean {
    const t = this.slot(process)[node];
    return t >= tokenAtUs && nowUs - t < this.ttlUs;
  }

  store(process: number, node: number, nowUs: number): void {
    this.slot(process)[node] = nowUs;
  }
}

/** One control request in flight (AgentFleet.control). */
class ControlCall {
  settled = false;
  timeout = -1;
  /** the API call in progress */
  index = 0;
  constructor(
    readonly a: SimAgent,
    readonly gen: number,
    readonly id: number,
    readonly op: ControlOp,
    readonly ops: readonly ApiOp[],
    readonly rttUs: number,
    /** when the agent gives up on it (Infinity: no request timeout) */
    readonly deadlineUs: number,
  ) {}
}

const refusedMessages = new WeakMap<StationSim, string>();

/** The same words for every refusal of one station (built once: a storm refuses millions). */
function refusedMessage(station: StationSim): string {
  let m = refusedMessages.get(station);
  if (m === undefined) {
    m = `${station.spec.name} refused the request (backlog of ${station.queueLimit} full)`;
    refusedMessages.set(station, m);
  }
  return m;
}

const unavailableResults = new Map<string, Map<ControlOp, ControlResult>>();

/** One frozen `unavailable` result per (op, words): the machine only reads results, and a storm fails millions of requests. */
function unavailableResult(op: ControlOp, message: string): ControlResult {
  let byOp = unavailableResults.get(message);
  if (byOp === undefined) {
    byOp = new Map();
    unavailableResults.set(message, byOp);
  }
  let r = byOp.get(op);
  if (r === undefined) {
    r = Object.freeze({ op, ok: false, error: Object.freeze({ kind: 'unavailable', message }) }) as ControlResult;
    byOp.set(op, r);
  }
  return r;
}

interface TokenChecks {
  tv: TokenValidation;
  tokens: TokenCaches;
  processes: number;
}

export class AgentFleet {
  private readonly agents: SimAgent[];
  private readonly sim;
  private readonly swarm: Swarm | null;
  private readonly checksAt = new Map<StationSim, TokenChecks | null>();
  private readonly requestTimeoutUs: number;
  /** blob offset where each chunk of the manifest ends (a whole stream delivers in this order) */
  private readonly chunkEnds: Float64Array;
  private readonly blobBytes: number;

  constructor(private readonly ctx: AgentRunContext) {
    const { world } = ctx;
    this.sim = world.sim;
    this.agents = world.fleet.nodes.map((n) => new SimAgent(n, new NodeStreams(world.seed, ctx.repeat, n.id), ctx.initialPersisted(n.index)));
    this.requestTimeoutUs = world.scenario.clients.requestTimeoutUs;
    this.chunkEnds = new Float64Array(ctx.manifest.chunks.length);
    let end = 0;
    for (const c of ctx.manifest.chunks) this.chunkEnds[c.index] = end += c.size;
    this.blobBytes = end;
    this.swarm = world.scenario.strategy === 'peer' ? this.makeSwarm() : null;
    world.onSiteCut((site) => this.siteCut(site));
    world.onSiteRestored(() => this.swarm?.wake());
    const data = world.station(world.model.dataPath.op.station);
    data.onUp(() => this.swarm?.wake());
  }

  /** Bytes the origin sent in this run (Network flows plus the swarm's seeding). */
  get originEgressBytes(): number {
    return this.ctx.world.originEgressBytes + (this.swarm?.originBytes ?? 0);
  }

  private makeSwarm(): Swarm {
    const { world, rangesInFlight, chunkCorruption } = this.ctx;
    const data = world.station(world.model.dataPath.op.station);
    return new Swarm(
      {
        sim: world.sim,
        fleet: world.fleet,
        originUpBitsPerS: world.scenario.origin.uplinkBitsPerS,
        siteIsCut: (site) => world.siteIsCut(site),
        originUp: () => data.up,
        originPath: (r) => {
          const node = world.fleet.nodes[r];
          return { capBitsPerS: world.originCapBitsPerS(node, rangesInFlight), rttUs: world.rttToCentreUs(node) };
        },
        peerPath: (s, r) => {
          const a = world.fleet.nodes[s];
          const b = world.fleet.nodes[r];
          const loss = 1 - (1 - a.access.loss) * (1 - b.access.loss);
          const crossSite = a.site !== b.site;
          const rtt = crossSite ? a.access.rttUs + b.access.rttUs + world.fleet.sites[a.site].wan.rttUs + world.fleet.sites[b.site].wan.rttUs : LAN_RTT_US;
          return { capBitsPerS: rangesInFlight * mathisCapBitsPerS(Math.max(1, rtt), loss), rttUs: rtt };
        },
        corrupt: (r) => chunkCorruption > 0 && this.agents[r].rng.of('corruption').bernoulli(chunkCorruption),
        arrived: (r, bytes, from, to, fromOrigin) => world.checks.arrived(r, bytes, from, to, fromOrigin),
      },
      world.scenario.swarm,
      this.ctx.fetchList,
    );
  }

  /** The agent sees the rollout (its first poll): starts unless its host is down (the reboot starts it). */
  start(node: number): void {
    const a = this.agents[node];
    if (!a.down && !a.up) this.boot(node);
  }

  /** Start (or restart after a crash) the agent process on a node. */
  boot(node: number): void {
    const a = this.agents[node];
    if (a.up) return;
    a.down = false;
    a.up = true;
    a.state = initialState(this.ctx.config, a.persisted, a.rng.of('machine').u32());
    this.deliver(a, a.gen, { type: 'start' });
  }

  crash(node: number): void {
    const a = this.agents[node];
    if (a.down) return;
    a.down = true;
    if (!a.up) return; // not started yet: the reboot starts it
    if (this.swarm) {
      a.fetch = null;
      this.swarm.crash(node);
    } else this.interruptFetch(a);
    // the partial delivery above may have made the machine start another fetch: drop it silently
    const restarted = a.fetch;
    a.fetch = null;
    restarted?.cancelWait?.();
    restarted?.transfer?.cancel();
    a.up = false;
    a.gen++;
  }

  private deliver(a: SimAgent, gen: number, event: Event): void {
    if (!a.up || a.gen !== gen) return;
    const r = step(a.state, event);
    a.state = r.state;
    for (const action of r.actions) this.execute(a, action);
  }

  /** Deliver later (never re-enter the machine from inside one of its own steps). */
  private later(a: SimAgent, delayUs: number, event: Event): void {
    const gen = a.gen;
    this.sim.after(delayUs, () => this.deliver(a, gen, event));
  }

  private execute(a: SimAgent, action: Action): void {
    const { rec, world } = this.ctx;
    const node = a.info.index;
    switch (action.type) {
      case 'control':
        this.control(a, action.id, action.op);
        return;
      case 'fetchChunks':
        this.fetchChunks(a, action.id, action.chunks);
        return;
      case 'stage':
        this.stage(a, action.id, action.manifest);
        return;
      case 'startVm':
        world.checks.vmStart(node, this.sim.now);
        this.later(a, this.bootUs(a), { type: 'vmStarted', id: action.id, ok: true });
        return;
      case 'stopVm':
        this.later(a, 0, { type: 'vmStopped', id: action.id });
        return;
      case 'setTimer':
        this.later(a, action.afterUs, { type: 'timer', id: action.id });
        return;
      case 'persist':
        a.persisted = action.state;
        return;
      case 'mark':
        rec.markPhase(node, action.phase, action.edge, this.sim.now);
        return;
      case 'done': {
        const ok = action.outcome === 'running';
        if (rec.finish(node, this.sim.now, ok, action.reason)) this.ctx.onFinished(node, ok);
        return;
      }
    }
  }

  private bootUs(a: SimAgent): number {
    const b = a.info.boot;
    return b.kind === 'fixed' ? b.us : a.rng.of('boot').lognormalUs(b.medianUs, b.p99Us, 0.99);
  }

  /**
   * One control request: its API calls in turn, each a round trip to a station. The agent gives up
   * on the whole request after the request timeout (the calls already queued are still served:
   * the server does not know the client left). The timeout is armed only once the request may
   * wait (a station took it, or its failure would come after the deadline): most requests of a
   * storm are refused at once, and an event per refused request would be pure overhead.
   */
  private control(a: SimAgent, id: number, op: ControlOp): void {
    const ops = this.ctx.world.model.agentOps(op);
    const deadlineUs = this.requestTimeoutUs > 0 ? this.sim.now + this.requestTimeoutUs : Infinity;
    this.nextCall(new ControlCall(a, a.gen, id, op, ops, this.ctx.world.rttToCentreUs(a.info), deadlineUs));
  }

  /** The request's next API call leaves the node (or, all answered, its result is delivered). */
  private nextCall(c: ControlCall): void {
    const { a } = c;
    if (!a.up || a.gen !== c.gen || c.settled) return;
    if (c.index === c.ops.length) {
      if (!this.settle(c)) return;
      if (c.op === 'login') a.tokenAtUs = this.sim.now;
      this.deliver(a, c.gen, { type: 'controlResult', id: c.id, result: this.controlResult(a, c.op) });
      return;
    }
    const { world, rec } = this.ctx;
    const apiOp = c.ops[c.index];
    if (world.siteIsCut(a.info.site)) return this.failCall(c, CONNECT_TIMEOUT_US, 'site cut off from the control plane');
    const station = world.station(apiOp.station);
    rec.countCall(apiOp.bytesOut + apiOp.bytesIn);
    if (!station.up) return this.failCall(c, c.rttUs, `${apiOp.station} unavailable`);
    this.sim.after(c.rttUs >> 1, () => this.callArrived(c, station));
  }

  /** The API call reached its station: its token is checked (where the station does), then it is served or refused. */
  private callArrived(c: ControlCall, station: StationSim): void {
    const back = c.rttUs - (c.rttUs >> 1);
    const serve = (): void => {
      const apiOp = c.ops[c.index];
      const accepted = station.request(drawServiceUs(apiOp.serviceTime ?? station.spec.serviceTime, c.a.rng.of('service')), () => {
        c.index++;
        this.sim.after(back, () => this.nextCall(c));
      });
      if (accepted) this.armTimeout(c);
      else this.failCall(c, back, refusedMessage(station));
    };
    if (this.validated(c.a, station, serve, (why) => this.failCall(c, back, why))) this.armTimeout(c);
  }

  /** The request fails `delayUs` from now (unless its timeout comes first). */
  private failCall(c: ControlCall, delayUs: number, message: string): void {
    if (this.sim.now + delayUs >= c.deadlineUs) this.armTimeout(c);
    this.sim.after(delayUs, () => {
      if (this.settle(c)) this.deliver(c.a, c.gen, { type: 'controlResult', id: c.id, result: unavailableResult(c.op, message) });
    });
  }

  private armTimeout(c: ControlCall): void {
    if (c.timeout >= 0 || c.settled || c.deadlineUs === Infinity) return;
    c.timeout = this.sim.at(c.deadlineUs, () => {
      c.timeout = -1;
      if (this.settle(c)) this.deliver(c.a, c.gen, { type: 'controlResult', id: c.id, result: unavailableResult(c.op, `no answer within ${this.requestTimeoutUs / 1e6} s`) });
    });
  }

  /** The request's one answer: false when it was answered already. */
  private settle(c: ControlCall): boolean {
    if (c.settled) return false;
    c.settled = true;
    if (c.timeout >= 0) this.sim.cancel(c.timeout);
    return true;
  }

  /**
   * A station that checks tokens first looks in the cache of the worker process the request lands
   * on; on a miss that process asks the identity service (a request at its station) and caches
   * the answer for the TTL. True: the request now waits for that check.
   */
  private validated(a: SimAgent, station: StationSim, then: () => void, refused: (why: string) => void): boolean {
    const checks = this.tokenChecks(station);
    if (!checks) {
      then();
      return false;
    }
    const { tv, tokens, processes } = checks;
    const name = station.spec.name;
    const process = processes === 1 ? 0 : a.rng.of('routing').int(0, processes - 1);
    const node = a.info.index;
    if (tokens.hit(process, node, a.tokenAtUs, this.sim.now)) {
      then();
      return false;
    }
    // a server-side call (the service asks the identity service): not one of the agent's API calls
    const identity = this.ctx.world.station(tv.op.station);
    const ok = identity.request(drawServiceUs(tv.op.serviceTime ?? identity.spec.serviceTime, a.rng.of('service')), () => {
      tokens.store(process, node, this.sim.now);
      then();
    });
    if (!ok) refused(`${identity.spec.name} refused the token check of ${name} (backlog full)`);
    return ok;
  }

  private controlResult(a: SimAgent, op: ControlOp): ControlResult {
    switch (op) {
      case 'getAssignment':
        return { op, ok: true, assignment: this.ctx.assignmentFor(a.info.index) };
      case 'getManifest':
        return { op, ok: true, manifest: this.ctx.manifest };
      case 'login':
      case 'getKey':
      case 'report':
        return { op, ok: true };
    }
  }

  private fetchChunks(a: SimAgent, id: number, chunks: ChunkRef[]): void {
    const { world, rangesInFlight } = this.ctx;
    const gen = a.gen;
    const bytes = chunks.reduce((s, c) => s + c.size, 0);
    const rtt = world.rttToCentreUs(a.info);
    const unavailable = (delayUs: number): void => this.later(a, delayUs, { type: 'chunks', id, stored: [], corrupt: [], unavailable: chunks.map((c) => c.index), final: true });
    const dataStation = world.station(world.model.dataPath.op.station);
    const strategy = world.scenario.strategy;
    const cache = world.siteCache(a.info.site);
    if (strategy !== 'peer' && world.siteIsCut(a.info.site) && !(strategy === 'site-cache' && cache.filledBytes >= this.ctx.fullFetchBytes)) {
      unavailable(CONNECT_TIMEOUT_US);
      return;
    }
    if (strategy === 'origin' && !dataStation.up) {
      unavailable(rtt);
      return;
    }
    const whole = strategy === 'origin' && streamsWhole(this.ctx.wholeStreamAt, world.model.dataPath.wholeOp !== undefined, bytes, this.blobBytes);
    const fetch: ActiveFetch = { reqId: id, chunks, transfer: null, cancelWait: null, interrupt: () => {}, crossesWan: strategy === 'origin', inSwarm: false, whole };
    a.fetch = fetch;
    const finish = (delivered: number, complete: boolean): void => {
      if (a.fetch !== fetch) return;
      a.fetch = null;
      this.chunksArrived(a, gen, fetch, delivered, complete);
    };
    fetch.interrupt = (delivered) => finish(delivered, false);
    if (whole) {
      this.fetchWhole(a, fetch, dataStation, finish);
    } else if (strategy === 'origin') {
      // Each range request costs a round trip before its first byte; `rangesInFlight` overlap.
      const requestRounds = Math.ceil(chunks.length / Math.max(1, rangesInFlight));
      const go = (): void => {
        if (a.fetch !== fetch) return; // interrupted while its token was being checked
        // the range requests' server time, one worker of the data service per fetch (rounds in turn)
        const op = world.model.dataPath.op;
        const serviceUs = requestRounds * drawServiceUs(op.serviceTime ?? dataStation.spec.serviceTime, a.rng.of('service'));
        this.requestThenStream(a, fetch, dataStation, serviceUs, requestRounds * rtt, { bytes, streams: rangesInFlight }, finish);
      };
      this.validateDataPath(a, dataStation, chunks.length, go, () => {
        if (a.fetch === fetch) finish(0, false);
      });
    } else if (strategy === 'site-cache') {
      if (world.scenario.cache.cutThrough) {
        fetch.transfer = cache.read(a.info, bytes, rangesInFlight, finish);
        return;
      }
      cache.ensure(this.ctx.fullFetchBytes, rangesInFlight, (ok) => {
        if (a.fetch !== fetch) return;
        if (!ok) return finish(0, false);
        fetch.transfer = world.fromSiteCache(a.info, bytes, rangesInFlight, finish);
      });
    } else {
      fetch.inSwarm = true;
      const swarm = this.swarm as Swarm;
      fetch.interrupt = () => swarm.interrupt(a.info.index);
      swarm.join(a.info.index, chunks, (r) => {
        if (a.fetch !== fetch) return;
        a.fetch = null;
        const issued = r.stored.length + r.corrupt.length;
        this.ctx.rec.dataRequests += issued;
        this.ctx.rec.apiCalls += issued;
        this.later(a, 0, { type: 'chunks', id, stored: r.stored, corrupt: r.corrupt, unavailable: r.unavailable, final: true });
      });
      if (!dataStation.up || world.siteIsCut(a.info.site)) swarm.checkStalls(CONNECT_TIMEOUT_US);
    }
  }

  /**
   * One GET of the whole blob: one request at the data service (its token checked by the worker
   * process it lands on), then one stream from the blob's start, stopped once the last missing
   * chunk is in (the agent reads past the chunks it holds).
   */
  private fetchWhole(a: SimAgent, fetch: ActiveFetch, dataStation: StationSim, finish: (delivered: number, complete: boolean) => void): void {
    const { world } = this.ctx;
    const op = world.model.dataPath.wholeOp as NonNullable<typeof world.model.dataPath.wholeOp>;
    const rtt = world.rttToCentreUs(a.info);
    let last = 0;
    for (const c of fetch.chunks) last = Math.max(last, this.chunkEnds[c.index]);
    const go = (): void => {
      if (a.fetch !== fetch) return;
      const serviceUs = drawServiceUs(op.serviceTime ?? dataStation.spec.serviceTime, a.rng.of('service'));
      this.requestThenStream(a, fetch, dataStation, serviceUs, rtt, { bytes: last, streams: 1 }, finish);
    };
    this.validated(a, dataStation, go, () => {
      if (a.fetch === fetch) this.sim.after(rtt, () => finish(0, false));
    });
  }

  /**
   * The data service serves the fetch's request(s) (`serviceUs` of one worker), the first byte
   * comes `firstByteUs` later, then the bytes flow from the origin; a refusal ends the fetch one
   * round trip later.
   */
  private requestThenStream(
    a: SimAgent,
    fetch: ActiveFetch,
    dataStation: StationSim,
    serviceUs: number,
    firstByteUs: number,
    flow: { bytes: number; streams: number },
    finish: (delivered: number, complete: boolean) => void,
  ): void {
    const { world } = this.ctx;
    const accepted = dataStation.request(serviceUs, () => {
      if (a.fetch !== fetch) return;
      const handle = this.sim.after(firstByteUs, () => {
        fetch.cancelWait = null;
        fetch.transfer = world.fromOrigin(a.info, flow.bytes, flow.streams, finish);
      });
      fetch.cancelWait = () => this.sim.cancel(handle);
    });
    if (!accepted) this.sim.after(world.rttToCentreUs(a.info), () => finish(0, false));
  }

  /** How `station` checks tokens: the identity service's op, the caches, and the worker processes that each keep one; null: it checks none. */
  private tokenChecks(station: StationSim): TokenChecks | null {
    let checks = this.checksAt.get(station);
    if (checks === undefined) {
      const tv = this.ctx.world.model.tokenValidation;
      checks = tv?.validatingStations.includes(station.spec.name)
        ? { tv, tokens: new TokenCaches(this.agents.length, tv.cacheTtlUs), processes: tv.cacheScope === 'shared' ? 1 : Math.max(1, station.spec.processes ?? station.spec.workers) }
        : null;
      this.checksAt.set(station, checks);
    }
    return checks;
  }

  /**
   * The data service checks the token of every range request: a fetch's requests land on up to
   * `processes` worker processes, and each that has not cached the node's token validates it once
   * with the identity service (`rangesInFlight` at a time) before the bytes flow.
   */
  private validateDataPath(a: SimAgent, station: StationSim, requests: number, then: () => void, refused: () => void): void {
    const checks = this.tokenChecks(station);
    if (!checks) return then();
    const { tv, tokens, processes } = checks;
    const node = a.info.index;
    const misses: number[] = [];
    for (let p = 0; p < Math.min(processes, requests); p++) if (!tokens.hit(p, node, a.tokenAtUs, this.sim.now)) misses.push(p);
    if (misses.length === 0) return then();
    const identity = this.ctx.world.station(tv.op.station);
    const gen = a.gen;
    let next = 0;
    let open = 0;
    let failed = false;
    const pump = (): void => {
      while (open < Math.max(1, this.ctx.rangesInFlight) && next < misses.length && !failed) {
        const p = misses[next++];
        open++;
        const ok = identity.request(drawServiceUs(tv.op.serviceTime ?? identity.spec.serviceTime, a.rng.of('service')), () => {
          open--;
          if (a.gen !== gen) return;
          tokens.store(p, node, this.sim.now);
          if (next === misses.length && open === 0 && !failed) then();
          else pump();
        });
        if (!ok) {
          failed = true;
          open--;
          refused();
        }
      }
    };
    pump();
  }

  /** A transfer ended or was cut: the chunks wholly delivered count, in manifest order. */
  private chunksArrived(a: SimAgent, gen: number, fetch: ActiveFetch, delivered: number, complete: boolean): void {
    const { rec, chunkCorruption } = this.ctx;
    const stored: number[] = [];
    const corrupt: number[] = [];
    const unavailable: number[] = [];
    let offset = 0;
    const rng = chunkCorruption > 0 ? a.rng.of('corruption') : null;
    for (const c of fetch.chunks) {
      offset = fetch.whole ? this.chunkEnds[c.index] : offset + c.size;
      if (offset <= delivered) {
        if (rng?.bernoulli(chunkCorruption)) corrupt.push(c.index);
        else stored.push(c.index);
      } else unavailable.push(c.index);
    }
    // every range request that was issued is an API call, also the one a cut interrupted; a whole stream is one
    const issued = fetch.whole ? 1 : Math.min(fetch.chunks.length, stored.length + corrupt.length + (complete ? 0 : 1));
    rec.dataRequests += issued;
    rec.apiCalls += issued;
    this.deliver(a, gen, { type: 'chunks', id: fetch.reqId, stored, corrupt, unavailable, final: true });
  }

  private interruptFetch(a: SimAgent): void {
    const f = a.fetch;
    if (!f) return;
    if (f.inSwarm) {
      f.interrupt(0);
    } else if (f.cancelWait) {
      f.cancelWait();
      f.interrupt(0);
    } else if (f.transfer) {
      f.transfer.cancel();
    } else {
      f.interrupt(0);
    }
  }

  /** A site cut stalled the transfers crossing its WAN for the request timeout: they are abandoned where they are; peers on the LAN go on. */
  private siteCut(site: number): void {
    const { world } = this.ctx;
    const strategy = world.scenario.strategy;
    if (strategy === 'site-cache') {
      world.siteCache(site).interrupt();
      return;
    }
    if (this.swarm) {
      this.swarm.siteCut(site);
      this.swarm.checkStalls(CONNECT_TIMEOUT_US);
      return;
    }
    for (const a of this.siteAgents(site)) if (a.fetch?.crossesWan) this.interruptFetch(a);
  }

  private siteAgents(site: number): SimAgent[] {
    const perSite = this.ctx.world.scenario.fleet.nodesPerSite;
    return this.agents.slice(site * perSite, (site + 1) * perSite);
  }

  private stage(a: SimAgent, id: number, manifest: ManifestInfo): void {
    this.later(a, stagingUs(manifest.size, a.info.diskBitsPerS), { type: 'staged', id, ok: true });
  }
}
