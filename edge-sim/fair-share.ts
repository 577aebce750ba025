// Max-min fair rates over flow classes by progressive filling, fast enough to run on every flow
// start and end. A class is a set of flows with the same shared links and the same per-flow cap;
// its weight is its flow count and every flow in it gets the same rate.
//
// The fill level rises monotonically. At each step the next bottleneck is either the link with
// the smallest fair share R/W (remaining capacity over unfrozen weight), kept in a lazy min-heap
// (shares only grow as flows freeze below them, so a stale key is refreshed when it reaches the
// top), or the smallest per-flow cap among unfrozen classes (classes pre-sorted by cap).
// Everything lives in typed arrays; the class structure (which links each class crosses, the cap
// order) is rebuilt only when the set of classes changes, not when only their counts do.

/**
 * The classes, as parallel arrays indexed by class slot 0..n-1: `links[i]` the shared link ids
 * class i crosses (no duplicates), `count[i]` its flow count (> 0), `cap[i]` its per-flow cap in
 * bits per second (Infinity for none, 0 for paused).
 */
export interface FairShareClasses {
  readonly n: number;
  readonly links: readonly Int32Array[];
  readonly count: Float64Array;
  readonly cap: Float64Array;
}

export class FairShareSolver {
  // Per link (indexed by link id).
  private remaining = new Float64Array(0);
  private weight = new Float64Array(0);
  private stamp = new Int32Array(0);
  private degree = new Int32Array(0);
  private offset = new Int32Array(0);
  private epoch = 0;

  // Structure cached while the class set is unchanged.
  private structureValid = false;
  private touched = new Int32Array(0); // links crossed by some class, first-touch order
  private touchedCount = 0;
  private classesOnLink = new Int32Array(0); // CSR link -> classes, via offset/degree
  private classLinkStart = new Int32Array(1); // CSR class -> links
  private classLinkList = new Int32Array(0);
  private capOrder = new Int32Array(0); // classes with a finite cap, ascending cap
  private capOrderCount = 0;

  // Per class slot.
  private frozen = new Uint8Array(0);
  rates = new Float64Array(0);

  // Lazy min-heap of links keyed by fair share.
  private heapLinks = new Int32Array(0);
  private heapKeys = new Float64Array(0);
  private heapSize = 0;

  /** Call when classes were added, removed or moved between slots (not when counts changed). */
  invalidateStructure(): void {
    this.structureValid = false;
  }

  /**
   * Returns per-flow rates by class slot. `capacity[l]` is link l's usable capacity (0 when
   * down); `linkWeight[l]` the number of flows crossing shared link l (sum of class counts).
   */
  solve(classes: FairShareClasses, capacity: Float64Array, linkWeight: Float64Array): Float64Array {
    const n = classes.n;
    this.ensureClassCapacity(n);
    this.ensureLinkCapacity(capacity.length);
    if (!this.structureValid) this.buildStructure(classes);

    const remaining = this.remaining;
    const weight = this.weight;
    const touched = this.touched;
    for (let k = 0; k < this.touchedCount; k++) {
      const l = touched[k];
      remaining[l] = capacity[l];
      weight[l] = linkWeight[l];
    }
    const count = classes.count;
    const frozen = this.frozen;
    const rates = this.rates;
    frozen.fill(0, 0, n);
    rates.fill(0, 0, n);

    let unfrozen = n;
    let capPtr = 0;
    const cap = classes.cap;
    const capOrder = this.capOrder;
    const capOrderCount = this.capOrderCount;
    const classesOnLink = this.classesOnLink;
    const offset = this.offset;
    const degree = this.degree;
    // Often a single link (the origin) is everyone's bottleneck: find the first one by a scan
    // and build the heap only if classes remain after it.
    let heapBuilt = false;

    while (unfrozen > 0) {
      const link = heapBuilt ? this.peekBottleneckLink() : this.scanBottleneckLink();
      const linkShare = link >= 0 ? remaining[link] / weight[link] : Infinity;
      while (capPtr < capOrderCount && frozen[capOrder[capPtr]] === 1) capPtr++;
      const capShare = capPtr < capOrderCount ? cap[capOrder[capPtr]] : Infinity;
      if (capShare <= linkShare) {
        if (capShare === Infinity) break; // classes with no links and no cap (Network never creates them)
        this.freeze(count, capOrder[capPtr], capShare);
        unfrozen--;
        if (!heapBuilt) {
          this.buildLinkHeap();
          heapBuilt = true;
        }
        continue;
      }
      const start = offset[link];
      const end = start + degree[link];
      let onLink = 0;
      for (let k = start; k < end; k++) if (frozen[classesOnLink[k]] === 0) onLink++;
      if (onLink === unfrozen) {
        // The last bottleneck: no need to update residual capacities.
        for (let k = start; k < end; k++) {
          const i = classesOnLink[k];
          if (frozen[i] === 0) rates[i] = linkShare;
        }
        break;
      }
      if (heapBuilt) this.popLink();
      for (let k = start; k < end; k++) {
        const i = classesOnLink[k];
        if (frozen[i] === 0) {
          this.freeze(count, i, linkShare);
          unfrozen--;
        }
      }
      if (!heapBuilt) {
        this.buildLinkHeap();
        heapBuilt = true;
      }
    }
    return rates;
  }

  /** Linear scan for the link with the smallest fair share (ties: lowest id); -1 if none. */
  private scanBottleneckLink(): number {
    const touched = this.touched;
    const weight = this.weight;
    const remaining = this.remaining;
    let best = -1;
    let bestShare = Infinity;
    for (let k = 0; k < this.touchedCount; k++) {
      const l = touched[k];
      const w = weight[l];
      if (w <= 0) continue;
      const share = remaining[l] / w;
      if (share < bestShare || (share === bestShare && l < best)) {
        best = l;
        bestShare = share;
      }
    }
    return best;
  }

  private freeze(count: Float64Array, i: number, rate: number): void {
    this.frozen[i] = 1;
    this.rates[i] = rate;
    const w = count[i];
    const used = w * rate;
    const remaining = this.remaining;
    const weight = this.weight;
    const linkList = this.classLinkList;
    for (let j = this.classLinkStart[i], end = this.classLinkStart[i + 1]; j < end; j++) {
      const l = linkList[j];
      const left = remaining[l] - used;
      remaining[l] = Math.max(left, 0);
      weight[l] -= w;
    }
  }

  private buildStructure(classes: FairShareClasses): void {
    const n = classes.n;
    const stamp = this.stamp;
    const degree = this.degree;
    this.epoch++;
    let touchedCount = 0;
    let totalDegree = 0;
    let capCount = 0;
    for (let i = 0; i < n; i++) {
      const links = classes.links[i];
      totalDegree += links.length;
      if (classes.cap[i] !== Infinity) capCount++;
      for (let j = 0; j < links.length; j++) {
        const l = links[j];
        if (stamp[l] !== this.epoch) {
          stamp[l] = this.epoch;
          degree[l] = 0;
          touchedCount++;
        }
        degree[l]++;
      }
    }
    if (this.touched.length < touchedCount) this.touched = new Int32Array(grownSize(touchedCount));
    if (this.classesOnLink.length < totalDegree) this.classesOnLink = new Int32Array(grownSize(totalDegree));
    if (this.classLinkList.length < totalDegree) this.classLinkList = new Int32Array(grownSize(totalDegree));
    if (this.classLinkStart.length < n + 1) this.classLinkStart = new Int32Array(grownSize(n + 1));
    if (this.capOrder.length < capCount) this.capOrder = new Int32Array(grownSize(capCount));

    // Link offsets in first-touch order (deterministic: follows the class order).
    this.epoch++;
    let next = 0;
    let t = 0;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const links = classes.links[i];
      this.classLinkStart[i] = c;
      for (let j = 0; j < links.length; j++) {
        const l = links[j];
        this.classLinkList[c++] = l;
        if (stamp[l] !== this.epoch) {
          stamp[l] = this.epoch;
          this.offset[l] = next;
          next += degree[l];
          this.touched[t++] = l;
          degree[l] = 0; // refilled below as a cursor
        }
      }
    }
    this.classLinkStart[n] = c;
    this.touchedCount = t;
    for (let i = 0; i < n; i++) {
      const links = classes.links[i];
      for (let j = 0; j < links.length; j++) {
        const l = links[j];
        this.classesOnLink[this.offset[l] + degree[l]++] = i;
      }
    }

    const order: number[] = [];
    for (let i = 0; i < n; i++) if (classes.cap[i] !== Infinity) order.push(i);
    // Ties by slot: deterministic for a given class order.
    order.sort((a, b) => classes.cap[a] - classes.cap[b] || a - b);
    this.capOrder.set(order);
    this.capOrderCount = order.length;
    this.structureValid = true;
  }

  private buildLinkHeap(): void {
    const touched = this.touched;
    const weight = this.weight;
    const remaining = this.remaining;
    if (this.heapLinks.length < this.touchedCount) {
      this.heapLinks = new Int32Array(grownSize(this.touchedCount));
      this.heapKeys = new Float64Array(grownSize(this.touchedCount));
    }
    let size = 0;
    for (let k = 0; k < this.touchedCount; k++) {
      const l = touched[k];
      if (weight[l] > 0) {
        this.heapLinks[size] = l;
        this.heapKeys[size] = remaining[l] / weight[l];
        size++;
      }
    }
    this.heapSize = size;
    for (let i = (size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** The link with the smallest current fair share, refreshing stale keys; -1 if none. */
  private peekBottleneckLink(): number {
    const weight = this.weight;
    while (this.heapSize > 0) {
      const l = this.heapLinks[0];
      if (weight[l] <= 0) {
        this.popLink();
        continue;
      }
      const share = this.remaining[l] / weight[l];
      if (share > this.heapKeys[0]) {
        this.heapKeys[0] = share;
        this.siftDown(0);
        continue;
      }
      return l;
    }
    return -1;
  }

  private popLink(): void {
    const last = --this.heapSize;
    if (last > 0) {
      this.heapLinks[0] = this.heapLinks[last];
      this.heapKeys[0] = this.heapKeys[last];
      this.siftDown(0);
    }
  }

  private siftDown(i: number): void {
    const links = this.heapLinks;
    const keys = this.heapKeys;
    const size = this.heapSize;
    const link = links[i];
    const key = keys[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      const r = c + 1;
      // Ties broken by link id so the choice never depends on heap history.
      if (r < size && (keys[r] < keys[c] || (keys[r] === keys[c] && links[r] < links[c]))) c = r;
      if (key < keys[c] || (key === keys[c] && link < links[c])) break;
      links[i] = links[c];
      keys[i] = keys[c];
      i = c;
    }
    links[i] = link;
    keys[i] = key;
  }

  private ensureClassCapacity(n: number): void {
    if (this.frozen.length < n) {
      this.frozen = new Uint8Array(grownSize(n));
      this.rates = new Float64Array(grownSize(n));
    }
  }

  private ensureLinkCapacity(n: number): void {
    if (this.remaining.length < n) {
      const size = grownSize(n);
      this.remaining = new Float64Array(size);
      this.weight = new Float64Array(size);
      this.stamp = grownInt32(this.stamp, size);
      this.degree = grownInt32(this.degree, size);
      this.offset = grownInt32(this.offset, size);
    }
  }
}

function grownInt32(a: Int32Array, size: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

function grownSize(n: number): number {
  let size = 16;
  while (size < n) size *= 2;
  return size;
}
