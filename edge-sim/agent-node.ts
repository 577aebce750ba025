// Runs the ONE edge agent (agent/machine) for every node in virtual time: the simulator is the
// agent's runtime here, executing its actions against the simulated world and feeding results
// back as events. The same machine runs on real nodes with real I/O.
import type { Action, AgentConfig, AgentState, Assignment, ChunkRef, ControlOp, ControlResult, Event, ManifestInfo, PersistedState } from '../agent/machine/index.js';
import { initialState, step } from '../agent/machine/index.js';
import type { NodeInfo } from './fleet.js';
import type { RunRecords } from '../reports/index.js';
import type { Rng } from './rng.js';
import { drawServiceUs } from './stations.js';
import { CONNECT_TIMEOUT_US, type Transfer, type World } from './world.js';

export interface AgentRunContext {
  world: World;
  rec: RunRecords;
  repeat: number;
  config: AgentConfig;
  manifest: ManifestInfo;
  /** bytes a node without any previous chunk must fetch (what a site cache holds when full) */
  fullFetchBytes: number;
  rangesInFlight: number;
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
  /** peer strategy: the node index serving this fetch */
  sender: number | null;
}

class SimAgent {
  state!: AgentState;
  persisted: PersistedState | null;
  gen = 0;
  up = true;
  fetch: ActiveFetch | null = null;
  isHolder = false;
  constructor(
    readonly info: NodeInfo,
    readonly rng: Rng,
    persisted: PersistedState | null,
  ) {
    this.persisted = persisted;
  }
}

export class AgentFleet {
  private readonly agents: SimAgent[];
  private readonly sim;

  constructor(private readonly ctx: AgentRunContext) {
    const { world } = ctx;
    this.sim = world.sim;
    this.agents = world.fleet.nodes.map((n) => new SimAgent(n, world.rngFor(ctx.repeat, 'node', n.id), ctx.initialPersisted(n.index)));
    world.onSiteCut((site) => this.siteCut(site));
  }

  /** Start (or restart after a crash) the agent process on a node. */
  boot(node: number): void {
    const a = this.agents[node];
    a.up = true;
    a.state = initialState(this.ctx.config, a.persisted, a.rng.u32());
    this.deliver(a, a.gen, { type: 'start' });
  }

  crash(node: number): void {
    const a = this.agents[node];
    if (!a.up) return;
    this.interruptFetch(a);
    if (a.isHolder && this.ctx.world.scenario.strategy === 'peer') {
      a.isHolder = false;
      this.ctx.world.swarm(a.info.site).removeHolder(node);
      for (const other of this.siteAgents(a.info.site)) if (other.fetch?.sender === node) this.interruptFetch(other);
    }
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
    const { rec } = this.ctx;
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
    return b.kind === 'fixed' ? b.us : a.rng.lognormalUs(b.medianUs, b.p99Us, 0.99);
  }

  private control(a: SimAgent, id: number, op: ControlOp): void {
    const { world, rec } = this.ctx;
    const ops = world.model.agentOps(op);
    const gen = a.gen;
    const rtt = world.rttToCentreUs(a.info);
    const fail = (delayUs: number, message: string): void => this.later(a, delayUs, { type: 'controlResult', id, result: { op, ok: false, error: { kind: 'unavailable', message } } });
    const next = (i: number): void => {
      if (!a.up || a.gen !== gen) return;
      if (i === ops.length) {
        this.deliver(a, gen, { type: 'controlResult', id, result: this.controlResult(a, op) });
        return;
      }
      const apiOp = ops[i];
      if (world.siteIsCut(a.info.site)) return fail(CONNECT_TIMEOUT_US, 'site cut off from the control plane');
      const station = world.station(apiOp.station);
      rec.countCall(apiOp.bytesOut + apiOp.bytesIn);
      if (!station.up) return fail(rtt, `${apiOp.station} unavailable`);
      const half = rtt >> 1;
      this.sim.after(half, () => station.request(drawServiceUs(apiOp.serviceTime ?? station.spec.serviceTime, a.rng), () => this.sim.after(rtt - half, () => next(i + 1))));
    };
    next(0);
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
    if (strategy !== 'peer' && world.siteIsCut(a.info.site) && !(strategy === 'site-cache' && world.siteCache(a.info.site).isFull)) {
      unavailable(CONNECT_TIMEOUT_US);
      return;
    }
    if (strategy === 'origin' && !dataStation.up) {
      unavailable(rtt);
      return;
    }
    const fetch: ActiveFetch = { reqId: id, chunks, transfer: null, cancelWait: null, interrupt: () => {}, crossesWan: strategy === 'origin', sender: null };
    a.fetch = fetch;
    const finish = (delivered: number, complete: boolean): void => {
      if (a.fetch !== fetch) return;
      a.fetch = null;
      this.chunksArrived(a, gen, fetch, delivered, complete);
    };
    fetch.interrupt = (delivered) => finish(delivered, false);
    // Each range request costs a round trip before its first byte; `rangesInFlight` overlap.
    const requestRounds = Math.ceil(chunks.length / Math.max(1, rangesInFlight));
    if (strategy === 'origin') {
      const handle = this.sim.after(requestRounds * rtt, () => {
        fetch.cancelWait = null;
        fetch.transfer = world.fromOrigin(a.info, bytes, rangesInFlight, finish);
      });
      fetch.cancelWait = () => this.sim.cancel(handle);
    } else if (strategy === 'site-cache') {
      const cache = world.siteCache(a.info.site);
      cache.ensure(this.ctx.fullFetchBytes, rangesInFlight, (ok) => {
        if (a.fetch !== fetch) return;
        if (!ok) return finish(0, false);
        fetch.transfer = world.fromSiteCache(a.info, bytes, rangesInFlight, finish);
      });
    } else {
      this.fetchFromSwarm(a, fetch, bytes, finish);
    }
  }

  private fetchFromSwarm(a: SimAgent, fetch: ActiveFetch, bytes: number, finish: (d: number, c: boolean) => void): void {
    const { world, rangesInFlight } = this.ctx;
    const swarm = world.swarm(a.info.site);
    const onSource = (source: number | 'origin'): void => {
      fetch.cancelWait = null;
      if (a.fetch !== fetch) {
        // the requester went away meanwhile: hand the source back
        if (source === 'origin') swarm.seedFailed();
        else swarm.holderFree(source);
        return;
      }
      if (source === 'origin') {
        if (world.siteIsCut(a.info.site) || !world.station(world.model.dataPath.op.station).up) {
          swarm.seedFailed();
          return finish(0, false);
        }
        fetch.crossesWan = true;
        fetch.transfer = world.fromOrigin(a.info, bytes, rangesInFlight, (d, complete) => {
          if (!complete) swarm.seedFailed();
          finish(d, complete);
        });
      } else {
        const sender = world.fleet.nodes[source];
        fetch.sender = source;
        fetch.transfer = world.fromPeer(sender, a.info, bytes, rangesInFlight, (d, complete) => {
          if (this.agents[source].up && this.agents[source].isHolder) swarm.holderFree(source);
          finish(d, complete);
        });
      }
    };
    fetch.cancelWait = () => swarm.cancelWait(onSource);
    swarm.request(onSource);
  }

  /** A transfer ended or was cut: the chunks wholly delivered count, in manifest order. */
  private chunksArrived(a: SimAgent, gen: number, fetch: ActiveFetch, delivered: number, complete: boolean): void {
    const { rec, chunkCorruption, world } = this.ctx;
    const stored: number[] = [];
    const corrupt: number[] = [];
    const unavailable: number[] = [];
    let offset = 0;
    for (const c of fetch.chunks) {
      offset += c.size;
      if (offset <= delivered) {
        if (chunkCorruption > 0 && a.rng.bernoulli(chunkCorruption)) corrupt.push(c.index);
        else stored.push(c.index);
      } else unavailable.push(c.index);
    }
    // every range request that was issued is an API call, also the one a cut interrupted
    const issued = Math.min(fetch.chunks.length, stored.length + corrupt.length + (complete ? 0 : 1));
    rec.dataRequests += issued;
    rec.apiCalls += issued;
    if (complete && corrupt.length === 0 && world.scenario.strategy === 'peer' && !a.isHolder) {
      a.isHolder = true;
      world.swarm(a.info.site).holderFree(a.info.index);
    }
    this.deliver(a, gen, { type: 'chunks', id: fetch.reqId, stored, corrupt, unavailable, final: true });
  }

  private interruptFetch(a: SimAgent): void {
    const f = a.fetch;
    if (!f) return;
    if (f.cancelWait) {
      f.cancelWait();
      f.interrupt(0);
    } else if (f.transfer) {
      f.transfer.cancel();
    }
  }

  /** A site cut stalled the transfers crossing its WAN for STALL_TIMEOUT_US: they are abandoned where they are; peers on the LAN go on. */
  private siteCut(site: number): void {
    const { world } = this.ctx;
    const strategy = world.scenario.strategy;
    if (strategy === 'site-cache') {
      world.siteCache(site).interrupt();
      return;
    }
    for (const a of this.siteAgents(site)) if (a.fetch?.crossesWan) this.interruptFetch(a);
  }

  private siteAgents(site: number): SimAgent[] {
    const perSite = this.ctx.world.scenario.fleet.nodesPerSite;
    return this.agents.slice(site * perSite, (site + 1) * perSite);
  }

  private stage(a: SimAgent, id: number, manifest: ManifestInfo): void {
    // verify (read + hash) then decrypt (read + write) at the node's disk rate
    const verifyUs = Math.ceil((manifest.size * 8 * 1e6) / a.info.diskBitsPerS);
    this.later(a, 2 * verifyUs, { type: 'staged', id, ok: true });
  }
}
