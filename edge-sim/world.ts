// The simulated world of one run: the network of links, the control-plane stations, the fault
// windows, and the sources image bytes can come from (origin, a site cache, site peers).
// Node drivers (agent-node.ts, native-node.ts) act in it.
import type { PlaneModel } from '../adapters/index.js';
import type { Scenario } from '../scenarios/index.js';
import { Simulator } from './engine.js';
import type { Fleet, NodeInfo } from './fleet.js';
import { Network, mathisCapBitsPerS, type LinkId } from './network.js';
import { streamRng, type Rng } from './rng.js';
import { StationSim } from './stations.js';

/** How long a request to an unreachable centre takes to fail (connect timeout). */
export const CONNECT_TIMEOUT_US = 3_000_000;
/**
 * How long a transfer crossing a cut WAN stalls before it is abandoned: TCP keeps an established
 * connection through a short cut (its bytes so far stay delivered, it resumes when the link comes
 * back), and the agent's request times out after `fetch.requestTimeoutS` (60 s by default).
 */
export const STALL_TIMEOUT_US = 60_000_000;
/** Linux's TCP_RTO_MIN: a flow stalled by a cut resumes at a retransmission at least this long after its last one. */
export const TCP_MIN_RTO_US = 200_000;
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
  private readonly wanDown: LinkId[];
  private readonly lan: LinkId[];
  private readonly nodeDown: LinkId[];
  private readonly nodeUp: LinkId[] = [];
  /** count of active partition / WAN-down windows per site */
  private readonly siteCut: Int32Array;
  /** per site: how many cuts began (a stall timer belongs to one cut) */
  private readonly cutEpoch: Int32Array;
  private readonly siteCaches: SiteCache[];
  private readonly peers: PeerSwarm[];
  private readonly faultListeners: ((site: number) => void)[] = [];

  constructor(
    readonly scenario: Scenario,
    readonly fleet: Fleet,
    readonly model: PlaneModel,
    readonly seed: number,
  ) {
    this.net = new Network(this.sim);
    for (const st of model.stations) this.stations.set(st.name, new StationSim(this.sim, st));
    this.origin = this.net.addLink('origin-up', scenario.origin.uplinkBitsPerS);
    this.wanDown = fleet.sites.map((s) => this.net.addLink(`${s.id}-wan-down`, s.wan.downBitsPerS));
    this.lan = fleet.sites.map((s) => this.net.addLink(`${s.id}-lan`, s.lanBitsPerS));
    this.nodeDown = fleet.nodes.map((n) => this.net.addLink(`${n.id}-down`, n.access.downBitsPerS, { private: true }));
    if (scenario.strategy === 'peer') {
      for (const n of fleet.nodes) this.nodeUp.push(this.net.addLink(`${n.id}-up`, n.access.upBitsPerS, { private: true }));
    }
    this.siteCut = new Int32Array(fleet.sites.length);
    this.cutEpoch = new Int32Array(fleet.sites.length);
    this.siteCaches = fleet.sites.map((_, i) => new SiteCache(this, i));
    this.peers = fleet.sites.map(() => new PeerSwarm());
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
   * A cut takes the site's WAN link to 0 bits/s: flows crossing it stall where they are and go on
   * a retransmission timeout after it comes back (tcpResumeUs). A cut that lasts STALL_TIMEOUT_US tells the listeners, which abandon the
   * stalled transfers as a timed-out request would.
   */
  setSiteCut(site: number, cut: boolean): void {
    this.siteCut[site] += cut ? 1 : -1;
    if (cut && this.siteCut[site] === 1) {
      this.net.setLinkCapacity(this.wanDown[site], 0);
      const epoch = ++this.cutEpoch[site];
      this.sim.after(STALL_TIMEOUT_US, () => {
        if (this.siteCut[site] > 0 && this.cutEpoch[site] === epoch) for (const l of this.faultListeners) l(site);
      });
    } else if (!cut && this.siteCut[site] === 0) {
      // a stalled TCP flow goes on at its next retransmission, not when the link returns
      const epoch = this.cutEpoch[site];
      this.sim.after(this.tcpResumeUs(site), () => {
        if (this.siteCut[site] === 0 && this.cutEpoch[site] === epoch) this.net.setLinkCapacity(this.wanDown[site], this.fleet.sites[site].wan.downBitsPerS);
      });
    }
  }

  /** Linux's minimum retransmission timeout (200 ms) plus the site's round trip to the centre. */
  private tcpResumeUs(site: number): number {
    return TCP_MIN_RTO_US + this.fleet.sites[site].wan.rttUs + this.scenario.origin.rttUs;
  }

  /** `listener(site)` when a cut of the site has stalled its WAN transfers for STALL_TIMEOUT_US. */
  onSiteCut(listener: (site: number) => void): void {
    this.faultListeners.push(listener);
  }

  /** Round-trip time between a node and the centre. */
  rttToCentreUs(node: NodeInfo): number {
    return node.access.rttUs + this.fleet.sites[node.site].wan.rttUs + this.scenario.origin.rttUs;
  }

  private lossToCentre(node: NodeInfo): number {
    const wan = this.fleet.sites[node.site].wan.loss;
    return 1 - (1 - node.access.loss) * (1 - wan);
  }

  /** Bytes from the origin to a node over `streams` parallel TCP connections. */
  fromOrigin(node: NodeInfo, bytes: number, streams: number, end: TransferEnd): Transfer {
    const cap = streams * mathisCapBitsPerS(this.rttToCentreUs(node), this.lossToCentre(node));
    return this.flow([this.origin, this.wanDown[node.site], this.nodeDown[node.index]], bytes, cap, end);
  }

  /** Bytes from the origin into a site (a cache or replica host behind the site's WAN link). */
  intoSite(site: number, bytes: number, streams: number, end: TransferEnd): Transfer {
    const s = this.fleet.sites[site];
    const cap = streams * mathisCapBitsPerS(s.wan.rttUs + this.scenario.origin.rttUs, s.wan.loss);
    return this.flow([this.origin, this.wanDown[site]], bytes, cap, end);
  }

  /** Bytes over the site LAN from the site cache to a node. */
  fromSiteCache(node: NodeInfo, bytes: number, streams: number, end: TransferEnd): Transfer {
    const cap = streams * mathisCapBitsPerS(LAN_RTT_US, node.access.loss);
    return this.flow([this.lan[node.site], this.nodeDown[node.index]], bytes, cap, end);
  }

  /** Bytes from one node's uplink to another's downlink (same site). */
  fromPeer(sender: NodeInfo, receiver: NodeInfo, bytes: number, streams: number, end: TransferEnd): Transfer {
    const loss = 1 - (1 - sender.access.loss) * (1 - receiver.access.loss);
    const cap = streams * mathisCapBitsPerS(LAN_RTT_US, loss);
    return this.flow([this.nodeUp[sender.index], this.nodeDown[receiver.index]], bytes, cap, end);
  }

  siteCache(site: number): SiteCache {
    return this.siteCaches[site];
  }

  swarm(site: number): PeerSwarm {
    return this.peers[site];
  }

  get originEgressBytes(): number {
    return this.net.linkBytes(this.origin);
  }

  private flow(path: LinkId[], bytes: number, capBitsPerS: number, end: TransferEnd): Transfer {
    let finished = false;
    const id = this.net.startFlow({
      path,
      bytes,
      capBitsPerS: Number.isFinite(capBitsPerS) ? capBitsPerS : undefined,
      onDone: () => {
        finished = true;
        end(bytes, true);
      },
    });
    return {
      cancel: () => {
        if (finished) return bytes;
        finished = true;
        const delivered = this.net.cancelFlow(id);
        end(delivered, false);
        return delivered;
      },
    };
  }
}

/**
 * One copy of the image per site: the first request fills it from the origin over the WAN,
 * every node then reads it over the LAN. (Nodes wait for the fill to complete: no cut-through.)
 */
export class SiteCache {
  private state: 'empty' | 'filling' | 'full' = 'empty';
  private filled = 0;
  private waiters: ((ok: boolean) => void)[] = [];
  private fill: Transfer | null = null;

  constructor(
    private readonly world: World,
    private readonly site: number,
  ) {}

  get isFull(): boolean {
    return this.state === 'full';
  }

  /** Calls `ready(true)` once the site holds `bytes`, or `ready(false)` if the fill was cut. */
  ensure(bytes: number, streams: number, ready: (ok: boolean) => void): void {
    if (this.state === 'full') {
      ready(true);
      return;
    }
    this.waiters.push(ready);
    if (this.state === 'filling') return;
    if (this.world.siteIsCut(this.site)) {
      this.release(false);
      return;
    }
    this.state = 'filling';
    const remaining = bytes - this.filled;
    this.fill = this.world.intoSite(this.site, remaining, streams, (delivered, complete) => {
      this.fill = null;
      this.filled += delivered;
      this.state = complete ? 'full' : 'empty';
      this.release(complete);
    });
  }

  /** The site cut stalled the fill for STALL_TIMEOUT_US: it stops where it is (resumed by the next request). */
  interrupt(): void {
    this.fill?.cancel();
  }

  private release(ok: boolean): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(ok);
  }
}

/**
 * Nodes of a site that hold the whole image serve one peer at a time from their uplink;
 * the first requester of a site becomes its seed and pulls from the origin.
 */
export class PeerSwarm {
  private readonly freeHolders: number[] = [];
  private seeding = false;
  private readonly waiting: ((holder: number | 'origin') => void)[] = [];

  /** Ask for a source: a free holder (node index), or 'origin' when the site has no seed yet. */
  request(cb: (source: number | 'origin') => void): void {
    const h = this.freeHolders.pop();
    if (h !== undefined) cb(h);
    else if (!this.seeding) {
      this.seeding = true;
      cb('origin');
    } else this.waiting.push(cb);
  }

  /** The origin pull of the seed ended without the image (cut, crash): let someone retry it. */
  seedFailed(): void {
    this.seeding = false;
    const next = this.waiting.shift();
    if (next) {
      this.seeding = true;
      next('origin');
    }
  }

  /** A node now holds the image (or finished serving and is free again). */
  holderFree(node: number): void {
    const next = this.waiting.shift();
    if (next) next(node);
    else this.freeHolders.push(node);
  }

  /** A holder went away (crash). */
  removeHolder(node: number): void {
    const i = this.freeHolders.indexOf(node);
    if (i >= 0) this.freeHolders.splice(i, 1);
  }

  /** A waiting requester gave up (crash/cut): drop it by identity. */
  cancelWait(cb: (source: number | 'origin') => void): void {
    const i = this.waiting.indexOf(cb);
    if (i >= 0) this.waiting.splice(i, 1);
  }
}
