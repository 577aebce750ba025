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
import type { Simulator } from './engine.js';
import { FairShareSolver } from './fair-share.js';
import { TargetHeap } from './target-heap.js';

export { maxMinRates, mathisCapBps } from './maxmin.js';

export type LinkId = number;
export type FlowId = number;

export interface StartFlowOptions {
  path: LinkId[];
  bytes: number;
  capBps?: number;
  onDone: (id: FlowId) => void;
}

const BITS_PER_BYTE_US = 8e6; // bits/s -> bytes/us divisor

/** A flow counts as done when this close to its target (float progress, integer bytes). */
function isDone(remaining: number, target: number): boolean {
  return remaining <= 1e-6 + 1e-9 * target;
}

/** Ceil of a duration in us, snapping values within float noise of an integer onto it. */
function ceilUs(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) <= 1e-9 * Math.max(1, x) ? r : Math.ceil(x);
}

class FlowClass {
  index = -1;
  count = 0;
  /** Bytes delivered to each member since the class was created, as of `progressAtUs`. */
  progress = 0;
  progressAtUs: number;
  rateBps = 0;
  bytesPerUs = 0;
  /** Sum of members' progress-at-join, so count·progress − sumStart = bytes in flight. */
  sumStart = 0;
  readonly heap = new TargetHeap();

  constructor(
    readonly key: string,
    readonly links: Int32Array,
    readonly capBps: number,
    nowUs: number,
  ) {
    this.progressAtUs = nowUs;
  }

  progressAt(nowUs: number): number {
    return this.progress + this.bytesPerUs * (nowUs - this.progressAtUs);
  }

  materialize(nowUs: number): void {
    if (nowUs !== this.progressAtUs) {
      this.progress += this.bytesPerUs * (nowUs - this.progressAtUs);
      this.progressAtUs = nowUs;
    }
  }
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

  // Flows, indexed by FlowId.
  private readonly flowState: number[] = [];
  private readonly flowBytes: number[] = [];
  private readonly flowUserCap: number[] = [];
  private readonly flowStart: number[] = [];
  private readonly flowEntry: number[] = [];
  private readonly flowFinal: number[] = [];
  private readonly flowClass: (FlowClass | undefined)[] = [];
  private readonly flowShared: (Int32Array | undefined)[] = [];
  private readonly flowPrivate: (Int32Array | undefined)[] = [];
  private readonly flowOnDone: (((id: FlowId) => void) | undefined)[] = [];
  private nextEntry = 0;
  private active = 0;

  // Classes: lookup by key, iteration in the deterministic order of the `classes` array.
  private readonly classByKey = new Map<string, FlowClass>();
  private readonly classes: FlowClass[] = [];
  private readonly solver = new FairShareSolver();

  private dirty = false;
  private recomputeCount = 0;
  private completionHandle = -1;
  private completionAtUs = -1;

  constructor(private readonly sim: Simulator) {}

  get activeFlows(): number {
    return this.active;
  }

  get recomputes(): number {
    return this.recomputeCount;
  }

  /** Number of flow classes currently holding flows (for benchmarks and tests). */
  get classCount(): number {
    return this.classes.length;
  }

  addLink(name: string, capacityBps: number, opts: { private?: boolean } = {}): LinkId {
    if (!(capacityBps >= 0) || !Number.isFinite(capacityBps)) {
      throw new InputError(`link ${name}: capacity must be finite and >= 0 bits/s, got ${capacityBps}`);
    }
    const id = this.linkNames.length;
    this.linkNames.push(name);
    this.linkCapacity.push(capacityBps);
    this.linkIsUp.push(true);
    this.linkIsPrivate.push(opts.private === true);
    this.linkDoneBytes.push(0);
    this.linkFlow.push(-1);
    if (id >= this.usableCapacity.length) {
      const grown = new Float64Array(this.usableCapacity.length * 2);
      grown.set(this.usableCapacity);
      this.usableCapacity = grown;
    }
    this.usableCapacity[id] = capacityBps;
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
  setLinkCapacity(link: LinkId, capacityBps: number): void {
    this.checkLink(link);
    if (!(capacityBps >= 0) || !Number.isFinite(capacityBps)) {
      throw new InputError(`link ${this.linkNames[link]}: capacity must be finite and >= 0 bits/s, got ${capacityBps}`);
    }
    if (this.linkCapacity[link] === capacityBps) return;
    this.linkCapacity[link] = capacityBps;
    this.onLinkChanged(link);
  }

  startFlow(opts: StartFlowOptions): FlowId {
    const { path, bytes, onDone } = opts;
    const userCap = opts.capBps ?? Infinity;
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new InputError(`startFlow: bytes must be an integer >= 0, got ${bytes}`);
    if (!(userCap >= 0)) throw new InputError(`startFlow: capBps must be >= 0, got ${userCap}`);
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
    const shared = new Int32Array(sharedCount);
    const priv = privateCount > 0 ? new Int32Array(privateCount) : undefined;
    let s = 0;
    let p = 0;
    for (const l of path) {
      if (this.linkIsPrivate[l]) (priv as Int32Array)[p++] = l;
      else shared[s++] = l;
    }
    shared.sort();
    if (sharedCount === 0 && privateCount === 0 && userCap === Infinity) {
      throw new InputError('startFlow: a flow needs at least one link or a finite capBps');
    }
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

  rateBps(id: FlowId): number {
    this.checkFlow(id);
    if (this.flowState[id] !== FLOW_ACTIVE) return 0;
    this.flush();
    return (this.flowClass[id] as FlowClass).rateBps;
  }

  /** Total bytes that crossed the link: finished and cancelled flows plus those in flight. */
  linkBytes(link: LinkId): number {
    this.checkLink(link);
    let inFlight = 0;
    const now = this.sim.now;
    if (this.linkIsPrivate[link]) {
      const f = this.linkFlow[link];
      if (f >= 0) inFlight = this.exactDelivered(f);
    } else {
      for (const c of this.classes) {
        if (c.links.includes(link)) inFlight += c.count * c.progressAt(now) - c.sumStart;
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
    const shared = this.flowShared[id] as Int32Array;
    const key = `${shared.join(',')}|${cap}`;
    let c = this.classByKey.get(key);
    if (!c) {
      c = new FlowClass(key, shared, cap, this.sim.now);
      c.index = this.classes.length;
      this.classes.push(c);
      this.classByKey.set(key, c);
      this.solver.invalidateStructure();
    }
    c.materialize(this.sim.now);
    const start = c.progress - alreadyDelivered;
    const entry = this.nextEntry++;
    this.flowStart[id] = start;
    this.flowEntry[id] = entry;
    this.flowClass[id] = c;
    c.heap.push(start + this.flowBytes[id], entry, id);
    c.count++;
    c.sumStart += start;
  }

  /** Takes the flow out of its class (its heap entry goes stale and is skipped later). */
  private leaveClass(id: FlowId): void {
    const c = this.flowClass[id] as FlowClass;
    this.flowClass[id] = undefined;
    c.count--;
    c.sumStart -= this.flowStart[id];
    if (c.count === 0) this.removeClass(c);
  }

  private removeClass(c: FlowClass): void {
    const last = this.classes.pop() as FlowClass;
    if (last !== c) {
      this.classes[c.index] = last;
      last.index = c.index;
    }
    this.classByKey.delete(c.key);
    this.solver.invalidateStructure();
  }

  /** Moves a flow to the class matching its current effective cap, keeping its progress. */
  private reclassify(id: FlowId): void {
    const cap = this.effectiveCap(id);
    const current = this.flowClass[id] as FlowClass;
    if (current.capBps === cap) return;
    const delivered = this.exactDelivered(id);
    this.leaveClass(id);
    this.joinClass(id, cap, delivered);
    this.markDirty();
  }

  private exactDelivered(id: FlowId): number {
    const c = this.flowClass[id] as FlowClass;
    const d = c.progressAt(this.sim.now) - this.flowStart[id];
    const bytes = this.flowBytes[id];
    return d < 0 ? 0 : d > bytes ? bytes : d;
  }

  /** Pops stale heap entries; returns the member flow with the smallest target, or -1. */
  private nextMember(c: FlowClass): number {
    const heap = c.heap;
    while (heap.size > 0) {
      const f = heap.minFlow;
      if (this.flowClass[f] === c && this.flowEntry[f] === heap.minEntry) return f;
      heap.pop();
    }
    return -1;
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
    this.sim.beforeAdvance(() => this.flush());
  }

  private flush(): void {
    if (this.dirty) this.recompute();
  }

  private recompute(): void {
    this.dirty = false;
    this.recomputeCount++;
    const now = this.sim.now;
    const classes = this.classes;
    const rates = this.solver.solve(classes, this.usableCapacity);
    let nextDelay = Infinity;
    for (let i = 0; i < classes.length; i++) {
      const c = classes[i];
      c.materialize(now);
      c.rateBps = rates[i];
      c.bytesPerUs = rates[i] / BITS_PER_BYTE_US;
      const f = this.nextMember(c);
      if (f < 0) continue;
      const target = c.heap.minTarget;
      const remaining = target - c.progress;
      let delay: number;
      if (isDone(remaining, target)) delay = 0;
      else if (c.bytesPerUs > 0) delay = ceilUs(remaining / c.bytesPerUs);
      else continue;
      if (delay < nextDelay) nextDelay = delay;
    }
    this.scheduleCompletion(nextDelay === Infinity ? -1 : now + nextDelay);
  }

  private scheduleCompletion(atUs: number): void {
    if (atUs === this.completionAtUs) return;
    if (this.completionHandle >= 0) this.sim.cancel(this.completionHandle);
    this.completionAtUs = atUs;
    this.completionHandle = atUs >= 0 ? this.sim.at(atUs, () => this.onCompletionEvent()) : -1;
  }

  private onCompletionEvent(): void {
    this.completionHandle = -1;
    this.completionAtUs = -1;
    const now = this.sim.now;
    const done: FlowId[] = [];
    for (let i = 0; i < this.classes.length; i++) {
      const c = this.classes[i];
      c.materialize(now);
      for (let f = this.nextMember(c); f >= 0; f = this.nextMember(c)) {
        const target = c.heap.minTarget;
        if (!isDone(target - c.progress, target)) break;
        c.heap.pop();
        done.push(f);
      }
    }
    // Removal after the scan: removing a class reorders `classes`.
    done.sort((a, b) => a - b);
    const callbacks: ((id: FlowId) => void)[] = [];
    for (const f of done) {
      callbacks.push(this.flowOnDone[f] as (id: FlowId) => void);
      this.leaveClass(f);
      this.finish(f, FLOW_DONE, this.flowBytes[f]);
    }
    this.markDirty();
    for (let i = 0; i < done.length; i++) callbacks[i](done[i]);
  }

  private checkLink(link: LinkId): void {
    if (!Number.isInteger(link) || link < 0 || link >= this.linkNames.length) throw new InputError(`unknown link id ${link}`);
  }

  private checkFlow(id: FlowId): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.flowState.length) throw new InputError(`unknown flow id ${id}`);
  }
}
