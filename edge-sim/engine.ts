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

/**
 * Limits one simulated run is held to while it runs (the up-front estimate is
 * environments/budget.ts; `edgeplane run --budget` raises both).
 */
export interface SimulatorLimits {
  /** events one Simulator may execute in all */
  maxEvents: number;
  /** events in a row at one virtual instant before the run counts as a zero-delay loop */
  maxEventsPerInstant: number;
}

/** 10^8 events is ~27x the shipped rollout-100k (3.7 M) and minutes of CPU; 10^7 events at one instant is far beyond any real burst (rollout-100k boots 100,000 agents at t=0). */
export const DEFAULT_SIMULATOR_LIMITS: Readonly<SimulatorLimits> = { maxEvents: 100_000_000, maxEventsPerInstant: 10_000_000 };

let currentLimits: SimulatorLimits = { ...DEFAULT_SIMULATOR_LIMITS };

/** The limits every Simulator created from now on is held to (environments/budget.ts checkBudget sets them). */
export function setSimulatorLimits(limits: Partial<SimulatorLimits>): void {
  currentLimits = { ...currentLimits, ...limits };
}

export function simulatorLimits(): Readonly<SimulatorLimits> {
  return currentLimits;
}

/** A run went over its event budget or stopped making progress in virtual time: exit 2, like any input over budget. */
export class SimulationBudgetError extends InputError {}

const INITIAL_CAPACITY = 1024;

export class Simulator {
  private nowUs = 0;
  private executed = 0;
  private nextSeq = 0;
  private stopped = false;

  // Budget checks cost one compare per event: at every `interval`-th event (a checkpoint, and at
  // maxEvents + 1) the total is compared with the budget and the clock with the previous checkpoint's. Time never
  // goes back, so an unchanged clock means every event since the previous checkpoint ran at one
  // instant: a loop is reported after between `interval` and 2 x `interval` such events, and never
  // while fewer than `interval` events run at one instant.
  private readonly maxEvents: number;
  private readonly interval: number;
  private nextCheck: number;
  private checkpointUs = -1;
  /** what the caller knows about likely loops (e.g. a fault rate), added to the error message */
  loopHint = '';

  // Heap entries live in parallel arrays: times and sequence numbers in typed arrays (fast
  // comparisons, no per-event allocation), callbacks in a plain array.
  private size = 0;
  private times = new Float64Array(INITIAL_CAPACITY);
  private seqs = new Float64Array(INITIAL_CAPACITY);
  private fns: (Callback | undefined)[] = new Array(INITIAL_CAPACITY);

  // Lazy deletion: cancelled handles are skipped when popped. One bit per handle ever issued
  // (a Set costs a hash insert and delete per cancel; most request timeouts are cancelled).
  private cancelled = new Int32Array(INITIAL_CAPACITY >> 5);
  private hooks: Callback[] = [];

  constructor(limits: Partial<SimulatorLimits> = {}) {
    const l = { ...currentLimits, ...limits };
    this.maxEvents = l.maxEvents;
    this.interval = Math.max(1, l.maxEventsPerInstant);
    this.nextCheck = Math.min(this.interval, this.maxEvents + 1);
  }

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
    if (!(handle >= 0 && handle < this.nextSeq)) return;
    const word = handle >>> 5;
    if (word >= this.cancelled.length) {
      const grown = new Int32Array(Math.max(word + 1, this.cancelled.length * 2));
      grown.set(this.cancelled);
      this.cancelled = grown;
    }
    this.cancelled[word] |= 1 << (handle & 31);
  }

  private isCancelled(seq: number): boolean {
    const word = seq >>> 5;
    return word < this.cancelled.length && (this.cancelled[word] & (1 << (seq & 31))) !== 0;
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
      if (this.isCancelled(seq)) continue;
      this.nowUs = time;
      if (++this.executed === this.nextCheck) this.checkpoint();
      ran++;
      fn();
    }
  }

  /** Cold path: every `interval` events. Throws when the run is over budget or stuck at one instant. */
  private checkpoint(): void {
    const hint = this.loopHint ? `; likely cause: ${this.loopHint}` : '';
    if (this.executed > this.maxEvents) {
      throw new SimulationBudgetError(
        `the simulated run went over its event budget: ${this.executed.toLocaleString('en-US')} events (limit ${this.maxEvents.toLocaleString('en-US')}) at t=${this.nowUs / 1e6} s${hint}; raise it with --budget events=N`,
      );
    }
    if (this.nowUs === this.checkpointUs) {
      throw new SimulationBudgetError(
        `the scenario makes the simulator loop at t=${this.nowUs / 1e6} s: ${this.interval.toLocaleString('en-US')} events without virtual time passing${hint || '; likely cause: something in the scenario reschedules itself with no delay'}; if this is a real burst, raise --budget instant-events=N`,
      );
    }
    this.checkpointUs = this.nowUs;
    this.nextCheck = Math.min(this.executed + this.interval, this.maxEvents + 1);
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
