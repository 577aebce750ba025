// Max-min fair rates over flow classes by progressive filling, fast enough to run on every flow
// start and end. A class is a set of flows with the same shared links and the same per-flow cap;
// its weight is its flow count and every flow in it gets the same rate.
//
// The fill level rises monotonically. At each step the next bottleneck is either the link with
// the smallest fair share R/W (remaining capacity over unfrozen weight), kept in a lazy min-heap
// (shares only grow as flows freeze below them, so a stale key is refreshed when it reaches the
// top), or the smallest per-flow cap among unfrozen classes (classes pre-sorted by cap).

export interface FairShareClass {
  /** Shared link ids the class crosses (no duplicates). */
  readonly links: Int32Array;
  /** Number of flows in the class (> 0). */
  readonly count: number;
  /** Per-flow cap in bits per second; Infinity for none, 0 for paused. */
  readonly capBps: number;
}

export class FairShareSolver {
  // Per link (indexed by link id).
  private remaining = new Float64Array(0);
  private weight = new Float64Array(0);
  private stamp = new Int32Array(0);
  private degree = new Int32Array(0);
  private offset = new Int32Array(0);
  private epoch = 0;

  // Structure cached while the class set is unchanged: touched links, link -> classes (CSR),
  // classes with a finite cap in ascending cap order.
  private structureValid = false;
  private touched = new Int32Array(0);
  private touchedCount = 0;
  private classesOnLink = new Int32Array(0);
  private capOrder = new Int32Array(0);
  private capOrderCount = 0;

  // Per class (indexed by position in the classes array).
  private frozen = new Uint8Array(0);
  rates = new Float64Array(0);

  // Lazy min-heap of links keyed by fair share.
  private heapLinks = new Int32Array(0);
  private heapKeys = new Float64Array(0);
  private heapSize = 0;

  /** Call when classes were added, removed or reordered (not when only counts changed). */
  invalidateStructure(): void {
    this.structureValid = false;
  }

  /**
   * Fills `this.rates[i]` with the per-flow rate of `classes[i]`. `capacity[l]` is link l's
   * usable capacity (0 when down).
   */
  solve(classes: readonly FairShareClass[], capacity: Float64Array): Float64Array {
    const n = classes.length;
    this.ensureClassCapacity(n);
    this.ensureLinkCapacity(capacity.length);
    if (!this.structureValid) this.buildStructure(classes);

    const remaining = this.remaining;
    const weight = this.weight;
    const touched = this.touched;
    for (let k = 0; k < this.touchedCount; k++) {
      const l = touched[k];
      remaining[l] = capacity[l];
      weight[l] = 0;
    }
    const frozen = this.frozen;
    const rates = this.rates;
    for (let i = 0; i < n; i++) {
      frozen[i] = 0;
      rates[i] = 0;
      const c = classes[i];
      const links = c.links;
      for (let j = 0; j < links.length; j++) weight[links[j]] += c.count;
    }

    this.buildLinkHeap();
    let unfrozen = n;
    let capPtr = 0;
    const capOrder = this.capOrder;
    const classesOnLink = this.classesOnLink;
    const offset = this.offset;
    const degree = this.degree;

    while (unfrozen > 0) {
      const link = this.peekBottleneckLink();
      const linkShare = link >= 0 ? remaining[link] / weight[link] : Infinity;
      while (capPtr < this.capOrderCount && frozen[capOrder[capPtr]] === 1) capPtr++;
      const capShare = capPtr < this.capOrderCount ? classes[capOrder[capPtr]].capBps : Infinity;
      if (capShare <= linkShare) {
        if (capShare === Infinity) break; // only classes with no links and no cap remain (not created by Network)
        this.freeze(classes, capOrder[capPtr], capShare);
        unfrozen--;
      } else {
        this.popLink();
        const start = offset[link];
        const end = start + degree[link];
        for (let k = start; k < end; k++) {
          const i = classesOnLink[k];
          if (frozen[i] === 0) {
            this.freeze(classes, i, linkShare);
            unfrozen--;
          }
        }
      }
    }
    return rates;
  }

  private freeze(classes: readonly FairShareClass[], i: number, rate: number): void {
    this.frozen[i] = 1;
    this.rates[i] = rate;
    const c = classes[i];
    const links = c.links;
    const used = c.count * rate;
    for (let j = 0; j < links.length; j++) {
      const l = links[j];
      const left = this.remaining[l] - used;
      this.remaining[l] = left > 0 ? left : 0;
      this.weight[l] -= c.count;
    }
  }

  private buildStructure(classes: readonly FairShareClass[]): void {
    this.epoch++;
    const stamp = this.stamp;
    const degree = this.degree;
    let touchedCount = 0;
    let totalDegree = 0;
    let capCount = 0;
    for (let i = 0; i < classes.length; i++) {
      const links = classes[i].links;
      totalDegree += links.length;
      if (classes[i].capBps !== Infinity) capCount++;
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
    if (this.capOrder.length < capCount) this.capOrder = new Int32Array(grownSize(capCount));

    // Offsets in first-touch order (deterministic: follows the class order).
    this.epoch++;
    let next = 0;
    let t = 0;
    for (let i = 0; i < classes.length; i++) {
      const links = classes[i].links;
      for (let j = 0; j < links.length; j++) {
        const l = links[j];
        if (stamp[l] !== this.epoch) {
          stamp[l] = this.epoch;
          this.offset[l] = next;
          next += degree[l];
          this.touched[t++] = l;
          degree[l] = 0; // refilled below as a cursor
        }
      }
    }
    this.touchedCount = t;
    for (let i = 0; i < classes.length; i++) {
      const links = classes[i].links;
      for (let j = 0; j < links.length; j++) {
        const l = links[j];
        this.classesOnLink[this.offset[l] + degree[l]++] = i;
      }
    }

    let k = 0;
    for (let i = 0; i < classes.length; i++) if (classes[i].capBps !== Infinity) this.capOrder[k++] = i;
    this.capOrderCount = k;
    const order = Array.from(this.capOrder.subarray(0, k));
    // Stable sort by cap, ties by class position: deterministic for a given class order.
    order.sort((a, b) => classes[a].capBps - classes[b].capBps || a - b);
    this.capOrder.set(order);
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
      const stamp = new Int32Array(size);
      stamp.set(this.stamp);
      this.stamp = stamp;
      const degree = new Int32Array(size);
      degree.set(this.degree);
      this.degree = degree;
      const offset = new Int32Array(size);
      offset.set(this.offset);
      this.offset = offset;
    }
  }
}

function grownSize(n: number): number {
  let size = 16;
  while (size < n) size *= 2;
  return size;
}
