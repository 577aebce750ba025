// Control-plane services as queueing stations: `workers` parallel servers, FIFO queue of at most
// the admission limit (a listen backlog: more are refused at once, as a full backlog or a 503 is).
// An outage makes the station refuse requests (the caller sees `unavailable`).
import type { ServiceTime, Station } from '../adapters/index.js';
import type { Simulator } from './engine.js';
import type { Rng } from './rng.js';

export class StationSim {
  private busy = 0;
  private queue: (() => void)[] = [];
  private head = 0;
  /** nested outage windows currently active */
  private outages = 0;
  private readonly upListeners: (() => void)[] = [];
  /** requests waiting beyond this are refused; 0: no limit */
  readonly queueLimit: number;
  served = 0;
  refused = 0;

  constructor(
    private readonly sim: Simulator,
    readonly spec: Station,
    queueLimit: 'plane' | number = 'plane',
  ) {
    this.queueLimit = queueLimit === 'plane' ? (spec.queueLimit ?? 0) : queueLimit;
  }

  get up(): boolean {
    return this.outages === 0;
  }

  setOutage(active: boolean): void {
    this.outages += active ? 1 : -1;
    if (!active && this.outages === 0) for (const l of this.upListeners) l();
  }

  onUp(listener: () => void): void {
    this.upListeners.push(listener);
  }

  /** Queue a request of `serviceUs`; `done` runs when a worker finished serving it. False: refused (backlog full), `done` never runs. */
  request(serviceUs: number, done: () => void): boolean {
    const job = (): void => {
      this.busy++;
      this.sim.after(serviceUs, () => {
        this.busy--;
        this.served++;
        this.next();
        done();
      });
    };
    return this.admit(job);
  }

  /**
   * Like `request`, but the worker stays taken after its service time until `release` is called
   * (a driver action that lasts as long as the copy it runs). False: refused.
   */
  hold(serviceUs: number, start: (release: () => void) => void): boolean {
    const job = (): void => {
      this.busy++;
      this.sim.after(serviceUs, () => {
        let released = false;
        start(() => {
          if (released) return;
          released = true;
          this.busy--;
          this.served++;
          this.next();
        });
      });
    };
    return this.admit(job);
  }

  /** A worker free: serve now; the backlog full: refuse (false); else wait in the queue. */
  private admit(job: () => void): boolean {
    if (this.busy < this.spec.workers) job();
    else if (this.queueLimit > 0 && this.queued >= this.queueLimit) {
      this.refused++;
      return false;
    } else this.queue.push(job);
    return true;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  private next(): void {
    if (this.head < this.queue.length && this.busy < this.spec.workers) {
      const job = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      job();
    }
  }
}

export function drawServiceUs(t: ServiceTime, rng: Rng): number {
  return t.kind === 'fixed' ? t.us : rng.lognormalUs(t.medianUs, t.p95Us, 0.95);
}
