// Flow-level network model: max-min fair sharing (progressive filling) recomputed when flows
// start or end and when links change state, with completions scheduled on the Simulator.
//
// Scale comes from aggregation. Flows with the same shared links and the same effective per-flow
// cap always get the same rate, so they form one class; fair sharing runs over classes weighted
// by their flow counts. Private links (a node's access link: at most one flow at a time) only
// cap their single flow, so they fold into that cap and stay out of the class key. Inside a class
// a virtual progress counter (bytes delivered to each member since the class was created) and a
// min-heap of member targets (progress at join + bytes) make the next completion O(1) to read.
import { InputError } from '../common/index.js';
import { ClassTable, type FlowClass } from './class-table.js';
import type { Simulator } from './engine.js';
import { FairShareSolver } from './fair-share.js';

export { maxMinRates, mathisCapBitsPerS } from './maxmin.js';

export type LinkId = number;
export type FlowId = number;

export interface StartFlowOptions {
  path: LinkId[];
  bytes: number;
  capBitsPerS?: number;
  onDone: (id: FlowId) => void;
}

export interface NetworkOptions {
  /**
   * 0 (default): rates are recomputed at the instant flows start or end. q > 0: recomputes are
   * batched onto multiples of q microseconds, so a new flow waits up to q for its rate and freed
   * bandwidth is re-shared up to q late; completions stay exact for the rates in force. A speed
   * knob for very large fleets, at a bounded cost in accuracy.
   */
  recomputeQuantumUs?: number;
}

const BITS_PER_BYTE_US = 8e6; // bits/s divided by this gives bytes/us

/** A flow counts as done when this close to its target (float progress, integer bytes). */
function isDone(remaining: number, target: number): boolean {
  return remaining <= 1e-6 + 1e-9 * target;
}

/** Ceil of a duration in us, snapping values within float noise of an integer onto it. */
function ceilUs(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) <= 1e-9 * Math.max(1, x) ? r : Math.ceil(x);
}

const FLOW_ACTIVE = 1;
const FLOW_DONE = 2;
const FLOW_CANCELLED = 3;

export class Network {
  // Links, indexed by LinkId.
  private readonly linkNames: string[] = [];
  private readonly linkCapacity: number[] = [];
  private readonly linkIsUp: boolean[] = [];
  private readonly linkIsPrivate: boolean[] = [];
  /** Bytes of finished or cancelled flows that crossed the link. */
  private readonly linkDoneBytes: number[] = [];
  /** For private links: the flow currently on it, or -1. */
  private readonly linkFlow: number[] = [];
  private usableCapacity = new Float64Array(64);
  /** For shared links: the number of active flows crossing it. */
  private sharedWeight = new Float64Array(64);

  // Flows, indexed by FlowId.
  private readonly flowState: number[] = [];
  private readonly flowBytes: number[] = [];
  private readonly flowUserCap: number[] = [];
  /** Class progress when the flow (last) joined its class, minus what it had already received. */
  private readonly flowStart: number[] = [];
  private readonly flowEntry: number[] = [];
  private readonly flowFinal: number[] = [];
  private readonly flowClass: (FlowClass | undefined)[] = [];
  private readonly flowShared: (Int32Array | undefined)[] = [];
  private readonly flowPrivate: (Int32Array | undefined)[] = [];
  private readonly flowOnDone: (((id: FlowId) => void) | undefined)[] = [];
  private nextEntry = 0;
  private active = 0;

  private readonly table = new ClassTable();
  private readonly classByKey = new Map<string, FlowClass>();
  private readonly solver = new FairShareSolver();
  private readonly quantumUs: number;

  private dirty = false;
  private recomputeCount = 0;
  private completionHandle = -1;
  private completionAtUs = -1;
  private readonly flushFn = (): void => this.flush();
  private readonly completionFn = (): void => this.onCompletionEvent();

  constructor(
    private readonly sim: Simulator,
    opts: NetworkOptions = {},
  ) {
    const q = opts.recomputeQuantumUs ?? 0;
    if (!Number.isSafeInteger(q) || q < 0) throw new InputError(`Network: recomputeQuantumUs must be an integer >= 0, got ${q}`);
    this.quantumUs = q;
  }

  get activeFlows(): number {
    return this.active;
  }

  get recomputes(): number {
    return this.recomputeCount;
  }

  /** Number of flow classes currently holding flows (for benchmarks and tests). */
  get classCount(): number {
    return this.table.n;
  }

  addLink(name: string, capacityBitsPerS: number, opts: { private?: boolean } = {}): LinkId {
    if (!(capacityBitsPerS >= 0) || !Number.isFinite(capacityBitsPerS)) {
      throw new InputError(`link ${name}: capacity must be finite and >= 0 bits/s, got ${capacityBitsPerS}`);
    }
    const id = this.linkNames.length;
    this.linkNames.push(name);
    this.linkCapacity.push(capacityBitsPerS);
    this.linkIsUp.push(true);
    this.linkIsPrivate.push(opts.private === true);
    this.linkDoneBytes.push(0);
    this.linkFlow.push(-1);
    if (id >= this.usableCapacity.length) {
      const grown = new Float64Array(this.usableCapacity.length * 2);
      grown.set(this.usableCapacity);
      this.usableCapacity = grown;
      const weight = new Float64Array(grown.length);
      weight.set(this.sharedWeight);
      this.sharedWeight = weight;
    }
    this.usableCapacity[id] = capacityBitsPerS;
    return id;
  }

  linkName(link: LinkId): string {
    this.checkLink(link);
    return this.linkNames[link];
  }

  /** A down link gives rate 0 to its flows; they pause and resume when it comes back up. */
  setLinkUp(link: LinkId, up: boolean): void {
    this.checkLink(link);
    if (this.linkIsUp[link] === up) return;
    this.linkIsUp[link] = up;
    this.onLinkChanged(link);
  }

  /** Changes a link's capacity (e.g. a degraded WAN); flows on it are re-shared. */
  setLinkCapacity(link: LinkId, capacityBitsPerS: number): void {
    this.checkLink(link);
    if (!(capacityBitsPerS >= 0) || !Number.isFinite(capacityBitsPerS)) {
      throw new InputError(`link ${this.linkNames[link]}: capacity must be finite and >= 0 bits/s, got ${capacityBitsPerS}`);
    }
    if (this.linkCapacity[link] === capacityBitsPerS) return;
    this.linkCapacity[link] = capacityBitsPerS;
    this.onLinkChanged(link);
  }

  startFlow(opts: StartFlowOptions): FlowId {
    const { path, bytes, onDone } = opts;
    const userCap = opts.capBitsPerS ?? Infinity;
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new InputError(`startFlow: bytes must be an integer >= 0, got ${bytes}`);
    if (!(userCap >= 0)) throw new InputError(`startFlow: capBitsPerS must be >= 0, got ${userCap}`);
    const id = this.flowState.length;
    let sharedCount = 0;
    let privateCount = 0;
    for (let i = 0; i < path.length; i++) {
      const l = path[i];
      this.checkLink(l);
      for (let j = 0; j < i; j++) if (path[j] === l) throw new InputError(`startFlow: link ${this.linkNames[l]} appears twice in the path`);
      if (this.linkIsPrivate[l]) {
        const holder = this.linkFlow[l];
        if (holder >= 0) throw new InputError(`startFlow: private link ${this.linkNames[l]} already carries flow ${holder}`);
        privateCount++;
      } else sharedCount++;
    }
    if (sharedCount === 0 && privateCount === 0 && userCap === Infinity) {
      throw new InputError('startFlow: a flow needs at least one link or a finite capBitsPerS');
    }
    const shared = new Int32Array(sharedCount);
    const priv = privateCount > 0 ? new Int32Array(privateCount) : undefined;
    let s = 0;
    let p = 0;
    for (const l of path) {
      if (this.linkIsPrivate[l]) (priv as Int32Array)[p++] = l;
      else shared[s++] = l;
    }
    shared.sort();
    if (priv) for (const l of priv) this.linkFlow[l] = id;

    this.flowState.push(FLOW_ACTIVE);
    this.flowBytes.push(bytes);
    this.flowUserCap.push(userCap);
    this.flowStart.push(0);
    this.flowEntry.push(0);
    this.flowFinal.push(0);
    this.flowClass.push(undefined);
    this.flowShared.push(shared);
    this.flowPrivate.push(priv);
    this.flowOnDone.push(onDone);
    this.active++;
    this.joinClass(id, this.effectiveCap(id), 0);
    this.markDirty();
    return id;
  }

  /** Removes the flow (its onDone is never called); returns the bytes it had delivered (floor). */
  cancelFlow(id: FlowId): number {
    this.checkFlow(id);
    if (this.flowState[id] !== FLOW_ACTIVE) return this.deliveredBytes(id);
    const delivered = this.deliveredBytes(id);
    this.leaveClass(id);
    this.finish(id, FLOW_CANCELLED, delivered);
    this.markDirty();
    return delivered;
  }

  deliveredBytes(id: FlowId): number {
    this.checkFlow(id);
    const state = this.flowState[id];
    if (state === FLOW_DONE) return this.flowBytes[id];
    if (state === FLOW_CANCELLED) return this.flowFinal[id];
    return Math.floor(this.exactDelivered(id) + 1e-6);
  }

  /** The flow's current rate (forces a pending recompute first). */
  rateBitsPerS(id: FlowId): number {
    this.checkFlow(id);
    if (this.flowState[id] !== FLOW_ACTIVE) return 0;
    this.flush();
    return this.table.rateBitsPerS[(this.flowClass[id] as FlowClass).slot];
  }

  /** Total bytes that crossed the link: finished and cancelled flows plus those in flight. */
  linkBytes(link: LinkId): number {
    this.checkLink(link);
    let inFlight = 0;
    const now = this.sim.now;
    const t = this.table;
    if (this.linkIsPrivate[link]) {
      const f = this.linkFlow[link];
      if (f >= 0) inFlight = this.exactDelivered(f);
    } else {
      for (let s = 0; s < t.n; s++) {
        if (t.links[s].includes(link)) inFlight += t.count[s] * t.progressAt(s, now) - t.sumStart[s];
      }
    }
    return this.linkDoneBytes[link] + Math.floor(Math.max(0, inFlight) + 1e-6);
  }

  // --- classes ------------------------------------------------------------------------------

  private effectiveCap(id: FlowId): number {
    let cap = this.flowUserCap[id];
    const priv = this.flowPrivate[id];
    if (priv) {
      for (let i = 0; i < priv.length; i++) {
        const l = priv[i];
        const c = this.linkIsUp[l] ? this.linkCapacity[l] : 0;
        if (c < cap) cap = c;
      }
    }
    return cap;
  }

  private joinClass(id: FlowId, cap: number, alreadyDelivered: number): void {
    const t = this.table;
    const shared = this.flowShared[id] as Int32Array;
    const key = `${shared.join(',')}|${cap}`;
    let c = this.classByKey.get(key);
    if (!c) {
      c = t.add(key, shared, cap);
      this.classByKey.set(key, c);
      this.solver.invalidateStructure();
    }
    const s = c.slot;
    const start = t.progressAt(s, this.sim.now) - alreadyDelivered;
    const target = start + this.flowBytes[id];
    const entry = this.nextEntry++;
    this.flowStart[id] = start;
    this.flowEntry[id] = entry;
    this.flowClass[id] = c;
    c.heap.push(target, entry, id);
    if (target < t.nextTarget[s]) t.nextTarget[s] = target;
    for (let i = 0; i < shared.length; i++) this.sharedWeight[shared[i]]++;
    t.count[s]++;
    t.sumStart[s] += start;
  }

  /** Takes the flow out of its class (its heap entry goes stale and is skipped later). */
  private leaveClass(id: FlowId): void {
    const t = this.table;
    const c = this.flowClass[id] as FlowClass;
    const s = c.slot;
    this.flowClass[id] = undefined;
    for (let i = 0; i < c.links.length; i++) this.sharedWeight[c.links[i]]--;
    t.count[s]--;
    t.sumStart[s] -= this.flowStart[id];
    if (t.count[s] === 0) {
      t.remove(c);
      this.classByKey.delete(c.key);
      this.solver.invalidateStructure();
    } else if (this.flowStart[id] + this.flowBytes[id] === t.nextTarget[s]) {
      this.refreshNextTarget(c);
    }
  }

  /** Moves a flow to the class matching its current effective cap, keeping its progress. */
  private reclassify(id: FlowId): void {
    const cap = this.effectiveCap(id);
    const current = this.flowClass[id] as FlowClass;
    if (this.table.cap[current.slot] === cap) return;
    const delivered = this.exactDelivered(id);
    this.leaveClass(id);
    this.joinClass(id, cap, delivered);
    this.markDirty();
  }

  private exactDelivered(id: FlowId): number {
    const c = this.flowClass[id] as FlowClass;
    const d = this.table.progressAt(c.slot, this.sim.now) - this.flowStart[id];
    const bytes = this.flowBytes[id];
    return d < 0 ? 0 : Math.min(d, bytes);
  }

  /** Drops stale heap entries and records the smallest live target. */
  private refreshNextTarget(c: FlowClass): void {
    const heap = c.heap;
    while (heap.size > 0) {
      const f = heap.minFlow;
      if (this.flowClass[f] === c && this.flowEntry[f] === heap.minEntry) break;
      heap.pop();
    }
    this.table.nextTarget[c.slot] = heap.size > 0 ? heap.minTarget : Infinity;
  }

  private finish(id: FlowId, state: number, delivered: number): void {
    this.flowState[id] = state;
    this.flowFinal[id] = delivered;
    this.active--;
    const shared = this.flowShared[id] as Int32Array;
    for (let i = 0; i < shared.length; i++) this.linkDoneBytes[shared[i]] += delivered;
    const priv = this.flowPrivate[id];
    if (priv) {
      for (let i = 0; i < priv.length; i++) {
        this.linkDoneBytes[priv[i]] += delivered;
        this.linkFlow[priv[i]] = -1;
      }
    }
    this.flowShared[id] = undefined;
    this.flowPrivate[id] = undefined;
    this.flowOnDone[id] = undefined;
  }

  // --- rates and completions ----------------------------------------------------------------

  private onLinkChanged(link: LinkId): void {
    this.usableCapacity[link] = this.linkIsUp[link] ? this.linkCapacity[link] : 0;
    if (this.linkIsPrivate[link]) {
      const f = this.linkFlow[link];
      if (f >= 0) this.reclassify(f);
    } else {
      this.markDirty();
    }
  }

  private markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    const now = this.sim.now;
    const q = this.quantumUs;
    const boundary = q > 0 ? Math.ceil(now / q) * q : now;
    if (boundary === now) this.sim.beforeAdvance(this.flushFn);
    else this.sim.at(boundary, this.flushFn);
  }

  private flush(): void {
    if (this.dirty) this.recompute();
  }

  private recompute(): void {
    this.dirty = false;
    this.recomputeCount++;
    const now = this.sim.now;
    const t = this.table;
    t.materializeAll(now);
    const rates = this.solver.solve(t, this.usableCapacity, this.sharedWeight);
    // Same as scheduleNextCompletion(), fused with storing the new rates: one pass over classes.
    const n = t.n;
    const rateBitsPerS = t.rateBitsPerS;
    const bytesPerUs = t.bytesPerUs;
    const progress = t.progress;
    const nextTarget = t.nextTarget;
    let nextDelay = Infinity;
    for (let s = 0; s < n; s++) {
      const rate = rates[s];
      const bpu = rate / BITS_PER_BYTE_US;
      rateBitsPerS[s] = rate;
      bytesPerUs[s] = bpu;
      const target = nextTarget[s];
      if (target === Infinity) continue;
      const remaining = target - progress[s];
      let delay: number;
      if (isDone(remaining, target)) delay = 0;
      else if (bpu > 0) delay = remaining / bpu;
      else continue;
      if (delay < nextDelay) nextDelay = delay;
    }
    this.scheduleCompletion(nextDelay === Infinity ? -1 : now + ceilUs(nextDelay));
  }

  /** Schedules the earliest member completion under the current rates (progress as of now). */
  private scheduleNextCompletion(): void {
    const t = this.table;
    const n = t.n;
    const progress = t.progress;
    const bytesPerUs = t.bytesPerUs;
    const nextTarget = t.nextTarget;
    let nextDelay = Infinity;
    for (let s = 0; s < n; s++) {
      const target = nextTarget[s];
      if (target === Infinity) continue;
      const remaining = target - progress[s];
      let delay: number;
      if (isDone(remaining, target)) delay = 0;
      else if (bytesPerUs[s] > 0) delay = remaining / bytesPerUs[s];
      else continue;
      if (delay < nextDelay) nextDelay = delay;
    }
    this.scheduleCompletion(nextDelay === Infinity ? -1 : this.sim.now + ceilUs(nextDelay));
  }

  private scheduleCompletion(atUs: number): void {
    if (atUs === this.completionAtUs) return;
    if (this.completionHandle >= 0) this.sim.cancel(this.completionHandle);
    this.completionAtUs = atUs;
    this.completionHandle = atUs >= 0 ? this.sim.at(atUs, this.completionFn) : -1;
  }

  private onCompletionEvent(): void {
    this.completionHandle = -1;
    this.completionAtUs = -1;
    const now = this.sim.now;
    const t = this.table;
    t.materializeAll(now);
    const done: FlowId[] = [];
    const touched: FlowClass[] = [];
    for (let s = 0; s < t.n; s++) {
      const next = t.nextTarget[s];
      if (next === Infinity || !isDone(next - t.progress[s], next)) continue;
      const c = t.classes[s];
      const heap = c.heap;
      touched.push(c);
      while (heap.size > 0) {
        const f = heap.minFlow;
        if (this.flowClass[f] === c && this.flowEntry[f] === heap.minEntry) {
          if (!isDone(heap.minTarget - t.progress[s], heap.minTarget)) break;
          done.push(f);
        }
        heap.pop();
      }
    }
    // Removal after the scan: removing a class moves another into its slot.
    done.sort((a, b) => a - b);
    const callbacks: ((id: FlowId) => void)[] = [];
    for (const f of done) {
      callbacks.push(this.flowOnDone[f] as (id: FlowId) => void);
      this.leaveClass(f);
      this.finish(f, FLOW_DONE, this.flowBytes[f]);
    }
    for (const c of touched) if (c.slot >= 0) this.refreshNextTarget(c);
    this.markDirty();
    // With a quantum the recompute may be later: keep completing at the current rates meanwhile.
    if (this.quantumUs > 0 && now % this.quantumUs !== 0) this.scheduleNextCompletion();
    for (let i = 0; i < done.length; i++) callbacks[i](done[i]);
  }

  private checkLink(link: LinkId): void {
    if (!Number.isInteger(link) || link < 0 || link >= this.linkNames.length) throw new InputError(`unknown link id ${link}`);
  }

  private checkFlow(id: FlowId): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.flowState.length) throw new InputError(`unknown flow id ${id}`);
  }
}
