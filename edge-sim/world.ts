// The simulated world of one run: the network of links, the control-plane stations, the fault
// windows, and the sources image bytes can come from (origin, a site cache, the peer swarm).
// Node drivers (agent-node.ts, native-node.ts) act in it. Every byte takes its real path:
// origin uplink -> site WAN -> site LAN -> node access link.
import type { PlaneModel } from '../adapters/index.js';
import type { Scenario } from '../scenarios/index.js';
import { FidelityChecks } from './checks.js';
import { Simulator } from './engine.js';
import type { Fleet, NodeInfo } from './fleet.js';
import { Network, mathisCapBitsPerS, type LinkId } from './network.js';
import { streamRng, type Rng } from './rng.js';
import { StationSim } from './stations.js';

/** How long a request to an unreachable centre takes to fail (connect timeout). */
export const CONNECT_TIMEOUT_US = 3_000_000;
/** Linux's TCP_RTO_MIN: a flow stalled by a cut resumes at a retransmission at least this long after its last one. */
export const TCP_MIN_RTO_US = 200_000;
/** Linux's initial SYN retransmission timeout (TCP_TIMEOUT_INIT); each retry doubles it. */
export const TCP_SYN_RTO_US = 1_000_000;
/** RTT inside a site LAN (cache or peer to node). */
export const LAN_RTT_US = 1_000;

export type TransferEnd = (deliveredBytes: number, complete: boolean) => void;

export interface Transfer {
  /** Stop it: the transfer's end callback runs with what was delivered (complete = false). */
  cancel(): number;
}

export class World {
  readonly sim = new Simulator();
  readonly net: Network;
  readonly stations = new Map<string, StationSim>();
  readonly origin: LinkId;
  readonly checks: FidelityChecks;
  private readonly wanDown: LinkId[];
  private readonly lan: LinkId[];
  private readonly nodeDown: LinkId[];
  /** count of active partition / WAN-down windows per site */
  private readonly siteCut: Int32Array;
  /** per site: how many cuts began (a stall timer belongs to one cut) */
  private readonly cutEpoch: Int32Array;
  private readonly siteCaches: SiteCache[];
  private readonly faultListeners: ((site: number) => void)[] = [];
  private readonly restoreListeners: ((site: number) => void)[] = [];
  /** per-stream ceiling of the plane's data service (bits/s), Infinity when the model gives none */
  readonly originStreamBitsPerS: number;

  constructor(
    readonly scenario: Scenario,
    readonly fleet: Fleet,
    readonly model: PlaneModel,
    readonly seed: number,
  ) {
    this.net = new Network(this.sim);
    this.checks = new FidelityChecks(fleet.nodes.length, fleet.sites.length);
    for (const st of model.stations) this.stations.set(st.name, new StationSim(this.sim, st, scenario.servers.queueLimit));
    this.origin = this.net.addLink('origin-up', scenario.origin.uplinkBitsPerS);
    this.wanDown = fleet.sites.map((s) => this.net.addLink(`${s.id}-wan-down`, s.wan.downBitsPerS));
    this.lan = fleet.sites.map((s) => this.net.addLink(`${s.id}-lan`, s.lanBitsPerS));
    this.nodeDown = fleet.nodes.map((n) => this.net.addLink(`${n.id}-down`, n.access.downBitsPerS, { private: true }));
    this.siteCut = new Int32Array(fleet.sites.length);
    this.cutEpoch = new Int32Array(fleet.sites.length);
    const segment = Math.max(scenario.image.chunkBytes, scenario.swarm.pieceBytes);
    this.siteCaches = fleet.sites.map((_, i) => new SiteCache(this, i, segment));
    const t = model.dataPath.originThroughput;
    this.originStreamBitsPerS = t ? t.bytesPerSecond * 8 : Infinity;
  }

  rngFor(repeat: number, ...key: (string | number)[]): Rng {
    return streamRng(this.seed, repeat, ...key);
  }

  station(name: string): StationSim {
    const st = this.stations.get(name);
    if (!st) throw new Error(`plane model ${this.model.plane} references unknown station ${name}`);
    return st;
  }

  /** Is the site cut off from the centre right now (partition or WAN link down)? */
  siteIsCut(site: number): boolean {
    return this.siteCut[site] > 0;
  }

  /**
   * A new connection across the site's WAN (a centre's copy to or download by a node): made at once
   * when the site is reachable; in a silent cut its SYN is retransmitted 1, 3, 7 ... s after the
   * first and the connection is made at the first retransmission after the link is back, or fails
   * at `timeoutUs` (the client's connect timeout).
   */
  connect(site: number, timeoutUs: number, done: (ok: boolean) => void): void {
    if (!this.siteIsCut(site)) return done(true);
    const start = this.sim.now;
    let rto = TCP_SYN_RTO_US;
    const retransmit = (): void => {
      if (!this.siteIsCut(site)) return done(true);
      rto *= 2;
      if (this.sim.now + rto - start > timeoutUs) this.sim.at(start + timeoutUs, () => done(false));
      else this.sim.after(rto, retransmit);
    };
    if (rto > timeoutUs) this.sim.after(timeoutUs, () => done(false));
    else this.sim.after(rto, retransmit);
  }

  /**
   * A cut takes the site's WAN link to 0 bits/s: flows crossing it stall where they are and go on
   * a retransmission timeout after it comes back (tcpResumeUs). A cut that lasts the request timeout tells the listeners, which abandon the
   * stalled transfers as a timed-out request would.
   */
  setSiteCut(site: number, cut: boolean): void {
    this.siteCut[site] += cut ? 1 : -1;
    if (cut && this.siteCut[site] === 1) {
      this.net.setLinkCapacity(this.wanDown[site], 0);
      const epoch = ++this.cutEpoch[site];
      // TCP keeps an established connection through a short cut; the agent abandons a request
      // that got no byte for its request timeout (scenario clients.requestTimeout; 0: never)
      const stallUs = this.scenario.clients.requestTimeoutUs;
      if (stallUs > 0) {
        this.sim.after(stallUs, () => {
          if (this.siteCut[site] > 0 && this.cutEpoch[site] === epoch) for (const l of this.faultListeners) l(site);
        });
      }
    } else if (!cut && this.siteCut[site] === 0) {
      // a stalled TCP flow goes on at its next retransmission, not when the link returns
      const epoch = this.cutEpoch[site];
      this.sim.after(this.tcpResumeUs(site), () => {
        if (this.siteCut[site] !== 0 || this.cutEpoch[site] !== epoch) return;
        this.net.setLinkCapacity(this.wanDown[site], this.fleet.sites[site].wan.downBitsPerS);
        for (const l of this.restoreListeners) l(site);
      });
    }
  }

  /** Linux's minimum retransmission timeout (200 ms) plus the site's round trip to the centre. */
  private tcpResumeUs(site: number): number {
    return TCP_MIN_RTO_US + this.fleet.sites[site].wan.rttUs + this.scenario.origin.rttUs;
  }

  /** `listener(site)` when a cut of the site has stalled its WAN transfers for the request timeout. */
  onSiteCut(listener: (site: number) => void): void {
    this.faultListeners.push(listener);
  }

  onSiteRestored(listener: (site: number) => void): void {
    this.restoreListeners.push(listener);
  }

  /** Round-trip time between a node and the centre. */
  rttToCentreUs(node: NodeInfo): number {
    return node.access.rttUs + this.fleet.sites[node.site].wan.rttUs + this.scenario.origin.rttUs;
  }

  lossToCentre(node: NodeInfo): number {
    const wan = this.fleet.sites[node.site].wan.loss;
    return 1 - (1 - node.access.loss) * (1 - wan);
  }

  /** TCP ceiling of `streams` connections from the origin's data service to a node (bits/s). */
  originCapBitsPerS(node: NodeInfo, streams: number): number {
    return streams * Math.min(mathisCapBitsPerS(Math.max(1, this.rttToCentreUs(node)), this.lossToCentre(node)), this.originStreamBitsPerS);
  }

  /** Bytes from the origin to a node over `streams` parallel TCP connections: origin, WAN, LAN, access. */
  fromOrigin(node: NodeInfo, bytes: number, streams: number, end: TransferEnd): Transfer {
    const path = [this.origin, this.wanDown[node.site], this.lan[node.site], this.nodeDown[node.index]];
    return this.flow(path, bytes, this.originCapBitsPerS(node, streams), end, { node: node.index, fromOrigin: true });
  }

  /** Bytes from the origin into a site (a cache or replica host behind the site's WAN link). */
  intoSite(site: number, bytes: number, streams: number, end: TransferEnd): Transfer {
    const s = this.fleet.sites[site];
    const cap = streams * Math.min(mathisCapBitsPerS(Math.max(1, s.wan.rttUs + this.scenario.origin.rttUs), s.wan.loss), this.originStreamBitsPerS);
    return this.flow([this.origin, this.wanDown[site]], bytes, cap, (d, complete) => {
      this.checks.intoSite(site, d);
      end(d, complete);
    });
  }

  /** Bytes over the site LAN from the site cache to a node. */
  fromSiteCache(node: NodeInfo, bytes: number, streams: number, end: TransferEnd): Transfer {
    const cap = streams * mathisCapBitsPerS(LAN_RTT_US, node.access.loss);
    return this.flow([this.lan[node.site], this.nodeDown[node.index]], bytes, cap, end, { node: node.index, fromOrigin: false });
  }

  siteCache(site: number): SiteCache {
    return this.siteCaches[site];
  }

  /** Bytes the origin sent over the Network (the swarm counts its own: agent-node adds them). */
  get originEgressBytes(): number {
    return this.net.linkBytes(this.origin);
  }

  private flow(path: LinkId[], bytes: number, capBitsPerS: number, end: TransferEnd, into?: { node: number; fromOrigin: boolean }): Transfer {
    let finished = false;
    const startUs = this.sim.now;
    const arrived = (d: number): void => {
      if (into) this.checks.arrived(into.node, d, startUs, this.sim.now, into.fromOrigin);
    };
    const id = this.net.startFlow({
      path,
      bytes,
      capBitsPerS: Number.isFinite(capBitsPerS) ? capBitsPerS : undefined,
      onDone: () => {
        finished = true;
        arrived(bytes);
        end(bytes, true);
      },
    });
    return {
      cancel: () => {
        if (finished) return bytes;
        finished = true;
        const delivered = this.net.cancelFlow(id);
        arrived(delivered);
        end(delivered, false);
        return delivered;
      },
    };
  }
}

/**
 * One copy of the image per site, held by a cache host behind the site's WAN link: the first
 * request fills it from the origin, nodes read it over the site LAN. `ensure` waits for the whole
 * copy (a replica or storage pool: the centre copies, then clones); `read` is cut-through (a
 * caching proxy serves while it fills): a node reads what the cache holds and waits at the fill's
 * edge, so it is never ahead of the copy. The fill moves in segments of `segmentBytes` so readers
 * learn its progress without per-byte events.
 */
export class SiteCache {
  private state: 'empty' | 'filling' | 'full' = 'empty';
  private filled = 0;
  private total = 0;
  private streams = 1;
  private waiters: ((ok: boolean) => void)[] = [];
  private progressWaiters: ((ok: boolean) => void)[] = [];
  private fill: Transfer | null = null;
  /** when the copy became complete (µs), -1 until then */
  fullAtUs = -1;

  constructor(
    private readonly world: World,
    private readonly site: number,
    private readonly segmentBytes: number,
  ) {}

  get isFull(): boolean {
    return this.state === 'full';
  }

  get filledBytes(): number {
    return this.filled;
  }

  /** Calls `ready(true)` once the site holds `bytes`, or `ready(false)` if the fill was cut. */
  ensure(bytes: number, streams: number, ready: (ok: boolean) => void): void {
    if (this.state === 'full') {
      ready(true);
      return;
    }
    this.waiters.push(ready);
    this.startFill(bytes, streams);
  }

  /** Cut-through read of `bytes` over the LAN into `node`; `end` as for any transfer. */
  read(node: NodeInfo, bytes: number, streams: number, end: TransferEnd): Transfer {
    let have = 0;
    let current: Transfer | null = null;
    let waiting: ((ok: boolean) => void) | null = null;
    let over = false;
    const finish = (complete: boolean): void => {
      if (over) return;
      over = true;
      end(have, complete);
    };
    const step = (): void => {
      if (over) return;
      if (have >= bytes) return finish(true);
      const available = Math.min(bytes, this.state === 'full' ? bytes : this.filled);
      if (available > have) {
        current = this.world.fromSiteCache(node, available - have, streams, (d, complete) => {
          current = null;
          have += d;
          if (complete) step();
          else finish(false);
        });
        return;
      }
      waiting = (ok) => {
        waiting = null;
        if (ok) step();
        else finish(false);
      };
      this.progressWaiters.push(waiting);
      if (this.state === 'empty') this.startFill(bytes, streams);
    };
    step();
    return {
      cancel: () => {
        if (over) return have;
        if (current) {
          current.cancel();
          return have;
        }
        if (waiting) {
          const i = this.progressWaiters.indexOf(waiting);
          if (i >= 0) this.progressWaiters.splice(i, 1);
        }
        finish(false);
        return have;
      },
    };
  }

  private startFill(bytes: number, streams: number): void {
    if (this.state !== 'empty') return;
    this.total = Math.max(this.total, bytes);
    this.streams = streams;
    if (this.world.siteIsCut(this.site)) {
      this.release(false);
      return;
    }
    this.state = 'filling';
    this.nextSegment();
  }

  private nextSegment(): void {
    const remaining = this.total - this.filled;
    if (remaining <= 0) {
      this.state = 'full';
      this.fullAtUs = this.world.sim.now;
      this.world.checks.siteFilled(this.site, this.world.sim.now);
      this.release(true);
      return;
    }
    const seg = Math.min(remaining, this.segmentBytes);
    this.fill = this.world.intoSite(this.site, seg, this.streams, (delivered, complete) => {
      this.fill = null;
      this.filled += delivered;
      if (complete) {
        this.wakeReaders(true);
        this.nextSegment();
      } else {
        this.state = 'empty';
        this.release(false);
      }
    });
  }

  /** The site cut stalled the fill for the request timeout: it stops where it is (resumed by the next request). */
  interrupt(): void {
    this.fill?.cancel();
  }

  private wakeReaders(ok: boolean): void {
    const w = this.progressWaiters;
    this.progressWaiters = [];
    for (const f of w) f(ok);
  }

  private release(ok: boolean): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(ok);
    this.wakeReaders(ok);
  }
}
