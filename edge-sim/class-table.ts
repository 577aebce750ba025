// Storage for the Network's flow classes: one slot per live class, numbers in parallel typed
// arrays so the per-recompute loops touch no objects. Slots stay dense: removing a class moves
// the last one into its slot.
import type { FairShareClasses } from './fair-share.js';
import { TargetHeap } from './target-heap.js';

/** Identity of a class; its numbers live in the table's arrays at `slot`. */
export class FlowClass {
  slot = -1;
  /** Members' targets: class progress at which each member has received all its bytes. */
  readonly heap = new TargetHeap();

  constructor(
    readonly key: string,
    readonly links: Int32Array,
  ) {}
}

export class ClassTable implements FairShareClasses {
  n = 0;
  readonly links: Int32Array[] = [];
  readonly classes: FlowClass[] = [];
  count = new Float64Array(16);
  cap = new Float64Array(16);
  /** Bytes delivered to each member since the class was created, as of `progressAtUs`. */
  progress = new Float64Array(16);
  rateBitsPerS = new Float64Array(16);
  bytesPerUs = new Float64Array(16);
  /** Sum of members' progress-at-join, so count·progress − sumStart = the class's bytes in flight. */
  sumStart = new Float64Array(16);
  /** Smallest live member target, Infinity when unknown or none. */
  nextTarget = new Float64Array(16);
  /** Every slot's progress is as of this time; rates are constant since then. */
  progressAtUs = 0;

  add(key: string, links: Int32Array, capBitsPerS: number): FlowClass {
    if (this.n === this.count.length) this.grow();
    const c = new FlowClass(key, links);
    const s = this.n++;
    c.slot = s;
    this.classes[s] = c;
    this.links[s] = links;
    this.count[s] = 0;
    this.cap[s] = capBitsPerS;
    // A new class starts with no progress at the current time; with rate 0 until the next
    // recompute, progressAt() stays 0 whatever progressAtUs is.
    this.progress[s] = 0;
    this.rateBitsPerS[s] = 0;
    this.bytesPerUs[s] = 0;
    this.sumStart[s] = 0;
    this.nextTarget[s] = Infinity;
    return c;
  }

  remove(c: FlowClass): void {
    const s = c.slot;
    const last = --this.n;
    if (s !== last) {
      const moved = this.classes[last];
      moved.slot = s;
      this.classes[s] = moved;
      this.links[s] = this.links[last];
      this.count[s] = this.count[last];
      this.cap[s] = this.cap[last];
      this.progress[s] = this.progress[last];
      this.rateBitsPerS[s] = this.rateBitsPerS[last];
      this.bytesPerUs[s] = this.bytesPerUs[last];
      this.sumStart[s] = this.sumStart[last];
      this.nextTarget[s] = this.nextTarget[last];
    }
    this.classes.length = last;
    this.links.length = last;
    c.slot = -1;
  }

  progressAt(slot: number, nowUs: number): number {
    return this.progress[slot] + this.bytesPerUs[slot] * (nowUs - this.progressAtUs);
  }

  materializeAll(nowUs: number): void {
    const dt = nowUs - this.progressAtUs;
    if (dt === 0) return;
    const progress = this.progress;
    const bytesPerUs = this.bytesPerUs;
    for (let s = 0; s < this.n; s++) progress[s] += bytesPerUs[s] * dt;
    this.progressAtUs = nowUs;
  }

  private grow(): void {
    const size = this.count.length * 2;
    this.count = grown(this.count, size);
    this.cap = grown(this.cap, size);
    this.progress = grown(this.progress, size);
    this.rateBitsPerS = grown(this.rateBitsPerS, size);
    this.bytesPerUs = grown(this.bytesPerUs, size);
    this.sumStart = grown(this.sumStart, size);
    this.nextTarget = grown(this.nextTarget, size);
  }
}

function grown(a: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}
