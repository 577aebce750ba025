// Min-heap of (target, entry, flow) triples ordered by (target, entry), typed arrays inside.
// A flow class keeps one of these so its next completion is O(1) to read.
export class TargetHeap {
  size = 0;
  private targets: Float64Array;
  private entries: Float64Array;
  private flows: Int32Array;

  constructor(capacity = 8) {
    this.targets = new Float64Array(capacity);
    this.entries = new Float64Array(capacity);
    this.flows = new Int32Array(capacity);
  }

  get minTarget(): number {
    return this.targets[0];
  }

  get minEntry(): number {
    return this.entries[0];
  }

  get minFlow(): number {
    return this.flows[0];
  }

  push(target: number, entry: number, flow: number): void {
    if (this.size === this.targets.length) this.grow();
    const targets = this.targets;
    const entries = this.entries;
    const flows = this.flows;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = targets[p];
      if (pt < target || (pt === target && entries[p] < entry)) break;
      targets[i] = pt;
      entries[i] = entries[p];
      flows[i] = flows[p];
      i = p;
    }
    targets[i] = target;
    entries[i] = entry;
    flows[i] = flow;
  }

  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    const targets = this.targets;
    const entries = this.entries;
    const flows = this.flows;
    const target = targets[last];
    const entry = entries[last];
    const flow = flows[last];
    let i = 0;
    const half = last >> 1;
    while (i < half) {
      let c = 2 * i + 1;
      const r = c + 1;
      if (r < last && (targets[r] < targets[c] || (targets[r] === targets[c] && entries[r] < entries[c]))) c = r;
      if (target < targets[c] || (target === targets[c] && entry < entries[c])) break;
      targets[i] = targets[c];
      entries[i] = entries[c];
      flows[i] = flows[c];
      i = c;
    }
    targets[i] = target;
    entries[i] = entry;
    flows[i] = flow;
  }

  private grow(): void {
    const n = this.targets.length * 2;
    const targets = new Float64Array(n);
    targets.set(this.targets);
    const entries = new Float64Array(n);
    entries.set(this.entries);
    const flows = new Int32Array(n);
    flows.set(this.flows);
    this.targets = targets;
    this.entries = entries;
    this.flows = flows;
  }
}
