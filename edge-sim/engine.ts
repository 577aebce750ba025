// Deterministic discrete-event engine: integer-microsecond virtual time, a hand-written binary
// heap ordered by (time, sequence number) so that events at the same time run in the order they
// were scheduled.
import { InputError } from '../common/index.js';

export interface RunOptions {
  /** Run events with time <= untilUs, then set the clock to untilUs (unless stopped). */
  untilUs?: number;
  /** Execute at most this many events in this call. */
  maxEvents?: number;
}

type Callback = () => void;

const INITIAL_CAPACITY = 1024;

export class Simulator {
  private nowUs = 0;
  private executed = 0;
  private nextSeq = 0;
  private stopped = false;

  // Heap entries live in parallel arrays: times and sequence numbers in typed arrays (fast
  // comparisons, no per-event allocation), callbacks in a plain array.
  private size = 0;
  private times = new Float64Array(INITIAL_CAPACITY);
  private seqs = new Float64Array(INITIAL_CAPACITY);
  private fns: (Callback | undefined)[] = new Array(INITIAL_CAPACITY);

  // Lazy deletion: cancelled handles are skipped when popped.
  private readonly cancelled = new Set<number>();
  private hooks: Callback[] = [];

  get now(): number {
    return this.nowUs;
  }

  get events(): number {
    return this.executed;
  }

  /** Events scheduled and not yet executed (cancelled ones included until they are popped). */
  get pending(): number {
    return this.size;
  }

  at(timeUs: number, fn: () => void): number {
    if (!Number.isSafeInteger(timeUs) || timeUs < this.nowUs) {
      throw new InputError(`Simulator.at: time must be an integer >= now (${this.nowUs} us), got ${timeUs}`);
    }
    return this.push(timeUs, fn);
  }

  after(delayUs: number, fn: () => void): number {
    if (!(delayUs >= 0) || !Number.isFinite(delayUs)) {
      throw new InputError(`Simulator.after: delay must be a finite number >= 0, got ${delayUs}`);
    }
    return this.push(this.nowUs + Math.ceil(delayUs), fn);
  }

  cancel(handle: number): void {
    if (handle >= 0 && handle < this.nextSeq) this.cancelled.add(handle);
  }

  /**
   * Run `fn` once, just before virtual time next advances (or before `run` returns because the
   * queue is empty). Used to coalesce work triggered by many events at the same instant.
   */
  beforeAdvance(fn: () => void): void {
    this.hooks.push(fn);
  }

  stop(): void {
    this.stopped = true;
  }

  run(opts: RunOptions = {}): void {
    const untilUs = opts.untilUs ?? Infinity;
    const maxEvents = opts.maxEvents ?? Infinity;
    if (untilUs < this.nowUs) {
      throw new InputError(`Simulator.run: untilUs (${untilUs}) is before now (${this.nowUs})`);
    }
    this.stopped = false;
    let ran = 0;
    while (!this.stopped && ran < maxEvents) {
      if (this.hooks.length > 0 && (this.size === 0 || this.times[0] > this.nowUs)) {
        this.runHooks();
        continue;
      }
      if (this.size === 0 || this.times[0] > untilUs) {
        if (untilUs !== Infinity) this.nowUs = untilUs;
        return;
      }
      const time = this.times[0];
      const seq = this.seqs[0];
      const fn = this.fns[0] as Callback;
      this.popTop();
      if (this.cancelled.size > 0 && this.cancelled.delete(seq)) continue;
      this.nowUs = time;
      this.executed++;
      ran++;
      fn();
    }
  }

  private runHooks(): void {
    const hooks = this.hooks;
    this.hooks = [];
    for (const hook of hooks) hook();
  }

  private push(time: number, fn: Callback): number {
    const seq = this.nextSeq++;
    if (this.size === this.times.length) this.grow();
    // Sift up: move parents down until the slot for the new entry is found.
    let i = this.size++;
    const times = this.times;
    const seqs = this.seqs;
    const fns = this.fns;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent];
      if (pt < time || (pt === time && seqs[parent] < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[parent];
      fns[i] = fns[parent];
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
    fns[i] = fn;
    return seq;
  }

  private popTop(): void {
    const last = --this.size;
    const times = this.times;
    const seqs = this.seqs;
    const fns = this.fns;
    if (last === 0) {
      fns[0] = undefined;
      return;
    }
    const time = times[last];
    const seq = seqs[last];
    const fn = fns[last];
    fns[last] = undefined;
    // Sift down the former last entry from the root.
    let i = 0;
    const half = last >> 1;
    while (i < half) {
      let child = 2 * i + 1;
      let ct = times[child];
      let cs = seqs[child];
      const right = child + 1;
      if (right < last) {
        const rt = times[right];
        if (rt < ct || (rt === ct && seqs[right] < cs)) {
          child = right;
          ct = rt;
          cs = seqs[right];
        }
      }
      if (time < ct || (time === ct && seq < cs)) break;
      times[i] = ct;
      seqs[i] = cs;
      fns[i] = fns[child];
      i = child;
    }
    times[i] = time;
    seqs[i] = seq;
    fns[i] = fn;
  }

  private grow(): void {
    const capacity = this.times.length * 2;
    const times = new Float64Array(capacity);
    times.set(this.times);
    const seqs = new Float64Array(capacity);
    seqs.set(this.seqs);
    this.times = times;
    this.seqs = seqs;
    this.fns.length = capacity;
  }
}
