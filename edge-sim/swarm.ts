// The `peer` strategy: a piece-level swarm. The image's fetch list is cut into pieces of whole
// chunks (`swarm.pieceBytes`); a node serves the pieces it has verified to several receivers at
// once, within its uplink and `uploadSlots`, and downloads up to `downloadSlots` pieces at once.
// The origin seeds with `originSlots` uploads. Piece choice is rarest-first (fewest copies held or
// on the way in the swarm's scope) or in order; the scope is a site (peers of one site) or the
// fleet (cross-site transfers cross the sender's WAN uplink and the receiver's WAN downlink).
//
// Every byte takes its path: origin uplink -> site WAN down -> site LAN -> node access down;
// peer to peer: sender access up -> site LAN [-> sender WAN up -> receiver WAN down -> receiver
// LAN] -> receiver access down. Rates are processor sharing per link: each link splits its
// capacity equally among the transfers crossing it and a transfer runs at the smallest share on
// its path (and at most its TCP cap). No link ever carries more than its capacity. A shared link
// that can never be the limit (its capacity is at least the sum of the access links behind it) is
// only counted, so its transfers are not re-rated whenever another starts or ends.
// Events are per piece transfer (start, end, re-rate), never per chunk.
import type { ChunkRef } from '../agent/machine/index.js';
import type { Fleet } from './fleet.js';
import type { Simulator } from './engine.js';
import type { SwarmParams } from '../scenarios/index.js';

export interface SwarmEnv {
  sim: Simulator;
  fleet: Fleet;
  originUpBitsPerS: number;
  /** is the site cut off from the centre (no origin, no cross-site traffic)? */
  siteIsCut(site: number): boolean;
  /** can the origin serve right now (the data service is up)? */
  originUp(): boolean;
  /** TCP cap of one transfer (bits/s; Infinity for none) and the request round trip before its first byte */
  originPath(receiver: number): { capBitsPerS: number; rttUs: number };
  peerPath(sender: number, receiver: number): { capBitsPerS: number; rttUs: number };
  /** does this chunk fail verification on arrival? (drawn from the receiver's corruption stream) */
  corrupt(receiver: number, chunk: ChunkRef): boolean;
  /** bytes moved into a node: for the causality check */
  arrived(receiver: number, bytes: number, fromUs: number, toUs: number, fromOrigin: boolean): void;
}

export interface SwarmResult {
  stored: number[];
  corrupt: number[];
  unavailable: number[];
  complete: boolean;
}

/** Re-rate every transfer a change could touch, without the shortcuts of `rerateAround` (a test holds the two equal). */
export const swarmRerating = { exhaustive: false };

const MISSING = 0;
const IN_FLIGHT = 1;
const HELD = 2;
/** arrived corrupt, or not asked for by the current fetch: neither served nor wanted */
const SKIP = 3;

const ORIGIN = -1;
const BITS_PER_BYTE_US = 8e6;
/** how many hungry receivers one free uploader looks at per dispatch (the cursor moves on) */
const SCAN_LIMIT = 256;
/** how many hungry receivers the origin compares per transfer it starts */
const ORIGIN_SCAN_LIMIT = 8;

interface Transfer {
  sender: number;
  receiver: number;
  piece: number;
  bytes: number;
  delivered: number;
  /** bytes per µs */
  rate: number;
  lastUs: number;
  startUs: number;
  handle: number;
  capBpu: number;
  links: number[];
  started: boolean;
  live: boolean;
}

interface Join {
  chunks: ChunkRef[];
  /** pieces of this fetch not yet held or skipped */
  left: number;
  /** pieces of this fetch neither held, skipped nor in flight */
  unrequested: number;
  corrupt: number[];
  done: (r: SwarmResult) => void;
  stallHandle: number;
}

export class Swarm {
  readonly pieces: number;
  private readonly pieceBytes: number[] = [];
  private readonly pieceChunks: ChunkRef[][] = [];
  private readonly pieceOf = new Map<number, number>();
  private readonly N: number;
  private readonly sites: number;
  private readonly state: Uint8Array;
  /** per node, one bit per piece: held (served), missing (wanted, not on its way); `words` 32-bit words per node */
  private readonly words: number;
  private readonly heldBits: Int32Array;
  private readonly missingBits: Int32Array;
  private readonly haveCount: Int32Array;
  private readonly upCount: Int32Array;
  private readonly downCount: Int32Array;
  private readonly serving: Uint8Array;
  private readonly joins: (Join | null)[];
  private readonly uploads: Transfer[][];
  private readonly downloads: Transfer[][];
  /** per scope × piece: copies held plus copies on the way */
  private readonly pending: Int32Array;
  private readonly scopes: number;
  private readonly freeSenders: NodeSet[];
  private readonly hungry: NodeSet[];
  private readonly cursor: number[];
  /** room for one scope's free senders (dispatch) */
  private readonly scratch: Int32Array;
  private readonly dirtyScopes = new Set<number>();
  private dispatchQueued = false;
  private originBusy = 0;
  // links: 0 origin, then per site wan-down, wan-up, lan, then per node up, down
  private readonly linkCap: Float64Array;
  private readonly linkCount: Int32Array;
  private readonly linkBinds: Uint8Array;
  private readonly linkBytes: Float64Array;
  /** binding shared links: at least the highest rate among their transfers (exact after a scan) */
  private readonly linkMaxRate: Float64Array;
  private readonly linkTransfers: Transfer[][];
  private readonly live = new Set<Transfer>();
  private readonly originStarted: Transfer[] = [];
  /** origin transfers requested and not yet flowing (their rate is not known yet), in all and into each site */
  private waitingStart = 0;
  private readonly waitingInto: Int32Array;
  /** transfers the origin runs at once: the option, or (0) enough to fill its uplink at the receivers' shares */
  private readonly originSlots: number;

  constructor(
    private readonly env: SwarmEnv,
    private readonly opts: SwarmParams,
    fetchList: ChunkRef[],
  ) {
    const fleet = env.fleet;
    this.N = fleet.nodes.length;
    this.sites = fleet.sites.length;
    // pieces: consecutive runs of whole chunks of about pieceBytes
    let cur: ChunkRef[] = [];
    let bytes = 0;
    const close = (): void => {
      if (cur.length === 0) return;
      const p = this.pieceChunks.length;
      for (const c of cur) this.pieceOf.set(c.index, p);
      this.pieceChunks.push(cur);
      this.pieceBytes.push(bytes);
      cur = [];
      bytes = 0;
    };
    const chunkBytes = fetchList.length > 0 ? fetchList[0].size : 1;
    const perPiece = opts.pieceBytes > 0 ? Math.max(1, Math.round(opts.pieceBytes / chunkBytes)) : 1;
    for (const c of fetchList) {
      if (cur.length >= perPiece) close();
      cur.push(c);
      bytes += c.size;
    }
    close();
    this.pieces = this.pieceChunks.length;
    const P = this.pieces;
    this.state = new Uint8Array(this.N * P).fill(SKIP);
    this.words = Math.ceil(P / 32);
    this.heldBits = new Int32Array(this.N * this.words);
    this.missingBits = new Int32Array(this.N * this.words);
    this.haveCount = new Int32Array(this.N);
    this.upCount = new Int32Array(this.N);
    this.downCount = new Int32Array(this.N);
    this.serving = new Uint8Array(this.N);
    this.joins = new Array(this.N).fill(null);
    this.uploads = Array.from({ length: this.N }, () => []);
    this.downloads = Array.from({ length: this.N }, () => []);
    this.scopes = opts.scope === 'site' ? this.sites : 1;
    this.pending = new Int32Array(this.scopes * P);
    this.freeSenders = Array.from({ length: this.scopes }, () => new NodeSet(this.N));
    this.hungry = Array.from({ length: this.scopes }, () => new NodeSet(this.N));
    this.cursor = new Array(this.scopes).fill(0);
    this.scratch = new Int32Array(this.N);
    this.waitingInto = new Int32Array(this.sites);

    const L = 1 + 3 * this.sites + 2 * this.N;
    this.linkCap = new Float64Array(L);
    this.linkCount = new Int32Array(L);
    this.linkBinds = new Uint8Array(L);
    this.linkBytes = new Float64Array(L);
    this.linkMaxRate = new Float64Array(L);
    this.linkTransfers = Array.from({ length: L }, () => []);
    let minDown = Infinity;
    for (const n of fleet.nodes) minDown = Math.min(minDown, n.access.downBitsPerS);
    this.originSlots = opts.originSlots > 0 ? opts.originSlots : Math.max(1, Math.min(this.N * opts.downloadSlots, Math.ceil(env.originUpBitsPerS / (minDown / opts.downloadSlots))));
    const sumDown = new Float64Array(this.sites);
    const sumUp = new Float64Array(this.sites);
    let allDown = 0;
    for (const n of fleet.nodes) {
      this.linkCap[this.nodeUp(n.index)] = n.access.upBitsPerS / BITS_PER_BYTE_US;
      this.linkCap[this.nodeDown(n.index)] = n.access.downBitsPerS / BITS_PER_BYTE_US;
      this.linkBinds[this.nodeUp(n.index)] = 1;
      this.linkBinds[this.nodeDown(n.index)] = 1;
      sumDown[n.site] += n.access.downBitsPerS;
      sumUp[n.site] += n.access.upBitsPerS;
      allDown += n.access.downBitsPerS;
    }
    this.linkCap[0] = env.originUpBitsPerS / BITS_PER_BYTE_US;
    this.linkBinds[0] = env.originUpBitsPerS < allDown ? 1 : 0;
    for (const s of fleet.sites) {
      const i = s.index;
      this.linkCap[this.wanDown(i)] = s.wan.downBitsPerS / BITS_PER_BYTE_US;
      this.linkCap[this.wanUp(i)] = s.wan.upBitsPerS / BITS_PER_BYTE_US;
      this.linkCap[this.lan(i)] = s.lanBitsPerS / BITS_PER_BYTE_US;
      this.linkBinds[this.wanDown(i)] = s.wan.downBitsPerS < sumDown[i] ? 1 : 0;
      this.linkBinds[this.wanUp(i)] = s.wan.upBitsPerS < sumUp[i] ? 1 : 0;
      // the LAN carries what the site's nodes receive and what they send: it can bind below either sum
      this.linkBinds[this.lan(i)] = s.lanBitsPerS < sumDown[i] + sumUp[i] ? 1 : 0;
    }
  }

  /** Bytes the origin has sent into the swarm (finished and in flight). */
  get originBytes(): number {
    let b = this.linkBytes[0];
    const now = this.env.sim.now;
    for (const t of this.live) if (t.sender === ORIGIN && t.started) b += t.delivered + t.rate * (now - t.lastUs);
    return Math.floor(b + 1e-6);
  }

  private wanDown(site: number): number {
    return 1 + 3 * site;
  }
  private wanUp(site: number): number {
    return 2 + 3 * site;
  }
  private lan(site: number): number {
    return 3 + 3 * site;
  }
  private nodeUp(node: number): number {
    return 1 + 3 * this.sites + 2 * node;
  }
  private nodeDown(node: number): number {
    return 2 + 3 * this.sites + 2 * node;
  }
  private scopeOf(node: number): number {
    return this.opts.scope === 'site' ? this.env.fleet.nodes[node].site : 0;
  }

  /** A node's agent asks for these chunks; `done` runs once with what arrived. */
  join(node: number, chunks: ChunkRef[], done: (r: SwarmResult) => void): void {
    const P = this.pieces;
    const base = node * P;
    const wanted = new Uint8Array(P);
    for (const c of chunks) {
      const p = this.pieceOf.get(c.index);
      if (p !== undefined) wanted[p] = 1;
    }
    let left = 0;
    const scope = this.scopeOf(node);
    for (let p = 0; p < P; p++) {
      if (!wanted[p]) continue;
      const st = this.state[base + p];
      if (st === HELD) continue;
      if (st === SKIP) this.setState(node, p, MISSING);
      left++;
    }
    const join: Join = { chunks, left, unrequested: left, corrupt: [], done, stallHandle: -1 };
    this.joins[node] = join;
    this.serving[node] = 1;
    this.refreshSender(node);
    if (left === 0) {
      this.finishJoin(node, true);
      return;
    }
    this.hungry[scope].add(node);
    this.markDirty(scope);
  }

  /** The node went down: its transfers stop (half-received pieces are lost); an open fetch ends without a call. */
  crash(node: number): void {
    const j = this.joins[node];
    if (j && j.stallHandle >= 0) this.env.sim.cancel(j.stallHandle);
    this.joins[node] = null;
    this.serving[node] = 0;
    const scope = this.scopeOf(node);
    this.hungry[scope].delete(node);
    this.freeSenders[scope].delete(node);
    for (const t of [...this.uploads[node], ...this.downloads[node]]) this.cancel(t);
  }

  /** End the node's open fetch now with what it holds (a timeout, a cut). */
  interrupt(node: number): void {
    const j = this.joins[node];
    if (!j) return;
    for (const t of [...this.downloads[node]]) this.cancel(t);
    this.finishJoin(node, false);
  }

  /** The site lost its WAN: transfers crossing it stop; LAN peers go on. */
  siteCut(site: number): void {
    for (const t of [...this.live]) {
      const rs = this.env.fleet.nodes[t.receiver].site;
      const ss = t.sender === ORIGIN ? -1 : this.env.fleet.nodes[t.sender].site;
      if ((rs === site || ss === site) && ss !== rs) this.cancel(t);
    }
    this.markAllDirty();
  }

  /** Something became reachable again (a site, the origin): look for work. */
  wake(): void {
    this.markAllDirty();
  }

  private markAllDirty(): void {
    for (let s = 0; s < this.scopes; s++) this.markDirty(s);
  }

  private markDirty(scope: number): void {
    this.dirtyScopes.add(scope);
    if (this.dispatchQueued) return;
    this.dispatchQueued = true;
    this.env.sim.beforeAdvance(() => {
      this.dispatchQueued = false;
      const scopes = [...this.dirtyScopes].sort((a, b) => a - b);
      this.dirtyScopes.clear();
      // where nothing but the receiver's own link can hold the origin back, it goes first: it
      // holds every piece, and slow peers would take the receivers' slots; elsewhere peers go first
      // (a piece crosses a full WAN once, then spreads over the LAN). The origin serves every
      // scope: the scopes in turn.
      this.dispatchOrigin(scopes, true);
      for (const s of scopes) this.dispatch(s);
      this.dispatchOrigin(scopes, false);
    });
  }

  private refreshSender(node: number): void {
    const scope = this.scopeOf(node);
    if (this.serving[node] && this.haveCount[node] > 0 && this.upCount[node] < this.opts.uploadSlots) this.freeSenders[scope].add(node);
    else this.freeSenders[scope].delete(node);
  }

  private refreshHungry(node: number): void {
    const j = this.joins[node];
    const scope = this.scopeOf(node);
    if (j && j.unrequested > 0 && this.downCount[node] < this.opts.downloadSlots) this.hungry[scope].add(node);
    else this.hungry[scope].delete(node);
  }

  private dispatch(scope: number): void {
    const senders = this.freeSenders[scope];
    if (senders.size === 0 || this.hungry[scope].size === 0) return;
    // the senders free now, in their order now (starting transfers changes the set)
    const free = senders.copyInto(this.scratch);
    for (let i = 0; i < free; i++) {
      const s = this.scratch[i];
      while (this.serving[s] && this.upCount[s] < this.opts.uploadSlots) {
        const hungry = this.hungry[scope];
        const size = hungry.size;
        if (size === 0) return;
        let found = -1;
        let piece = -1;
        const n = Math.min(size, SCAN_LIMIT);
        const start = this.cursor[scope] % size;
        for (let k = 0; k < n; k++) {
          const r = hungry.at((start + k) % size);
          if (r === s || !this.reachable(s, r)) continue;
          const p = this.usefulPiece(s, r);
          if (p >= 0) {
            found = r;
            piece = p;
            this.cursor[scope] = (start + k + 1) % size;
            break;
          }
        }
        if (found < 0) break;
        this.start(s, found, piece);
      }
    }
  }

  private dispatchOrigin(scopes: number[], unconstrainedOnly: boolean): void {
    if (!this.env.originUp()) return;
    if (unconstrainedOnly && this.linkBinds[0]) return;
    const slots = this.originSlots;
    if (this.originBusy >= slots) return;
    // scopes in turn, one transfer each round, so no scope starves the others
    const active = scopes.filter((s) => this.hungry[s].size > 0);
    let progress = true;
    while (this.originBusy < slots && progress) {
      progress = false;
      for (const scope of active) {
        if (this.originBusy >= slots) break;
        const hungry = this.hungry[scope];
        const size = hungry.size;
        if (size === 0) continue;
        // among a few receivers, the one needing the scope's rarest piece (new pieces into the scope first)
        let bestR = -1;
        let bestP = -1;
        let bestRank = Infinity;
        const n = Math.min(size, ORIGIN_SCAN_LIMIT);
        const start = this.cursor[scope] % size;
        for (let k = 0; k < n && bestRank > 0; k++) {
          const r = hungry.at((start + k) % size);
          const site = this.env.fleet.nodes[r].site;
          if (this.env.siteIsCut(site) || (unconstrainedOnly && this.linkBinds[this.wanDown(site)])) continue;
          const p = this.neededPiece(r, -1);
          const rank = this.neededRank;
          // a piece the scope already has (or has coming) only if the origin and the receiver's WAN have room to spare
          if (p >= 0 && rank > 0 && !this.roomForDuplicate(r)) continue;
          if (p >= 0 && rank < bestRank) {
            bestRank = rank;
            bestR = r;
            bestP = p;
          }
        }
        if (bestR < 0) continue;
        this.cursor[scope] = (this.cursor[scope] + 1) % size;
        this.start(ORIGIN, bestR, bestP);
        progress = true;
      }
    }
  }

  /**
   * Seeding policy: the origin first sends each scope the pieces it lacks (each crosses the origin
   * uplink and the site WAN once); a second copy into a scope only adds to a link that is not full.
   */
  private roomForDuplicate(r: number): boolean {
    const site = this.env.fleet.nodes[r].site;
    for (const l of [0, this.wanDown(site)]) {
      if (!this.linkBinds[l]) continue;
      let used = 0;
      for (const t of this.linkTransfers[l]) used += t.rate;
      // origin transfers asked for and not flowing yet (their round trip): one slot's share each
      if (l === 0) used += (this.waitingStart * this.linkCap[0]) / this.originSlots;
      // into a site's WAN: none while one is on its way (its share of a full WAN is not known yet)
      else if (this.waitingInto[site] > 0) return false;
      if (used >= 0.95 * this.linkCap[l]) return false;
    }
    return true;
  }

  private reachable(s: number, r: number): boolean {
    const nodes = this.env.fleet.nodes;
    const ss = nodes[s].site;
    const rs = nodes[r].site;
    return ss === rs || (!this.env.siteIsCut(ss) && !this.env.siteIsCut(rs));
  }

  /** The piece s holds and r still needs that is rarest in r's scope (ties: lowest index), or the first such in order; -1 if none. */
  private usefulPiece(s: number, r: number): number {
    return this.neededPiece(r, s);
  }

  /** the rank (copies in the scope) of the piece `neededPiece` returned last */
  private neededRank = Infinity;

  /** What r should get next from `from` (a node, or -1: the origin, which holds everything), or -1; its rank in `neededRank`. */
  private neededPiece(r: number, from: number): number {
    const W = this.words;
    const rw = r * W;
    const fw = from * W;
    const missing = this.missingBits;
    const held = this.heldBits;
    const inOrder = this.opts.selection === 'in-order';
    const pend = this.pending;
    const base = this.scopeOf(r) * this.pieces;
    let best = -1;
    let bestRank = Infinity;
    // pieces in ascending order, as a scan of the states would visit them
    for (let w = 0; w < W; w++) {
      let m = from >= 0 ? missing[rw + w] & held[fw + w] : missing[rw + w];
      while (m !== 0) {
        const low = m & -m;
        const p = w * 32 + (31 - Math.clz32(low));
        m ^= low;
        if (inOrder) {
          this.neededRank = p;
          return p;
        }
        const rank = pend[base + p];
        if (rank < bestRank) {
          bestRank = rank;
          best = p;
          if (rank === 0) break;
        }
      }
      if (bestRank === 0) break;
    }
    this.neededRank = bestRank;
    return best;
  }

  private setState(node: number, piece: number, next: number): void {
    const i = node * this.pieces + piece;
    const was = this.state[i];
    if (was === next) return;
    this.state[i] = next;
    const w = node * this.words + (piece >>> 5);
    const bit = 1 << (piece & 31);
    if (was === HELD) this.heldBits[w] &= ~bit;
    else if (was === MISSING) this.missingBits[w] &= ~bit;
    if (next === HELD) this.heldBits[w] |= bit;
    else if (next === MISSING) this.missingBits[w] |= bit;
  }

  private start(sender: number, receiver: number, piece: number): void {
    const P = this.pieces;
    const nodes = this.env.fleet.nodes;
    const r = nodes[receiver];
    const scope = this.scopeOf(receiver);
    this.setState(receiver, piece, IN_FLIGHT);
    this.pending[scope * P + piece]++;
    const j = this.joins[receiver] as Join;
    j.unrequested--;
    if (j.stallHandle >= 0) {
      this.env.sim.cancel(j.stallHandle);
      j.stallHandle = -1;
    }
    this.downCount[receiver]++;
    const links: number[] = [];
    let path: { capBitsPerS: number; rttUs: number };
    if (sender === ORIGIN) {
      this.originBusy++;
      this.waitingStart++;
      this.waitingInto[r.site]++;
      links.push(0, this.wanDown(r.site), this.lan(r.site), this.nodeDown(receiver));
      path = this.env.originPath(receiver);
    } else {
      const s = nodes[sender];
      this.upCount[sender]++;
      links.push(this.nodeUp(sender), this.lan(s.site));
      if (s.site !== r.site) links.push(this.wanUp(s.site), this.wanDown(r.site), this.lan(r.site));
      links.push(this.nodeDown(receiver));
      path = this.env.peerPath(sender, receiver);
      this.refreshSender(sender);
    }
    this.refreshHungry(receiver);
    const t: Transfer = {
      sender,
      receiver,
      piece,
      bytes: this.pieceBytes[piece],
      delivered: 0,
      rate: 0,
      lastUs: 0,
      startUs: 0,
      handle: -1,
      capBpu: Number.isFinite(path.capBitsPerS) ? path.capBitsPerS / BITS_PER_BYTE_US : Infinity,
      links,
      started: false,
      live: true,
    };
    this.live.add(t);
    if (sender !== ORIGIN) this.uploads[sender].push(t);
    this.downloads[receiver].push(t);
    // the request's round trip before the first byte; the slots are taken meanwhile
    t.handle = this.env.sim.after(path.rttUs, () => this.begin(t));
  }

  private begin(t: Transfer): void {
    t.handle = -1;
    t.started = true;
    if (t.sender === ORIGIN) {
      this.originStarted.push(t);
      this.waitingStart--;
      this.waitingInto[this.env.fleet.nodes[t.receiver].site]--;
    }
    const now = this.env.sim.now;
    t.startUs = now;
    t.lastUs = now;
    for (const l of t.links) {
      this.linkCount[l]++;
      if (this.linkBinds[l]) this.linkTransfers[l].push(t);
    }
    this.rerateAround(t, 1);
  }

  /**
   * Re-rate what a start (`delta` 1) or end (-1) of `t` changes: its sender's uploads, the uploads
   * of every sender into its receiver (the receiver's share changed), and on each binding shared
   * link the transfers whose rate the share change can move. A link's equal share went from
   * cap/before to cap/after; a transfer running below both shares is held back by something else
   * (its sender's max-min level or another link), so its rate stays: only transfers at or above
   * the smaller share are re-rated. Without this a busy site LAN re-rates every sender on it at
   * every start and end (quadratic in the transfers).
   */
  private rerateAround(t: Transfer, delta: 1 | -1): void {
    const senders = new Set<number>();
    // an origin that cannot bind gives each of its uploads its share elsewhere: only those touched change
    const exhaustive = swarmRerating.exhaustive;
    const originFree = !this.linkBinds[0] && !exhaustive;
    const fromOrigin = new Set<Transfer>();
    const touch = (o: Transfer): void => {
      if (o.sender !== ORIGIN || !originFree) senders.add(o.sender);
      else if (o.live && o.started) fromOrigin.add(o);
    };
    touch(t);
    for (const d of this.downloads[t.receiver]) if (d.started) touch(d);
    const own = t.sender === ORIGIN ? 0 : this.nodeUp(t.sender);
    const down = this.nodeDown(t.receiver);
    for (const l of t.links) {
      if (!this.linkBinds[l] || l === own || l === down) continue;
      const most = delta > 0 ? this.linkCount[l] : this.linkCount[l] + 1;
      const least = (this.linkCap[l] / most) * (1 - 1e-9);
      if (this.linkMaxRate[l] < least && !exhaustive) continue;
      let max = 0;
      for (const o of this.linkTransfers[l]) {
        if (o.rate > max) max = o.rate;
        if (o.rate >= least || exhaustive) touch(o);
      }
      this.linkMaxRate[l] = max;
    }
    for (const o of fromOrigin) this.setRate(o, this.capOf(o));
    for (const s of [...senders].sort((a, b) => a - b)) this.rateSender(s);
  }

  /** The share of `t` on every link but its sender's: its receiver's downlink split equally, binding shared links split equally, its TCP cap. */
  private capOf(t: Transfer): number {
    let r = t.capBpu;
    const own = t.sender === ORIGIN ? 0 : this.nodeUp(t.sender);
    for (const l of t.links) {
      if (l === own || !this.linkBinds[l]) continue;
      const share = this.linkCap[l] / this.linkCount[l];
      if (share < r) r = share;
    }
    return r;
  }

  /** A sender's capacity shared max-min among its uploads, each capped by its share elsewhere (feasible on every link). */
  private rateSender(sender: number): void {
    const list = sender === ORIGIN ? this.originUploads() : this.uploads[sender].filter((u) => u.started);
    if (list.length === 0) return;
    let capacity = sender === ORIGIN ? (this.linkBinds[0] ? this.linkCap[0] : Infinity) : this.linkCap[this.nodeUp(sender)];
    const caps = list.map((u) => this.capOf(u));
    const order = list.map((_, i) => i).sort((a, b) => caps[a] - caps[b] || a - b);
    let left = order.length;
    for (const i of order) {
      const fair = capacity / left;
      const rate = Math.min(caps[i], fair);
      capacity -= rate;
      left--;
      this.setRate(list[i], rate);
    }
  }

  private originUploads(): Transfer[] {
    return this.originStarted;
  }

  /** Bring t's progress up to now and schedule its end at `next` bytes/µs. */
  private setRate(t: Transfer, next: number): void {
    const sim = this.env.sim;
    const now = sim.now;
    t.delivered = Math.min(t.bytes, t.delivered + t.rate * (now - t.lastUs));
    t.lastUs = now;
    if (next === t.rate && t.handle >= 0) return;
    t.rate = next;
    for (const l of t.links) if (this.linkMaxRate[l] < next) this.linkMaxRate[l] = next;
    if (t.handle >= 0) sim.cancel(t.handle);
    const left = t.bytes - t.delivered;
    const delay = left <= 1e-6 ? 0 : next > 0 ? Math.ceil(left / next - 1e-9) : -1;
    t.handle = delay >= 0 ? sim.after(delay, () => this.complete(t)) : -1;
  }

  private detach(t: Transfer): void {
    t.live = false;
    this.live.delete(t);
    if (t.handle >= 0) this.env.sim.cancel(t.handle);
    t.handle = -1;
    const P = this.pieces;
    this.downCount[t.receiver]--;
    removeFrom(this.downloads[t.receiver], t);
    if (t.sender === ORIGIN) {
      this.originBusy--;
      if (t.started) removeFrom(this.originStarted, t);
      else {
        this.waitingStart--;
        this.waitingInto[this.env.fleet.nodes[t.receiver].site]--;
      }
    } else {
      this.upCount[t.sender]--;
      removeFrom(this.uploads[t.sender], t);
      this.refreshSender(t.sender);
    }
    this.pending[this.scopeOf(t.receiver) * P + t.piece]--;
    if (t.started) {
      for (const l of t.links) {
        this.linkCount[l]--;
        this.linkBytes[l] += t.delivered;
        if (this.linkBinds[l]) removeFrom(this.linkTransfers[l], t);
      }
      this.rerateAround(t, -1);
    }
    this.markDirty(this.scopeOf(t.receiver));
    if (t.sender !== ORIGIN) this.markDirty(this.scopeOf(t.sender));
    else this.markAllDirty();
  }

  private cancel(t: Transfer): void {
    if (!t.live) return;
    if (t.started) {
      const now = this.env.sim.now;
      t.delivered = Math.min(t.bytes, t.delivered + t.rate * (now - t.lastUs));
      t.lastUs = now;
      if (t.delivered > 0) this.env.arrived(t.receiver, Math.floor(t.delivered), t.startUs, now, t.sender === ORIGIN);
    }
    this.detach(t);
    const P = this.pieces;
    const i = t.receiver * P + t.piece;
    if (this.state[i] === IN_FLIGHT) this.setState(t.receiver, t.piece, MISSING);
    const j = this.joins[t.receiver];
    if (j) {
      j.unrequested++;
      this.refreshHungry(t.receiver);
    }
  }

  private complete(t: Transfer): void {
    t.handle = -1;
    t.delivered = t.bytes;
    t.lastUs = this.env.sim.now;
    this.env.arrived(t.receiver, t.bytes, t.startUs, t.lastUs, t.sender === ORIGIN);
    this.detach(t);
    const r = t.receiver;
    const P = this.pieces;
    const j = this.joins[r];
    let bad = false;
    for (const c of this.pieceChunks[t.piece]) {
      if (this.env.corrupt(r, c)) {
        bad = true;
        j?.corrupt.push(c.index);
      }
    }
    if (bad)
      this.setState(r, t.piece, SKIP); // a bad copy is no copy: not served, asked for again by the agent
    else {
      this.setState(r, t.piece, HELD);
      this.haveCount[r]++;
      this.pending[this.scopeOf(r) * P + t.piece]++;
    }
    this.refreshSender(r);
    if (!j) return;
    j.left--;
    this.refreshHungry(r);
    if (j.left === 0) this.finishJoin(r, j.corrupt.length === 0);
  }

  private finishJoin(node: number, complete: boolean): void {
    const j = this.joins[node] as Join;
    if (j.stallHandle >= 0) this.env.sim.cancel(j.stallHandle);
    this.joins[node] = null;
    const scope = this.scopeOf(node);
    this.hungry[scope].delete(node);
    const P = this.pieces;
    const base = node * P;
    const stored: number[] = [];
    const corrupt = new Set(j.corrupt);
    const unavailable: number[] = [];
    for (const c of j.chunks) {
      const p = this.pieceOf.get(c.index);
      if (corrupt.has(c.index)) continue;
      if (p !== undefined && this.state[base + p] === HELD) stored.push(c.index);
      else if (p !== undefined && this.state[base + p] === SKIP)
        stored.push(c.index); // the good chunks of a piece with a bad one
      else unavailable.push(c.index);
    }
    for (let p = 0; p < P; p++) if (this.state[base + p] === MISSING) this.setState(node, p, SKIP);
    if (complete && !this.opts.seedAfterDone) this.serving[node] = 0;
    this.refreshSender(node);
    j.done({ stored, corrupt: j.corrupt, unavailable, complete: complete && unavailable.length === 0 && j.corrupt.length === 0 });
  }

  /** A joined node has no transfer and no reachable source: it gives up after `afterUs` unless one starts. */
  checkStalls(afterUs: number): void {
    for (let node = 0; node < this.N; node++) {
      const j = this.joins[node];
      if (!j || this.downCount[node] > 0 || j.stallHandle >= 0) continue;
      if (this.hasSource(node)) continue;
      j.stallHandle = this.env.sim.after(afterUs, () => {
        j.stallHandle = -1;
        if (this.joins[node] === j && this.downCount[node] === 0) this.finishJoin(node, false);
      });
    }
  }

  private hasSource(node: number): boolean {
    const site = this.env.fleet.nodes[node].site;
    if (this.env.originUp() && !this.env.siteIsCut(site)) return true;
    const P = this.pieces;
    const base = node * P;
    const scope = this.scopeOf(node);
    // busy holders free a slot later: only when no serving node in reach holds a needed piece is there no source
    for (let s = 0; s < this.N; s++) {
      if (!this.serving[s] || s === node || this.scopeOf(s) !== scope || !this.reachable(s, node)) continue;
      for (let p = 0; p < P; p++) if (this.state[base + p] === MISSING && this.state[s * P + p] === HELD) return true;
    }
    return false;
  }
}

/** A set of node indices with O(1) add/delete/has and positional access (deterministic order). */
class NodeSet {
  private items: Int32Array;
  private readonly pos: Int32Array;
  size = 0;

  constructor(nodes: number) {
    this.pos = new Int32Array(nodes).fill(-1);
    this.items = new Int32Array(16);
  }

  has(n: number): boolean {
    return this.pos[n] >= 0;
  }

  add(n: number): void {
    if (this.pos[n] >= 0) return;
    if (this.size === this.items.length) {
      const grown = new Int32Array(this.items.length * 2);
      grown.set(this.items);
      this.items = grown;
    }
    this.pos[n] = this.size;
    this.items[this.size++] = n;
  }

  delete(n: number): void {
    const i = this.pos[n];
    if (i < 0) return;
    const last = this.items[--this.size];
    this.items[i] = last;
    this.pos[last] = i;
    this.pos[n] = -1;
  }

  at(i: number): number {
    return this.items[i];
  }

  /** Copies the members, in order, into `out` (at least `size` long); returns how many. */
  copyInto(out: Int32Array): number {
    out.set(this.items.subarray(0, this.size));
    return this.size;
  }
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i < 0) return;
  list[i] = list[list.length - 1] as T;
  list.pop();
}
